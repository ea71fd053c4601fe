"""Validation loss: the same tokens, order and precision for every solver."""

import math

import torch


@torch.no_grad()
def validation_loss(model, tokens, seq_len, batch_size, device):
    """Mean next-token cross-entropy over consecutive windows of ``seq_len``.

    ``tokens`` (int64, length ``n * seq_len + 1``) covers the validation
    budget; the model is put in eval mode and restored to its mode after.
    As in Track 3, the summed loss of every micro-batch is added up and
    divided by the number of validation tokens once.
    """
    n_windows = (len(tokens) - 1) // seq_len
    if n_windows < 1:
        raise ValueError(
            f"validation needs at least {seq_len + 1} tokens, got {len(tokens)}"
        )
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    try:
        for first in range(0, n_windows, batch_size):
            n = min(batch_size, n_windows - first)
            chunk = tokens[first * seq_len : (first + n) * seq_len + 1]
            chunk = chunk.to(device, non_blocking=True)
            x = chunk[:-1].view(n, seq_len)
            y = chunk[1:].view(n, seq_len)
            total += model(x, y).double()
    finally:
        model.train(was_training)
    value = (total / (n_windows * seq_len)).item()
    return value if math.isfinite(value) else float("nan")
