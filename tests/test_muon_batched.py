"""BatchedMuon (benchmark_utils/optim/muon.py) against torch.optim.Muon.

torch.optim.Muon with #36's arguments is the per-tensor computation the Muon
solver used before (tests/test_presets.py checks it against #36's published
update); the batched version must give the same weights within bf16
rounding, launch far fewer kernels, skip parameters without a gradient and
split across ranks exactly.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from benchmark_utils.optim import muon as batched_muon
from benchmark_utils.optim.muon import BatchedMuon

ROOT = Path(__file__).resolve().parents[1]
TRACK3 = dict(
    lr=0.025,
    weight_decay=0.05,
    momentum=0.95,
    nesterov=True,
    ns_coefficients=(2.0, -1.5, 0.5),
    ns_steps=12,
    adjust_lr_fn="original",
)
# Same and different shapes, tall, wide and square (the tall ones get the
# shape factor sqrt(2) or sqrt(4)).
SHAPES = [(32, 16), (16, 48), (24, 24), (64, 16)] * 3 + [(8, 8)]
N_STEPS = 5

pytestmark = pytest.mark.usefixtures("one_thread")


def track3_hidden_shapes(width=64, layers=12):
    """The 72 hidden matrices of Track 3 (q, k, v, out, fc, proj per layer;
    three shapes), at a width small enough for CPU."""
    per_layer = [(width, width)] * 4 + [(4 * width, width), (width, 4 * width)]
    return per_layer * layers


def run(make, shapes, n_steps=N_STEPS, seed=0, drop=()):
    """Parameters after ``n_steps`` steps on the same random gradients;
    parameters whose index is in ``drop`` get no gradient."""
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen) * 0.1) for s in shapes]
    opt = make(params)
    for _ in range(n_steps):
        for i, p in enumerate(params):
            p.grad = None if i in drop else torch.randn(p.shape, generator=gen)
        opt.step()
    return params, opt


def max_error(params, ref):
    return max((p - q).abs().max().item() for p, q in zip(params, ref))


def bf16_tolerance(lr=TRACK3["lr"], n_steps=N_STEPS):
    """Each step adds ``lr * scale * O`` with |O| elements below ~1 (the
    iteration keeps singular values near 1); a bf16 rounding of O moves it
    by 2^-8 relative, at most the scale 2 here: over the steps, n lr 2^-7."""
    return n_steps * lr * 2**-7


def test_equals_torch_muon_within_bf16_rounding():
    params, _ = run(lambda ps: BatchedMuon(ps, **TRACK3), SHAPES)
    ref, _ = run(lambda ps: torch.optim.Muon(ps, **TRACK3), SHAPES)
    start, _ = run(lambda ps: BatchedMuon(ps, **TRACK3), SHAPES, n_steps=0)
    moved = max((q - s).abs().max().item() for q, s in zip(ref, start))
    error = max_error(params, ref)
    assert moved > 20 * bf16_tolerance()  # the comparison is not vacuous
    assert error <= bf16_tolerance(), error


@pytest.mark.parametrize(
    "wrong",
    ["no shape scale", "no nesterov", "no weight decay", "momentum 0.9"],
)
def test_a_wrong_setting_fails_the_tolerance(wrong, monkeypatch):
    settings = dict(TRACK3)
    if wrong == "no shape scale":
        monkeypatch.setattr(batched_muon, "adjusted_lr", lambda lr, fn, shape: lr)
    elif wrong == "no nesterov":
        settings["nesterov"] = False
    elif wrong == "no weight decay":
        settings["weight_decay"] = 0.0
        settings["lr"] = 0.25  # wd moves w ~0.1 by lr wd = 1e-3 per step
    else:
        settings["momentum"] = 0.9
    params, _ = run(lambda ps: BatchedMuon(ps, **settings), SHAPES)
    reference = dict(TRACK3, lr=settings["lr"])
    ref, _ = run(lambda ps: torch.optim.Muon(ps, **reference), SHAPES)
    error = max_error(params, ref)
    assert error > 2 * bf16_tolerance(settings["lr"]), (wrong, error)


def test_param_groups_and_missing_gradients():
    """Two groups with their own lr; a parameter without a gradient is not
    touched and gets no state (the split step hides non-owned gradients)."""

    def groups(ps):
        return [dict(params=ps[:6]), dict(params=ps[6:], lr=0.01)]

    drop = {1, 7}
    params, opt = run(lambda ps: BatchedMuon(groups(ps), **TRACK3), SHAPES, drop=drop)
    ref, _ = run(lambda ps: torch.optim.Muon(groups(ps), **TRACK3), SHAPES, drop=drop)
    start, _ = run(lambda ps: BatchedMuon(ps, **TRACK3), SHAPES, n_steps=0)
    assert max_error(params, ref) <= bf16_tolerance()
    for i in drop:
        assert torch.equal(params[i], start[i])
        assert params[i] not in opt.state
    assert len(opt.state) == len(SHAPES) - len(drop)


class CountOps(TorchDispatchMode):
    """Counts the aten operators dispatched (each is at least one kernel
    launch on a GPU; views are counted too, which only favours the loop)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def ops_per_step(make, shapes):
    params, opt = run(make, shapes, n_steps=1)  # state created
    for p in params:
        p.grad = torch.randn_like(p)
    with CountOps() as counter:
        opt.step()
    return counter.count


