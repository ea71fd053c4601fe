"""The ``contiguous`` data order: the shards as one stream, in order.

The stream is the concatenation of the ordered shards (as llm.c and the
early modded-nanogpt records read it). Micro-step ``k`` of rank ``r`` out of
``W`` reads the ``B*T + 1`` tokens that start at ``(k * W + r) * B * T``:
inputs never overlap and leave no gap, across steps and across ranks, and
the position depends only on ``k``, so a run resumes exactly from any step.
With ``repeat`` the stream wraps around (epochs) instead of running out.
"""

import numpy as np

from .errors import DataError, DataExhaustedError
from .shards import open_shard, read_header


class TokenStream:
    """Any token range of the virtual concatenation of ordered shards.

    Shards are memory-mapped lazily and only the last one used stays open, so
    memory does not grow with the number of shards.
    """

    def __init__(self, paths):
        self.paths = list(paths)
        if not self.paths:
            raise DataError("no training shard given: the dataset found none")
        counts = [read_header(p) for p in self.paths]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.total_tokens = int(self.offsets[-1])
        self._open_index = None
        self._open_tokens = None

    def shard(self, index):
        """The memory map of shard ``index``."""
        if index != self._open_index:
            self._open_tokens = open_shard(self.paths[index])
            self._open_index = index
        return self._open_tokens

    def read_into(self, start, out):
        """Fill ``out`` with tokens ``[start, start + len(out))``."""
        count = len(out)
        if start < 0 or start + count > self.total_tokens:
            raise DataExhaustedError(
                f"token range [{start}, {start + count}) is outside the "
                f"{self.total_tokens} tokens of {len(self.paths)} shard(s)"
            )
        filled = 0
        index = int(np.searchsorted(self.offsets, start, side="right")) - 1
        while filled < count:
            local = start + filled - int(self.offsets[index])
            tokens = self.shard(index)
            take = min(count - filled, len(tokens) - local)
            out[filled : filled + take] = tokens[local : local + take]
            filled += take
            index += 1
        return out


class ContiguousOrder:
    """Fills one rank's step of ``accum`` micro-batches: row ``j`` holds the
    ``B*T + 1`` tokens of micro-step ``step * accum + j``."""

    def __init__(
        self, paths, micro_batch_size, seq_len, accum, rank, world_size, repeat
    ):
        self.stream = TokenStream(paths)
        self.rank, self.world_size, self.accum = rank, world_size, accum
        self.repeat = repeat
        self.rank_tokens = micro_batch_size * seq_len
        self.row_shape = (self.rank_tokens + 1,)
        if self.rank_tokens + 1 > self.stream.total_tokens:
            raise DataExhaustedError(
                f"one micro-batch needs {self.rank_tokens + 1:,} tokens but the "
                f"{len(self.stream.paths)} training shard(s) hold only "
                f"{self.stream.total_tokens:,}: provide more training data or "
                "lower micro_batch_size or seq_len"
            )

    def start_of(self, micro_step):
        """Stream position of this rank's first input token at ``micro_step``."""
        return (micro_step * self.world_size + self.rank) * self.rank_tokens

    def fill(self, step, out):
        for j in range(self.accum):
            micro_step = step * self.accum + j
            self._read_into(micro_step, self.start_of(micro_step), out[j])

    def _read_into(self, micro_step, start, row):
        total = self.stream.total_tokens
        if start + len(row) <= total:
            self.stream.read_into(start, row)
            return
        if not self.repeat:
            raise DataExhaustedError(
                f"training data exhausted at micro-step {micro_step}: the run "
                f"needs tokens up to {start + len(row):,} but the shards hold "
                f"{total:,}. Provide more training shards (a larger download or "
                "dataset), lower the step budget, or set the dataset's "
                "repeat_data=True."
            )
        start %= total
        first = min(len(row), total - start)
        self.stream.read_into(start, row[:first])
        if first < len(row):
            self.stream.read_into(0, row[first:])
