"""Track 3 record #46's init against its published description (its
script's "v44" blocks, ``results/20260619_cwd_rowfloor_tailema``)."""

import dataclasses

import pytest
import torch

from benchmark_utils.models import build_model, make_config
from benchmark_utils.models.track3 import _paired_signs, init_record_46

pytestmark = pytest.mark.usefixtures("one_thread")


def deep_model():
    """9 blocks of width 256 with heads of 128: blocks 6-7 pair up, block 8
    starts a pair without partner."""
    config = dataclasses.replace(
        make_config("track3-mini", 64, 32), n_layer=9, n_head=2
    )
    return build_model(config, 0, init="torch_default")


def test_record_init_scales_fc_by_depth_and_splits_the_gains():
    model = deep_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.manual_seed(0)
    init_record_46(model)
    after = dict(model.named_parameters())
    depth = 9
    for name, p in after.items():
        if name.endswith("mlp.fc.weight"):
            layer = int(name.split(".")[1])
            scale = 1 - 0.30 * layer / (depth - 1)
            torch.testing.assert_close(p, before[name] * scale, rtol=0, atol=1e-7)
        elif not name.endswith("gains"):
            assert torch.equal(p, before[name]), name  # untouched
    signs = []
    for layer in range(depth):
        n1 = after[f"blocks.{layer}.norm1.gains"].detach()
        n2 = after[f"blocks.{layer}.norm2.gains"].detach()
        s = (1 - n1) / 0.125
        torch.testing.assert_close(s.abs(), torch.ones_like(s))  # +-1
        torch.testing.assert_close(n2, 1 + 0.125 * s)  # antithetic
        signs.append(s)
    for head in range(2):  # the pair 6-7: complementary +1 counts per head
        h = slice(head * 128, (head + 1) * 128)
        plus6, plus7 = (signs[6][h] > 0).sum(), (signs[7][h] > 0).sum()
        assert plus6 + plus7 == 128 and 32 <= plus6 <= 96
    assert not torch.equal(signs[0], signs[1])  # independent draws below 6


def test_pair_counts_are_pulled_halfway_to_half_a_head():
    """Per head the +1 count is 64 + (b - 64) / 2 with b ~ Binomial(128,
    1/2): a standard deviation of sqrt(32) / 2 = 2.83 instead of 5.66."""
    torch.manual_seed(0)
    first, second = _paired_signs(128 * 400, 128)
    plus = (first.view(400, 128) > 0).sum(1).float()
    assert 2.3 < plus.std().item() < 3.4, plus.std().item()
    assert torch.equal((second.view(400, 128) > 0).sum(1), 128 - plus.long())


def test_without_whole_heads_the_pair_is_antithetic():
    torch.manual_seed(0)
    first, second = _paired_signs(64, 128)
    assert torch.equal(second, -first)


def test_track3_record_starts_from_the_entrys_init():
    from conftest import make_solver

    solver = make_solver("track3_record")
    assert solver.init == "torch_default"
    config = make_config("track3-tiny", 64, 32)
    model = build_model(config, 0, init=solver.init)
    fc = model.blocks[1].mlp.fc.weight.detach().clone()
    torch.manual_seed(0)
    solver.init_model(model)
    torch.testing.assert_close(model.blocks[1].mlp.fc.weight, fc * 0.7)
    gains = model.blocks[0].norm1.gains + model.blocks[0].norm2.gains
    torch.testing.assert_close(gains, torch.full_like(gains, 2.0))
    assert not torch.equal(model.blocks[0].norm1.gains, torch.ones_like(gains))
