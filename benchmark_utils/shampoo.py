"""Shampoo with Adam grafting and blocked preconditioners.

Why this file exists (the rule is: use a maintained library when one is
correct). ``tests/test_optimizers.py::test_shampoo_library_candidates`` runs
every PyPI candidate against the same independent reference as this class:

- ``pytorch_optimizer.ScalableShampoo`` grafts only SGD / AdaGrad / RMSProp:
  its RMSProp graft has no bias correction (first step about
  1/sqrt(1 - beta2) = 4.5x too long with beta2 = 0.95) and it preconditions
  the raw gradient and applies momentum after grafting, so it cannot
  reproduce Adam-grafted Shampoo; with ``use_svd`` the epsilon it adds to the
  statistics decays away, and its Schur-Newton root is approximate.
- ``pytorch_optimizer.Shampoo`` has no grafting and no blocking, and writes
  its momentum into ``p.grad``.
- heavyball 3.2 has no Shampoo (``KLShampoo`` is a different algorithm:
  KL-corrected factors, no grafting).
- Meta's ``distributed_shampoo`` is the reference implementation but is not
  on PyPI (git install, Python >= 3.12): ``solvers/shampoo.py`` uses it when
  it is installed and ``implementation=distributed_shampoo`` is asked for.

Algorithm (Gupta et al. 2018, "Shampoo"; Anil et al. 2020 for blocking and
grafting; Shi et al. 2023 for the Adam-grafted form used by
DistributedShampoo), per parameter, gradient ``g`` at step ``t`` (from 1),
every block ``B`` of at most ``max_preconditioner_dim`` along each dimension::

    m = b1 m + (1 - b1) g;        m_hat = m / (1 - b1^t)     (filtered grad)
    v = bg v + (1 - bg) g^2;      a = m_hat / (sqrt(v / (1 - bg^t)) + eps_g)
    L_k = b2 L_k + (1 - b2) G_(k) G_(k)^T      for every dimension k of B
    every f steps: P_k = (L_k / (1 - b2^t) + eps I)^(-e),  e = 1 / (2 order)
    t < start:  d = a                                   (Adam, the graft)
    t >= start: s = m_hat_B x_1 P_1 ... x_k P_k;  d_B = s ||a_B|| / ||s||
    p = p (1 - lr wd) - lr d

``G_(k)`` is the block unfolded along dimension ``k``; ``start`` defaults to
``f`` as in DistributedShampoo.
"""

import itertools

import torch


def _block_slices(shape, max_dim):
    """Index tuples cutting ``shape`` into blocks of at most ``max_dim``."""
    per_dim = [
        [slice(i, min(i + max_dim, size)) for i in range(0, size, max_dim)]
        for size in shape
    ]
    return list(itertools.product(*per_dim))


def _inverse_root(matrix, exponent, epsilon):
    """``(matrix + epsilon I)^(-exponent)`` of a symmetric PSD matrix."""
    try:
        eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    except RuntimeError:  # ill-conditioned in float32: retry in float64
        eigenvalues, eigenvectors = torch.linalg.eigh(matrix.double())
    eigenvalues = eigenvalues.clamp_min(0.0).add(epsilon).pow(-exponent)
    root = (eigenvectors * eigenvalues) @ eigenvectors.T
    return root.to(matrix.dtype)


class Shampoo(torch.optim.Optimizer):
    """Adam-grafted, blocked Shampoo; see the module docstring."""

    def __init__(
        self,
        params,
        lr=1.5e-3,
        betas=(0.9, 0.95),
        epsilon=1e-12,
        weight_decay=0.0,
        max_preconditioner_dim=8192,
        precondition_frequency=5,
        start_preconditioning_step=None,
        inverse_exponent_override=0.0,
        grafting_beta2=0.95,
        grafting_epsilon=1e-10,
    ):
        start = (
            precondition_frequency
            if start_preconditioning_step is None
            else start_preconditioning_step
        )
        if start < precondition_frequency:
            raise ValueError(
                f"start_preconditioning_step={start} must be >= "
                f"precondition_frequency={precondition_frequency}: before "
                "the first inverse root there is no Shampoo direction"
            )
        if max_preconditioner_dim < 1 or precondition_frequency < 1:
            raise ValueError(
                "max_preconditioner_dim and precondition_frequency must be >= 1"
            )
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            epsilon=epsilon,
            weight_decay=weight_decay,
            max_preconditioner_dim=max_preconditioner_dim,
            precondition_frequency=precondition_frequency,
            start_preconditioning_step=start,
            inverse_exponent_override=inverse_exponent_override,
            grafting_beta2=grafting_beta2,
            grafting_epsilon=grafting_epsilon,
        )
        super().__init__(params, defaults)

    def _init_state(self, p, group):
        state = self.state[p]
        state["step"] = 0
        dtype = torch.float64 if p.dtype == torch.float64 else torch.float32
        state["filtered_grad"] = torch.zeros_like(p, dtype=dtype)
        state["graft_sq"] = torch.zeros_like(p, dtype=dtype)
        blocks = []
        for index in _block_slices(p.shape, group["max_preconditioner_dim"]):
            dims = [s.stop - s.start for s in index]
            blocks.append(
                dict(
                    index=index,
                    factors=[
                        torch.zeros(d, d, device=p.device, dtype=dtype) for d in dims
                    ],
                    roots=None,
                )
            )
        state["blocks"] = blocks
        return state

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            graft_beta2 = group["grafting_beta2"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p] or self._init_state(p, group)
                state["step"] += 1
                t = state["step"]
                grad = p.grad.to(state["filtered_grad"].dtype)

                m = state["filtered_grad"].lerp_(grad, 1 - beta1)
                m_hat = m / (1 - beta1**t)
                v = (
                    state["graft_sq"]
                    .mul_(graft_beta2)
                    .addcmul_(grad, grad, value=1 - graft_beta2)
                )
                adam = m_hat / (v / (1 - graft_beta2**t)).sqrt_().add_(
                    group["grafting_epsilon"]
                )

                compute_roots = t % group["precondition_frequency"] == 0
                use_shampoo = t >= group["start_preconditioning_step"]
                direction = adam if not use_shampoo else torch.empty_like(adam)
                for block in state["blocks"]:
                    g_block = grad[block["index"]]
                    order = g_block.ndim
                    exponent = group["inverse_exponent_override"] or 1 / (2 * order)
                    for k, factor in enumerate(block["factors"]):
                        others = [d for d in range(order) if d != k]
                        factor.mul_(beta2).add_(
                            torch.tensordot(g_block, g_block, (others, others)),
                            alpha=1 - beta2,
                        )
                    if compute_roots:
                        block["roots"] = [
                            _inverse_root(
                                f / (1 - beta2**t), exponent, group["epsilon"]
                            )
                            for f in block["factors"]
                        ]
                    if use_shampoo:
                        shampoo = m_hat[block["index"]]
                        for root in block["roots"]:
                            # contracts the leading dim; after ``order``
                            # contractions the dims are back in order
                            shampoo = torch.tensordot(shampoo, root, ([0], [0]))
                        graft_norm = adam[block["index"]].norm()
                        direction[block["index"]] = shampoo * (
                            graft_norm / shampoo.norm().clamp_min(1e-30)
                        )

                if group["weight_decay"]:
                    p.mul_(1 - lr * group["weight_decay"])
                p.add_(direction.to(p.dtype), alpha=-lr)
        return loss
