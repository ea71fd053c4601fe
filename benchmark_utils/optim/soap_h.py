"""SOAP-H as Track 3 entry #27 runs it (modded-nanogpt records/
track_3_optimization/results/20260518_soaph/SOAPH_run1.txt, the log that
holds the script): SOAP (Vyas et al., ICLR 2025: Adam in the eigenbasis of
Shampoo's preconditioner) without bias correction, with the eigenbasis
refreshed every step and the step taken on the hyperball.

Why not a library: pytorch-optimizer's SOAP (4.x, like the paper's code)
skips the update on the first step and reorders the eigenbasis and the
second moment before each QR refresh, #27 does neither; heavyball's SOAP
refreshes on another schedule (tests/test_optimizers.py) and its hyperball
step comes only with AdamW. torch has no SOAP.

The update of a matrix W with gradient G, from #27's script (beta1 =
``momentum``, beta2 = ``ema_beta``, also Shampoo's beta):

    first step only: Q_L, Q_R = eigenvectors of G G^T, G^T G (float32,
                     descending eigenvalues)
    m = beta1 m + (1 - beta1) G                      (no bias correction)
    L = beta2 L + (1 - beta2) G G^T,  R = beta2 R + (1 - beta2) G^T G
    G' = Q_L^T G Q_R,  M' = Q_L^T m Q_R
    v = beta2 v + (1 - beta2) G' * G'                (no bias correction;
                                                      never rotated)
    U = Q_L (M' / (sqrt(v) + eps)) Q_R^T
    every ``precondition_frequency`` steps: Q_L = qr(L Q_L), Q_R = qr(R Q_R)
    W' = W - lr ||W|| U / max(||U||, 1e-10)
    W  = W' ||W|| / max(||W'||, 1e-10)               (Frobenius norms)

The hyperball keeps every matrix at its initial norm (no weight decay), so
a zero matrix never moves: #27 pairs it with its own init
(``models.track3.init_soap_h``). The eigenbases and QR refresh run in at
least float32, as in the script.
"""

import torch

from .base import TensorwiseOptimizer


def _eigenbasis(matrix):
    """Eigenvectors of a symmetric matrix, largest eigenvalue first. Like
    #27, retried in float64 when the float32 solver fails (cuSOLVER's eigh
    can fail to converge on ill-conditioned input)."""
    matrix = 0.5 * (matrix + matrix.mT)
    eye = torch.eye(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
    try:
        _, vectors = torch.linalg.eigh(matrix + 1e-30 * eye)
    except RuntimeError:  # torch.linalg.LinAlgError included
        _, vectors = torch.linalg.eigh((matrix + 1e-30 * eye).double())
        vectors = vectors.to(matrix.dtype)
    return vectors.flip(1).contiguous()


class SOAPH(TensorwiseOptimizer):
    """SOAP with the hyperball step, in Track 3 #27's form; see the module
    docstring."""

    OPTIONS = dict(
        momentum=0.95,
        ema_beta=0.9,
        eps=1e-8,
        precondition_frequency=1,
        hyperball_eps=1e-10,
    )

    def update(self, p, state, group):
        grad = p.grad
        basis_dtype = torch.promote_types(p.dtype, torch.float32)
        if not state:
            g = grad.to(basis_dtype)
            state["step"] = 0
            state["momentum"] = torch.zeros_like(p)
            state["second_moment"] = torch.zeros_like(p)
            state["left"] = p.new_zeros(p.shape[0], p.shape[0])
            state["right"] = p.new_zeros(p.shape[1], p.shape[1])
            state["Q_left"] = _eigenbasis(g @ g.mT).to(p.dtype)
            state["Q_right"] = _eigenbasis(g.mT @ g).to(p.dtype)
        beta1, beta2 = group["momentum"], group["ema_beta"]
        state["step"] += 1
        m, v = state["momentum"], state["second_moment"]
        left, right = state["left"], state["right"]
        q_left, q_right = state["Q_left"], state["Q_right"]

        m.lerp_(grad, 1 - beta1)
        left.mul_(beta2).addmm_(grad, grad.mT, alpha=1 - beta2)
        right.mul_(beta2).addmm_(grad.mT, grad, alpha=1 - beta2)
        grad_rotated = q_left.mT @ grad @ q_right
        v.mul_(beta2).addcmul_(grad_rotated, grad_rotated, value=1 - beta2)
        rotated = (q_left.mT @ m @ q_right) / (v.sqrt() + group["eps"])
        update = q_left @ rotated @ q_right.mT

        if state["step"] % group["precondition_frequency"] == 0:
            for factor, key in ((left, "Q_left"), (right, "Q_right")):
                q, _ = torch.linalg.qr(
                    factor.to(basis_dtype) @ state[key].to(basis_dtype)
                )
                state[key].copy_(q)

        eps = group["hyperball_eps"]
        norm = p.norm()
        moved = p - group["lr"] * update * norm / update.norm().clamp_min(eps)
        p.copy_(moved * (norm / moved.norm().clamp_min(eps)))


def power_decay(ratio, power):
    """#27's multiplier of the SOAP-H learning rate: ``(1 - step / (ratio
    N))^power``, floored at 0 (``ratio`` > 1: not 0 at N)."""
    return lambda step, n: max(0.0, 1 - step / (ratio * n)) ** power
