"""Track 3 record #46's init (``records/track_3_optimization/results/
20260619_cwd_rowfloor_tailema``, the script's "v44" blocks), applied on top
of PyTorch's default init with every ``proj`` tensor zeroed (the model's
``torch_default`` scheme, as that script builds its model):

- ``mlp.fc`` of block ``l`` (of ``L``) scaled by ``1 - 0.30 l / (L - 1)``;
- the block's two norms get antithetic gains ``norm1 = 1 - 0.125 s`` and
  ``norm2 = 1 + 0.125 s`` with ``s`` a random +-1 vector; from block 6 on,
  blocks pair up (6-7, 8-9, ...): per head, the first block's count of +1
  is pulled halfway to half the head, and the second block gets the
  complementary count, each placed at random (without whole heads, as in a
  small model, the second block gets ``-s``).

The signs come from torch's global generator (the trainer seeds it with the
run's seed): the entry draws them from its own generators on CUDA, whose
numbers no CPU run can replay, so the distribution is reproduced, not the
draws.
"""

import torch

FC_ALPHA = 0.30
GAIN_ALPHA = 0.125
PAIR_FROM = 6
HEAD_MEAN_SHRINK = 0.5


def _signs(n):
    return torch.randint(0, 2, (n,)).float() * 2 - 1


def _placed(plus, n):
    """``plus`` entries +1 and the rest -1, in random order."""
    signs = torch.cat([torch.ones(plus), -torch.ones(n - plus)])
    return signs[torch.randperm(n)]


def _pair(width, head_dim):
    """Signs of a pair of blocks with complementary +1 counts per head."""
    if width % head_dim:
        first = _signs(width)
        return first, -first
    first, second = [], []
    for _ in range(width // head_dim):
        plus = int((_signs(head_dim) > 0).sum())
        plus = round(head_dim / 2 + HEAD_MEAN_SHRINK * (plus - head_dim / 2))
        plus = max(0, min(head_dim, plus))
        first.append(_placed(plus, head_dim))
        second.append(_placed(head_dim - plus, head_dim))
    return torch.cat(first), torch.cat(second)


@torch.no_grad()
def record_46_init(model, head_dim=128):
    blocks = model.blocks
    depth = len(blocks)
    width = blocks[0].norm1.gains.numel()
    paired = None
    for index, block in enumerate(blocks):
        ramp = index / (depth - 1) if depth > 1 else 0.0
        block.mlp.fc.weight.mul_(1 - FC_ALPHA * ramp)
        if index < PAIR_FROM:
            signs = _signs(width)
        elif (index - PAIR_FROM) % 2 == 0:
            signs, paired = _pair(width, head_dim)
        else:
            signs, paired = paired, None
        block.norm1.gains.copy_(1 - GAIN_ALPHA * signs)
        block.norm2.gains.copy_(1 + GAIN_ALPHA * signs)
