"""Each solver's optimizer step time, relative to a forward+backward pass.

For every solver (default hyperparameters, set up by the trainer's real
``set_objective`` on a generated shard, so solvers that read the run's step
count or device work too) and model size: the mean and max time of all its
optimizers' ``step()`` over ``--steps`` steps after an untimed one (state
initialisation, e.g. SOAP's first eigendecomposition), its ratio to a measured
forward+backward of one micro-batch, and that ratio at the objective's global
batch (forward+backward grows with tokens; the step does not).

The window should cover periodic work (SOAP's basis every 10 steps, Shampoo's
roots every 5); PSGD updates its preconditioner at every step for its first
500 steps, so its time here is that worst case. On CPU the full-size models
keep their block shapes but use ``--layers`` 1 and ``--vocab`` 2048: the full
50304 x 768 embedding makes Shampoo (8192-blocks) and PSGD (8192 x 8192
factors) spend minutes a step. ``--vocab 50257 --layers 12`` on a GPU gives
the real shapes.

    python benchmarks/optimizer_step_time.py              # tiny + Track 3, CPU
    python benchmarks/optimizer_step_time.py --sizes track3-tiny --solvers muon sgd
"""

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
from dataclasses import replace

import harness
import torch

from benchmark_tools.components import drop_full_size_note, make_solver, solver_names
from benchmark_utils.models import build_model, make_config
from benchmark_utils.training.runtime import resolve_device

GLOBAL_BATCH = {"track3-tiny": 4096, "track3": 524_288, "gpt2-124m": 524_288}


def forward_backward(model, x, y):
    model(x, y).backward()


def forward_backward_time(config, x, y, device, repeats=3):
    """Median seconds of a fresh model's forward+backward, its parameter count."""
    model = build_model(config, seed=0).to(device)
    forward_backward(model, x, y)  # warm-up
    times = []
    for _ in range(repeats):
        model.zero_grad(set_to_none=True)
        times.append(harness.timed(device, lambda: forward_backward(model, x, y))[0])
    return statistics.median(times), model.num_parameters()


def set_up_solver(name, config, shard, x, device):
    """The solver as the trainer sets it up (fresh model, optimizers, the
    run's step count), on a shard of random tokens."""
    batch, seq_len = x.shape
    problem = harness.training_problem(
        config,
        shard,
        seq_len,
        batch * seq_len,
        batch,
        10**6,
        train_steps=None,  # each solver's own
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
    return solver


def step_times(solver, x, y, steps):
    """Seconds of each optimizer step but the first (it initialises the state)."""

    def optimizer_step():
        for opt in solver.optimizers:
            opt.step()

    times = []
    for _ in range(steps + 1):
        forward_backward(solver.model, x, y)
        times.append(harness.timed(solver.device, optimizer_step)[0])
        solver.model.zero_grad(set_to_none=True)
    return times[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["track3-tiny", "track3"])
    parser.add_argument("--solvers", nargs="+", help="default: every solver")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--layers", type=int, help="default: 12 on GPU, 1 on CPU")
    parser.add_argument("--vocab", type=int, help="default: 50257 on GPU, 2048 on CPU")
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads (1: stable timings)"
    )
    args = parser.parse_args()
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
            vocab = args.vocab or (50257 if on_gpu else 2048)
            config = make_config(size, vocab, 1024)
            config = replace(config, n_layer=args.layers or (12 if on_gpu else 1))
            batch, seq_len = (8, 1024) if on_gpu else (1, 256)
        tokens = batch * seq_len
        x, y = harness.random_batch(config.vocab_size, batch, seq_len, device)
        fb, n_params = forward_backward_time(config, x, y, device)
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
        full = fb * GLOBAL_BATCH[size] / tokens
        with tempfile.TemporaryDirectory() as folder:
            shard = harness.random_shard(folder, config.vocab_size, 4 * tokens + 4)
            for name in args.solvers or solver_names():
                solver = set_up_solver(name, config, shard, x, device)
                times = step_times(solver, x, y, args.steps)
                mean = statistics.mean(times)
                print(
                    f"   {name:22s} {mean * 1e3:9.1f} {max(times) * 1e3:9.1f} "
                    f"{mean / fb:10.3f} {mean / full:15.4f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
