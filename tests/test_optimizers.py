"""Each solver's optimizer against an independent reference computation.

The references are written here, in float64 NumPy, from the published
algorithms; none calls the library under test. Each test feeds the same
random gradients to the optimizer and to the reference for a few steps and
compares the parameters (or the preconditioner). Tolerances are relative to
the distance the parameters moved, and each is justified where it is set.

Library choices are checked here too: the candidates that were not chosen
run against the same reference and are marked ``xfail(strict=True)`` with
the reason they fail, so the evidence stays reproducible (and a library fix
turns into an XPASS failure, a prompt to re-evaluate).
"""

import itertools

import numpy as np
import pytest
import torch
from conftest import make_solver

from benchmark_utils.optim.muon import BatchedMuon
from benchmark_utils.optim.shampoo import Shampoo

pytestmark = pytest.mark.usefixtures("one_thread")


def run_optimizer(make, weights, grads, lrs=None, dtype=torch.float32):
    """Feed ``grads`` (lists of arrays, one per step) to ``make(params)``;
    return the final parameters as float64 arrays."""
    params = [torch.nn.Parameter(torch.tensor(w, dtype=dtype)) for w in weights]
    optimizer = make(params)
    for step, step_grads in enumerate(grads):
        if lrs is not None:
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g, dtype=dtype)
        optimizer.step()
    return [p.detach().double().numpy() for p in params], optimizer, params


def lr_at(lr, step):
    """``lr`` is a float or one learning rate per step (0-based ``step``)."""
    return lr if np.isscalar(lr) else lr[step]


def relative_error(result, reference, start):
    """||result - reference|| / ||reference - start||: the error relative
    to how far the reference moved the parameters."""
    return np.linalg.norm(result - reference) / np.linalg.norm(reference - start)


def random_problem(shapes, n_steps, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(n_steps)]
    return weights, grads


# -- Muon -------------------------------------------------------------------


