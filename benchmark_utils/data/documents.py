"""Document boundaries inside token shards: every document of a GPT-2 shard
is preceded by ``<|endoftext|>`` (50256), a beginning-of-sequence (BOS) token.
A memory-mapped shard is scanned chunk by chunk, so memory is proportional to
the number of documents, never to the number of tokens."""

import numpy as np

from .errors import DataError
from .shards import array_chunks

CHUNK_TOKENS = 1 << 24  # 16M tokens (32 MB of uint16) per scan step


def document_starts(tokens, bos_token, chunk_tokens=CHUNK_TOKENS):
    """Positions (int64, increasing) of ``bos_token`` in ``tokens``."""
    if bos_token is None:
        raise DataError("no BOS token: these shards have no documents")
    parts = [np.zeros(0, dtype=np.int64)]
    for start, chunk in array_chunks(tokens, chunk_tokens):
        parts.append(np.flatnonzero(chunk == int(bos_token)).astype(np.int64) + start)
    return np.concatenate(parts)


def token_counts(tokens, chunk_tokens=CHUNK_TOKENS, minlength=1 << 16):
    """Occurrences of every token id (int64 array of length >= 65536)."""
    counts = np.zeros(minlength, dtype=np.int64)
    for _, chunk in array_chunks(tokens, chunk_tokens):
        found = np.bincount(chunk, minlength=minlength)
        counts[: len(found)] += found
    return counts
