"""The optimizers of Track 3 record #46 (SOAP-Muon with RowFloor and cautious
weight decay, a bias-correction-free Adam), written from the entry's
description and script: modded-nanogpt ``records/track_3_optimization/
results/20260619_cwd_rowfloor_tailema/`` (README and the script embedded in
its logs). No maintained library provides them: heavyball and
pytorch-optimizer have SOAP and Muon, but not SOAP-preconditioned momentum
fed to Newton-Schulz with the entry's radius pin, row floor and post-pin
cautious decay, nor Adam without bias correction. The wrappers around them
(schedule, EMA-Nesterov, Tail-EMA readout) are in ``wrappers.py``;
:func:`record_46` builds the entry's whole stack.

Step counts in the options (``mu_warmup``, trust-gate fades) are in steps of
this optimizer's own counter; :func:`record_46` scales the published ones
with N.
"""

import torch

from .base import TensorwiseOptimizer
from .wrappers import EMANesterov, PowerCool, TailEMA


def schatten4(x, eps):
    """sqrt(||X X^T||_F) (the smaller Gram), the entry's norm estimate."""
    x = x.float()
    gram = x.mT @ x if x.size(-2) > x.size(-1) else x @ x.mT
    return gram.norm().sqrt().clamp_min(eps)


def newton_schulz(g, steps, coefficients, dtype):
    """Track 3's quintic iteration in ``dtype`` after normalising by the
    Schatten-4 estimate (>= the spectral norm), on the wide orientation."""
    a, b, c = coefficients
    x = g.to(dtype)
    tall = g.size(-2) > g.size(-1)
    if tall:
        x = x.mT
    x = x / schatten4(x, 1e-7).to(dtype)
    for _ in range(steps):
        m = x @ x.mT
        x = a * x + (b * m + c * m @ m) @ x
    return x.mT if tall else x


def cosine(a, b, eps=1e-8):
    a, b = a.float(), b.float()
    return (a * b).sum() / (a.norm() * b.norm()).clamp_min(eps)


