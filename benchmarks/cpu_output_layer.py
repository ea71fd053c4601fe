"""Training-step time, user/system CPU time and peak memory of a small model
with the full GPT-2 vocabulary on CPU, with glibc's default allocator
settings and with ``runtime.keep_freed_memory()`` (what the trainer applies
on CPU). Run each setting in its own process: the allocator setting cannot
be undone.

    OMP_NUM_THREADS=1 python benchmarks/cpu_output_layer.py
    OMP_NUM_THREADS=1 python benchmarks/cpu_output_layer.py --keep-freed-memory
"""

import argparse
import resource
import statistics

import harness
import torch

from benchmark_utils.models import build_model, make_config
from benchmark_utils.training.runtime import keep_freed_memory


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="track3-tiny")
    parser.add_argument("--micro-batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="apply runtime.keep_freed_memory() (what the trainer does on CPU)",
    )
    args = parser.parse_args()
    if args.keep_freed_memory:
        print("keep_freed_memory applied:", keep_freed_memory())
    x, y = harness.random_batch(50257, args.micro_batch, args.seq_len)
    print(
        f"{args.model}, vocab 50304, micro-batch {args.micro_batch} x "
        f"{args.seq_len} tokens, {torch.get_num_threads()} threads, "
        f"median of {args.steps} steps"
    )
    model = build_model(make_config(args.model, 50257, args.seq_len), seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        model(x, y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up
    start = resource.getrusage(resource.RUSAGE_SELF)
    times = [harness.timed(x.device, step)[0] for _ in range(args.steps)]
    end = resource.getrusage(resource.RUSAGE_SELF)
    user = (end.ru_utime - start.ru_utime) / args.steps
    system = (end.ru_stime - start.ru_stime) / args.steps
    print(f"{'step (s)':>9} {'user (s)':>9} {'sys (s)':>8} {'peak RSS (GB)':>14}")
    print(
        f"{statistics.median_high(times):>9.3f} {user:>9.2f} {system:>8.2f} "
        f"{end.ru_maxrss / 2**20:>14.2f}"
    )


if __name__ == "__main__":
    main()
