"""Throughput metrics: training FLOPs per token, accelerator peaks, MFU.

FLOPs per training token (forward + backward), the PaLM appendix B estimate
that nanoGPT and llm.c use:

    flops_per_token = 6 * N_matmul + 12 * n_layer * n_embd * seq_len

* ``N_matmul``: parameters that take part in a matrix product, i.e. every
  parameter except embedding tables used only as lookups (Track 3: the token
  embedding; classic GPT-2: the position embedding; its token embedding is
  also the tied output head, a matmul, so it counts). 2 FLOPs per
  multiply-add forward, twice that backward: 6 per parameter and token.
* ``12 * n_layer * n_embd * seq_len``: attention scores and their weighted
  sum (2 matmuls of T x d per token and layer, 2 FLOPs each, x3 for the
  backward), counted over the full T x T square as is conventional (a causal
  kernel does about half of it).

Track 3 model (seq_len 1024): N_matmul = 162,354,816 - 50,304 x 768 =
123,721,344; 6 N = 742.3 MFLOP, attention 113.2 MFLOP: 855.6 MFLOP per
token, 448.6 TFLOP per 524,288-token step.

MFU = achieved FLOP/s / (world_size x the device's dense bf16 peak). Peaks
(dense, no sparsity, TFLOP/s) from the vendors' data sheets, by device name;
an unknown device or a CPU gives NaN unless ``NANOGPT_PEAK_TFLOPS`` is set.
"""

import math
import os

import torch
from torch import nn

ENV_PEAK = "NANOGPT_PEAK_TFLOPS"

# (substring of torch.cuda.get_device_name(), dense bf16 TFLOP/s); the first
# match wins, so the specific names come first.
PEAK_BF16_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM5 (e.g. "NVIDIA H100 80GB HBM3")
    ("GH200", 989.0),
    ("H200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("RTX 4090", 165.2),
    ("RTX 3090", 71.0),
)


def matmul_parameters(model):
    """Parameters used in matrix products (embedding lookups excluded)."""
    linear = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)} | {
        id(m.bias) for m in model.modules() if isinstance(m, nn.Linear)
    }
    lookups = {
        id(m.weight)
        for m in model.modules()
        if isinstance(m, nn.Embedding) and id(m.weight) not in linear
    }
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen and id(p) not in lookups:
            total += p.numel()
        seen.add(id(p))
    return total


def flops_per_token(model, config, seq_len):
    """Training FLOPs per token (see the module docstring)."""
    attention = 12 * config.n_layer * config.n_embd * seq_len
    return 6 * matmul_parameters(model) + attention


def peak_tflops(device):
    """Dense bf16 peak of one ``device`` in TFLOP/s, or NaN if unknown."""
    override = os.environ.get(ENV_PEAK)
    if override:
        return float(override)
    if device.type != "cuda":
        return math.nan
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS:
        if key in name:
            return value
    return math.nan


def peak_memory_gib(device):
    """Peak memory allocated by torch on ``device`` (NaN on CPU)."""
    if device.type != "cuda":
        return math.nan
    return torch.cuda.max_memory_allocated(device) / 2**30


def throughput(step, batch_tokens, train_time, flops_token, peak, world_size):
    """The float columns of one evaluation (see the README)."""
    tokens = step * batch_tokens
    flops = tokens * flops_token
    per_s = tokens / train_time if train_time > 0 else math.nan
    mfu = (
        flops / train_time / (world_size * peak * 1e12)
        if train_time > 0 and math.isfinite(peak) and peak > 0
        else math.nan
    )
    return dict(
        train_time=float(train_time),
        tokens_per_second=float(per_s),
        train_flops=float(flops),
        flops_per_token=float(flops_token),
        mfu=float(mfu),
    )
