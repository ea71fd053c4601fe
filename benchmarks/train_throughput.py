"""Training throughput of the shared loop on 1..W ranks: tokens/s, MFU and a
step-time breakdown, for each solver.

Runs the real trainer (loader, accumulation, DDP gradient sum, Muon's split
step, compile on CUDA) on random tokens, under torchrun for each rank count,
and prints one row per (ranks, solver). Not a test: it prints figures.

    OMP_NUM_THREADS=1 python benchmarks/train_throughput.py --ranks 1 2 \
        --solvers adamw muon shampoo --steps 4                          # CPU
    python benchmarks/train_throughput.py --model track3 --seq-len 1024 \
        --batch-tokens 524288 --micro-batch-size 64 --ranks 1 2 4 8 \
        --solvers muon adamw shampoo --steps 20                          # 8 GPUs

Columns: ms per step (plain training step, no extra synchronisation),
tokens/s, MFU (NaN on CPU or an unknown GPU; NANOGPT_PEAK_TFLOPS sets the
peak), then the breakdown of an instrumented step (synchronised between
phases): data (loader), fwd+bwd (forward and backward of every micro-batch;
the last backward includes DDP's gradient sum, overlapped with it), optim
(optimizer steps, Muon's all-gather included), and reduce: a standalone
all-reduce of the step's gradient bytes, i.e. what the gradient sum would
cost if it were not overlapped (0 on one rank); peak memory of the timed
steps; set-up time (model, optimizers and, compiled, the warm-up that
compiles). benchmarks/gpu_check.py reuses ``measure``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="track3-tiny")
    parser.add_argument(
        "--vocab", type=int, default=None, help="default: 50257 (GPT-2), 1024 on CPU"
    )
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-tokens", type=int, default=2048)
    parser.add_argument("--micro-batch-size", default="8")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--solvers", nargs="+", default=["adamw", "muon"])
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.vocab is None:
        import torch

        cpu = args.device == "cpu" or not torch.cuda.is_available()
        args.vocab = 1024 if cpu else 50257
    return args


def _timed(device, fn):
    from benchmark_utils.training.runtime import synchronize

    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


def instrumented_step(solver, phases):
    """One training step of ``solver`` (the trainer's ``_train_step``, split
    into synchronised phases)."""
    device = solver.device
    solver._set_learning_rates()
    for micro in range(solver.grad_accum):
        dt, (x, y) = _timed(device, solver.loader.next_batch)
        phases["data"] += dt

        def fwd_bwd(x=x, y=y, skip_sync=micro < solver.grad_accum - 1):
            with solver._no_sync(skip_sync):
                loss = solver.train_model(x, y)
                (loss * solver.grad_scale).backward()

        phases["fwd_bwd"] += _timed(device, fwd_bwd)[0]

    def optim():
        for step in solver._optimizer_steps:
            step()

    phases["optim"] += _timed(device, optim)[0]
    solver.model.zero_grad(set_to_none=True)
    solver.step += 1


def standalone_reduce(solver, repeats):
    """Seconds of one all-reduce of the step's gradient bytes."""
    import torch

    from benchmark_utils import distributed

    ctx = solver.dist
    if not ctx.active:
        return 0.0
    numel = {}
    for p in solver.model.parameters():
        numel[p.dtype] = numel.get(p.dtype, 0) + p.numel()
    buffers = [torch.zeros(n, dtype=d, device=solver.device) for d, n in numel.items()]
    total = 0.0
    for _ in range(repeats + 1):
        dt, _ = _timed(
            solver.device,
            lambda: [distributed.all_reduce(b, ctx) for b in buffers],
        )
        total += dt
    return (total - dt) / repeats if repeats > 1 else dt


