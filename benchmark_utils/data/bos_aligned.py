"""The ``bos_aligned`` data order: every sequence starts a document.

Every document of a GPT-2 shard is preceded by ``<|endoftext|>`` (50256),
used as a beginning-of-sequence (BOS) token. Within each shard the first
sequence starts at the first BOS and each next one at the first BOS at or
after ``previous start + T``. A sequence holds ``T + 1`` consecutive tokens,
so it may run into the next documents; the tail of a document that a
sequence cuts off is skipped, so no token is an input twice per epoch.
Sequences never cross a shard boundary. Sequence ``j`` of the ordered list
goes to micro-step ``k``, rank ``r``, row ``b`` when ``j = (k * W + r) * B +
b`` (the contiguous order's slicing), so a run resumes exactly.
"""

from collections import OrderedDict

import numpy as np

from .contiguous import TokenStream, exhausted, locate
from .documents import document_starts
from .errors import DataError, DataExhaustedError


def bos_sequence_starts(tokens, bos_token, seq_len):
    """Greedy BOS-aligned sequence starts (int64) inside one shard, each
    followed by ``seq_len`` tokens (inputs and the shifted target)."""
    docs = document_starts(tokens, bos_token)
    docs = docs[docs + seq_len + 1 <= len(tokens)]
    # next_doc[i]: the first document at or after docs[i] + seq_len;
    # following it from 0 gives the greedy starts.
    next_doc = np.searchsorted(docs, docs + seq_len, side="left").tolist()
    chosen, i = [], 0
    while i < len(docs):
        chosen.append(i)
        i = next_doc[i]
    return docs[np.asarray(chosen, dtype=np.int64)]


class BosIndex:
    """The ordered BOS-aligned sequences of a list of shards, indexed lazily
    and in order: the count of each shard is kept, the start positions of
    the last two shards used only (memory does not grow with the data)."""

    def __init__(self, paths, bos_token, seq_len, cached_shards=2):
        if bos_token is None:
            raise DataError(
                "data_order='bos_aligned' needs a document separator (the "
                "dataset's bos_token) but this data has none: choose "
                "data_order='track3' or 'contiguous'"
            )
        self.stream = TokenStream(paths)
        self.bos_token, self.seq_len = int(bos_token), int(seq_len)
        self.offsets = [0]  # where each indexed shard's sequences start
        self.used_tokens = 0  # input tokens of the indexed shards' sequences
        self.scanned_tokens = 0
        self._cache = OrderedDict()
        self._cached_shards = cached_shards

    def starts(self, shard):
        """Sequence starts of ``shard`` (indexing it if it is the next)."""
        if shard in self._cache:
            self._cache.move_to_end(shard)
            return self._cache[shard]
        tokens = self.stream.shard(shard)
        starts = bos_sequence_starts(tokens, self.bos_token, self.seq_len)
        if shard == len(self.offsets) - 1:  # first visit
            self.offsets.append(self.offsets[-1] + len(starts))
            self.used_tokens += len(starts) * self.seq_len
            self.scanned_tokens += len(tokens)
        self._cache[shard] = starts
        while len(self._cache) > self._cached_shards:
            self._cache.popitem(last=False)
        return starts

    def index_until(self, n_sequences):
        """Index shards until ``n_sequences`` exist or none is left; returns
        the number of sequences indexed."""
        n_shards = len(self.stream.paths)
        while self.offsets[-1] < n_sequences and len(self.offsets) <= n_shards:
            self.starts(len(self.offsets) - 1)
        return self.offsets[-1]

    def locate(self, j):
        """``(shard, start position)`` of indexed sequence ``j``."""
        shard, k = locate(self.offsets, j)
        return shard, int(self.starts(shard)[k])

    def coverage(self):
        """Fraction of the indexed tokens that are inputs of a sequence."""
        return self.used_tokens / max(1, self.scanned_tokens)


class BosAlignedOrder:
    """Fills one rank's step: ``out[j, 0]`` the inputs and ``out[j, 1]`` the
    targets of micro-batch ``j``, ``(B, T)`` each (contiguous views once on
    the device)."""

    def __init__(
        self, paths, micro_batch_size, seq_len, rank, world_size, repeat, bos_token
    ):
        self.index = BosIndex(paths, bos_token, seq_len)
        self.micro_batch_size, self.seq_len = micro_batch_size, seq_len
        self.rank, self.world_size, self.repeat = rank, world_size, repeat

    def fill(self, step, out):
        for j in range(len(out)):
            self._fill_micro(step * len(out) + j, out[j])

    def _fill_micro(self, micro_step, out):
        index, batch = self.index, self.micro_batch_size
        first = (micro_step * self.world_size + self.rank) * batch
        wanted = np.arange(first, first + batch, dtype=np.int64)
        available = index.index_until(first + batch)
        if available < first + batch:  # every shard is indexed
            if available == 0:
                raise DataExhaustedError(
                    f"no BOS-aligned sequence of {self.seq_len + 1} tokens: "
                    f"the {len(index.stream.paths)} shard(s) contain no "
                    f"document separator {index.bos_token} followed by "
                    f"{self.seq_len} tokens in the same shard; choose "
                    "data_order='track3' or 'contiguous', or a shorter seq_len"
                )
            if not self.repeat:
                raise exhausted(
                    f"micro-step {micro_step}",
                    f"BOS-aligned batches need sequence {first + batch - 1} but "
                    f"the shards hold {available} sequences of {self.seq_len} "
                    "tokens starting at a document boundary (they use "
                    f"{index.coverage():.0%} of the tokens: the tails of "
                    "documents cut at a sequence end are skipped)",
                )
            wanted %= available
        span = np.arange(self.seq_len + 1, dtype=np.int64)
        located = [index.locate(int(j)) for j in wanted]
        for shard in sorted({s for s, _ in located}):
            which = [i for i, (s, _) in enumerate(located) if s == shard]
            starts = np.array([located[i][1] for i in which], dtype=np.int64)
            rows = index.stream.shard(shard)[starts[:, None] + span]
            out[0, which] = rows[:, :-1]
            out[1, which] = rows[:, 1:]
