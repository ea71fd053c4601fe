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
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_utils.models import build_model, make_config  # noqa: E402
from benchmark_utils.training.runtime import keep_freed_memory  # noqa: E402


def step_time(model, x, y, steps):
    """Median wall and mean user / system seconds per training step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for i in range(steps + 1):  # the first step warms up
        if i == 1:
            usage = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        model(x, y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    end = resource.getrusage(resource.RUSAGE_SELF)
    user = (end.ru_utime - usage.ru_utime) / steps
    system = (end.ru_stime - usage.ru_stime) / steps
    return sorted(times[1:])[len(times[1:]) // 2], user, system


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
    config = make_config(args.model, 50257, args.seq_len)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 50257, (args.micro_batch, args.seq_len), generator=g)
    y = torch.randint(0, 50257, (args.micro_batch, args.seq_len), generator=g)
    print(
        f"{args.model}, vocab 50304, micro-batch {args.micro_batch} x "
        f"{args.seq_len} tokens, {torch.get_num_threads()} threads, "
        f"median of {args.steps} steps"
    )
    model = build_model(config, seed=0)
    wall, user, system = step_time(model, x, y, args.steps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{'step (s)':>9} {'user (s)':>9} {'sys (s)':>8} {'peak RSS (GB)':>14}")
    print(f"{wall:>9.3f} {user:>9.2f} {system:>8.2f} {peak:>14.2f}")


if __name__ == "__main__":
    main()
