"""Throughput metrics: training FLOPs per token, accelerator peaks, MFU.

FLOPs per training token (forward + backward), the PaLM paper's appendix B
estimate that nanoGPT and llm.c use: ``6 * N_matmul + 12 * n_layer * n_embd
* seq_len``, ``N_matmul`` the parameters that take part in a matrix product
(embedding tables used only as lookups excluded; a token embedding tied to
the output head counts), the second term attention over the full T x T
square. Track 3 (seq_len 1024): 855.6 MFLOP per token.

MFU = achieved FLOP/s / (world_size x the device's dense bf16 peak, from the
vendors' data sheets); NaN on a CPU or an unknown device unless
``NANOGPT_PEAK_TFLOPS`` is set.
"""

import math
import os

import torch
from torch import nn

from .. import distributed

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
    modules = list(model.modules())
    linear = {id(m.weight) for m in modules if isinstance(m, nn.Linear)}
    lookups = {
        id(m.weight)
        for m in modules
        if isinstance(m, nn.Embedding) and id(m.weight) not in linear
    }
    # model.parameters() yields a tied tensor once.
    return sum(p.numel() for p in model.parameters() if id(p) not in lookups)


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


def peak_memory_gib(device, ctx=distributed.SINGLE):
    """Peak memory allocated by torch on ``device``, the largest over the
    ranks of ``ctx`` (NaN on CPU)."""
    if device.type != "cuda":
        return math.nan
    peak = torch.tensor(torch.cuda.max_memory_allocated(device) / 2**30)
    return float(
        distributed.all_reduce(peak.to(device), ctx, op=torch.distributed.ReduceOp.MAX)
    )


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
        world_size=float(world_size),
    )
