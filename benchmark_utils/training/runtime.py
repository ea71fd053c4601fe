"""Device and precision choices shared by training and evaluation, so both
always run in the same precision."""

import contextlib
import ctypes
import ctypes.util
import sys

import torch

from ..settings import SettingsError

# glibc mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def resolve_device(name="auto"):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(
            "device 'cuda' was requested but torch sees no GPU: install a "
            "CUDA build of torch or set the objective's device to 'cpu'"
        )
    return device


def autocast(device):
    """bf16 autocast on CUDA; full fp32 on CPU (bf16 matmuls are slow there).
    Used by the classic GPT-2 only: Track 3 runs in its embedding's dtype."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def configure_backends(device, tf32=False):
    """TF32 for fp32 matmuls on CUDA only when asked: Track 3 does not enable
    it (a hardware option that changes precision, off by default)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
        torch.backends.cudnn.allow_tf32 = bool(tf32)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def keep_freed_memory():
    """On CPU with glibc, keep freed memory for reuse: by default every tensor
    above 32 MB (a small model's fp32 logits over the 50,304-token vocabulary
    are ~0.8 GB per micro-batch) is a fresh mmap, zeroed again on every
    micro-batch, which on a 2-core VM cost more than the compute
    (benchmarks/cpu_output_layer.py). The process keeps its peak memory.
    Returns True when the setting was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(
        mallopt(M_TRIM_THRESHOLD, -1)  # SIZE_MAX in glibc: never trim
    )
