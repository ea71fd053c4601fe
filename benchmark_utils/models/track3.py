"""The modded-nanogpt Track 3 model (``records/track_3_optimization/
train_gpt_simple.py``), written from its published description.

- Token embedding without position embedding, stored in ``config.dtype``
  (bf16 in the reference: every activation is then bf16, no autocast).
- RMSNorm (``F.rms_norm`` with a learned gain, init 1) after the embedding,
  before attention, before the MLP and before the head.
- Every Linear has a bias; weights and biases are cast to the activation
  dtype in the forward pass (fp32 master weights).
- Attention: separate q, k, v and out ``proj``; per-head RMS norm of q and k
  (no gain); half-truncated RoPE (angular frequencies
  ``(1/1024) ** linspace(0, 1, head_dim/4)`` then ``head_dim/4`` zeros),
  rotated in fp32; causal SDPA with ``scale=0.12``.
- MLP ``fc`` (4x) -> ``relu(x)**2`` -> ``proj``.
- Head: untied Linear ``proj`` with bias, fp32 logits softcapped by
  ``15 x / sqrt(x^2 + 15^2)``; the loss is the **summed** cross-entropy.

Full size (12 layers, width 768, 6 heads of 128, vocab 50304): 162,354,816
parameters.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .groups import ParameterGroups

SOFTCAP = 15.0
ATTENTION_SCALE = 0.12
INIT_SCHEMES = ("baseline", "torch_default")


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gains = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x, (x.size(-1),), weight=self.gains.type_as(x))


class CastLinear(nn.Linear):
    """Linear with bias whose fp32 parameters are cast to the input dtype."""

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features, bias=True)

    def forward(self, x):
        return F.linear(x, self.weight.type_as(x), self.bias.type_as(x))


class HalfRotary(nn.Module):
    """RoPE on the first half of the frequencies only (the rest is zero)."""

    def __init__(self, head_dim):
        super().__init__()
        quarter = head_dim // 4
        freq = (1 / 1024) ** torch.linspace(0, 1, steps=quarter, dtype=torch.float32)
        self.register_buffer(
            "angular_freq", torch.cat([freq, freq.new_zeros(quarter)]), persistent=False
        )

    def forward(self, x):  # (B, T, H, D)
        pos = torch.arange(x.size(1), dtype=torch.float32, device=x.device)
        theta = torch.outer(pos, self.angular_freq)[None, :, None, :]
        cos, sin = theta.cos(), theta.sin()
        x1, x2 = x.float().chunk(2, dim=-1)
        return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), 3).type_as(x)


class Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head, self.head_dim = config.n_head, config.head_dim
        width = config.n_embd
        self.q = CastLinear(width, width)
        self.k = CastLinear(width, width)
        self.v = CastLinear(width, width)
        self.proj = CastLinear(width, width)
        self.rotary = HalfRotary(self.head_dim)

    def forward(self, x):
        B, T, _ = x.shape
        shape = (B, T, self.n_head, self.head_dim)
        q, k, v = self.q(x).view(shape), self.k(x).view(shape), self.v(x).view(shape)
        q = self.rotary(F.rms_norm(q, (self.head_dim,)))
        k = self.rotary(F.rms_norm(k, (self.head_dim,)))
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            scale=ATTENTION_SCALE,
            is_causal=True,
        )
        return self.proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc = CastLinear(config.n_embd, 4 * config.n_embd)
        self.proj = CastLinear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        return self.proj(self.fc(x).relu().square())


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attn = Attention(config)
        self.mlp = MLP(config)
        self.norm1 = RMSNorm(config.n_embd)
        self.norm2 = RMSNorm(config.n_embd)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Track3GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        dtype = getattr(torch, config.dtype)
        self.embed = nn.Embedding(config.padded_vocab_size, config.n_embd).to(dtype)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.proj = CastLinear(config.n_embd, config.padded_vocab_size)
        self.norm1 = RMSNorm(config.n_embd)
        self.norm2 = RMSNorm(config.n_embd)
        self.init_weights("baseline")

    @torch.no_grad()
    def init_weights(self, scheme="baseline"):
        """``baseline``: the Track 3 baseline (#36): weights whose name holds
        ``proj`` are zero, the embedding N(0, 1), other weights
        N(0, 0.33 / fan_in), biases 0, gains 1. ``torch_default``: the older
        scripts (AdamW #2): PyTorch's default init, then ``proj`` zeroed."""
        for name, p in self.named_parameters():
            if name.endswith("gains"):
                p.fill_(1.0)
            elif "proj" in name:  # out projections and the head, weight and bias
                p.zero_()
            elif name == "embed.weight":
                p.normal_()
            elif scheme == "torch_default":
                module = self.get_submodule(name.rsplit(".", 1)[0])
                if name.endswith("weight"):
                    module.reset_parameters()
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(std=(0.33 / p.size(-1)) ** 0.5)

    def forward(self, idx, targets=None):
        """Softcapped fp32 logits, or the **summed** cross-entropy (fp32)
        over the micro-batch when targets are given."""
        if idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"sequence length {idx.shape[1]} exceeds block size "
                f"{self.config.block_size}"
            )
        x = self.norm1(self.embed(idx))
        for block in self.blocks:
            x = block(x)
        logits = self.logits(self.norm2(x))
        if targets is None:
            return logits
        return F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.reshape(-1), reduction="sum"
        )

    def logits(self, x):
        """Softcapped fp32 logits of final hidden states."""
        logits = self.proj(x).float()
        return SOFTCAP * logits * (logits.square() + SOFTCAP**2).rsqrt()

    def parameter_groups(self):
        hidden = [p for p in self.blocks.parameters() if p.ndim >= 2]
        scalars = [p for p in self.parameters() if p.ndim < 2]
        return ParameterGroups(hidden, [self.embed.weight], [self.proj.weight], scalars)

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())


