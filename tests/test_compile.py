"""The compiled training path, on CPU (torch's inductor; needs a C compiler).

The GPU runs compile (``torch.compile(model, dynamic=False)``, as the Track 3
script does); ``compile="always"`` forces it on CPU so CI runs the same
path:

* a few steps of the tiny Track 3 model give the eager losses, and after the
  trainer's warm-up nothing compiles again (neither the fresh model the run
  starts from nor the evaluation batches);
* compiled DDP on 2 gloo ranks with gradient accumulation sums the gradients
  as one process does (the SUM communication hook under compile).

Compilations are counted at the backend: ``torch.compile`` is given a
backend that records each graph it is handed, then runs inductor on it.
Dynamo calls its backend once per new graph (a first compilation, a graph
break's next piece, a recompilation after a guard fails), so the count
after the warm-up must stay where it was.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4
# CPU inductor fuses and reorders fp32 reductions: the losses of eager and
# compiled runs differ by ~1e-6 relative (AdamW carries it, nothing in this
# path runs in bf16); 1e-4 absolute on losses of ~4 still catches a wrong
# gradient or a step that is skipped or taken twice (~1e-2 per step here).
LOSS_TOL = 1e-4


class CountingCompile:
    """Stands in for ``torch.compile``: the same call, with a backend that
    counts the graphs it compiles and hands them to inductor."""

    def __init__(self, real):
        self.real, self.graphs = real, 0

    def backend(self, graph, example_inputs):
        from torch._inductor.compile_fx import compile_fx

        self.graphs += 1
        return compile_fx(graph, example_inputs)

    def __call__(self, model, **kwargs):
        assert kwargs.get("dynamic") is False  # as the Track 3 script
        return self.real(model, backend=self.backend, **kwargs)


@pytest.fixture
def counting_compile(monkeypatch):
    torch._dynamo.reset()  # no graph cached by an earlier test
    counter = CountingCompile(torch.compile)
    monkeypatch.setattr(torch, "compile", counter)
    yield counter
    torch._dynamo.reset()


def run_solver(solver, problem, val_tokens):
    """Set up (the warm-up compiles there), then train with evaluations as
    benchopt's callback makes them. Returns (records, graphs compiled by
    the set-up)."""
    from conftest import StepCallback

    from benchmark_utils.training.evaluation import validation_loss

    solver.set_objective(problem)
    compiled_in_set_up = torch.compile.graphs if solver.compiled else 0

    def evaluate(model, step, train_loss, **_):
        loss = validation_loss(model, val_tokens, problem.seq_len, 16, solver.device)
        return dict(step=step, val_loss=loss, train_loss=train_loss)

    callback = StepCallback(solver, evaluate)
    solver.run(callback)
    return callback.records, compiled_in_set_up


def test_compiled_losses_equal_eager_and_no_recompilation(
    make_problem, markov_source, counting_compile, one_thread
):
    from benchmark_tools.components import make_solver
    from benchmark_utils.data.shards import read_tokens

    val = torch.from_numpy(read_tokens(markov_source.val_file(), 0, 64 * 32 + 1))
    settings = dict(max_steps=STEPS, eval_every=2, eval_every_final=2)
    eager = make_problem(**settings)
    ref, _ = run_solver(make_solver("adamw", lr=3e-3), eager, val)
    assert counting_compile.graphs == 0

    compiled = make_problem(**settings, compile="always")
    got, after_warm_up = run_solver(make_solver("adamw", lr=3e-3), compiled, val)
    # At least the training graph (forward + backward) and the evaluation's.
    assert after_warm_up >= 2
    assert counting_compile.graphs == after_warm_up, "compiled again after warm-up"

    assert [r["step"] for r in got] == [r["step"] for r in ref] == [0, 2, 4]
    val_got, val_ref = ([r["val_loss"] for r in rs] for rs in (got, ref))
    train_got, train_ref = ([r["train_loss"] for r in rs[1:]] for rs in (got, ref))
    torch.testing.assert_close(val_got, val_ref, rtol=0, atol=LOSS_TOL)
    torch.testing.assert_close(train_got, train_ref, rtol=0, atol=LOSS_TOL)
    # The losses move: the equality is not between two untrained models.
    assert val_ref[-1] < val_ref[0] - 10 * LOSS_TOL


DDP_SCRIPT = r"""
import os, sys, torch
sys.path.insert(0, {root!r})
from benchmark_tools.components import make_solver
from benchmark_utils.models import make_config
from benchmark_utils.data.markov import MarkovSource
from benchmark_utils.training.problem import TrainingProblem
from benchmark_utils import distributed

torch.set_num_threads(1)
source = MarkovSource({data!r}, vocab_size=64, shard_tokens=100_000,
                      n_val_tokens=20_000)
problem = TrainingProblem(
    model_config=make_config("track3-tiny", 64, 32), init_seed=0,
    train_files=tuple(source.train_files(20 * 512 + 1)), seq_len=32,
    batch_tokens=512, micro_batch_size=4, max_steps=1, train_steps=1,
    eval_every=1, eval_every_final=1, device="cpu", compile={compile!r})
ctx = distributed.init_job()  # one process: SINGLE
solver = make_solver("adamw")
solver.set_objective(problem)
grads = {{}}

def record(optimizer, args, kwargs):  # the summed gradients the step sees
    grads.update((n, p.grad.detach().clone())
                 for n, p in solver.model.named_parameters())

solver.optimizers[0].register_step_pre_hook(record)
solver._train_step()  # the first step: every run starts from the same weights
torch.save(dict(grads=grads, accum=solver.grad_accum, world=ctx.world_size,
                compiled=solver.compiled, ddp=solver.ddp_model is not None),
           os.path.join({out!r}, f"rank{{ctx.rank}}.pt"))
distributed.shutdown()
"""


def test_compiled_ddp_sums_gradients_like_one_process(tmp_path):
    """2 gloo ranks, 2 micro-batches each, compiled: the gradients of the
    first step equal one eager process's with 4 micro-batches (the same
    512 tokens)."""
    results = {}
    for world, compile_ in ((1, False), (2, "always")):
        out = tmp_path / f"out{world}"
        out.mkdir()
        script = tmp_path / f"ddp{world}.py"
        script.write_text(
            DDP_SCRIPT.format(
                root=str(ROOT), data=str(tmp_path / "data"), out=str(out),
                compile=compile_,
            )
        )  # fmt: skip
        cmd = [sys.executable, str(script)]
        if world > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", str(world), str(script)]  # fmt: skip
        env = dict(os.environ, OMP_NUM_THREADS="1", NANOGPT_DIST_TIMEOUT="300")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-4000:]
        results[world] = [torch.load(out / f"rank{r}.pt") for r in range(world)]
    (ref,) = results[1]
    assert ref["accum"] == 4 and not ref["compiled"]
    for got in results[2]:
        assert got["accum"] == 2 and got["compiled"] and got["ddp"]
        assert set(got["grads"]) == set(ref["grads"])
        for name, grad in ref["grads"].items():
            # fp32 sums in another order, fused by inductor: ~1e-6 relative.
            # Averaging instead of summing would be off by a factor 2.
            torch.testing.assert_close(
                got["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name
            )