def newton_schulz(m, steps=5, a=3.4445, b=-4.7750, c=2.0315, eps=1e-7):
    """Keller Jordan's quintic Newton-Schulz iteration towards the polar
    factor U V^T, in float64, on the wide orientation."""
    x = np.array(m, dtype=np.float64)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / (np.linalg.norm(x) + eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def muon_reference(w, grads, lr, wd, mu, nesterov, shape_scale):
    w, buf = w.copy(), np.zeros_like(w)
    for g in grads:
        buf = mu * buf + g
        update = g + mu * buf if nesterov else buf
        w = w * (1 - lr * wd)  # decoupled, with the unscaled LR
        w = w - lr * shape_scale * newton_schulz(update)
    return w


@pytest.mark.parametrize("muon_class", [torch.optim.Muon, BatchedMuon])
@pytest.mark.parametrize("adjust", ["original", "match_rms_adamw"])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("shape", [(12, 4), (4, 12), (8, 8)])
def test_muon_matches_newton_schulz_reference(shape, nesterov, adjust, muon_class):
    (w,), grads = random_problem([shape], 3)
    lr, wd, mu = 0.02, 0.1, 0.95
    rows, cols = shape
    scale = {
        "original": max(1.0, rows / cols) ** 0.5,
        "match_rms_adamw": 0.2 * max(rows, cols) ** 0.5,
    }[adjust]
    (result,), *_ = run_optimizer(
        lambda ps: muon_class(
            ps,
            lr=lr,
            weight_decay=wd,
            momentum=mu,
            nesterov=nesterov,
            adjust_lr_fn=adjust,
        ),
        [w],
        grads,
    )
    reference = muon_reference(w, [g[0] for g in grads], lr, wd, mu, nesterov, scale)
    # torch runs Newton-Schulz in bfloat16 (8-bit mantissa, unit roundoff
    # 2^-9 ~ 2e-3) through 5 iterations of 3 matmuls: the update differs
    # from float64 by ~1.5% (measured max 1.6% over these shapes), so 4%.
    assert relative_error(result, reference, w) < 4e-2
    # The tolerance discriminates: forgetting the shape scaling (a factor
    # sqrt(3) or 0.2 sqrt(12) here) or the weight decay is caught.
    if scale != 1.0:
        unscaled = muon_reference(w, [g[0] for g in grads], lr, wd, mu, nesterov, 1.0)
        assert relative_error(result, unscaled, w) > 0.2


@pytest.mark.parametrize("model", ["track3-tiny", "gpt2-tiny"])
def test_muon_solver_wiring(make_problem, markov_source, model):
    """Muon gets exactly the hidden matrices, AdamW the rest, each group
    with its own learning rate (tests/test_presets.py checks the update).
    The classic model ties its embedding to the head: the tied tensor takes
    the head's learning rate."""
    from benchmark_utils.models import make_config

    solver = make_solver(
        "muon", lr=0.03, embedding_lr=0.6, head_lr=0.005, scalar_lr=0.02
    )
    config = make_config(model, markov_source.vocab_size, 32)
    solver.set_objective(make_problem(max_steps=2, model_config=config))
    muon, adam = solver.optimizers
    groups = solver.model.parameter_groups()
    assert isinstance(muon, BatchedMuon)
    assert [id(p) for p in muon.param_groups[0]["params"]] == [
        id(p) for p in groups.hidden_matrices
    ]
    assert muon.param_groups[0]["adjust_lr_fn"] == "original"
    assert muon.param_groups[0]["ns_coefficients"] == (2.0, -1.5, 0.5)
    assert muon.param_groups[0]["ns_steps"] == 12
    assert isinstance(adam, torch.optim.AdamW)
    lrs = {id(p): g["lr"] for g in adam.param_groups for p in g["params"]}
    tied = not groups.head
    assert tied == (model == "gpt2-tiny")
    embedding_lr = 0.005 if tied else 0.6
    assert all(lrs[id(p)] == embedding_lr for p in groups.embedding)
    assert all(lrs[id(p)] == 0.005 for p in groups.head)
    assert all(lrs[id(p)] == 0.02 for p in groups.scalars)
    assert adam.param_groups[0]["betas"] == (0.8, 0.95)


# -- Shampoo ----------------------------------------------------------------


def inverse_root(matrix, exponent, eps):
    """DistributedShampoo's root (EigenConfig, perturbation before the
    eigendecomposition): eigenvalues l of A + eps I, shifted to
    l - min(l) + eps when min(l) < eps."""
    values, vectors = np.linalg.eigh(matrix + eps * np.eye(len(matrix)))
    if values.min() < eps:
        values = values - values.min() + eps
    return (vectors * values**-exponent) @ vectors.T


def shampoo_reference(
    w,
    grads,
    lr,
    betas,
    eps,
    wd,
    max_dim,
    freq,
    graft_beta2,
    graft_eps,
    exponent_override=0.0,
    start=None,
):
    """Adam-grafted blocked Shampoo (Gupta et al. 2018; Anil et al. 2020;
    Shi et al. 2023), written with explicit matrix inverse roots, with
    DistributedShampoo's schedule: roots at step ``start`` (default: the
    frequency) and at every multiple of the frequency after it, the Shampoo
    direction from ``start`` on, Adam (the graft) before. ``lr``: a float or
    one per step."""
    start = start or freq
    b1, b2 = betas
    w = w.copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    blocks = list(
        itertools.product(
            *[
                [slice(i, min(i + max_dim, n)) for i in range(0, n, max_dim)]
                for n in w.shape
            ]
        )
    )
    factors = {b: None for b in range(len(blocks))}
    roots = {}
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = graft_beta2 * v + (1 - graft_beta2) * g * g
        m_hat = m / (1 - b1**t)
        adam = m_hat / (np.sqrt(v / (1 - graft_beta2**t)) + graft_eps)
        direction = adam.copy()
        for b, index in enumerate(blocks):
            gb = g[index]
            if gb.ndim == 1:
                stats = [np.outer(gb, gb)]
            else:
                stats = [gb @ gb.T, gb.T @ gb]
            old = factors[b] or [np.zeros_like(s) for s in stats]
            factors[b] = [b2 * f + (1 - b2) * s for f, s in zip(old, stats)]
            exponent = exponent_override or 1 / (2 * gb.ndim)
            if t == start or (t > start and t % freq == 0):
                roots[b] = [
                    inverse_root(f / (1 - b2**t), exponent, eps) for f in factors[b]
                ]
            if t >= start:
                mb = m_hat[index]
                s = roots[b][0] @ mb if mb.ndim == 1 else roots[b][0] @ mb @ roots[b][1]
                direction[index] = (
                    s * np.linalg.norm(adam[index]) / (np.linalg.norm(s) + 1e-16)
                )
        w = w - lr_at(lr, t - 1) * (direction + wd * w)
    return w


SHAMPOO = dict(
    lr=0.01,
    betas=(0.9, 0.95),
    epsilon=1e-4,
    weight_decay=0.1,
    max_preconditioner_dim=4,
    precondition_frequency=2,
    grafting_beta2=0.9,
    grafting_epsilon=1e-8,
)


def _shampoo_reference(weights, grads, exponent_override=0.0, start=None, **kw):
    o = dict(SHAMPOO, **kw)
    return [
        shampoo_reference(
            w,
            [g[i] for g in grads],
            o["lr"],
            o["betas"],
            o["epsilon"],
            o["weight_decay"],
            o["max_preconditioner_dim"],
            o["precondition_frequency"],
            o["grafting_beta2"],
            o["grafting_epsilon"],
            exponent_override,
            start,
        )
        for i, w in enumerate(weights)
    ]


@pytest.mark.parametrize(
    "dtype, tolerance",
    [
        # float64 parameters keep float64 state: only summation order differs
        (torch.float64, 1e-9),
        # float32 state and eigh: 3e-5 measured. The early factors are rank
        # deficient, so their inverse roots amplify rounding by up to
        # epsilon^(-1/2) = 100; 2e-4 bounds that and still catches any formula
        # change (grafting or bias-correction mistakes are > 1e-2).
        (torch.float32, 2e-4),
    ],
)
@pytest.mark.parametrize("exponent_override", [0.0, 0.5])
def test_shampoo_matches_reference(exponent_override, dtype, tolerance):
    # (6, 5) with max dim 4 -> blocks 4x4, 4x1, 2x4, 2x1; the vector -> 4, 1
    weights, grads = random_problem([(6, 5), (5,)], 5)
    result, *_ = run_optimizer(
        lambda ps: Shampoo(ps, inverse_exponent_override=exponent_override, **SHAMPOO),
        weights,
        grads,
        dtype=dtype,
    )
    reference = _shampoo_reference(weights, grads, exponent_override)
    for r, ref, w in zip(result, reference, weights):
        assert relative_error(r, ref, w) < tolerance
    # discriminates: without the inverse roots (grafted momentum only)
    plain = _shampoo_reference(weights, grads, exponent_override, epsilon=1e8)
    assert relative_error(result[0], plain[0], weights[0]) > 1e-2


def test_shampoo_uses_adam_before_the_first_root():
    """Before start_preconditioning_step the update is Adam's (the graft)."""
    weights, grads = random_problem([(6, 5)], 1)
    (result,), *_ = run_optimizer(lambda ps: Shampoo(ps, **SHAMPOO), weights, grads)
    g = grads[0][0]
    adam = g / (np.abs(g) + SHAMPOO["grafting_epsilon"])  # bias-corrected
    expected = weights[0] * (1 - 0.01 * 0.1) - 0.01 * adam
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_shampoo_start_step_follows_distributed_shampoo():
    """``start_preconditioning_step=-1`` means the frequency; a later start
    that is not a multiple of the frequency computes its roots at the start
    step itself (as DistributedShampoo does), then every frequency steps; a
    start before the frequency is refused."""
    weights, grads = random_problem([(6, 5)], 7)
    default, *_ = run_optimizer(
        lambda ps: Shampoo(ps, start_preconditioning_step=-1, **SHAMPOO),
        weights,
        grads,
        dtype=torch.float64,
    )
    reference = _shampoo_reference(weights, grads)
    assert relative_error(default[0], reference[0], weights[0]) < 1e-9
    late, *_ = run_optimizer(
        lambda ps: Shampoo(ps, start_preconditioning_step=3, **SHAMPOO),
        weights,
        grads,
        dtype=torch.float64,
    )
    reference = _shampoo_reference(weights, grads, start=3)
    assert relative_error(late[0], reference[0], weights[0]) < 1e-9
    # the start matters
    assert relative_error(late[0], default[0], weights[0]) > 1e-3
    with pytest.raises(ValueError, match="must be >="):
        Shampoo(
            [torch.nn.Parameter(torch.zeros(2, 2))],
            **dict(SHAMPOO, precondition_frequency=4),
            start_preconditioning_step=3,
        )


def _scalable_shampoo(ps):
    from pytorch_optimizer import ScalableShampoo
    from pytorch_optimizer.optimizer.utils.graft import LayerWiseGrafting

    # its closest configuration: EMA momentum, RMSProp graft, same blocks
    return ScalableShampoo(
        ps,
        lr=SHAMPOO["lr"],
        betas=(0.9, 0.95),
        moving_average_for_momentum=True,
        weight_decay=0.1,
        decoupled_weight_decay=True,
        start_preconditioning_step=2,
        preconditioning_compute_steps=2,
        block_size=4,
        shape_interpretation=False,
        graft_type=LayerWiseGrafting.RMSPROP,
        nesterov=False,
        diagonal_eps=1e-8,
        matrix_eps=1e-4,
        use_svd=True,
    )


def _po_shampoo(ps):
    from pytorch_optimizer import Shampoo as POShampoo

    return POShampoo(
        ps,
        lr=SHAMPOO["lr"],
        momentum=0.9,
        weight_decay=0.1,
        weight_decouple=True,
        preconditioning_compute_steps=2,
        matrix_eps=1e-4,
    )


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            _scalable_shampoo,
            id="pytorch_optimizer.ScalableShampoo",
            marks=pytest.mark.xfail(
                strict=True,
                reason=(
                    "no Adam grafting: the RMSProp graft and EMA momentum "
                    "lack bias correction (first step 0.45x as long) and "
                    "momentum follows the graft: 26% off after 5 steps"
                ),
            ),
        ),
        pytest.param(
            _po_shampoo,
            id="pytorch_optimizer.Shampoo",
            marks=pytest.mark.xfail(
                strict=True,
                reason=(
                    "no grafting, no blocking, no EMA statistics: 96% off after 5 steps"
                ),
            ),
        ),
    ],
)
def test_shampoo_library_candidates(make):
    """Why benchmark_utils/optim/shampoo.py exists: PyPI candidates vs the same
    reference (heavyball 3.2 has no Shampoo)."""
    weights, grads = random_problem([(6, 5)], 5)
    result, *_ = run_optimizer(make, weights, grads)
    reference = _shampoo_reference(weights, grads)
    assert relative_error(result[0], reference[0], weights[0]) < 1e-2


