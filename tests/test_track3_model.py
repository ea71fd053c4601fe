"""Independent reference tests for the Track 3 model.

The reference below is written from the published script (modded-nanogpt
``records/track_3_optimization/train_gpt_simple.py``), as a plain function of
a dict of tensors. It uses nothing from the model under test but its public
interface: ``make_config``, ``build_model``, ``Track3GPT``,
``named_parameters`` and ``parameter_groups``.

Reference facts used here:

- token embedding (no position embedding), then RMSNorm ``norm1``;
- RMSNorm = ``F.rms_norm`` over the last dim times a learned gain;
- every Linear has a bias, weights and biases are cast to the activation
  dtype; with the bf16 embedding the whole network runs in bf16;
- block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``;
- attention: q, k, v Linears, q and k RMS-normalised per head without gain,
  half-truncated RoPE in fp32 (frequencies ``(1/1024) ** linspace(0, 1,
  head_dim/4)`` then ``head_dim/4`` zeros; ``y1 = x1 cos + x2 sin``,
  ``y2 = -x1 sin + x2 cos`` on the two halves of the head dim), causal
  attention with scale 0.12, out ``proj``;
- MLP: ``fc`` (4x), ``relu(x)**2``, ``proj``;
- head: RMSNorm ``norm2``, Linear ``proj`` with bias, logits cast to fp32,
  softcap ``15 x / sqrt(x**2 + 225)``; loss = summed cross-entropy.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from benchmark_utils.models import Track3GPT, build_model, make_config

VOCAB = 100  # padded to 128: exercises the padding
SEQ = 32


# --------------------------------------------------------------------------
# The reference, written from the description
# --------------------------------------------------------------------------


def expected_shapes(n_layer, d, vocab):
    """name -> shape of every trainable tensor of the described model."""
    shapes = {"embed.weight": (vocab, d)}
    for i in range(n_layer):
        b = f"blocks.{i}"
        for name in ("q", "k", "v", "proj"):
            shapes[f"{b}.attn.{name}.weight"] = (d, d)
            shapes[f"{b}.attn.{name}.bias"] = (d,)
        shapes[f"{b}.mlp.fc.weight"] = (4 * d, d)
        shapes[f"{b}.mlp.fc.bias"] = (4 * d,)
        shapes[f"{b}.mlp.proj.weight"] = (d, 4 * d)
        shapes[f"{b}.mlp.proj.bias"] = (d,)
        shapes[f"{b}.norm1.gains"] = (d,)
        shapes[f"{b}.norm2.gains"] = (d,)
    shapes["proj.weight"] = (vocab, d)
    shapes["proj.bias"] = (vocab,)
    shapes["norm1.gains"] = (d,)
    shapes["norm2.gains"] = (d,)
    return shapes


def ref_angular_freq(head_dim):
    quarter = head_dim // 4
    freq = (1 / 1024) ** torch.linspace(0, 1, quarter, dtype=torch.float32)
    return torch.cat([freq, torch.zeros(quarter)])


def ref_rms_norm(x, gains, manual):
    if not manual:
        w = None if gains is None else gains.to(x.dtype)
        return F.rms_norm(x, (x.size(-1),), weight=w)
    # By hand, in fp32 (only used on the fp32 path): eps = machine epsilon of
    # the input dtype, as F.rms_norm does by default.
    eps = torch.finfo(x.dtype).eps
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y if gains is None else y * gains.to(x.dtype)


def ref_linear(x, P, name, manual):
    w, b = P[name + ".weight"].to(x.dtype), P[name + ".bias"].to(x.dtype)
    return x @ w.T + b if manual else F.linear(x, w, b)


def ref_rope(x):  # (B, T, H, D), rotation computed in fp32
    T, D = x.size(1), x.size(3)
    theta = torch.outer(torch.arange(T, dtype=torch.float32), ref_angular_freq(D))
    cos, sin = theta.cos()[None, :, None, :], theta.sin()[None, :, None, :]
    xf = x.float()
    x1, x2 = xf[..., : D // 2], xf[..., D // 2 :]
    y = torch.cat([x1 * cos + x2 * sin, -x1 * sin + x2 * cos], dim=-1)
    return y.to(x.dtype)


def ref_attention(q, k, v, manual):  # (B, H, T, D)
    if not manual:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.12)
    T = q.size(-2)
    scores = (q @ k.transpose(-1, -2)) * 0.12
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = scores.masked_fill(future, float("-inf"))
    return scores.softmax(-1) @ v


def reference_forward(P, idx, targets, n_layer, n_head, manual=False):
    """The Track 3 forward pass from its description. ``P``: name -> tensor.
    The activation dtype is the embedding's dtype. ``manual``: write the norms,
    linears and attention out by hand instead of using the torch primitives
    the description names (fp32 only)."""
    x = P["embed.weight"][idx]
    x = ref_rms_norm(x, P["norm1.gains"], manual)
    B, T, d = x.shape
    hd = d // n_head
    for i in range(n_layer):
        b = f"blocks.{i}"
        h = ref_rms_norm(x, P[f"{b}.norm1.gains"], manual)
        q = ref_linear(h, P, f"{b}.attn.q", manual).view(B, T, n_head, hd)
        k = ref_linear(h, P, f"{b}.attn.k", manual).view(B, T, n_head, hd)
        v = ref_linear(h, P, f"{b}.attn.v", manual).view(B, T, n_head, hd)
        q, k = ref_rms_norm(q, None, manual), ref_rms_norm(k, None, manual)
        q, k = ref_rope(q), ref_rope(k)
        y = ref_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), manual
        )
        y = y.transpose(1, 2).reshape(B, T, d)
        x = x + ref_linear(y, P, f"{b}.attn.proj", manual)
        h = ref_rms_norm(x, P[f"{b}.norm2.gains"], manual)
        h = ref_linear(h, P, f"{b}.mlp.fc", manual).relu().square()
        x = x + ref_linear(h, P, f"{b}.mlp.proj", manual)
    h = ref_rms_norm(x, P["norm2.gains"], manual)
    logits = ref_linear(h, P, "proj", manual).float()
    logits = 15 * logits / torch.sqrt(logits**2 + 225)
    if targets is None:
        return logits
    logp = logits.log_softmax(-1)
    return -logp.gather(-1, targets[..., None]).sum()


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def randomise(model, seed):
    """Give every tensor a non-trivial value (zero-init of the proj weights
    and head would otherwise hide bugs): weights ~ N(0, 1/fan_in), the head
    larger so that the softcap runs in its non-linear regime, biases and gain
    offsets O(0.1-0.3)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "embed.weight":
                std = 1.0
            elif name == "proj.weight":
                std = 4.0 / math.sqrt(p.size(-1))
            elif p.ndim == 2:
                std = 1.0 / math.sqrt(p.size(-1))
            elif name.endswith("gains"):
                std = 0.3
            else:
                std = 0.1
            r = torch.randn(p.shape, generator=g, dtype=torch.float32) * std
            if name.endswith("gains"):
                r += 1.0
            p.copy_(r.to(p.dtype))


