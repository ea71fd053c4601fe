"""Training throughput of the shared loop: tokens/s, ms per optimizer step and
(on CUDA) model FLOPs utilisation.

Runs the real trainer (loader, accumulation, autocast, compile, AdamW) on
random tokens, so it measures the benchmark's own overhead, not a toy loop.

    python benchmarks/train_throughput.py --model tiny --seq-len 128 \
        --batch-tokens 4096 --micro-batch-size 32 --steps 20        # CPU
    python benchmarks/train_throughput.py --model gpt2-124m \
        --micro-batch-size 32 --steps 20 --peak-tflops 989           # H100
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark_utils.components import make_solver  # noqa: E402
from benchmark_utils.models import make_config  # noqa: E402
from benchmark_utils.runtime import synchronize  # noqa: E402
from benchmark_utils.shards import write_shard  # noqa: E402
from benchmark_utils.trainer import TrainingProblem  # noqa: E402


def flops_per_token(config, seq_len, n_params):
    """6N for the matmuls' forward and backward plus the attention scores
    (PaLM appendix B estimate)."""
    return 6 * n_params + 12 * config.n_layer * config.n_embd * seq_len


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="track3-tiny")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--micro-batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the GPU's dense bf16 peak, for MFU",
    )
    args = parser.parse_args()

    vocab = 50257
    config = make_config(args.model, vocab, args.seq_len)
    n_steps = args.steps + args.warmup_steps
    with tempfile.TemporaryDirectory() as tmp:
        n_tokens = n_steps * args.batch_tokens + 1
        tokens = np.random.default_rng(0).integers(0, vocab, n_tokens)
        shard = write_shard(Path(tmp) / "random_train_000001.bin", tokens)
        problem = TrainingProblem(
            model_config=config,
            init_seed=0,
            train_files=(shard,),
            seq_len=args.seq_len,
            batch_tokens=args.batch_tokens,
            micro_batch_size=args.micro_batch_size,
            max_steps=n_steps,
            eval_every=n_steps,
            device=args.device,
            compile=not args.no_compile,
        )
        solver = make_solver("adamw")
        solver.set_objective(problem)
        for _ in range(args.warmup_steps):
            solver._train_step()
        synchronize(solver.device)
        start = time.perf_counter()
        for _ in range(args.steps):
            solver._train_step()
        synchronize(solver.device)
        elapsed = time.perf_counter() - start

    n_params = solver.model.num_parameters()
    tokens_per_s = args.steps * args.batch_tokens / elapsed
    print(
        f"device {solver.device}, model {args.model} ({n_params:,} "
        f"parameters), seq_len {args.seq_len}, global batch "
        f"{args.batch_tokens} tokens = {solver.grad_accum} x "
        f"{args.micro_batch_size} sequences, compile {solver.compiled}"
    )
    print(
        f"{1000 * elapsed / args.steps:.1f} ms per optimizer step, "
        f"{tokens_per_s:,.0f} tokens/s"
    )
    if args.peak_tflops:
        achieved = tokens_per_s * flops_per_token(config, args.seq_len, n_params)
        print(
            f"MFU {100 * achieved / (args.peak_tflops * 1e12):.1f}% of "
            f"{args.peak_tflops} TFLOP/s"
        )


if __name__ == "__main__":
    main()
