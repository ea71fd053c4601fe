"""The ``bos_aligned`` data order: every sequence starts a document.

Every document of a GPT-2 shard is preceded by ``<|endoftext|>`` (50256),
used as a beginning-of-sequence (BOS) token. Within each shard the sequence
starts are chosen greedily: the first start is the shard's first BOS, and
each next start is the first BOS at or after ``previous start + T``. A
sequence holds ``T + 1`` consecutive tokens, so it may run past the end of
its first document into the next ones; the tail of a document that a
sequence cuts off is skipped (it does not begin at a BOS), so every token is
an input at most once per epoch but some are never used, and a step
consumes more than ``B * T`` tokens of the shards. Sequences never cross a
shard boundary. Sequence ``j`` of the resulting ordered list goes to
micro-step ``k``, rank ``r``, row ``b`` when ``j = (k * W + r) * B + b``
(the slicing of the contiguous order), so batches depend only on ``k`` and a
run resumes exactly. A shard's starts are computed when it is first needed
(chunked scan of the memory map, memory proportional to its documents) and
only the last two shards' starts are kept.
"""

from collections import OrderedDict

import numpy as np

from .contiguous import TokenStream
from .documents import document_starts
from .errors import DataError, DataExhaustedError
from .shards import open_shard


def bos_sequence_starts(tokens, bos_token, seq_len):
    """Greedy BOS-aligned sequence starts (int64) inside one shard.

    The first start is the first BOS; each next one is the first BOS at or
    after ``previous + seq_len``. Every sequence ``[start, start + seq_len]``
    (inputs and the shifted target) lies inside the shard.
    """
    docs = document_starts(tokens, bos_token)
    docs = docs[docs + seq_len + 1 <= len(tokens)]
    if docs.size == 0:
        return docs
    # next_doc[i]: index of the first document starting at or after
    # docs[i] + seq_len; following the chain from 0 gives the greedy starts.
    next_doc = np.searchsorted(docs, docs + seq_len, side="left").tolist()
    chosen = []
    i, n = 0, len(docs)
    while i < n:
        chosen.append(i)
        i = next_doc[i]
    return docs[np.asarray(chosen, dtype=np.int64)]


class BosIndex:
    """The ordered BOS-aligned sequences of a list of shards.

    Shards are indexed lazily and in order: the number of sequences of each
    shard is kept, their start positions only for the last two shards used.
    """

    def __init__(self, paths, bos_token, seq_len, cached_shards=2):
        if bos_token is None:
            raise DataError(
                "data_order='bos_aligned' needs a document separator (the "
                "dataset's bos_token) but this data has none: choose "
                "data_order='track3' or 'contiguous'"
            )
        self.paths = list(paths)
        self.bos_token = int(bos_token)
        self.seq_len = int(seq_len)
        self.counts = []  # sequences of shards 0..len(counts)-1
        self.offsets = [0]  # cumulative counts
        self.used_tokens = 0  # input tokens of the indexed shards' sequences
        self.scanned_tokens = 0  # tokens of the indexed shards
        self._cache = OrderedDict()
        self._cached_shards = cached_shards

    @property
    def complete(self):
        return len(self.counts) == len(self.paths)

    @property
    def total(self):
        """Sequences of the shards indexed so far."""
        return self.offsets[-1]

    def starts(self, index):
        """Sequence starts of shard ``index`` (indexing it if it is next)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        tokens = open_shard(self.paths[index])
        starts = bos_sequence_starts(tokens, self.bos_token, self.seq_len)
        if index == len(self.counts):  # first visit: record its count
            self.counts.append(len(starts))
            self.offsets.append(self.offsets[-1] + len(starts))
            self.used_tokens += len(starts) * self.seq_len
            self.scanned_tokens += len(tokens)
        self._cache[index] = starts
        while len(self._cache) > self._cached_shards:
            self._cache.popitem(last=False)
        return starts

    def index_until(self, n_sequences):
        """Index shards in order until ``n_sequences`` exist or none is left."""
        while self.total < n_sequences and not self.complete:
            self.starts(len(self.counts))
        return self.total

    def locate(self, j):
        """``(shard index, start position)`` of indexed sequence ``j``."""
        shard = int(np.searchsorted(self.offsets, j, side="right")) - 1
        return shard, int(self.starts(shard)[j - self.offsets[shard]])

    def coverage(self):
        """Fraction of the indexed tokens that are inputs of a sequence."""
        return self.used_tokens / max(1, self.scanned_tokens)


class BosAlignedOrder:
    """Fills one rank's step: ``out[j, 0]`` the inputs and ``out[j, 1]`` the
    targets of micro-batch ``j``, ``(B, T)`` each, so that both are
    contiguous views once on the device."""

    def __init__(
        self,
        paths,
        micro_batch_size,
        seq_len,
        accum,
        rank,
        world_size,
        repeat,
        bos_token,
    ):
        self.stream = TokenStream(paths)  # a bad file fails now, not at some step
        self.paths = self.stream.paths
        self.index = BosIndex(self.paths, bos_token, seq_len)
        self.micro_batch_size, self.seq_len = micro_batch_size, seq_len
        self.rank, self.world_size, self.accum = rank, world_size, accum
        self.repeat = repeat
        self.row_shape = (2, micro_batch_size, seq_len)

    def sequences_of(self, micro_step):
        """Global indices of this rank's sequences at ``micro_step`` (before
        wrapping around)."""
        first = (micro_step * self.world_size + self.rank) * self.micro_batch_size
        return np.arange(first, first + self.micro_batch_size, dtype=np.int64)

    def fill(self, step, out):
        for j in range(self.accum):
            self._fill_micro(step * self.accum + j, out[j])

    def _fill_micro(self, micro_step, out):
        index = self.index
        wanted = self.sequences_of(micro_step)
        available = index.index_until(int(wanted[-1]) + 1)
        if available <= wanted[-1]:  # every shard is indexed
            if available == 0:
                raise DataExhaustedError(
                    f"no BOS-aligned sequence of {self.seq_len + 1} tokens: "
                    f"the {len(self.paths)} shard(s) contain no document "
                    f"separator {index.bos_token} followed by {self.seq_len} "
                    "tokens in the same shard; choose data_order='track3' or "
                    "'contiguous', or a shorter seq_len"
                )
            if not self.repeat:
                raise DataExhaustedError(
                    f"training data exhausted at micro-step {micro_step}: "
                    f"BOS-aligned batches need sequence {int(wanted[-1])} but "
                    f"the shards hold {available} sequences of {self.seq_len} "
                    f"tokens starting at a document boundary (they use "
                    f"{index.coverage():.0%} of the tokens: the tails of "
                    "documents cut at a sequence end are skipped). Provide "
                    "more training shards, lower the step budget, or set the "
                    "dataset's repeat_data=True."
                )
            wanted = wanted % available
        span = np.arange(self.seq_len + 1, dtype=np.int64)
        located = [index.locate(int(j)) for j in wanted]
        for shard in sorted({s for s, _ in located}):
            tokens = self.stream.shard(shard)
            which = [i for i, (s, _) in enumerate(located) if s == shard]
            starts = np.array([located[i][1] for i in which], dtype=np.int64)
            rows = tokens[starts[:, None] + span]
            out[0, which] = rows[:, :-1]
            out[1, which] = rows[:, 1:]