class SoapMuon(TensorwiseOptimizer):
    """Muon on SOAP-preconditioned momentum, with #46's post-processing.

    Per matrix and step (lr = ``group["lr"]``, mu from the momentum
    schedule): m = lerp(m, g, 1 - mu), u = lerp(g, m, mu) (Nesterov); from
    the second step u is replaced by its SOAP preconditioning (Adam with
    ``soap_beta2``, no first moment, denominator ``max(v, eps^2)^0.5``, in
    the eigenbases of EMAs of G G^T and G^T G, rescaled to u's Schatten-4
    estimate); with ``trust_gate`` (attn.proj) it is blended with the raw u
    by a gate from their agreement, clamped to [floor, cap] early on, and
    rescaled to u's estimate. Then Newton-Schulz, the sqrt(max(1, rows /
    cols)) scale, the outward radial component times ``radial_outward``,
    each row lifted to ``target_uw`` times its weight row's norm (RowFloor),
    p -= lr u with the norm pinned to ||p|| - lr <u, p> / ||p||, then
    cautious decay p *= 1 - lr cwd 1[u p > 0]. After the step, the factor
    EMAs take G and the bases are refreshed (eigh the first time, then one
    QR power step every ``soap_frequency`` steps, sorted as the entry does).
    """

    # #46's settings; step counts at its own scale (N = 2690)
    OPTIONS = dict(
        mu=0.95,
        mu_min=0.85,
        mu_warmup=300.0,
        mu_cooldown_start=2700.0,
        mu_cooldown=200.0,
        soap_beta2=0.9,
        soap_eps=1e-8,
        soap_denom_power=0.5,
        soap_frequency=1,
        trust_gate=False,
        trust_min_agree=0.2,
        trust_floor=0.45,
        trust_cap=0.85,
        trust_floor_end=1375.0,
        trust_fade_end=1625.0,
        ns_steps=12,
        ns_coefficients=(2.0, -1.5, 0.5),
        ns_dtype=torch.bfloat16,
        radial_outward=0.5,
        target_uw=0.3825,
        cwd=0.025,
    )
    shard_across_ranks = False

    def __init__(self, params, lr, **options):
        super().__init__(params, lr, **options)
        self.step_count = 0

    @staticmethod
    def momentum_at(group, step):
        """0.85 -> 0.95 linearly over the warmup, back to 0.85 linearly over
        the last ``mu_cooldown`` steps of the schedule."""
        lo, hi = group["mu_min"], group["mu"]
        if step < group["mu_warmup"]:
            return lo + step / max(group["mu_warmup"], 1) * (hi - lo)
        if step > group["mu_cooldown_start"]:
            frac = (step - group["mu_cooldown_start"]) / max(group["mu_cooldown"], 1)
            return hi - frac * (hi - lo)
        return hi

    @staticmethod
    def trust_bounds(group, step):
        """The early floor (held, then faded linearly to 0) and cap."""
        end, fade = group["trust_floor_end"], group["trust_fade_end"]
        if step < end:
            floor = group["trust_floor"]
        elif step >= fade:
            floor = 0.0
        else:
            floor = group["trust_floor"] * (fade - step) / (fade - end)
        return floor, group["trust_cap"] if step < fade else 1.0

    def _precondition(self, u, state, group):
        if state["q_row"] is None:
            return u
        u32, q_row, q_col = u.float(), state["q_row"], state["q_col"]
        eps = group["soap_eps"]
        projected = q_row.T @ u32 @ q_col
        v = state["exp_avg_sq"]
        v.mul_(group["soap_beta2"]).add_(
            projected.square(), alpha=1 - group["soap_beta2"]
        )
        denom = v.clamp_min(eps * eps).pow(group["soap_denom_power"])
        pre = q_row @ (projected / denom) @ q_col.T
        pre.mul_(schatten4(u32, eps) / schatten4(pre, eps))
        return pre.to(u.dtype)

    def _gate(self, raw, soap, grad, group):
        eps, agree_min = 1e-8, group["trust_min_agree"]
        raw_grad, soap_grad = cosine(raw, grad), cosine(soap, grad)
        agree = ((cosine(soap, raw) - agree_min) / (1 - agree_min)).clamp(0, 1)
        align = (soap_grad / raw_grad.clamp_min(eps)).clamp(0, 1)
        floor, cap = self.trust_bounds(group, self.step_count)
        gate = (agree * align).clamp(0, 1).clamp(min=floor, max=cap)
        blended = raw + (soap - raw) * gate.to(raw.dtype)
        scale = schatten4(raw, eps) / schatten4(blended, eps)
        return (blended * scale.to(blended.dtype)).to(raw.dtype)

    def _refresh_bases(self, grad, state, group):
        g = grad.float()
        beta = group["soap_beta2"]
        state["row_gg"].lerp_(g @ g.T, 1 - beta)
        state["col_gg"].lerp_(g.T @ g, 1 - beta)
        if state["q_row"] is None:
            state["q_row"] = eigenbasis(state["row_gg"])
            state["q_col"] = eigenbasis(state["col_gg"])
        elif (
            state["soap_step"] > 0 and state["soap_step"] % group["soap_frequency"] == 0
        ):
            v = state["exp_avg_sq"]
            for side, key, gg in ((0, "q_row", "row_gg"), (1, "q_col", "col_gg")):
                q, m = state[key], state[gg]
                order = torch.argsort(torch.diag(q.T @ m @ q), descending=True)
                v = v.index_select(side, order)
                state[key] = torch.linalg.qr(m @ q[:, order])[0]
            state["exp_avg_sq"] = v
        state["soap_step"] += 1

    def step(self, closure=None):
        loss = super().step(closure)
        self.step_count += 1
        return loss

    def update(self, p, state, group):
        lr, grad = group["lr"], p.grad
        mu = self.momentum_at(group, self.step_count)
        if not state:
            rows, cols = p.shape
            state["momentum"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
            state["row_gg"] = p.new_zeros(rows, rows, dtype=torch.float32)
            state["col_gg"] = p.new_zeros(cols, cols, dtype=torch.float32)
            state["q_row"] = state["q_col"] = None
            state["soap_step"] = 0
        state["momentum"].lerp_(grad, 1 - mu)
        raw = grad.lerp(state["momentum"], mu)
        u = self._precondition(raw, state, group)
        if group["trust_gate"]:
            u = self._gate(raw, u, grad, group)
        u = newton_schulz(
            u, group["ns_steps"], group["ns_coefficients"], group["ns_dtype"]
        )
        u = u * max(1, u.size(-2) / u.size(-1)) ** 0.5
        self._post_process(p, u, lr, group)
        self._refresh_bases(grad, state, group)

    @staticmethod
    def _post_process(p, u, lr, group):
        """Radial brake, RowFloor, radius pin and cautious decay; applies
        the step to ``p``."""
        pf, uf = p.float(), u.float()
        coeff = (uf * pf).sum() / (pf * pf).sum().clamp_min(1e-12)
        radial = coeff * pf
        brake = group["radial_outward"] if coeff < 0 else 1.0  # outward: coeff < 0
        u = (uf - radial + brake * radial).to(u.dtype)
        rows = pf.norm(dim=1, keepdim=True).clamp_min(1e-8)
        u_rows = u.float().norm(dim=1, keepdim=True).clamp_min(1e-8)
        u = (u.float() * (group["target_uw"] * rows / u_rows).clamp(min=1.0)).to(
            u.dtype
        )
        uf = u.float()
        before = pf.norm().clamp_min(1e-8)
        target = (before - lr * (uf * pf).sum() / before).clamp_min(1e-8)
        mask = (uf * pf > 0).to(p.dtype)
        p.add_(u.to(p.dtype), alpha=-lr)
        p.mul_((target / p.float().norm().clamp_min(1e-8)).to(p.dtype))
        p.mul_(1.0 - lr * group["cwd"] * mask)


def eigenbasis(m):
    """Eigenvectors of a symmetric ``m``, by decreasing eigenvalue."""
    eye = torch.eye(m.size(0), device=m.device, dtype=m.dtype)
    return torch.linalg.eigh(m + 1e-30 * eye)[1].flip(1)


def vector_family(name):
    """#46's aux beta2 families of the vectors, by parameter name."""
    if name.endswith(".gains"):
        return "gains"
    return "attn_proj_bias" if name.endswith("attn.proj.bias") else "other"


class BiasFreeAdam(TensorwiseOptimizer):
    """Adam without bias correction (the entry's aux Adam for vectors):
    m = lerp(m, g, 1 - b1), v = lerp(v, g^2, 1 - b2), p -= lr m / (sqrt(v)
    + eps). Not torch's Adam, which corrects both moments."""

    shard_across_ranks = False
    matrices_only = False

    OPTIONS = dict(betas=(0.8, 0.99), eps=1e-10)

    def update(self, p, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
        state["exp_avg"].lerp_(p.grad, 1 - beta1)
        state["exp_avg_sq"].lerp_(p.grad.float().square(), 1 - beta2)
        direction = state["exp_avg"].float() / (
            state["exp_avg_sq"].sqrt() + group["eps"]
        )
        p.add_(direction.to(p.dtype), alpha=-group["lr"])


RECORD_N = 2690  # #46's step count: the step landmarks below are for it


def decay_start(lr, power_c, t_end=2900, power=1.2):
    """Where #46's ``min(lr, power_c (t_end - step)^power)`` starts to decay."""
    return t_end - (lr / power_c) ** (1 / power)


# Where the lrs of the hidden matrices, embedding, head and scalars start to
# decay, from #46's published lrs and ``power_c``
DECAY_STARTS = (
    decay_start(0.0375, 3.3169534699576625e-06),
    decay_start(0.3, 4.976805410800738e-05),
    decay_start(1 / 320, 5.184172302917436e-07),
    decay_start(0.01, 1.6589351369335795e-06),
)


def record_46(
    groups,
    names,
    n_steps,
    *,
    lr,
    embedding_lr,
    head_lr,
    scalar_lr,
    vector_beta2,
    target_uw,
    cwd,
    decay_starts,
    tail_ema,
):
    """#46's optimizer stack over ``groups`` (``names``: parameter id ->
    name, which gives the per-tensor roles), every step landmark (and tau)
    scaled by ``n_steps / RECORD_N``; the arguments are the solver's.

    EMA-Nesterov (look-ahead 0.3 x lr ratio, EMA 0.99, steps 300-1950)
    around the Tail-EMA readout (``tail_ema``: tau, start, end, blend; every
    tensor but the embedding) around PowerCool (power 1.2 to step 2900) over
    AdamW on the embedding and head (betas (0.8, 0.99), eps 1e-10, no
    decay), SoapMuon on the hidden matrices (the trust gate on attn.proj)
    and BiasFreeAdam on the vectors (beta1 0.8, ``vector_beta2`` per
    family: gains, attn.proj bias, other biases)."""
    k = n_steps / RECORD_N
    start = [s * k for s in decay_starts]
    soap = SoapMuon(
        [
            dict(
                params=[p],
                trust_gate=names.get(id(p), "").endswith("attn.proj.weight"),
                decay_start=start[0],
            )
            for p in groups.hidden_matrices
        ],
        lr=lr,
        target_uw=target_uw,
        cwd=cwd,
        mu_warmup=300 * k,
        mu_cooldown_start=2700 * k,
        mu_cooldown=200 * k,
        trust_floor_end=1375 * k,
        trust_fade_end=1625 * k,
    )
    embed_head = torch.optim.AdamW(
        [
            dict(params=groups.embedding, lr=embedding_lr, decay_start=start[1]),
            dict(params=groups.head, lr=head_lr, decay_start=start[2]),
        ],
        betas=(0.8, 0.99),
        eps=1e-10,
        weight_decay=0.0,
    )
    beta2 = dict(zip(("gains", "attn_proj_bias", "other"), vector_beta2))
    vectors = BiasFreeAdam(
        [
            dict(
                params=[p],
                betas=(0.8, beta2[vector_family(names.get(id(p), ""))]),
                decay_start=start[3],
            )
            for p in groups.scalars
        ],
        lr=scalar_lr,
    )
    inner = PowerCool([embed_head, soap, vectors], t_end=2900 * k, power=1.2)
    tau, t0, t1, blend = tail_ema
    tail = [p for p in groups.all() if all(p is not e for e in groups.embedding)]
    readout = TailEMA([inner], tail, tau * k, t0 * k, t1 * k, blend)
    return EMANesterov(
        [readout],
        groups.all(),
        embed_head.param_groups[0],
        lookahead=0.3,
        ema=0.99,
        prefill=300 * k,
        rest=1950 * k,
    )
