"""AdamH as Track 3 entry #4 runs it (modded-nanogpt records/
track_3_optimization/results/20260430_adamh/; the method: Wen et al.,
"Fantastic Pretraining Optimizers and Where to Find Them", 2.1: Hyperball
Optimization).

Why not a library: heavyball's ``HyperBallAdamW`` (3.2) has no first moment
(its ``betas[0]`` is unused), keeps the radius of its first step and floors
the norms at 1e-12; pytorch-optimizer and torch have no hyperball optimizer.

The update of a matrix W with gradient G at step t, from #4's script:

    m = b1 m + (1 - b1) G;  v = b2 v + (1 - b2) G^2
    U = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    W' = W - lr r U / max(||U||_F, 1e-10),  r = ||W||_F
    W = r W' / max(||W'||_F, 1e-10)                  (back on the sphere)

So ||W||_F never changes: no weight decay, and a zero matrix stays zero
(the entry initialises its out projections nonzero).
"""

import torch

from .base import TensorwiseOptimizer


class AdamH(TensorwiseOptimizer):
    """Adam's direction, a step of ``lr`` times the matrix's Frobenius norm,
    then back onto the sphere of that norm; see the module docstring."""

    OPTIONS = dict(betas=(0.9, 0.95), eps=1e-8, norm_eps=1e-10)
    matrices_only = False

    def update(self, p, state, group):
        beta1, beta2 = group["betas"]
        eps, floor, lr = group["eps"], group["norm_eps"], group["lr"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(p.grad, 1 - beta1)
        v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        update = (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps)
        radius = p.norm()
        moved = p - update * (lr * radius / update.norm().clamp(min=floor))
        p.copy_(moved * (radius / moved.norm().clamp(min=floor)))


def warmup_then_linear(warmup):
    """#4's learning-rate multiplier: ``step / warmup`` for the first
    ``warmup`` steps, then ``1 - step / N`` (linear to 0 over the run)."""
    return lambda step, n: step / warmup if step < warmup else 1 - step / n
