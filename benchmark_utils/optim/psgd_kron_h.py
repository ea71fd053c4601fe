"""PSGD-Kron with the hyperball projection, as Track 3 entry #33 runs it
(modded-nanogpt records/track_3_optimization/results/20260527_psgd; PSGD:
Li 2015, arXiv 1512.04202; Kronecker whitening preconditioners: Li 2024,
arXiv 2402.11858, Pooladzandi & Li 2024, arXiv 2402.04553; hyperball: Wen
et al., "Fantastic Pretraining Optimizers" 2.1).

Why not a library: pytorch-optimizer's ``Kron`` (a port of kron_torch)
updates the preconditioner with a probability schedule, balances the
factors at random, starts from a fixed scale, clips the update's RMS to 1.1
and adds weight decay; #33 updates and balances every step, starts from the
first gradient's scale, has no clipping and no decay, and projects the step
onto the sphere of the weight's norm. heavyball's PSGD has no hyperball.

For a matrix W (m x n) with gradient G, from #33's script, in float32:

    first step: Q0 = s I_m, Q1 = s I_n, s = max(mean(G^4), 1e-24)^(-1/32)
    m = beta m + (1 - beta) G;  U = m / (1 - beta^t)
    Q0 *= c, Q1 /= c with c = sqrt(max|Q1| / max|Q0|)       (balance)
    v, nu ~ N(0, 1) (drawn in that order);  U' = U + eps32 |U| nu
    A = Q0 U' Q1^T;  B = Q0^-T v Q1^-1
    Q0 -= precond_lr / ||AA^T + BB^T|| triu(AA^T - BB^T) Q0
    Q1 -= precond_lr / ||A^TA + B^TB|| triu(A^TA - B^TB) Q1  (same A, B)
    D = Q0^T Q0 U Q1^T Q1
    W' = W - lr ||W|| D / (||D|| + 1e-10);  W = ||W|| W' / (||W'|| + 1e-10)

Norms are Frobenius except ||.|| of the symmetric matrices S, estimated as
#33 does: S / max|S|, x its column of largest norm, x = S x / ||S x||, then
max|S| ||S x|| ("1.5 power iterations").
"""

import torch

from .base import TensorwiseOptimizer


def spectral_norm_estimate(s):
    """#33's cheap estimate of the largest eigenvalue of a symmetric PSD S."""
    scale = s.abs().amax()
    if scale == 0:
        return scale
    s = s / scale
    x = s[:, s.square().sum(0).argmax()]
    x = s @ x
    x = x / torch.linalg.vector_norm(x)
    return scale * torch.linalg.vector_norm(s @ x)


def update_preconditioner(q0, q1, update, probe, precond_lr):
    """One step of the whitening fit of Q0, Q1 (in place), after balancing."""
    c = (q1.abs().amax() / q0.abs().amax()).sqrt()
    q0.mul_(c)
    q1.div_(c)
    a = q0 @ update @ q1.mT
    b = torch.linalg.solve_triangular(q0.mT, probe, upper=False, left=True)
    b = torch.linalg.solve_triangular(q1, b, upper=True, left=False)
    aat, bbt = a @ a.mT, b @ b.mT
    ata, btb = a.mT @ a, b.mT @ b
    q0.sub_(precond_lr / spectral_norm_estimate(aat + bbt) * torch.triu(aat - bbt) @ q0)
    q1.sub_(precond_lr / spectral_norm_estimate(ata + btb) * torch.triu(ata - btb) @ q1)


class PSGDKronH(TensorwiseOptimizer):
    """PSGD-Kron + hyperball in Track 3 #33's form; see the module
    docstring. The probes come from torch's default generator of the
    parameter's device (seed it to repeat a run)."""

    OPTIONS = dict(precond_lr=1.0, beta=0.95)

    def update(self, p, state, group):
        beta, lr = group["beta"], group["lr"]
        grad = p.grad.float()
        if not state:
            s = grad.abs().pow(4).mean().clamp(min=1e-24).pow(-1 / 32)
            eye = dict(dtype=torch.float32, device=p.device)
            state["Q0"] = torch.eye(p.shape[0], **eye) * s
            state["Q1"] = torch.eye(p.shape[1], **eye) * s
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(grad)
        state["step"] += 1
        state["exp_avg"].lerp_(grad, 1 - beta)
        update = state["exp_avg"] / (1 - beta ** state["step"])
        probe = torch.randn_like(update)
        nu = torch.randn_like(update)
        damping = torch.finfo(torch.float32).eps * update.abs()
        q0, q1 = state["Q0"], state["Q1"]
        update_preconditioner(q0, q1, update + damping * nu, probe, group["precond_lr"])
        direction = (q0.mT @ q0) @ update @ (q1.mT @ q1)
        w = p.float()
        w_norm = w.norm()
        new = w - lr * direction * (w_norm / (direction.norm() + 1e-10))
        p.copy_(new * (w_norm / (new.norm() + 1e-10)))


def linear_to_zero(step, n):
    """#33's multiplier of the PSGD learning rate: ``1 - step / N``."""
    return 1 - step / n


def aux_schedule(start, final):
    """#33's multiplier of the aux AdamW: 1 until ``start`` N, then linear
    down to ``final`` at N."""
    return lambda step, n: (
        1 - (1 - final) * max(0.0, (step - int(n * start)) / (n - int(n * start)))
    )
