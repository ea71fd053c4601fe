"""Multi-process training on CPU with gloo, through the launch paths users take.

* torchrun + ``benchmark_utils.launch`` + ``benchopt run`` with 2 and 4 ranks
  against a plain single-process ``benchopt run`` with the same global batch:
  same losses at every step, same last gradients and weights, one parquet.
* a rank that raises ends the whole run, with its message, in bounded time.
* a SLURM job's tasks (submitit's environment, simulated) join by themselves.
* ``micro_batch_size="auto"`` with a simulated out-of-memory error.

Tolerances. The ranks sum their own micro-batches, then each other's, so
the fp32 gradient is the same sum in another order: ~1e-7 relative, the only
difference from one process. What the optimizer makes of it differs:

* AdamW carries it through (gradients 1e-5, weights rtol 1e-4 and atol 1e-5:
  where Adam divides a near-zero gradient by its near-zero second moment the
  update, at most lr = 2e-3 a step, moves by ~1e-6).
* Muon orthogonalises in bf16: a 1e-7 change of its input flips bf16
  roundings and moves the update by ~2% (measured: 1.6e-4 on an update of
  8.7e-3), which feeds back through the next gradients: weights within 4e-2
  (two updates of lr 0.02; measured max 8.0e-3 with torch 2.13 and 1.6e-2
  with torch 2.15, whose bf16 kernels round differently), gradients within
  5%.
* Shampoo's inverse 4th roots of nearly singular statistics amplify it too
  (its statistics after 5 steps are rank-deficient and the roots use eps
  1e-12): single elements along the null directions move by up to 4.5e-3
  (measured with 4 ranks; the runs are deterministic), while Adam grafting
  fixes each update's norm: weights within 1e-2 (5 steps of lr 2e-3),
  gradients within 1%.

The split itself is exact: every rank ends with bit-identical weights, and
(test_sharded_step_is_exact) a Muon step split over ranks equals the step of
one process on the same gradient bit for bit.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
OBJECTIVE = (
    "nanoGPT validation loss[model=track3-tiny,seq_len=32,batch_tokens=1024,"
    "val_tokens=2048,train_steps=6,max_steps=6,eval_every=1,eval_every_final=1,"
    "micro_batch_size=4,device=cpu,compile=False]"
)
DATASET = "simulated[vocab_size=64]"
# Muon's aux AdamW takes the gains and biases with eps 1e-10: on a near-zero
# gradient its step is ~ +-lr whatever the gradient, so where Muon's bf16
# rounding noise (above) flips that gradient's sign the element moves by up
# to 2 lr. The preset's scalar lr 0.015 would need a tolerance that hides
# real errors; 0.002 keeps the weights comparison meaningful.
SOLVERS = ["adamw[lr=0.002]", "muon[lr=0.02,scalar_lr=0.002]", "shampoo[lr=0.002]"]
SOLVER_NAMES = ["adamw", "muon", "shampoo"]
N_STEPS = 6  # Shampoo preconditions from step 5 (precondition_frequency 5)
# Weights: (rtol, atol); last gradients: max over tensors of the relative
# Frobenius error ||g - g_1|| / ||g_1||; losses: absolute.
WEIGHT_TOL = {"adamw": (1e-4, 1e-5), "muon": (0, 4e-2), "shampoo": (0, 1e-2)}
GRAD_TOL = {"adamw": 1e-5, "muon": 5e-2, "shampoo": 1e-2}
LOSS_TOL = 1e-4
RUN_TIMEOUT = 240


def _env(tmp, **extra):
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        NANOGPT_BENCH_DATA=str(tmp / "data"),
        NANOGPT_DIST_TIMEOUT="20",
        NANOGPT_DIST_IDLE_TIMEOUT="60",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def benchopt_run(tmp, nproc, solvers=SOLVERS, name=None, **env):
    """``benchopt run`` on ``nproc`` CPU ranks (1: plain benchopt, no
    torchrun), as a user would type it. Returns (process, parquet, dump)."""
    name = name or f"ranks{nproc}"
    dump = tmp / f"dump_{name}"
    dump.mkdir()
    output = tmp / f"out_{name}" / "results.parquet"
    args = ["benchopt", "run", str(ROOT), "-o", OBJECTIVE, "-d", DATASET]
    for solver in solvers:
        args += ["-s", solver]
    args += ["--no-plot", "--no-cache", "-n", "1", "--output", str(output)]
    # The launcher with test instruments (tests/dist_harness.py): dumps of the
    # weights and last gradients, fault injection.
    harness = str(ROOT / "tests" / "dist_harness.py")
    if nproc == 1:
        cmd = [PY, harness, "--", *args]
    else:
        cmd = [
            PY, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(nproc), harness, "--", *args,
        ]  # fmt: skip
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=_env(tmp, DIST_TEST_DUMP=dump, **env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    return proc, output, dump


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    results = {}
    for nproc in (1, 2, 4):
        proc, output, dump = benchopt_run(tmp, nproc)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        results[nproc] = (output, dump)
    return results


def _state(dump, solver, rank=0):
    return torch.load(dump / f"{solver}_rank{rank}.pt")


def _max_diff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


def _rel_fro(a, b):
    return max(((a[k] - b[k]).norm() / b[k].norm().clamp_min(1e-30)).item() for k in b)


@pytest.mark.parametrize("nproc", [2, 4])
@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_ranks_match_one_process(runs, solver, nproc):
    ref = _state(runs[1][1], solver)
    assert ref["step"] == N_STEPS
    for rank in range(nproc):
        got = _state(runs[nproc][1], solver, rank)
        assert got["step"] == N_STEPS
        assert set(got["grads"]) == set(ref["grads"])
        assert _rel_fro(got["grads"], ref["grads"]) < GRAD_TOL[solver]
        rtol, atol = WEIGHT_TOL[solver]
        for name, value in ref["params"].items():
            torch.testing.assert_close(got["params"][name], value, rtol=rtol, atol=atol)
        # Every rank holds the same weights (Muon's gathered shares included).
        rank0 = _state(runs[nproc][1], solver, 0)
        assert _max_diff(got["params"], rank0["params"]) == 0.0
    print(
        f"{solver} 1 vs {nproc} ranks: last gradients, max relative error "
        f"{_rel_fro(got['grads'], ref['grads']):.2e}; max |dweight| "
        f"{_max_diff(got['params'], ref['params']):.2e}"
    )


@pytest.mark.parametrize("nproc", [2, 4])
def test_benchopt_writes_one_result_set_matching_one_process(runs, nproc):
    output, _ = runs[nproc]
    parquets = list(output.parent.glob("*.parquet"))
    assert parquets == [output]  # rank 0 alone wrote results
    ref = pd.read_parquet(runs[1][0])
    got = pd.read_parquet(output)
    key = ["solver_name", "objective_step"]
    ref, got = ref.sort_values(key), got.sort_values(key)
    assert list(got["solver_name"]) == list(ref["solver_name"])
    assert list(got["objective_step"]) == list(ref["objective_step"])
    for column in ("objective_train_loss", "objective_val_loss"):
        for solver in SOLVER_NAMES:
            mine = got["solver_name"].str.startswith(solver).to_numpy()
            diff = abs(got[column].to_numpy() - ref[column].to_numpy())[mine]
            worst = float(np.nanmax(diff))
            print(f"{solver}, {nproc} ranks, {column}: max |diff| {worst:.2e}")
            assert worst < LOSS_TOL, (solver, column)
    assert (got["objective_world_size"] == nproc).all()
    assert (ref["objective_world_size"] == 1).all()
    for column in ("tokens_per_second", "train_flops", "mfu", "peak_memory_gib"):
        assert got[f"objective_{column}"].dtype == "float64"
    last = got[got["objective_step"] == N_STEPS]
    assert (last["objective_tokens_per_second"] > 0).all()
    assert got["objective_mfu"].isna().all()  # CPU: no peak


def _statuses(output):
    return [
        json.loads(p.read_text())
        for p in output.with_suffix("").glob("runs/*/run_status.json")
    ]


def test_a_failing_rank_ends_the_run_quickly(tmp_path):
    start = time.perf_counter()
    proc, output, _ = benchopt_run(
        tmp_path, 2, solvers=["adamw"], DIST_TEST_FAULT="1:2"
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode != 0
    assert "injected fault on rank 1 at step 2" in proc.stderr
    assert "[rank 1 of 2]" in proc.stderr
    assert not output.exists()
    assert elapsed < 60, elapsed
    # The failure reaches the results: rank 0 recorded the run, never "done".
    (status,) = _statuses(output)
    assert status["status"] in ("error", "running"), status
    assert status["step"] < N_STEPS


def test_a_hung_rank_is_named_with_the_timeout_setting(tmp_path):
    proc, output, _ = benchopt_run(
        tmp_path, 2, solvers=["adamw"], DIST_TEST_FAULT="1:2:hang",
        NANOGPT_DIST_TIMEOUT="8",
    )  # fmt: skip
    assert proc.returncode != 0
    assert "NANOGPT_DIST_TIMEOUT=8" in proc.stderr
    assert "rank 1 did not answer" in proc.stderr
    # One message: no traceback through the project's code (torchrun prints
    # its own summary of the failed ranks).
    assert f"{ROOT / 'benchmark_utils'}" not in proc.stderr
    (status,) = _statuses(output)
    assert status["status"] == "error" and "NANOGPT_DIST_TIMEOUT" in status["message"]


SPMD_SCRIPT = r"""
import os, sys, torch
sys.path.insert(0, {root!r})
from benchmark_tools.components import make_solver
from benchmark_utils.models import make_config
from benchmark_utils.data.markov import MarkovSource
from benchmark_utils.training.problem import TrainingProblem
from benchmark_utils import distributed