# -- SOAP -------------------------------------------------------------------


def soap_reference(w, grads, lr, betas, shampoo_beta, eps, wd, freq, bases=None):
    """SOAP (Vyas et al. 2024, Algorithm 3, with the official
    implementation's details): the first gradient only initialises the
    eigenbases (no update); then Adam on the gradient rotated into the
    eigenbases of L = EMA(G G^T) and R = EMA(G^T G); the bases are refreshed
    every ``freq`` Adam steps by one power iteration + QR, with the second
    moment re-ordered by the estimated eigenvalues. Vectors: identity basis
    (plain Adam). Momentum is kept in the original space. ``lr``: a float
    or one per step (the first, skipped step included). ``bases``: the
    initial (Q_L, Q_R) to use instead of this function's eigenvectors, for
    factors with a degenerate (e.g. null) eigenspace, whose basis is
    arbitrary; they must be eigenvectors of the first factors (checked)."""
    b1, b2 = betas
    w = w.copy()
    matrix = w.ndim == 2
    m, v = np.zeros_like(w), np.zeros_like(w)
    rotate = (lambda x, ql, qr: ql.T @ x @ qr) if matrix else (lambda x, ql, qr: x)
    back = (lambda x, ql, qr: ql @ x @ qr.T) if matrix else (lambda x, ql, qr: x)
    ql = qr = lf = rf = None
    for t, g in enumerate(grads, start=1):
        if t == 1:
            if matrix:
                lf, rf = (1 - shampoo_beta) * g @ g.T, (1 - shampoo_beta) * g.T @ g
                if bases is None:
                    ql, qr = np.linalg.eigh(lf)[1], np.linalg.eigh(rf)[1]
                else:
                    ql, qr = bases
                    for f, q in ((lf, ql), (rf, qr)):
                        rotated = q.T @ f @ q  # diagonal for an eigenbasis
                        off = rotated - np.diag(np.diag(rotated))
                        assert np.linalg.norm(off) < 1e-5 * np.linalg.norm(f)
            continue
        n = t - 1  # Adam steps so far
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * rotate(g, ql, qr) ** 2
        update = back(rotate(m, ql, qr) / (np.sqrt(v) + eps), ql, qr)
        lr_t = lr_at(lr, t - 1)
        w = w - lr_t * np.sqrt(1 - b2**n) / (1 - b1**n) * update
        w = w * (1 - lr_t * wd)
        if matrix:
            lf = shampoo_beta * lf + (1 - shampoo_beta) * g @ g.T
            rf = shampoo_beta * rf + (1 - shampoo_beta) * g.T @ g
            if n % freq == 0:
                new = []
                for axis, (f, q) in enumerate([(lf, ql), (rf, qr)]):
                    order = np.argsort(-np.einsum("ij,ij->j", q, f @ q))
                    v = np.take(v, order, axis=axis)
                    new.append(np.linalg.qr(f @ q[:, order])[0])
                ql, qr = new
    return w


