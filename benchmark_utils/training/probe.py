"""``micro_batch_size="auto"``: the largest micro-batch whose training step fits.

The probe runs what the run executes (the model, compiled when the run
compiles: on an 80 GB H100 eager Track 3 fits 32 sequences of 1,024 tokens,
compiled 64; a forward, backward and optimizer step) on a throwaway model,
from Track 3's 64 sequences (or this rank's share if smaller), halving until
one fits. Only the gradient accumulation changes, never the global batch.
"""

import sys

import torch

from .. import distributed
from ..errors import UserError
from ..models import build_model
from .recipe import check_optimizers
from .runtime import synchronize

TRACK3_MICRO_BATCH = 64
OOM_MESSAGES = ("out of memory", "CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC")


def is_out_of_memory(error):
    """True for every form a device's out-of-memory error takes (cuBLAS and
    cuDNN raise a plain RuntimeError)."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(
        text in str(error) for text in OOM_MESSAGES
    )


def advise_on_out_of_memory(error, problem):
    """Raise a :class:`UserError` with advice if ``error`` is out-of-memory."""
    if is_out_of_memory(error):
        raise UserError(
            f"out of GPU memory with micro_batch_size={problem.micro_batch_size} "
            f"x seq_len={problem.seq_len}: lower the objective's micro_batch_size "
            "or set it to 'auto' (gradient accumulation keeps the global batch, "
            "and so the problem, unchanged)"
        ) from error


def candidate_sizes(per_rank):
    """Powers of two dividing this rank's sequences per step, largest first,
    from Track 3's 64 (or ``per_rank`` if smaller)."""
    sizes = [2**k for k in range(TRACK3_MICRO_BATCH.bit_length())]
    return [size for size in reversed(sizes) if per_rank % size == 0]


def fits(solver, problem, size, compiled):
    """One training step of ``size`` sequences on a throwaway model."""
    model = optimizers = loss = None
    try:
        model = build_model(problem.model_config, problem.init_seed).to(solver.device)
        optimizers = check_optimizers(
            solver.build_optimizers(model.parameter_groups()), model, solver.name
        )
        step_model = torch.compile(model, dynamic=False) if compiled else model
        vocab = problem.model_config.vocab_size
        x = torch.randint(0, vocab, (size, problem.seq_len), device=solver.device)
        loss = step_model(x, x)
        (loss * problem.model_config.grad_scale(problem.batch_tokens)).backward()
        for opt in optimizers:
            opt.step()
        synchronize(solver.device)
        return True
    except (torch.OutOfMemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        return False
    finally:
        del model, optimizers, loss
        if solver.device.type == "cuda":
            torch.cuda.empty_cache()


def largest_micro_batch(solver, problem, dist, compiled):
    """The micro-batch size for ``micro_batch_size="auto"``, the same on every
    rank (the smallest any rank fits)."""
    per_rank = problem.sequences_per_rank(dist.world_size)
    chosen = 0
    for size in candidate_sizes(per_rank):
        if fits(solver, problem, size, compiled):
            chosen = size
            break
    if dist.active:
        agreed = torch.tensor([chosen if chosen else -1])
        chosen = int(
            distributed.all_reduce(agreed, dist, torch.distributed.ReduceOp.MIN)
        )
    if chosen < 1:
        raise UserError(
            f"micro_batch_size='auto': not even one sequence of seq_len="
            f"{problem.seq_len} fits in the memory of {solver.device} (a "
            "forward, backward and optimizer step of the model): use a "
            "GPU with more memory or more GPUs"
        )
    print(
        f"[{solver.name}] micro_batch_size='auto': {chosen} sequences per "
        f"micro-batch ({per_rank // chosen} per step and rank)",
        file=sys.stderr,
        flush=True,
    )
    return chosen