source = MarkovSource({data!r}, vocab_size=64, shard_tokens=100_000,
                      n_val_tokens=20_000)
problem = TrainingProblem(
    model_config=make_config("track3-tiny", 64, 32), init_seed=0,
    train_files=tuple(source.train_files(20 * 512 + 1)), seq_len=32,
    batch_tokens=512, micro_batch_size=4, max_steps=3, train_steps=3,
    eval_every=1, eval_every_final=1, device="cpu", compile=False)

class Callback:  # benchopt's: evaluates at it == next_stopval
    def __init__(self, solver):
        self.solver, self.it, self.next_stopval, self.losses = solver, 0, 0, []
    def __call__(self):
        if self.it == self.next_stopval:
            self.losses.append(self.solver.get_result()["train_loss"])
            self.next_stopval = self.solver.get_next(self.next_stopval)
        self.it += 1
        return True

solver = make_solver("muon", lr=0.02, scalar_lr=0.002)
solver.set_objective(problem)
ctx = solver.dist
callback = Callback(solver)
solver.run(callback)
weights = torch.cat([p.detach().float().reshape(-1) for p in solver.model.parameters()])
torch.save(dict(rank=os.environ.get("RANK"), world=os.environ.get("WORLD_SIZE"),
                local=os.environ.get("LOCAL_RANK"), ctx=(ctx.rank, ctx.world_size),
                losses=callback.losses, weights=weights),
           os.path.join({out!r}, f"rank{{ctx.rank}}.pt"))
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_slurm_tasks_join_from_submitit_environment(tmp_path):
    """Tasks of a multi-task SLURM job (benchopt's submitit backend runs the
    same pickled run in each) find their rank in submitit's environment."""
    data = tmp_path / "data"
    script = tmp_path / "spmd.py"
    outs = {}
    for world in (1, 2):
        out = tmp_path / f"out{world}"
        out.mkdir()
        script.write_text(
            SPMD_SCRIPT.format(root=str(ROOT), data=str(data), out=str(out))
        )
        port = _free_port()
        procs = []
        for rank in range(world):
            env = _env(tmp_path)
            for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"):
                env.pop(name, None)
            if world > 1:
                env.update(
                    SUBMITIT_EXECUTOR="slurm",
                    SLURM_JOB_ID="4242",
                    SLURM_NTASKS=str(world),
                    SLURM_JOB_NUM_NODES="1",
                    SLURM_NODEID="0",
                    SLURM_JOB_NODELIST="localhost",
                    SLURM_PROCID=str(rank),
                    SLURM_LOCALID=str(rank),
                    MASTER_PORT=str(port),
                )
            procs.append(
                subprocess.Popen(
                    [PY, str(script)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-3000:]
        outs[world] = [torch.load(out / f"rank{r}.pt") for r in range(world)]
    ref = outs[1][0]
    for rank, got in enumerate(outs[2]):
        assert got["ctx"] == (rank, 2)
        assert (got["rank"], got["world"], got["local"]) == (str(rank), "2", str(rank))
        if rank == 0:  # benchopt's callback: rank 0's decides for all
            assert len(got["losses"]) == len(ref["losses"]) == 4
            torch.testing.assert_close(
                torch.tensor(got["losses"]),
                torch.tensor(ref["losses"]),
                rtol=1e-5,
                atol=0,
                equal_nan=True,  # step 0: no training tokens yet
            )
        else:
            assert got["losses"] == []  # never consulted
        torch.testing.assert_close(
            got["weights"], ref["weights"], rtol=0, atol=WEIGHT_TOL["muon"][1]
        )
    assert torch.equal(outs[2][0]["weights"], outs[2][1]["weights"])


def test_slurm_config_parses_with_benchopt():
    submitit = pytest.importorskip(
        "submitit", reason="the SLURM backend's submitit is not installed"
    )
    from benchopt.parallel_backends import check_parallel_config
    from benchopt.parallel_backends.slurm_executor import merge_slurm_configs

    config = check_parallel_config(str(ROOT / "configs" / "slurm_8gpu.yml"), None)
    assert config.pop("backend") == "submitit"
    merged = merge_slurm_configs(config)
    valid = submitit.SlurmExecutor._valid_parameters()
    for key in merged:
        assert key.removeprefix("slurm_") in valid, key
    assert merged["slurm_ntasks_per_node"] == 8
    assert merged["slurm_gres"] == "gpu:8"


class FakeOOM:
    """Patches the Track 3 model so that micro-batches above ``limit``
    sequences raise torch.OutOfMemoryError."""

    def __init__(self, monkeypatch, limit):
        from benchmark_utils.models import track3

        cls = next(
            v
            for v in vars(track3).values()
            if isinstance(v, type) and hasattr(v, "parameter_groups")
        )
        original = cls.forward

        def forward(model, idx, *args, **kwargs):
            if idx.shape[0] > limit:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            return original(model, idx, *args, **kwargs)

        monkeypatch.setattr(cls, "forward", forward)


def test_auto_micro_batch_takes_the_largest_that_fits(make_problem, monkeypatch):
    from benchmark_tools.components import make_solver

    FakeOOM(monkeypatch, limit=5)
    problem = make_problem(micro_batch_size="auto", max_steps=2)  # 16 sequences
    solver = make_solver("adamw")
    solver.set_objective(problem)
    assert solver.problem.micro_batch_size == 4
    assert solver.grad_accum == 4
    assert solver.problem.batch_tokens == problem.batch_tokens  # unchanged
    solver._train_step()
    assert solver.get_result()["metrics"]["micro_batch_size"] == 4.0


def test_auto_micro_batch_errors_when_nothing_fits(make_problem, monkeypatch):
    from benchmark_tools.components import make_solver

    FakeOOM(monkeypatch, limit=0)
    solver = make_solver("adamw")
    from benchmark_utils.errors import UserError

    with pytest.raises(UserError, match="not even one sequence"):
        solver.set_objective(make_problem(micro_batch_size="auto", max_steps=2))


SHARD_SCRIPT = r"""
import os, sys, torch
sys.path.insert(0, {root!r})
from benchmark_utils import distributed
ctx = distributed.run_groups(distributed.init_job(), torch.device("cpu"))
torch.manual_seed(0)  # the same parameters and gradients on every rank
params = [torch.nn.Parameter(torch.randn(s)) for s in [(32, 16), (16, 48), (8, 8)] * 3]
grads = [[torch.randn(p.shape) for p in params] for _ in range(3)]
ref = [p.detach().clone().requires_grad_() for p in params]
opt = torch.optim.Muon(params, lr=0.02, weight_decay=0.05)
ref_opt = torch.optim.Muon(ref, lr=0.02, weight_decay=0.05)
sharded = distributed.ShardedStep(opt, ctx, torch.device("cpu"))
for g in grads:
    for p, q, gi in zip(params, ref, g):
        p.grad, q.grad = gi.clone(), gi.clone()
    sharded()
    ref_opt.step()
assert sum(len(s) for s in sharded.by_rank) == len(params)
assert len(opt.state) < len(params)  # each rank keeps only its own state
for p, q in zip(params, ref):
    assert torch.equal(p, q), (p - q).abs().max()
print("exact", ctx.rank)
"""


def test_sharded_step_is_exact(tmp_path):
    """A Muon step split over 2 ranks (each orthogonalises its share, then
    all-gather) equals the unsplit step on the same gradient, bit for bit."""
    script = tmp_path / "shard.py"
    script.write_text(SHARD_SCRIPT.format(root=str(ROOT)))
    proc = subprocess.run(
        [PY, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", str(script)],
        env=_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("exact") == 2