def test_batched_step_launches_far_fewer_kernels():
    """Track 3's 72 hidden matrices (3 shapes): torch.optim.Muon dispatches
    ~45 operators per matrix; the batched step ~45 per shape plus a few
    foreach ops (measured with torch 2.14: 4,058 vs 175)."""
    shapes = track3_hidden_shapes(width=16)
    loop = ops_per_step(lambda ps: torch.optim.Muon(ps, **TRACK3), shapes)
    batched = ops_per_step(lambda ps: BatchedMuon(ps, **TRACK3), shapes)
    print(f"aten operators per step: torch.optim.Muon {loop}, BatchedMuon {batched}")
    assert loop > 40 * len(shapes)
    assert batched < loop / 10


def test_muon_solver_uses_the_batched_optimizer_and_is_sharded(make_problem):
    from benchmark_tools.components import make_solver
    from benchmark_utils import distributed

    solver = make_solver("muon")
    solver.set_objective(make_problem(max_steps=2))
    muon = solver.optimizers[0]
    assert isinstance(muon, BatchedMuon)
    assert distributed.is_sharded(muon)


SHARD_SCRIPT = r"""
import sys, torch
sys.path.insert(0, {root!r})
from benchmark_utils import distributed
from benchmark_utils.optim.muon import BatchedMuon
ctx = distributed.run_groups(distributed.init_job(), torch.device("cpu"))
torch.manual_seed(0)  # the same parameters and gradients on every rank
shapes = [(32, 16), (16, 48), (8, 8)] * 3
params = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
params.append(torch.nn.Parameter(torch.randn(6, 6, dtype=torch.float64)))
grads = [[torch.randn(p.shape, dtype=p.dtype) for p in params] for _ in range(3)]
ref = [p.detach().clone().requires_grad_() for p in params]
kw = dict(lr=0.02, weight_decay=0.05, ns_coefficients=(2, -1.5, 0.5), ns_steps=12)
opt, ref_opt = BatchedMuon(params, **kw), BatchedMuon(ref, **kw)
step = distributed.optimizer_steps([opt], ctx, torch.device("cpu"))[0]
assert isinstance(step, distributed.ShardedStep)
for g in grads:
    for p, q, gi in zip(params, ref, g):
        p.grad, q.grad = gi.clone(), gi.clone()
    step()
    ref_opt.step()
assert 0 < len(opt.state) < len(params)  # each rank keeps only its own state
for p, q in zip(params, ref):
    assert torch.equal(p, q), (p - q).abs().max()
print("exact", ctx.rank)
"""


def test_sharded_batched_step_is_exact(tmp_path):
    """Split over 2 gloo ranks (each updates its share, batched, then one
    all-gather per dtype), the step equals the unsplit one bit for bit."""
    script = tmp_path / "shard.py"
    script.write_text(SHARD_SCRIPT.format(root=str(ROOT)))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         "--nproc-per-node", "2", str(script)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("exact") == 2