# The inits of entries that start from ``init="torch_default"`` and change
# it; their solvers' ``init_model`` calls them (the trainer seeds the
# generator first).


@torch.no_grad()
def init_adamh(model, gains):
    """#4 (AdamH): the weights of the blocks' modules named in ``gains``
    (e.g. ``"attn.proj"``) redrawn U(-b, b), b = gain / sqrt(fan_in)."""
    for name, module in model.named_modules():
        gain = gains.get(name.split(".", 2)[-1])
        if name.startswith("blocks.") and gain is not None:
            module.weight.uniform_(-1.0, 1.0).mul_(gain / module.in_features**0.5)


SOAP_H_INIT_SCALES = {
    ".attn.proj.weight": 1.25,
    ".mlp.proj.weight": 3.0,
    ".mlp.fc.weight": 1.5,
}


@torch.no_grad()
def init_soap_h(model):
    """#27 (SOAP-H): PyTorch's default init redrawn, these weights scaled by
    ``SOAP_H_INIT_SCALES``, the other ``proj`` tensors (the head, every
    projection bias) zeroed, gains 1."""
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    for name, p in model.named_parameters():
        scale = [s for end, s in SOAP_H_INIT_SCALES.items() if name.endswith(end)]
        if name.endswith("gains"):
            p.fill_(1.0)
        elif scale:
            p.mul_(scale[0])
        elif "proj" in name:
            p.zero_()


# #33's per-module factors on 1 / sqrt(3 fan_in), first match wins
PSGD_KRON_H_INIT_FACTORS = (("mlp.proj", 3.0), ("fc", 1.5), ("attn.proj", 1.25))


@torch.no_grad()
def init_psgd_kron_h(model):
    """#33 (PSGD-Kron-H): PyTorch's default init redrawn for every Linear
    (nothing zeroed), then every 2-D block weight N(0, factor^2 / (3
    fan_in))."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.reset_parameters()
    for name, p in model.named_parameters():
        if name.startswith("blocks.") and p.ndim == 2:
            factor = next(
                (f for key, f in PSGD_KRON_H_INIT_FACTORS if key in name), 1.0
            )
            p.normal_(0.0, factor / (3 * p.size(1)) ** 0.5)


# #46's init constants (its script's "v44" blocks)
RECORD_46_FC_ALPHA = 0.30
RECORD_46_GAIN_ALPHA = 0.125
RECORD_46_PAIR_FROM = 6
RECORD_46_HEAD_MEAN_SHRINK = 0.5
RECORD_46_HEAD_DIM = 128  # the script's constant, whatever the model's heads


def _signs(n):
    return torch.randint(0, 2, (n,)).float() * 2 - 1


def _placed(plus, n):
    """``plus`` entries +1 and the rest -1, in random order."""
    signs = torch.cat([torch.ones(plus), -torch.ones(n - plus)])
    return signs[torch.randperm(n)]


def _paired_signs(width, head_dim):
    """Signs of a pair of blocks with complementary +1 counts per head."""
    if width % head_dim:
        first = _signs(width)
        return first, -first
    first, second = [], []
    for _ in range(width // head_dim):
        plus = int((_signs(head_dim) > 0).sum())
        plus = round(head_dim / 2 + RECORD_46_HEAD_MEAN_SHRINK * (plus - head_dim / 2))
        plus = max(0, min(head_dim, plus))
        first.append(_placed(plus, head_dim))
        second.append(_placed(head_dim - plus, head_dim))
    return torch.cat(first), torch.cat(second)


@torch.no_grad()
def init_record_46(model):
    """#46 (the record, ``results/20260619_cwd_rowfloor_tailema``), on top of
    the ``torch_default`` scheme (PyTorch's default, ``proj`` zeroed, as its
    script builds its model): ``mlp.fc`` of block ``l`` (of ``L``) scaled by
    ``1 - 0.30 l / (L - 1)``; antithetic norm gains ``norm1 = 1 - 0.125 s``,
    ``norm2 = 1 + 0.125 s`` with ``s`` random +-1; from block 6 on, blocks
    pair up (6-7, 8-9, ...): per head of 128 channels (the script's constant),
    the first block's count of +1 is pulled halfway to half the head and
    the second gets the complementary count, each placed at random (without
    whole heads, the second block gets ``-s``). The signs come from torch's
    global generator (seeded with the run's seed): the entry's own CUDA
    draws cannot be replayed, so the distribution is reproduced, not the
    draws."""
    blocks = model.blocks
    depth = len(blocks)
    width = blocks[0].norm1.gains.numel()
    paired = None
    for index, block in enumerate(blocks):
        ramp = index / (depth - 1) if depth > 1 else 0.0
        block.mlp.fc.weight.mul_(1 - RECORD_46_FC_ALPHA * ramp)
        if index < RECORD_46_PAIR_FROM:
            signs = _signs(width)
        elif (index - RECORD_46_PAIR_FROM) % 2 == 0:
            signs, paired = _paired_signs(width, RECORD_46_HEAD_DIM)
        else:
            signs, paired = paired, None
        block.norm1.gains.copy_(1 - RECORD_46_GAIN_ALPHA * signs)
        block.norm2.gains.copy_(1 + RECORD_46_GAIN_ALPHA * signs)