SOAP_HP = dict(
    lr=0.1,
    betas=(0.9, 0.95),
    shampoo_beta=0.9,
    eps=1e-8,
    weight_decay=0.01,
    precondition_frequency=3,
)


def _po_soap(ps):
    from pytorch_optimizer import SOAP

    return SOAP(ps, **SOAP_HP)


def _heavyball_soap(ps):
    import heavyball

    heavyball.utils.compile_mode = None  # eager on CPU (else: minutes)
    return heavyball.SOAP(ps, **SOAP_HP)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_po_soap, id="pytorch_optimizer.SOAP"),
        pytest.param(
            _heavyball_soap,
            id="heavyball.SOAP",
            marks=pytest.mark.xfail(
                strict=True,
                reason=(
                    "eigenbasis refresh on a drifting schedule: it sums "
                    "1/frequency in floating point (steps 3, 7, 9, 12 for "
                    "frequency 3) and counts the skipped first step; "
                    "13-22% off after 8 steps"
                ),
            ),
        ),
    ],
)
def test_soap_matches_adam_in_eigenbasis(make):
    # Square blocks: a rectangular G gives G G^T a zero eigenspace whose
    # basis is arbitrary, and Adam's per-coordinate scaling is not invariant
    # to it, so no two correct implementations would agree there.
    shapes = [(6, 6), (5, 5), (4,)]
    weights, grads = random_problem(shapes, 8)
    result, *_ = run_optimizer(make, weights, grads)
    h = SOAP_HP
    for i, w in enumerate(weights):
        reference = soap_reference(
            w,
            [g[i] for g in grads],
            h["lr"],
            h["betas"],
            h["shampoo_beta"],
            h["eps"],
            h["weight_decay"],
            h["precondition_frequency"],
        )
        # float32 eigh/QR against float64: ~1e-6 measured after two basis
        # refreshes; 1e-4 leaves room and is far below the ~1e-1 effect of
        # refreshing the basis one step early or late.
        assert relative_error(result[i], reference, w) < 1e-4


