"""The ``contiguous`` data order: the shards as one stream, in order (as llm.c
and the early modded-nanogpt records read it).

Micro-step ``k`` of rank ``r`` of ``W`` reads the ``B*T + 1`` tokens from
``(k * W + r) * B * T``: inputs never overlap nor leave a gap, and depend only
on ``k``, so a run resumes exactly. With ``repeat`` the stream wraps around.
Also the shard-boundary logic that every order shares (:func:`locate`).
"""

import numpy as np

from .errors import DataError, DataExhaustedError
from .shards import open_shard, read_header


def exhausted(where, detail):
    """The error of a run that asks for more data than the shards hold."""
    return DataExhaustedError(
        f"training data exhausted at {where}: {detail}. Provide more training "
        "shards, lower the step budget, or set the dataset's repeat_data=True."
    )


def cumulative(counts):
    """``[0, c0, c0 + c1, ...]``: where each shard's items start."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def locate(offsets, index):
    """``(shard, index within it)`` of item ``index`` (a token, a step, a
    sequence) of shards whose items start at ``offsets``."""
    shard = int(np.searchsorted(offsets, index, side="right")) - 1
    return shard, int(index - offsets[shard])


class TokenStream:
    """The ordered shards as one token sequence. Shards are memory-mapped
    when read, and only the last one stays open."""

    def __init__(self, paths):
        self.paths = list(paths)
        if not self.paths:
            raise DataError("no training shard given: the dataset found none")
        self.counts = [read_header(p) for p in self.paths]  # a bad file fails now
        self.offsets = cumulative(self.counts)
        self.total_tokens = int(self.offsets[-1])
        self._open = (None, None)

    def shard(self, index):
        """The memory map of shard ``index``."""
        if self._open[0] != index:
            self._open = (index, open_shard(self.paths[index]))
        return self._open[1]

    def read_into(self, start, out):
        """Fill ``out`` with tokens ``[start, start + len(out))``."""
        count = len(out)
        if start < 0 or start + count > self.total_tokens:
            raise DataExhaustedError(
                f"token range [{start}, {start + count}) is outside the "
                f"{self.total_tokens} tokens of {len(self.paths)} shard(s)"
            )
        shard, local = locate(self.offsets, start)
        filled = 0
        while filled < count:
            tokens = self.shard(shard)
            take = min(count - filled, len(tokens) - local)
            out[filled : filled + take] = tokens[local : local + take]
            filled += take
            shard, local = shard + 1, 0
        return out


class ContiguousOrder:
    """Fills one rank's step: row ``j`` holds the ``B*T + 1`` tokens of
    micro-step ``step * accum + j``."""

    def __init__(self, paths, micro_batch_size, seq_len, rank, world_size, repeat):
        self.stream = TokenStream(paths)
        self.rank, self.world_size, self.repeat = rank, world_size, repeat
        self.rank_tokens = micro_batch_size * seq_len
        if self.rank_tokens + 1 > self.stream.total_tokens:
            raise DataExhaustedError(
                f"one micro-batch needs {self.rank_tokens + 1:,} tokens but the "
                f"{len(self.stream.paths)} training shard(s) hold only "
                f"{self.stream.total_tokens:,}: provide more training data or "
                "lower micro_batch_size or seq_len"
            )

    def fill(self, step, out):
        for j, row in enumerate(out):
            micro_step = step * len(out) + j
            start = (micro_step * self.world_size + self.rank) * self.rank_tokens
            self._read_into(micro_step, start, row)

    def _read_into(self, micro_step, start, row):
        total = self.stream.total_tokens
        if start + len(row) <= total:
            self.stream.read_into(start, row)
            return
        if not self.repeat:
            raise exhausted(
                f"micro-step {micro_step}",
                f"the run needs tokens up to {start + len(row):,} but the "
                f"shards hold {total:,}",
            )
        start %= total
        first = min(len(row), total - start)
        self.stream.read_into(start, row[:first])
        if first < len(row):
            self.stream.read_into(0, row[first:])
