"""Token shards in the llm.c / modded-nanogpt format.

A shard is a 1024-byte header of 256 little-endian int32 (magic 20240520,
version 1, number of tokens, zeros) followed by that many little-endian uint16
token ids. Shards are read through ``numpy.memmap`` so that memory never grows
with the number or size of shards.
"""

import os
from pathlib import Path

import numpy as np

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
TOKEN_DTYPE = np.dtype("<u2")
MAX_TOKEN_ID = np.iinfo(np.uint16).max


class ShardError(ValueError):
    """A shard file is missing, truncated or not in the expected format."""

    def __init__(self, path, problem):
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"{self.path}: {problem}. Delete the file and download or regenerate it."
        )


def write_shard(path, tokens):
    """Write ``tokens`` as a shard, atomically (temporary file then rename).

    An interrupted write never leaves a file under ``path`` that could pass as
    a shard.
    """
    path = Path(path)
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"tokens must be 1-D, got shape {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() > MAX_TOKEN_ID):
        raise ValueError(f"token ids must lie in [0, {MAX_TOKEN_ID}] to fit in uint16")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, tokens.size
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(header.tobytes())
            f.write(tokens.astype(TOKEN_DTYPE, copy=False).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_header(path):
    """Validate a shard (header and size) and return its number of tokens."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(path, "file not found")
    size = path.stat().st_size
    if size < HEADER_BYTES:
        raise ShardError(
            path, f"truncated header ({size} bytes, expected at least {HEADER_BYTES})"
        )
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    if header[0] != MAGIC:
        raise ShardError(
            path,
            f"wrong magic number {header[0]} (expected {MAGIC}): not a token shard",
        )
    if header[1] != VERSION:
        raise ShardError(path, f"unsupported version {header[1]} (expected {VERSION})")
    n_tokens = int(header[2])
    if n_tokens < 0:
        raise ShardError(path, f"negative token count {n_tokens} in header")
    expected = HEADER_BYTES + 2 * n_tokens
    if size != expected:
        what = "truncated" if size < expected else "too large"
        raise ShardError(
            path,
            f"{what}: header announces {n_tokens} tokens "
            f"({expected} bytes) but the file has {size} bytes",
        )
    return n_tokens


def open_shard(path):
    """Memory-map the tokens of a validated shard (read-only, uint16)."""
    n_tokens = read_header(path)
    if n_tokens == 0:
        return np.zeros(0, dtype=TOKEN_DTYPE)
    return np.memmap(
        path, dtype=TOKEN_DTYPE, mode="r", offset=HEADER_BYTES, shape=(n_tokens,)
    )


def read_tokens(path, start=0, count=None):
    """Read ``count`` tokens from ``start`` as int64 (a copy, not a view)."""
    tokens = open_shard(path)
    stop = len(tokens) if count is None else start + count
    if stop > len(tokens):
        raise ShardError(
            path, f"asked for tokens up to {stop} but it holds {len(tokens)}"
        )
    return np.array(tokens[start:stop], dtype=np.int64)
