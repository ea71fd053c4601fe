"""Document boundaries inside token shards.

Every document of a GPT-2 shard is preceded by ``<|endoftext|>`` (50256),
which acts as a beginning-of-sequence (BOS) token. These helpers find those
positions in a memory-mapped shard chunk by chunk, so memory is proportional
to the number of documents, never to the number of tokens.
"""

import numpy as np

from .errors import DataError

CHUNK_TOKENS = 1 << 24  # 16M tokens (32 MB of uint16) per scan step


def document_starts(tokens, bos_token, chunk_tokens=CHUNK_TOKENS):
    """Positions (int64, increasing) of ``bos_token`` in ``tokens``.

    ``tokens`` may be a ``numpy.memmap``: it is scanned ``chunk_tokens`` at a
    time, so only the result (one int64 per document) stays in memory.
    """
    if bos_token is None:
        raise DataError("no BOS token: these shards have no documents")
    bos_token = int(bos_token)
    parts = []
    for start in range(0, len(tokens), chunk_tokens):
        chunk = np.asarray(tokens[start : start + chunk_tokens])
        hits = np.flatnonzero(chunk == bos_token)
        if hits.size:
            parts.append(hits.astype(np.int64) + start)
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts)


def token_counts(tokens, chunk_tokens=CHUNK_TOKENS, minlength=1 << 16):
    """Occurrences of every token id (int64 array of length >= 65536)."""
    counts = np.zeros(minlength, dtype=np.int64)
    for start in range(0, len(tokens), chunk_tokens):
        chunk = np.asarray(tokens[start : start + chunk_tokens])
        found = np.bincount(chunk, minlength=minlength)
        counts[: len(found)] += found
    return counts
