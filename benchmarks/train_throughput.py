"""Training throughput of the shared loop on 1..W ranks: tokens/s, MFU and a
step-time breakdown, for each solver.

The real trainer (loader, accumulation, DDP gradient sum, Muon's split step,
compile on CUDA) on random tokens, under torchrun for each rank count; one row
per (ranks, solver).

    OMP_NUM_THREADS=1 python benchmarks/train_throughput.py --ranks 1 2 \
        --solvers adamw muon shampoo --steps 4                          # CPU
    python benchmarks/train_throughput.py --model track3 --seq-len 1024 \
        --batch-tokens 524288 --micro-batch-size 64 --ranks 1 2 4 8 \
        --solvers muon adamw shampoo --steps 20                          # 8 GPUs

Columns: ms per plain step, tokens/s, MFU (NaN on CPU or an unknown GPU;
NANOGPT_PEAK_TFLOPS sets the peak); then an instrumented step, synchronised
between phases: data (loader), fwd+bwd (the last backward includes DDP's
overlapped gradient sum), optim (Muon's all-gather included), reduce (a
standalone all-reduce of the gradient bytes: the sum's cost were it not
overlapped; 0 on one rank); peak memory of the timed steps; set-up time
(model, optimizers and, compiled, the warm-up that compiles).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import harness
import torch

from benchmark_tools.components import make_solver
from benchmark_utils import distributed
from benchmark_utils.models import make_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="track3-tiny")
    parser.add_argument("--vocab", type=int, help="default: 50257, 1024 on CPU")
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
    cuda = args.device != "cpu" and torch.cuda.is_available()
    args.vocab = args.vocab or (50257 if cuda else 1024)
    # Track 3 runs in bf16 on a GPU; the classic GPT-2 autocasts.
    args.dtype = "bfloat16" if cuda and args.model.startswith("track3") else "float32"
    return args


def child(args):
    """One rank of a torchrun job: every solver's figures, printed by rank 0."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    ctx = distributed.init_job()  # the job; each run gets its groups
    config = make_config(args.model, args.vocab, args.seq_len, args.dtype)
    mbs = args.micro_batch_size
    problem = harness.training_problem(
        config,
        args.child,
        args.seq_len,
        args.batch_tokens,
        mbs if mbs == "auto" else int(mbs),
        2 * args.steps + args.warmup_steps + 1,
        device=args.device,
        compile=not args.no_compile,
    )
    for name in args.solvers:
        solver = make_solver(name)
        start = time.perf_counter()
        solver.set_objective(problem)  # compiles (warm-up) when compile is on
        row = dict(ranks=ctx.world_size, solver=name)
        row["setup_s"] = time.perf_counter() - start
        row |= harness.measure_solver(solver, args.steps, args.warmup_steps)
        if ctx.is_leader:
            print("ROW " + json.dumps(row), flush=True)
    distributed.shutdown()


def main():
    args = parse_args()
    if args.child:
        return child(args)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        n_tokens = (2 * args.steps + args.warmup_steps + 2) * args.batch_tokens
        shard = harness.random_shard(tmp, args.vocab, n_tokens + 1)
        for ranks in args.ranks:
            cmd = [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", str(ranks), __file__, *sys.argv[1:],
                "--child", str(shard),
            ]  # fmt: skip
            env = {"OMP_NUM_THREADS": "1", **os.environ}
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{ranks} ranks failed:\n{proc.stderr[-4000:]}")
            rows += [
                json.loads(line.removeprefix("ROW "))
                for line in proc.stdout.splitlines()
                if line.startswith("ROW ")
            ]
    print(
        f"model {args.model} ({rows[0]['params']:,} parameters), seq_len "
        f"{args.seq_len}, global batch {args.batch_tokens} tokens, device "
        f"{rows[0]['device']}, compile {not args.no_compile}"
    )
    print(
        f"{'ranks':>5} {'solver':<10} {'mbs':>4} {'ms/step':>9} {'tokens/s':>10} "
        f"{'MFU':>6} | {'data':>7} {'fwd+bwd':>8} {'optim':>7} {'reduce':>7} ms"
        f" {'mem GiB':>8} {'setup s':>8}"
    )
    for r in rows:
        print(
            f"{r['ranks']:>5} {r['solver']:<10} {r['micro_batch']:>4} "
            f"{r['ms_step']:>9.1f} {r['tokens_s']:>10,.0f} {r['mfu']:>6.1%} | "
            f"{r['data']:>7.1f} {r['fwd_bwd']:>8.1f} {r['optim']:>7.1f} "
            f"{r['reduce']:>7.1f}    {r['mem_gib']:>8.2f} {r['setup_s']:>8.1f}"
        )


if __name__ == "__main__":
    main()
