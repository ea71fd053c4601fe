"""What the benchmark scripts share: the repository on the import path, random
tokens (a shard, a batch), a training problem without evaluation, synchronised
timing, and the figures of a timed training loop (tokens/s, MFU, memory, a
step's phases)."""

import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmark_utils.data.shards import write_shard  # noqa: E402
from benchmark_utils.training.metrics import peak_memory_gib, peak_tflops  # noqa: E402
from benchmark_utils.training.problem import TrainingProblem  # noqa: E402
from benchmark_utils.training.runtime import synchronize  # noqa: E402


def random_shard(folder, vocab, n_tokens):
    """A training shard of ``n_tokens`` uniform random token ids."""
    tokens = np.random.default_rng(0).integers(0, vocab, n_tokens)
    return write_shard(Path(folder) / "random_train_000001.bin", tokens)


def random_batch(vocab, batch, seq_len, device="cpu"):
    """Inputs and targets of uniform random token ids."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (batch, seq_len), generator=g)
    y = torch.randint(0, vocab, (batch, seq_len), generator=g)
    return x.to(device), y.to(device)


def training_problem(config, shard, seq_len, batch_tokens, micro_batch, steps, **kw):
    """A problem on ``shard`` that trains ``steps`` steps and evaluates at the
    end only; ``kw`` sets any other field."""
    settings = dict(
        model_config=config,
        init_seed=0,
        train_files=(str(shard),),
        seq_len=seq_len,
        batch_tokens=batch_tokens,
        micro_batch_size=micro_batch,
        max_steps=steps,
        train_steps=steps,
        eval_every=steps,
    )
    return TrainingProblem(**{**settings, **kw})


def timed(device, fn):
    """Seconds ``fn()`` takes, synchronised with ``device``, and its result."""
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


class Phases(dict):
    """Seconds spent in each phase of the steps, each phase synchronised:
    ``phases("data", fn)`` runs ``fn`` and counts its time as data."""

    def __init__(self, device):
        super().__init__(data=0.0, fwd_bwd=0.0, optim=0.0)
        self.device = device

    def __call__(self, key, fn):
        seconds, out = timed(self.device, fn)
        self[key] += seconds
        return out


def untimed(key, fn):
    """The phases argument of a plain step: runs ``fn`` only."""
    return fn()


def measure(device, step, steps, warmup_steps, batch_tokens, flops_per_token, ranks=1):
    """Figures of a training loop: ms per plain ``step(untimed)`` (no extra
    synchronisation) after ``warmup_steps``, tokens/s, MFU, peak memory of the
    timed steps, then ms per step of each phase over ``steps`` steps timed
    with :class:`Phases`."""
    for _ in range(warmup_steps):
        step(untimed)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step_s = timed(device, lambda: [step(untimed) for _ in range(steps)])[0] / steps
    phases = Phases(device)
    for _ in range(steps):
        step(phases)
    flops = flops_per_token * batch_tokens / step_s
    return dict(
        ms_step=1000 * step_s,
        tokens_s=batch_tokens / step_s,
        mfu=flops / (ranks * peak_tflops(device) * 1e12),
        **{key: 1000 * seconds / steps for key, seconds in phases.items()},
        mem_gib=peak_memory_gib(device),
        device=str(device),
    )


def solver_step(solver, phase):
    """One training step of a set-up solver: the trainer's own ``_train_step``,
    or, timing phases, the same operations split into synchronised phases."""
    if phase is untimed:
        return solver._train_step()
    solver._set_learning_rates()
    for micro in range(solver.grad_accum):
        x, y = phase("data", solver.loader.next_batch)

        def fwd_bwd(x=x, y=y, skip_sync=micro < solver.grad_accum - 1):
            with solver._no_sync(skip_sync):
                loss = solver.train_model(x, y)
                (loss * solver.grad_scale).backward()

        phase("fwd_bwd", fwd_bwd)
    phase("optim", lambda: [step() for step in solver._optimizer_steps])
    solver.model.zero_grad(set_to_none=True)
    solver.step += 1


def standalone_reduce(solver, repeats=5):
    """Seconds of one all-reduce of the step's gradient bytes (0 on one rank):
    what DDP's gradient sum would cost if it were not overlapped."""
    if not solver.dist.active:
        return 0.0
    # Here, not above: it adds ~0.1 GB to the peak that cpu_output_layer reads.
    from benchmark_utils import distributed

    numel = {}
    for p in solver.model.parameters():
        numel[p.dtype] = numel.get(p.dtype, 0) + p.numel()
    buffers = [torch.zeros(n, dtype=d, device=solver.device) for d, n in numel.items()]

    def reduce():
        for buffer in buffers:
            distributed.all_reduce(buffer, solver.dist)

    timed(solver.device, reduce)  # the first call sets up the communicator
    return sum(timed(solver.device, reduce)[0] for _ in range(repeats)) / repeats


def measure_solver(solver, steps, warmup_steps):
    """:func:`measure` of a set-up solver, with its micro-batch, the standalone
    all-reduce (``reduce``, ms) and its parameter count."""
    figures = measure(
        solver.device,
        partial(solver_step, solver),
        steps,
        warmup_steps,
        solver.problem.batch_tokens,
        solver._flops_per_token,
        solver.dist.world_size,
    )
    return dict(
        micro_batch=solver.problem.micro_batch_size,
        **figures,
        reduce=1000 * standalone_reduce(solver),
        params=solver.model.num_parameters(),
    )
