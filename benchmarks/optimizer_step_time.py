"""Each solver's optimizer step time, relative to a forward+backward pass.

For every solver of ``solvers/`` (its default hyperparameters, set up by the
trainer's real ``set_objective`` on a generated shard, so solvers that read
the run's step count or device work here too) and every model size, this
times ``step()`` of all the solver's optimizers over ``--steps`` steps after
one untimed step (state initialisation, e.g. SOAP's first
eigendecomposition), and a forward+backward pass of one micro-batch. It
prints the step time, its ratio to the measured forward+backward, and that
ratio extrapolated to the objective's global batch (forward+backward cost
grows linearly with tokens; the step does not).

Amortised costs: the timed window should cover the periodic work (SOAP
refreshes its basis every 10 steps, Shampoo its roots every 5); PSGD updates
its preconditioner at every step for the first 500 steps, so its time here
is that early, worst case.

On CPU the GPT-2 124M case keeps the block shapes (d=768, 4x MLP) but uses
``--layers`` of the 12 layers and a ``--vocab`` of 2048 by default: the full
50304 x 768 tied embedding makes Shampoo (8192-blocks) and PSGD (8192 x 8192
triangular factors) spend minutes per step on CPU. Run with ``--vocab 50257
--layers 12`` on a GPU for the real shapes.

    python benchmarks/optimizer_step_time.py              # tiny + 124M, CPU
    python benchmarks/optimizer_step_time.py --sizes track3-tiny --solvers muon sgd
"""

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark_tools.components import (  # noqa: E402
    drop_full_size_note,
    make_solver,
    solver_names,
)
from benchmark_utils.data.shards import write_shard  # noqa: E402
from benchmark_utils.models import build_model, make_config  # noqa: E402
from benchmark_utils.training.problem import TrainingProblem  # noqa: E402
from benchmark_utils.training.runtime import resolve_device, synchronize  # noqa: E402

GLOBAL_BATCH = {
    "track3-tiny": 4096,
    "track3": 524_288,
    "gpt2-124m": 524_288,
}  # tokens per step


def forward_backward(model, x, y):
    loss = model(x, y)
    loss.backward()


def time_forward_backward(model, x, y, device, repeats):
    forward_backward(model, x, y)  # warm-up
    times = []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        synchronize(device)
        start = time.perf_counter()
        forward_backward(model, x, y)
        synchronize(device)
        times.append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)
    return statistics.median(times)


def set_up_solver(name, config, x, device, folder):
    """The solver as the trainer sets it up (fresh model, optimizers, the
    run's step count), on a random shard holding one micro-batch."""
    shard = Path(folder) / "random_train_000001.bin"
    if not shard.exists():
        rng = np.random.default_rng(0)
        write_shard(shard, rng.integers(0, config.vocab_size, 4 * x.numel() + 4))
    batch, seq_len = x.shape
    problem = TrainingProblem(
        model_config=config,
        init_seed=0,
        train_files=(shard,),
        seq_len=seq_len,
        batch_tokens=batch * seq_len,
        micro_batch_size=batch,
        max_steps=10**6,
        eval_every=125,
        device=str(device),
        compile=False,
        data_order="contiguous",
    )
    solver = make_solver(name)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        solver.set_objective(problem)
    # Timing each solver's defaults is the point here (said once, in main):
    # the trainer's per-solver note about them would only repeat it.
    sys.stderr.writelines(drop_full_size_note(err.getvalue().splitlines(True)))
    return solver.model, solver.optimizers


def time_optimizer(name, config, x, y, device, steps, folder):
    model, optimizers = set_up_solver(name, config, x, device, folder)
    times = []
    for i in range(steps + 1):
        forward_backward(model, x, y)
        synchronize(device)
        start = time.perf_counter()
        for opt in optimizers:
            opt.step()
        synchronize(device)
        if i:  # the first step initialises the state
            times.append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    return statistics.mean(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["track3-tiny", "track3"])
    parser.add_argument(
        "--solvers", nargs="+", default=None, help="default: every solver"
    )
    parser.add_argument(
        "--steps", type=int, default=10, help="timed optimizer steps (default 10)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help="GPT-2 124M layers kept (default 12 on GPU, 1 on CPU)",
    )
    parser.add_argument(
        "--vocab",
        type=int,
        default=None,
        help="GPT-2 124M vocabulary (default 50257 on GPU, 2048 on CPU)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads (default 1: stable timings on a shared machine)",
    )
    args = parser.parse_args()
    solvers = args.solvers or solver_names()
    folder = tempfile.mkdtemp(prefix="step_time_")

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    on_gpu = device.type == "cuda"
    print(
        f"device: {device} ({torch.get_num_threads()} CPU threads), "
        f"torch {torch.__version__}, fp32 weights, no autocast, no compile; "
        "every solver with its default (full-size) hyperparameters"
    )

    for size in args.sizes:
        if size == "track3-tiny":
            config = make_config("track3-tiny", 128, 128)
            batch, seq_len = 32, 128  # the CPU comparison's micro-batch
        else:
            layers = args.layers or (12 if on_gpu else 1)
            vocab = args.vocab or (50257 if on_gpu else 2048)
            config = replace(make_config(size, vocab, 1024), n_layer=layers)
            batch, seq_len = (8, 1024) if on_gpu else (1, 256)
        n_params = build_model(config, 0).num_parameters()
        tokens = batch * seq_len
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, config.vocab_size, (batch, seq_len), generator=g)
        y = torch.randint(0, config.vocab_size, (batch, seq_len), generator=g)
        x, y = x.to(device), y.to(device)
        model = build_model(config, seed=0).to(device)
        fb = time_forward_backward(model, x, y, device, repeats=3)
        del model
        print(
            f"\n== {size}: {config.n_layer} layer(s), d={config.n_embd}, "
            f"vocab {config.padded_vocab_size}, {n_params / 1e6:.2f}M "
            f"parameters; forward+backward of {batch}x{seq_len} = {tokens} "
            f"tokens: {fb * 1e3:.1f} ms (median of 3)"
        )
        print(
            f"   optimizer step: mean (max) of {args.steps} steps; ratio to "
            f"that forward+backward, and extrapolated to a global batch of "
            f"{GLOBAL_BATCH[size]:,} tokens"
        )
        print(
            f"   {'solver':22s} {'step ms':>9s} {'max ms':>9s} "
            f"{'x fwd+bwd':>10s} {'x global batch':>15s}"
        )
        for name in solvers:
            mean, worst = time_optimizer(name, config, x, y, device, args.steps, folder)
            full = fb * GLOBAL_BATCH[size] / tokens
            print(
                f"   {name:22s} {mean * 1e3:9.1f} {worst * 1e3:9.1f} "
                f"{mean / fb:10.3f} {mean / full:15.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
