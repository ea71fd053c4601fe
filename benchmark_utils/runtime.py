"""Device and precision choices shared by training and evaluation, so both
always run in the same precision."""

import contextlib

import torch


def resolve_device(name="auto"):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
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