# -- PSGD-Kron ----------------------------------------------------------------


def test_psgd_kron_applies_its_kronecker_preconditioner():
    """update = clip_rms(P m_hat, 1.1) + wd p with P = (Q_R^T Q_R) kron
    (Q_L^T Q_L): recomputed with an explicit Kronecker product from the
    optimizer's factors."""
    from pytorch_optimizer import Kron

    lr, wd, mu = 0.01, 0.1, 0.9
    (w,), grads = random_problem([(6, 4)], 6)
    p = torch.nn.Parameter(torch.tensor(w, dtype=torch.float32))
    opt = Kron(
        [p],
        lr=lr,
        momentum=mu,
        weight_decay=wd,
        pre_conditioner_update_probability=1.0,
        balance_prob=0.0,
    )
    for g in grads[:-1]:
        p.grad = torch.tensor(g[0], dtype=torch.float32)
        opt.step()
    before = p.detach().double().numpy()
    p.grad = torch.tensor(grads[-1][0], dtype=torch.float32)
    opt.step()
    state = opt.state[p]
    ql, qr = (q.double().numpy() for q in state["Q"])
    assert np.allclose(ql, np.triu(ql)) and np.allclose(qr, np.triu(qr))
    m_hat = state["momentum_buffer"].double().numpy() / (1 - mu**6)
    # vec() stacks columns: vec(P_L M P_R) = (P_R^T kron P_L) vec(M)
    big_p = np.kron(qr.T @ qr, ql.T @ ql)
    assert np.all(np.linalg.eigvalsh(big_p) > 0)  # a descent direction
    u = (big_p @ m_hat.flatten(order="F")).reshape(m_hat.shape, order="F")
    u = u * min(1.0, 1.1 / (np.sqrt(np.mean(u**2)) + 1e-6))
    reference = before - lr * (u + wd * before)
    after = p.detach().double().numpy()
    # float32 einsum against float64: 1e-5 of the step
    assert relative_error(after, reference, before) < 1e-5
    assert np.sum(u * m_hat) > 0


