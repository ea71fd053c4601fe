"""Muon with the matrices of one shape updated together.

Why it exists: ``torch.optim.Muon`` updates one tensor at a time in a Python
loop (~45 kernels per matrix, ~3,200 per step for Track 3's 72 hidden
matrices). Those matrices have three shapes, so the same computation as a
few batched products (``torch.baddbmm`` over a stack of same-shape
matrices) and ``torch._foreach_*`` element-wise ops launches ~20 times fewer
kernels (counted in tests/test_muon_batched.py).

The update is ``torch.optim.Muon``'s, which with the Muon solver's
arguments is modded-nanogpt Track 3 #36's (``records/track_3_optimization/
train_gpt_simple.py``; tests/test_presets.py checks it): momentum as an EMA
``buf.lerp_(g, 1 - mu)``, Nesterov ``g.lerp(buf, mu)``, the quintic
Newton-Schulz iteration in bf16 on the (wide) matrix divided by its
Frobenius norm, decoupled decay ``p *= 1 - lr wd`` and the step ``-lr *
adjust(shape) * O``. Batched products may round differently from
per-matrix ones: equal within bf16 rounding, not bit for bit. The state
(``momentum_buffer`` per parameter) is torch's.

Rounding-level differences from #36's own Muon: it normalises by ``norm +
1e-7`` where torch divides by ``max(norm, 1e-7)`` (equal unless the norm is
~1e-7), forms ``b A + c A A`` with separate bf16 ops where torch uses one
``addmm``, and multiplies the bf16 update by the shape factor where torch
folds it into the step size (exact at full size: the factors are 1 and 2).
"""

import math

import torch

from .base import TensorwiseOptimizer

ADJUST_LR_FNS = (None, "original", "match_rms_adamw", "spectral_unclamped")


def adjusted_lr(lr, adjust_lr_fn, shape):
    """The step size of a ``shape`` matrix, as ``torch.optim.Muon`` scales it
    (``original``: Keller Jordan's ``sqrt(max(1, rows / cols))``)."""
    rows, cols = shape[:2]
    if adjust_lr_fn in (None, "original"):
        return lr * math.sqrt(max(1.0, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr * math.sqrt(rows / cols)  # spectral_unclamped


def newton_schulz(stack, coefficients, steps, eps):
    """Orthogonalise each matrix of ``stack`` (n, rows, cols): the quintic
    iteration ``X <- a X + (b A + c A A) X`` with ``A = X X^T``, in bf16, on
    the wide orientation, after dividing by the Frobenius norm."""
    a, b, c = coefficients
    x = stack.bfloat16()
    tall = stack.size(1) > stack.size(2)
    if tall:
        x = x.mT
    norms = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True)
    x = x / norms.clamp(min=eps)
    for _ in range(steps):
        gram = torch.bmm(x, x.mT)
        poly = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.baddbmm(x, poly, x, beta=a)
    return x.mT if tall else x


class BatchedMuon(TensorwiseOptimizer):
    """``torch.optim.Muon`` with same-shape matrices updated as one batch
    (same arguments and defaults, ``foreach`` excepted)."""

    OPTIONS = dict(
        weight_decay=0.1,
        momentum=0.95,
        nesterov=True,
        ns_coefficients=(3.4445, -4.7750, 2.0315),
        eps=1e-7,
        ns_steps=5,
        adjust_lr_fn=None,
    )

    def __init__(self, params, lr=1e-3, **options):
        super().__init__(params, lr, **options)
        for group in self.param_groups:
            if not all(group[k] >= 0 for k in ("lr", "momentum", "weight_decay")):
                raise ValueError("lr, momentum and weight_decay must be >= 0")
            if group["adjust_lr_fn"] not in ADJUST_LR_FNS:
                raise ValueError(f"adjust_lr_fn must be one of {ADJUST_LR_FNS}")
            if len(group["ns_coefficients"]) != 3:
                raise ValueError("ns_coefficients must be three numbers (a, b, c)")

    def step_group(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        bufs = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(
                    p.grad, memory_format=torch.preserve_format
                )
            bufs.append(state["momentum_buffer"])
        momentum, lr = group["momentum"], group["lr"]
        torch._foreach_lerp_(bufs, grads, 1 - momentum)
        updates = bufs
        if group["nesterov"]:
            updates = torch._foreach_lerp(grads, bufs, momentum)
        decay = 1 - lr * group["weight_decay"]
        if decay != 1:
            torch._foreach_mul_(params, decay)
        by_shape = {}
        for p, u in zip(params, updates):
            by_shape.setdefault((tuple(p.shape), p.dtype, p.device), []).append((p, u))
        for (shape, _, _), pairs in by_shape.items():
            ortho = newton_schulz(
                torch.stack([u for _, u in pairs]),
                group["ns_coefficients"],
                group["ns_steps"],
                group["eps"],
            )
            members = [p for p, _ in pairs]
            ortho = ortho.to(members[0].dtype).unbind(0)
            step = adjusted_lr(lr, group["adjust_lr_fn"], shape)
            torch._foreach_add_(members, ortho, alpha=-step)