def random_batch(seed, batch=3, seq=SEQ, vocab=VOCAB):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, vocab, (batch, seq), generator=g)
    targets = torch.randint(0, vocab, (batch, seq), generator=g)
    return idx, targets


def leaves_of(model, dtype_of=None):
    """Detached copies of the model's tensors as leaves requiring grad.
    ``dtype_of(name, p)`` may change a tensor's dtype (exactly, upcasting)."""
    out = {}
    for name, p in model.named_parameters():
        t = p.detach().clone()
        if dtype_of is not None:
            t = t.to(dtype_of(name, p))
        out[name] = t.requires_grad_(True)
    return out


def model_loss_and_grads(model, idx, targets):
    model.zero_grad(set_to_none=True)
    loss = model(idx, targets)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return loss.detach(), grads


def ref_loss_and_grads(P, idx, targets, config, manual=False):
    loss = reference_forward(P, idx, targets, config.n_layer, config.n_head, manual)
    names = list(P)
    grads = torch.autograd.grad(loss, [P[n] for n in names])
    return loss.detach(), dict(zip(names, grads))


def rel_err(a, b):
    """Relative error in Frobenius norm, computed in fp64."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def tiny(dtype="float32"):
    return make_config("track3-tiny", VOCAB, SEQ, dtype=dtype)


# --------------------------------------------------------------------------
# Structure and size
# --------------------------------------------------------------------------


def test_full_size_model_matches_description_on_meta_device():
    config = make_config("track3", 50257, 1024)
    assert config.padded_vocab_size == 50304
    with torch.device("meta"):
        model = Track3GPT(config)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes == expected_shapes(12, 768, 50304)
    V, d, L = 50304, 768, 12
    per_block = 4 * (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d) + 2 * d
    by_formula = V * d + (V * d + V) + L * per_block + 2 * d
    assert by_formula == 162_354_816
    assert sum(p.numel() for p in model.parameters()) == 162_354_816
    hidden = model.parameter_groups().hidden_matrices
    assert len(hidden) == 72  # q, k, v, attn proj, fc, mlp proj x 12
    assert all(p.ndim == 2 for p in hidden)
    # 6 heads of 128
    assert config.n_head == 6 and config.n_embd // config.n_head == 128


@pytest.mark.parametrize(
    "name, n_layer, d, n_head",
    [("track3-mini", 4, 256, 4), ("track3-tiny", 2, 64, 2)],
)
def test_small_sizes_keep_the_architecture(name, n_layer, d, n_head):
    config = make_config(name, VOCAB, SEQ)
    assert (config.n_layer, config.n_embd, config.n_head) == (n_layer, d, n_head)
    with torch.device("meta"):
        model = Track3GPT(config)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes == expected_shapes(n_layer, d, 128)


def test_rotary_buffer_is_the_half_truncated_frequencies_and_not_persistent():
    model = build_model(tiny(), seed=0)
    buffers = dict(model.named_buffers())
    state = model.state_dict()
    for i in range(model.config.n_layer):
        name = f"blocks.{i}.attn.rotary.angular_freq"
        assert name in buffers
        assert name not in state
        expected = ref_angular_freq(model.config.n_embd // model.config.n_head)
        torch.testing.assert_close(buffers[name].float(), expected, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_storage_dtypes(dtype):
    model = build_model(tiny(dtype), seed=0)
    for name, p in model.named_parameters():
        want = getattr(torch, dtype) if name == "embed.weight" else torch.float32
        assert p.dtype == want, name


# --------------------------------------------------------------------------
# Forward and backward against the reference
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fp32_loss_and_every_gradient_match_the_reference(seed):
    config = tiny()
    model = build_model(config, seed=seed)
    randomise(model, seed=100 + seed)
    idx, targets = random_batch(seed)
    loss, grads = model_loss_and_grads(model, idx, targets)
    assert loss.dtype == torch.float32 and loss.ndim == 0
    for manual in (False, True):
        P = leaves_of(model)
        ref_loss, ref_grads = ref_loss_and_grads(P, idx, targets, config, manual)
        torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=0)
        assert set(grads) == set(ref_grads)
        for name in grads:
            assert grads[name].dtype == torch.float32, name
            # fp32 with different (but equivalent) summation orders
            assert rel_err(grads[name], ref_grads[name]) < 1e-4, name


def test_fp32_logits_match_the_reference():
    config = tiny()
    model = build_model(config, seed=3)
    randomise(model, seed=103)
    idx, _ = random_batch(3)
    with torch.no_grad():
        logits = model(idx)
        ref = reference_forward(
            leaves_of(model), idx, None, config.n_layer, config.n_head
        )
    assert logits.dtype == torch.float32
    assert logits.shape == (3, SEQ, 128)
    assert logits.abs().max() < 15  # softcapped
    assert logits.abs().max() > 10  # and the cap was actually exercised
    torch.testing.assert_close(logits, ref.detach(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_bf16_path_matches_the_reference_in_bf16(seed):
    """Same weights, the reference run the same way (bf16 embedding, every
    activation bf16, RoPE rotation and logits in fp32). Both compute the
    same sequence of bf16 ops (measured: gradients bitwise equal, loss equal
    up to the order of the final fp32 sum, ~1e-7). An equivalent
    implementation may round a few intermediate values differently, so the
    bound is 1e-5 on the loss and 0.5% per gradient, still well below the
    1.8-2.4% (worst tensor) that separates bf16 from fp32 arithmetic here."""
    config = tiny("bfloat16")
    model = build_model(config, seed=seed)
    randomise(model, seed=200 + seed)
    idx, targets = random_batch(10 + seed)
    loss, grads = model_loss_and_grads(model, idx, targets)
    assert loss.dtype == torch.float32 and loss.ndim == 0
    assert grads["embed.weight"].dtype == torch.bfloat16
    ref_loss, ref_grads = ref_loss_and_grads(leaves_of(model), idx, targets, config)
    assert rel_err(loss, ref_loss) < 1e-5
    for name in grads:
        assert grads[name].dtype == ref_grads[name].dtype, name
        assert rel_err(grads[name], ref_grads[name]) < 5e-3, name


@pytest.mark.parametrize("seed", [0, 1])
def test_bf16_path_is_close_to_fp32_reference(seed):
    """The bf16 model against the fp32 reference with the same (bf16-exact)
    weights. bf16 keeps 8 significant bits (unit roundoff 2**-9 ~ 0.2%), and
    the errors compound through the 2 blocks and the backward pass (measured
    on seeds 0-3: loss 1.3-3.6e-4 relative, worst tensor gradient 1.8-2.4%
    in norm, a k bias). Bounds with margin: loss 0.3%, each gradient 10%,
    the whole gradient 5%. The model must also really run in bf16: its whole
    gradient differs from the fp32 one by more than 0.1%."""
    config = tiny("bfloat16")
    model = build_model(config, seed=seed)
    randomise(model, seed=300 + seed)
    idx, targets = random_batch(20 + seed)
    loss, grads = model_loss_and_grads(model, idx, targets)
    P = leaves_of(model, dtype_of=lambda name, p: torch.float32)
    ref_loss, ref_grads = ref_loss_and_grads(P, idx, targets, config)
    assert rel_err(loss, ref_loss) < 3e-3
    for name in grads:
        assert rel_err(grads[name].float(), ref_grads[name]) < 0.1, name
    flat = torch.cat([grads[n].float().flatten() for n in grads])
    ref_flat = torch.cat([ref_grads[n].flatten() for n in grads])
    assert 1e-3 < rel_err(flat, ref_flat) < 0.05


def test_bf16_path_runs_every_linear_in_bf16():
    config = tiny("bfloat16")
    model = build_model(config, seed=0)
    randomise(model, seed=5)
    seen = {}
    modules = dict(model.named_modules())
    names = ["proj"]
    for i in range(config.n_layer):
        names += [f"blocks.{i}.attn.{n}" for n in ("q", "k", "v", "proj")]
        names += [f"blocks.{i}.mlp.{n}" for n in ("fc", "proj")]
    hooks = [
        modules[n].register_forward_hook(
            lambda mod, args, out, n=n: seen.__setitem__(n, (args[0].dtype, out.dtype))
        )
        for n in names
    ]
    try:
        with torch.no_grad():
            logits = model(random_batch(0)[0])
    finally:
        for h in hooks:
            h.remove()
    assert seen == {n: (torch.bfloat16, torch.bfloat16) for n in names}
    assert logits.dtype == torch.float32


# --------------------------------------------------------------------------
# Causality, loss as a sum
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_causal(dtype):
    model = build_model(tiny(dtype), seed=0)
    randomise(model, seed=7)
    idx, _ = random_batch(7, batch=2)
    with torch.no_grad():
        base = model(idx)
        for t in (0, 5, SEQ - 1):
            changed = idx.clone()
            changed[:, t] = (changed[:, t] + 1 + torch.arange(2)) % VOCAB
            out = model(changed)
            torch.testing.assert_close(out[:, :t], base[:, :t], rtol=0, atol=0)
            assert not torch.equal(out[:, t], base[:, t])
            if t + 1 < SEQ:
                assert not torch.equal(out[:, t + 1 :], base[:, t + 1 :])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_loss_is_a_sum_over_sequences(dtype):
    model = build_model(tiny(dtype), seed=0)
    randomise(model, seed=8)
    idx, targets = random_batch(8, batch=2)
    with torch.no_grad():
        both = model(idx, targets)
        one = model(idx[:1], targets[:1])
        two = model(idx[1:], targets[1:])
    assert both.dtype == torch.float32 and both.ndim == 0
    # per-token work is identical; only the final fp32 summation order differs
    torch.testing.assert_close(both, one + two, rtol=1e-5, atol=0)
    # a sum, not a mean: it grows with the number of tokens
    assert both.item() > 2 * SEQ


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_loss_at_baseline_init_is_n_tokens_log_padded_vocab(dtype):
    model = build_model(tiny(dtype), seed=0)
    idx, targets = random_batch(9, batch=2)
    with torch.no_grad():
        loss = model(idx, targets)
        logits = model(idx)
    assert torch.equal(logits, torch.zeros_like(logits))  # zero head
    expected = idx.numel() * math.log(128)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------


def test_baseline_init():
    config = make_config("track3-mini", 1000, 64)
    model = build_model(config, seed=0)
    for name, p in model.named_parameters():
        p = p.detach().float()
        if name.endswith("gains"):
            assert torch.equal(p, torch.ones_like(p)), name
        elif name.endswith("bias") or "proj" in name:
            assert torch.equal(p, torch.zeros_like(p)), name
        elif name == "embed.weight":
            assert p.mean().item() == pytest.approx(0, abs=0.01)
            assert p.std().item() == pytest.approx(1, rel=0.01)
        else:
            assert p.ndim == 2, name
            std = math.sqrt(0.33 / p.size(-1))
            assert p.mean().item() == pytest.approx(0, abs=0.05 * std), name
            assert p.std().item() == pytest.approx(std, rel=0.03), name
            # Gaussian, not uniform: excess kurtosis ~0 (uniform: -1.2)
            z = (p - p.mean()) / p.std()
            assert (z**4).mean().item() == pytest.approx(3, abs=0.15), name
    # the head and the proj matrices are zero, the others are not
    assert torch.count_nonzero(model.proj.weight) == 0
    assert torch.count_nonzero(model.blocks[0].attn.q.weight) > 0


def test_build_model_is_deterministic_per_seed():
    config = tiny()
    a = build_model(config, seed=4)
    torch.manual_seed(999)
    b = build_model(config, seed=4)
    c = build_model(config, seed=5)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["embed.weight"], sc["embed.weight"])


def test_torch_default_init_differs_from_baseline_but_keeps_proj_zero():
    config = make_config("track3-mini", 1000, 64)
    base = dict(build_model(config, seed=0).named_parameters())
    torch_default = dict(
        build_model(config, seed=0, init="torch_default").named_parameters()
    )
    assert set(base) == set(torch_default)
    for name, p in torch_default.items():
        p = p.detach()
        if name.endswith(".weight") and "proj" in name:
            assert torch.count_nonzero(p) == 0, name
        last = name.split(".")[-2] if "." in name else name
        if name.endswith(".weight") and last in ("q", "k", "v", "fc"):
            assert not torch.allclose(p, base[name].detach()), name
            # PyTorch's default Linear init is bounded by 1/sqrt(fan_in)
            bound = 1 / math.sqrt(p.size(-1))
            assert p.abs().max().item() <= bound * (1 + 1e-6), name
            # U(-bound, bound) has nearly the baseline's std (sqrt(1/3) vs
            # sqrt(0.33)): tell them apart by the shape, kurtosis 1.8 not 3
            z = (p - p.mean()) / p.std()
            assert (z**4).mean().item() == pytest.approx(1.8, abs=0.1), name
        if name.endswith("gains"):
            assert torch.equal(p, torch.ones_like(p)), name


def test_unknown_init_is_rejected():
    with pytest.raises(ValueError):
        build_model(tiny(), seed=0, init="no-such-init")


# --------------------------------------------------------------------------
# Parameter groups
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_parameter_groups_partition_the_model(dtype):
    model = build_model(make_config("track3-mini", VOCAB, SEQ, dtype=dtype), seed=0)
    groups = model.parameter_groups()
    by_id = {id(p): n for n, p in model.named_parameters()}
    listed = groups.hidden_matrices + groups.embedding + groups.head + groups.scalars
    ids = [id(p) for p in listed]
    assert len(ids) == len(set(ids))  # every tensor at most once
    assert set(ids) == set(by_id)  # and every tensor at least once
    hidden = {by_id[id(p)] for p in groups.hidden_matrices}
    expected_hidden = {
        n
        for n, p in model.named_parameters()
        if n.startswith("blocks.") and p.ndim == 2
    }
    assert hidden == expected_hidden
    assert len(hidden) == 6 * model.config.n_layer
    assert [by_id[id(p)] for p in groups.embedding] == ["embed.weight"]
    assert [by_id[id(p)] for p in groups.head] == ["proj.weight"]
    scalars = {by_id[id(p)] for p in groups.scalars}
    assert scalars == {n for n, p in model.named_parameters() if p.ndim < 2}
    assert "proj.bias" in scalars and "norm1.gains" in scalars
    assert groups.head[0] is model.proj.weight
    assert groups.embedding[0] is model.embed.weight