def test_psgd_kron_preconditioner_whitens_gradients():
    """PSGD fits P to E[h^T P h + v^T P^-1 v] (h the gradient, v ~ N(0, I)),
    whose optimum is P = E[g g^T]^(-1/2). For G = A Z B^T (Z white),
    E[g g^T] = (B B^T) kron (A A^T), so the factors must approach
    (A A^T)^(-1/2) and (B B^T)^(-1/2), up to a scalar split between them."""
    from pytorch_optimizer import Kron

    torch.manual_seed(0)
    m, n = 6, 4
    a = torch.randn(m, m) / m**0.5 + torch.eye(m)
    b = torch.randn(n, n) / n**0.5 + torch.eye(n)
    p = torch.nn.Parameter(torch.zeros(m, n))
    opt = Kron(
        [p],
        lr=0.0,
        momentum=0.0,
        pre_conditioner_update_probability=1.0,
        balance_prob=0.0,
    )
    for _ in range(600):
        p.grad = a @ torch.randn(m, n) @ b.T
        opt.step()

    def direction_error(q, cov):
        values, vectors = np.linalg.eigh(cov.double().numpy())
        target = (vectors * values**-0.5) @ vectors.T
        fitted = (q.T @ q).double().numpy()
        return np.linalg.norm(
            fitted / np.linalg.norm(fitted) - target / np.linalg.norm(target)
        )

    ql, qr = opt.state[p]["Q"]
    # The fit is stochastic (preconditioner LR 0.1, fixed): measured 0.05-0.09
    # after 500-3000 steps; the identity it starts from is at 0.77.
    assert direction_error(ql, a @ a.T) < 0.2
    assert direction_error(qr, b @ b.T) < 0.2
    assert direction_error(torch.eye(m), a @ a.T) > 0.5


# -- Schedule-Free AdamW --------------------------------------------------------


