"""NorMuon as Track 3 entry #10 runs it (records/track_3_optimization/
results/20260503_normuon in github.com/KellerJordan/modded-nanogpt).

Why not a library: pytorch-optimizer's ``NorMuon`` (4.1) always normalises
the rows of the orthogonalised update, while #10 normalises the entries of
its longer side: rows when rows >= cols, columns otherwise, i.e. the
columns of the wide 768 x 3072 MLP projections (on square and tall matrices
the two agree; tests/test_presets_leaderboard.py measures both). heavyball
and torch have no NorMuon.

The update of a matrix W (rows x cols) with gradient G, from #10's script:

    m = mu m + (1 - mu) G;  U = (1 - mu) G + mu m       (Nesterov, as Muon)
    O = NS(U) sqrt(max(1, rows / cols))                  (#36's Newton-Schulz)
    r = mean(O * O) along the shorter side               (one value per row
                                                          if rows >= cols,
                                                          per column if not)
    v = beta2 v + (1 - beta2) r                          (no bias correction)
    O' = O / sqrt(max(v, 1e-10)),  O' *= ||O||_F / max(||O'||_F, 1e-10)
    W = W (1 - lr wd) - lr O'

NS: normalise by ||U||_F + 1e-7, then ``ns_steps`` iterations of the quintic
X <- a X + (b A + c A A) X with A = X X^T on the wide orientation, in bf16.
Like #10, the normalisation runs on the bf16 orthogonalised update; the
second moment is kept in float32 (the parameter's dtype when wider).
"""

import torch

from .base import TensorwiseOptimizer


def newton_schulz(update, steps, coefficients, eps=1e-7):
    """The quintic Newton-Schulz iteration towards U V^T, in bf16."""
    a, b, c = coefficients
    x = update.bfloat16()
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    x = x / (x.norm() + eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.mT if tall else x


class NorMuon(TensorwiseOptimizer):
    """NorMuon (Li et al. 2025, arXiv 2510.05491) in Track 3 #10's form; see
    the module docstring."""

    OPTIONS = dict(
        weight_decay=0.0,
        momentum=0.95,
        beta2=0.95,
        ns_coefficients=(2.0, -1.5, 0.5),
        ns_steps=12,
    )

    def update(self, p, state, group):
        mu, lr = group["momentum"], group["lr"]
        rows, cols = p.shape
        side = -1 if rows >= cols else -2  # per row if tall, per column if wide
        if not state:
            state["momentum"] = torch.zeros_like(p)
            v_dtype = torch.promote_types(p.dtype, torch.float32)
            v_shape = (rows, 1) if side == -1 else (1, cols)
            state["second_moment"] = p.new_zeros(v_shape, dtype=v_dtype)
        buf, v = state["momentum"], state["second_moment"]
        buf.lerp_(p.grad, 1 - mu)
        update = p.grad.lerp(buf, mu)
        ortho = newton_schulz(update, group["ns_steps"], group["ns_coefficients"])
        ortho = ortho * max(1.0, rows / cols) ** 0.5
        norm = ortho.norm()
        rms2 = ortho.square().mean(dim=side, keepdim=True)
        v.lerp_(rms2.to(v.dtype), 1 - group["beta2"])
        ortho = ortho * v.clamp_min(1e-10).rsqrt().to(ortho.dtype)
        ortho = ortho * (norm / ortho.norm().clamp_min(1e-10))
        p.mul_(1 - lr * group["weight_decay"])
        p.add_(ortho.to(p.dtype), alpha=-lr)
