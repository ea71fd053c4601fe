"""Validation loss: the same tokens, order and precision for every solver."""

import math

import torch

from .. import distributed
from ..errors import UserError


@torch.no_grad()
def validation_loss(model, tokens, seq_len, batch_size, device, ctx=None):
    """Mean next-token cross-entropy over consecutive windows of ``seq_len``
    of ``tokens`` (int64, ``n * seq_len + 1``), in eval mode.

    As in Track 3, the summed losses are added up and divided by the number
    of tokens once. Distributed (``ctx``), each rank sums a contiguous share
    of the windows and the sums are all-reduced. A last batch smaller than
    ``batch_size`` runs the eager model: a compiled one (static shapes)
    would recompile for it.
    """
    n_windows = (len(tokens) - 1) // seq_len
    if n_windows < 1:
        raise UserError(
            f"validation needs at least {seq_len + 1} tokens, got {len(tokens)}"
        )
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    ctx = ctx or distributed.SINGLE
    eager = getattr(model, "_orig_mod", model)  # torch.compile's wrapped module
    start, stop = distributed.share(n_windows, ctx)
    try:
        for first in range(start, stop, batch_size):
            n = min(batch_size, stop - first)
            chunk = tokens[first * seq_len : (first + n) * seq_len + 1]
            chunk = chunk.to(device, non_blocking=True)
            x = chunk[:-1].view(n, seq_len)
            y = chunk[1:].view(n, seq_len)
            total += (model if n == batch_size else eager)(x, y).double()
    finally:
        model.train(was_training)
    distributed.all_reduce(total, ctx)
    value = (total / (n_windows * seq_len)).item()
    return value if math.isfinite(value) else float("nan")


def model_device(model, default):
    """The device ``model`` lives on (one GPU per rank when distributed)."""
    for p in model.parameters():
        return p.device
    return default