def measure(solver, steps, warmup_steps):
    """Figures of ``solver`` (set up): ms per plain step after
    ``warmup_steps`` steps, tokens/s, MFU, then the synchronised breakdown
    (ms per step) over ``steps`` instrumented steps, peak memory."""
    import torch

    from benchmark_utils.training.metrics import peak_memory_gib, peak_tflops
    from benchmark_utils.training.runtime import synchronize

    device, batch_tokens = solver.device, solver.problem.batch_tokens
    for _ in range(warmup_steps):
        solver._train_step()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        solver._train_step()
    synchronize(device)
    step_s = (time.perf_counter() - start) / steps
    phases = dict(data=0.0, fwd_bwd=0.0, optim=0.0)
    for _ in range(steps):
        instrumented_step(solver, phases)
    reduce_s = standalone_reduce(solver, 5)
    flops = solver._flops_per_token * batch_tokens / step_s
    peak = peak_tflops(device)
    return dict(
        micro_batch=solver.problem.micro_batch_size,
        ms_step=1000 * step_s,
        tokens_s=batch_tokens / step_s,
        mfu=flops / (solver.dist.world_size * peak * 1e12),
        **{k: 1000 * v / steps for k, v in phases.items()},
        reduce=1000 * reduce_s,
        mem_gib=peak_memory_gib(device),
        device=str(device),
        params=solver.model.num_parameters(),
    )


def child(args):
    import torch

    from benchmark_tools.components import make_solver
    from benchmark_utils import distributed
    from benchmark_utils.models import make_config
    from benchmark_utils.training.problem import TrainingProblem

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    ctx = distributed.init_job()  # the job; each run gets its groups
    config = make_config(args.model, args.vocab, args.seq_len, _dtype(args))
    total = 2 * args.steps + args.warmup_steps + 1
    rows = []
    for name in args.solvers:
        mbs = args.micro_batch_size
        problem = TrainingProblem(
            model_config=config,
            init_seed=0,
            train_files=(args.child,),
            seq_len=args.seq_len,
            batch_tokens=args.batch_tokens,
            micro_batch_size=mbs if mbs == "auto" else int(mbs),
            max_steps=total,
            train_steps=total,
            eval_every=total,
            device=args.device,
            compile=not args.no_compile,
        )
        solver = make_solver(name)
        start = time.perf_counter()
        solver.set_objective(problem)  # compiles (warm-up) when compile is on
        setup_s = time.perf_counter() - start
        rows.append(
            dict(
                ranks=ctx.world_size,
                solver=name,
                setup_s=setup_s,
                **measure(solver, args.steps, args.warmup_steps),
            )
        )
    if ctx.is_leader:
        for row in rows:
            print("ROW " + json.dumps(row), flush=True)
    distributed.shutdown()


def _dtype(args):
    import torch

    cuda = args.device == "cuda" or (
        args.device == "auto" and torch.cuda.is_available()
    )
    return "bfloat16" if cuda and args.model.startswith("track3") else "float32"


def main():
    args = parse_args()
    if args.child:
        return child(args)
    import numpy as np

    from benchmark_utils.data.shards import write_shard

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        n_tokens = (2 * args.steps + args.warmup_steps + 2) * args.batch_tokens
        tokens = np.random.default_rng(0).integers(0, args.vocab, n_tokens + 1)
        shard = write_shard(Path(tmp) / "random_train_000001.bin", tokens)
        for ranks in args.ranks:
            cmd = [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", str(ranks), __file__, *sys.argv[1:],
                "--child", str(shard),
            ]  # fmt: skip
            env = dict(os.environ)
            env.setdefault("OMP_NUM_THREADS", "1")
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{ranks} ranks failed:\n{proc.stderr[-4000:]}")
            rows += [
                json.loads(line[4:])
                for line in proc.stdout.splitlines()
                if line.startswith("ROW ")
            ]
    first = rows[0]
    print(
        f"model {args.model} ({first['params']:,} parameters), seq_len "
        f"{args.seq_len}, global batch {args.batch_tokens} tokens, device "
        f"{first['device']}, compile {not args.no_compile}"
    )
    header = (
        f"{'ranks':>5} {'solver':<10} {'mbs':>4} {'ms/step':>9} {'tokens/s':>10} "
        f"{'MFU':>6} | {'data':>7} {'fwd+bwd':>8} {'optim':>7} {'reduce':>7} ms"
        f" {'mem GiB':>8} {'setup s':>8}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['ranks']:>5} {r['solver']:<10} {r['micro_batch']:>4} "
            f"{r['ms_step']:>9.1f} {r['tokens_s']:>10,.0f} {r['mfu']:>6.1%} | "
            f"{r['data']:>7.1f} {r['fwd_bwd']:>8.1f} {r['optim']:>7.1f} "
            f"{r['reduce']:>7.1f}    {r['mem_gib']:>8.2f} {r['setup_s']:>8.1f}"
        )


if __name__ == "__main__":
    main()