def schedule_free_reference(w, grads, lrs, betas, eps, wd, power=2.0):
    """Defazio et al. 2024, Schedule-Free AdamW: gradients at
    y = (1 - b1) z + b1 x; z takes the AdamW-normalised step (weight decay
    at y); x is the running average of z with weights c_t = w_t / sum w,
    w_t = max_lr_so_far^power. Returns (y, x) after the last step."""
    b1, b2 = betas
    z, x, v = w.copy(), w.copy(), np.zeros_like(w)
    weight_sum, lr_max = 0.0, 0.0
    for k, (g, lr) in enumerate(zip(grads, lrs), start=1):
        v = b2 * v + (1 - b2) * g * g
        step = g / (np.sqrt(v / (1 - b2**k)) + eps)
        y = (1 - b1) * z + b1 * x
        z = z - lr * (step + wd * y)
        lr_max = max(lr_max, lr)
        weight_sum += lr_max**power
        c = lr_max**power / weight_sum
        x = (1 - c) * x + c * z
    return (1 - b1) * z + b1 * x, x


def test_schedule_free_matches_averaging_formula():
    from schedulefree import AdamWScheduleFree

    betas, eps, wd = (0.9, 0.99), 1e-8, 0.1
    lrs = [0.01, 0.02, 0.03, 0.03, 0.025, 0.02]  # warmup then decay
    (w,), grads = random_problem([(5, 3)], len(lrs))

    def make(ps):
        opt = AdamWScheduleFree(ps, lr=lrs[0], betas=betas, eps=eps, weight_decay=wd)
        opt.train()
        return opt

    (y,), opt, params = run_optimizer(make, [w], grads, lrs=lrs)
    y_ref, x_ref = schedule_free_reference(
        w, [g[0] for g in grads], lrs, betas, eps, wd
    )
    # float32 against float64 over 6 steps: 1e-6 of the step measured
    assert relative_error(y, y_ref, w) < 1e-5
    opt.eval()  # what the trainer's before_evaluation does
    x = params[0].detach().double().numpy()
    assert relative_error(x, x_ref, w) < 1e-5
    assert relative_error(x, y_ref, w) > 1e-2  # x and y do differ


# -- Lion -----------------------------------------------------------------------


def test_lion_matches_sign_update():
    """Chen et al. 2023: u = sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g;
    p = p (1 - lr wd) - lr u."""
    from pytorch_optimizer import Lion

    lr, betas, wd = 0.01, (0.9, 0.99), 0.5
    weights, grads = random_problem([(5, 3), (4,)], 4)
    result, *_ = run_optimizer(
        lambda ps: Lion(ps, lr=lr, betas=betas, weight_decay=wd), weights, grads
    )
    for i, w in enumerate(weights):
        p, m = w.copy(), np.zeros_like(w)
        for g in (step[i] for step in grads):
            u = np.sign(betas[0] * m + (1 - betas[0]) * g)
            m = betas[1] * m + (1 - betas[1]) * g
            p = p * (1 - lr * wd) - lr * u
        # the signs agree exactly; what is left is float32 rounding of p
        # (|p| ~ 2, ulp 2.4e-7, 8 operations) over a 0.04 displacement: 1e-5
        assert relative_error(result[i], p, w) < 1e-5


# -- SGD with Nesterov momentum -----------------------------------------------


def test_sgd_nesterov_matches_reference():
    """Nesterov momentum (Sutskever et al. 2013) in the form that evaluates
    the gradient at the current point: b = mu b + g; p = p - lr (g + mu b),
    which equals the look-ahead form phi = p + mu v under a change of
    variables; L2 weight decay adds wd p to g."""
    lr, mu, wd = 0.1, 0.9, 0.01
    (w,), grads = random_problem([(5, 3)], 4)
    (result,), *_ = run_optimizer(
        lambda ps: torch.optim.SGD(
            ps, lr=lr, momentum=mu, nesterov=True, weight_decay=wd
        ),
        [w],
        grads,
    )
    # the look-ahead form, written independently: v = mu v - lr grad(p + mu v)
    # tracked through phi = p + mu v, the point where gradients are taken
    phi, v = w.copy(), np.zeros_like(w)
    for g in (step[0] for step in grads):
        g = g + wd * phi
        v_new = mu * v - lr * g
        phi = phi + mu * v_new - mu * v + v_new  # phi_{t+1} = p_{t+1} + mu v_{t+1}
        v = v_new
    assert relative_error(result, phi, w) < 1e-6
