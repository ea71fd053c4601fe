import pytest
import torch

from benchmark_utils.models import GPT, build_model, make_config


def test_gpt2_124m_parameter_count():
    config = make_config("gpt2-124m", vocab_size=50257, block_size=1024)
    assert config.padded_vocab_size == 50304
    with torch.device("meta"):
        model = GPT(config)
    assert model.num_parameters() == 124_475_904
    assert model.lm_head.weight is model.wte.weight


def test_parameter_groups_partition_the_model():
    model = build_model(make_config("gpt2-tiny", 64, 32), seed=0)
    groups = model.parameter_groups()
    ids = [id(p) for p in groups.all()]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    assert all(p.ndim == 2 for p in groups.hidden_matrices)
    assert all(p.ndim < 2 for p in groups.scalars)
    assert groups.head == []  # tied to the embedding
    assert len(groups.hidden_matrices) == 4 * model.config.n_layer


def test_initialisation_follows_gpt2():
    model = build_model(make_config("gpt2-mini", 512, 64), seed=0)
    block = model.blocks[0]
    assert block.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    expected = 0.02 / (2 * model.config.n_layer) ** 0.5
    assert block.mlp.c_proj.weight.std().item() == pytest.approx(expected, rel=0.05)
    assert block.attn.c_attn.bias.abs().max().item() == 0


def test_same_seed_same_model_whatever_the_global_rng():
    config = make_config("gpt2-tiny", 64, 32)
    a = build_model(config, seed=5)
    torch.manual_seed(123)
    torch.rand(10)
    b = build_model(config, seed=5)
    c = build_model(config, seed=6)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.wte.weight, c.wte.weight)


def test_causality():
    """Changing a future token never changes the logits of earlier ones."""
    model = build_model(make_config("gpt2-tiny", 64, 32), seed=0).eval()
    idx = torch.randint(0, 64, (2, 20), generator=torch.Generator().manual_seed(0))
    changed = idx.clone()
    changed[:, 12] = (changed[:, 12] + 1) % 64
    with torch.no_grad():
        a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :12], b[:, :12], rtol=0, atol=1e-6)
    assert (a[:, 12:] - b[:, 12:]).abs().max() > 1e-4


def test_loss_is_cross_entropy_of_logits():
    model = build_model(make_config("gpt2-tiny", 64, 32), seed=0)
    idx = torch.randint(0, 64, (2, 16))
    targets = torch.randint(0, 64, (2, 16))
    logits = model(idx)
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 64), targets.reshape(-1), reduction="sum"
    )
    torch.testing.assert_close(model(idx, targets), expected)


def test_sequence_longer_than_block_size_is_rejected():
    model = build_model(make_config("gpt2-tiny", 64, 8), seed=0)
    with pytest.raises(ValueError, match="exceeds block size"):
        model(torch.zeros(1, 9, dtype=torch.long))
