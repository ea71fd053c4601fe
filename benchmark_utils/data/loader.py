"""Deterministic, resumable batches from token shards, in one of three orders.

``order="track3"`` (the default problem) is modded-nanogpt Track 3's
generator, token for token: shards in order; a step of ``B`` tokens (the
global batch) reads the slice ``[pos, pos + B + 1)`` of the current shard,
then ``pos += B``; when ``pos + B + 1 >= len(shard)`` the rest of the shard is
skipped and the step starts at position 0 of the next shard (a batch never
spans two shards). Rank ``r`` of ``W`` takes ``[pos + r*B/W, pos + (r+1)*B/W
+ 1)`` and splits it into micro-batches of ``micro_batch_size`` sequences, in
order. (Edge cases that 100M-token shards never meet: a shard shorter than
``B + 2`` tokens holds no step here and is skipped, where the reference crashes
or, for exactly ``B + 1`` tokens after a skip, takes one step.)

``order="contiguous"``: the stream is the concatenation of the ordered shards.
Micro-step ``k`` of rank ``r`` out of ``world_size`` reads ``B*T + 1`` tokens
starting at
``(k * world_size + r) * B * T``: inputs never overlap and leave no gap,
across steps and across ranks, and the position depends only on ``k`` so a run
resumes exactly from any step. This contiguous stream is the reference
problem (modded-nanogpt, llm.c) and the benchmark default.

BOS-aligned batches (``order="bos_aligned"``) make every sequence start at a
document boundary, i.e. at a BOS token (``<|endoftext|>``, 50256, precedes
every document). Within each shard the sequence starts are chosen greedily:
the first start is the shard's first BOS, and each next start is the first BOS
at or after ``previous start + T``. A sequence holds ``T + 1`` consecutive
tokens, so it may run past the end of its first document into the next ones;
the tail of a document that a sequence cuts off is skipped (it does not begin
at a BOS), so every token is an input at most once per epoch but some tokens
are never used, and a BOS-aligned micro-step consumes more than ``B * T``
tokens of the shards. Sequences never cross a shard boundary. Sequence ``j``
of the resulting ordered list goes to micro-step ``k``, rank ``r``, row ``b``
when ``j = (k * world_size + r) * B + b``, the same slicing as the contiguous
mode, so batches depend only on ``k`` and a run resumes exactly. The sequence
starts of a shard are computed lazily when it is first needed (chunked scan of
the memory map, memory proportional to its documents) and only the last two
shards' starts are kept.
"""

from collections import OrderedDict

import numpy as np
import torch

from .documents import document_starts
from .shards import open_shard, read_header


class DataExhaustedError(ValueError):
    """The shards hold fewer tokens than the run asks for."""


class TokenStream:
    """Read any token range of the virtual concatenation of ordered shards.

    Shards are memory-mapped lazily and only the last one used stays open, so
    memory does not grow with the number of shards.
    """

    def __init__(self, paths):
        self.paths = [p for p in paths]
        if not self.paths:
            raise ValueError("no shard files given")
        counts = [read_header(p) for p in self.paths]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.total_tokens = int(self.offsets[-1])
        self._open_index = None
        self._open_tokens = None

    def _shard(self, index):
        if index != self._open_index:
            self._open_tokens = open_shard(self.paths[index])
            self._open_index = index
        return self._open_tokens

    def read(self, start, count):
        """Tokens ``[start, start + count)`` of the stream as int64."""
        if start < 0 or start + count > self.total_tokens:
            raise DataExhaustedError(
                f"token range [{start}, {start + count}) is outside the "
                f"{self.total_tokens} tokens of {len(self.paths)} shard(s)"
            )
        out = np.empty(count, dtype=np.int64)
        filled = 0
        index = int(np.searchsorted(self.offsets, start, side="right")) - 1
        while filled < count:
            local = start + filled - int(self.offsets[index])
            tokens = self._shard(index)
            take = min(count - filled, len(tokens) - local)
            out[filled : filled + take] = tokens[local : local + take]
            filled += take
            index += 1
        return out


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
            raise ValueError(
                "bos_aligned=True needs a document separator (bos_token), "
                "but none was given: this data has no documents"
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

    def _starts(self, index):
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
            self._starts(len(self.counts))
        return self.total

    def locate(self, j):
        """``(shard index, start position)`` of indexed sequence ``j``."""
        shard = int(np.searchsorted(self.offsets, j, side="right")) - 1
        return shard, int(self._starts(shard)[j - self.offsets[shard]])

    def coverage(self):
        """Fraction of the indexed tokens that are inputs of a sequence."""
        return self.used_tokens / max(1, self.scanned_tokens)


ORDERS = ("track3", "contiguous", "bos_aligned")


def track3_steps_in_shard(n_tokens, batch_tokens):
    """Steps Track 3's generator takes from a shard of ``n_tokens``: those
    at ``pos = k * B`` with ``pos + B + 1 < n_tokens``."""
    return max(0, -(-(n_tokens - batch_tokens - 1) // batch_tokens))


def track3_tokens_needed(n_steps, batch_tokens, shard_tokens=None):
    """Training tokens ``n_steps`` of Track 3's order read: whole shards of
    ``shard_tokens`` (each shard's tail shorter than a step is skipped), or
    ``n_steps x batch_tokens + 1`` when the shard size is unknown."""
    tokens = n_steps * batch_tokens + 1
    per_shard = track3_steps_in_shard(shard_tokens or 0, batch_tokens)
    if per_shard:
        tokens = max(tokens, -(-n_steps // per_shard) * shard_tokens)
    return tokens


class Track3Plan:
    """Where each step of Track 3's order starts: ``(shard, position)``."""

    def __init__(self, paths, batch_tokens):
        self.paths = list(paths)
        self.batch_tokens = int(batch_tokens)
        counts = [
            track3_steps_in_shard(read_header(p), self.batch_tokens) for p in self.paths
        ]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.total_steps = int(self.offsets[-1])

    def locate(self, step):
        shard = int(np.searchsorted(self.offsets, step, side="right")) - 1
        return shard, int(step - self.offsets[shard]) * self.batch_tokens


class BatchLoader:
    """Micro-batches ``(inputs, targets)`` of shape ``(B, T)`` for one rank.

    ``order``: ``track3`` (needs ``batch_tokens``, the global batch),
    ``contiguous`` or ``bos_aligned`` (see the module docstring).
    ``repeat=True`` wraps around the data (epochs) instead of raising
    :class:`DataExhaustedError` when the shards run out.
    """

    def __init__(
        self,
        paths,
        micro_batch_size,
        seq_len,
        rank=0,
        world_size=1,
        device="cpu",
        start_micro_step=0,
        repeat=False,
        bos_aligned=False,
        bos_token=None,
        order=None,
        batch_tokens=None,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        order = order or ("bos_aligned" if bos_aligned else "contiguous")
        if order not in ORDERS:
            raise ValueError(f"unknown order {order!r}: choose one of {ORDERS}")
        self.order = order
        bos_aligned = order == "bos_aligned"
        self.stream = TokenStream(paths)
        self.micro_batch_size = int(micro_batch_size)
        self.seq_len = int(seq_len)
        self.rank = rank
        self.world_size = world_size
        self.device = torch.device(device)
        self.micro_step = int(start_micro_step)
        self.repeat = repeat
        self.rank_tokens = self.micro_batch_size * self.seq_len
        self.bos_aligned = bool(bos_aligned)
        self.bos_index = (
            BosIndex(self.stream.paths, bos_token, self.seq_len)
            if self.bos_aligned
            else None
        )
        if self.rank_tokens + 1 > self.stream.total_tokens:
            raise DataExhaustedError(
                f"one micro-batch needs {self.rank_tokens + 1} tokens but the "
                f"shards hold only {self.stream.total_tokens}"
            )
        self.plan = None
        if order == "track3":
            if not batch_tokens or batch_tokens % (world_size * self.rank_tokens):
                raise ValueError(
                    f"order='track3' needs batch_tokens (the global batch, got "
                    f"{batch_tokens}) to be a multiple of world_size x "
                    f"micro_batch_size x seq_len = {world_size * self.rank_tokens}"
                )
            self.plan = Track3Plan(self.stream.paths, batch_tokens)
            self.local_tokens = batch_tokens // world_size
            self.accum = self.local_tokens // self.rank_tokens
            if self.plan.total_steps == 0:
                raise DataExhaustedError(
                    f"no shard holds one Track 3 step of {batch_tokens + 2} "
                    f"tokens (global batch + 2): the {len(self.stream.paths)} "
                    "shard(s) are too small for this batch"
                )

    def start_of(self, micro_step):
        """Stream position of this rank's first input token at ``micro_step``."""
        return (micro_step * self.world_size + self.rank) * self.rank_tokens

    def _read(self, start):
        count = self.rank_tokens + 1
        total = self.stream.total_tokens
        if start + count <= total:
            return self.stream.read(start, count)
        if not self.repeat:
            raise DataExhaustedError(
                f"training data exhausted at micro-step {self.micro_step}: "
                f"the run needs tokens up to {start + count} but the shards "
                f"hold {total}. Provide more training shards (a larger "
                "download or dataset) or lower the step budget."
            )
        start %= total
        first = min(count, total - start)
        head = self.stream.read(start, first)
        if first == count:
            return head
        return np.concatenate([head, self.stream.read(0, count - first)])

    def sequences_of(self, micro_step):
        """Global indices of this rank's BOS-aligned sequences at
        ``micro_step`` (before wrapping around)."""
        first = (micro_step * self.world_size + self.rank) * self.micro_batch_size
        return np.arange(first, first + self.micro_batch_size, dtype=np.int64)

    def _read_bos_aligned(self, micro_step):
        index = self.bos_index
        wanted = self.sequences_of(micro_step)
        available = index.index_until(int(wanted[-1]) + 1)
        if available <= wanted[-1]:  # every shard is indexed
            if available == 0:
                raise DataExhaustedError(
                    f"no BOS-aligned sequence of {self.seq_len + 1} tokens: "
                    f"the {len(self.stream.paths)} shard(s) contain no "
                    f"document separator {index.bos_token} followed by "
                    f"{self.seq_len} tokens in the same shard"
                )
            if not self.repeat:
                raise DataExhaustedError(
                    f"training data exhausted at micro-step {micro_step}: "
                    f"BOS-aligned batches need sequence {int(wanted[-1])} but "
                    f"the shards hold {available} sequences of {self.seq_len} "
                    f"tokens starting at a document boundary (they use "
                    f"{index.coverage():.0%} of the tokens: the tails of "
                    "documents cut at a sequence end are skipped). Provide "
                    "more training shards, lower the step budget, or repeat "
                    "the data."
                )
            wanted = wanted % available
        rows = np.empty((self.micro_batch_size, self.seq_len + 1), dtype=np.int64)
        span = np.arange(self.seq_len + 1, dtype=np.int64)
        located = [index.locate(int(j)) for j in wanted]
        for shard in sorted({s for s, _ in located}):
            tokens = self.stream._shard(shard)
            which = [i for i, (s, _) in enumerate(located) if s == shard]
            starts = np.array([located[i][1] for i in which], dtype=np.int64)
            rows[which] = tokens[starts[:, None] + span]
        return rows

    def _read_track3(self, micro_step):
        step, micro = divmod(micro_step, self.accum)
        plan = self.plan
        if step >= plan.total_steps:
            if not self.repeat:
                raise DataExhaustedError(
                    f"training data exhausted at step {step}: in Track 3's "
                    f"order the {len(plan.paths)} shard(s) hold "
                    f"{plan.total_steps} steps of {plan.batch_tokens:,} tokens "
                    "(each shard's tail shorter than a step is skipped). "
                    "Provide more training shards or lower the step count."
                )
            step %= plan.total_steps
        shard, pos = plan.locate(step)
        start = pos + self.rank * self.local_tokens + micro * self.rank_tokens
        tokens = self.stream._shard(shard)
        return np.asarray(tokens[start : start + self.rank_tokens + 1], dtype=np.int64)

    def batch_at(self, micro_step):
        """CPU int64 tensors for ``micro_step``, without moving the position."""
        shape = (self.micro_batch_size, self.seq_len)
        if self.order == "track3":
            buf = torch.from_numpy(self._read_track3(micro_step))
            return buf[:-1].view(shape), buf[1:].view(shape)
        if self.bos_aligned:
            rows = torch.from_numpy(self._read_bos_aligned(micro_step))
            return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
        buf = torch.from_numpy(self._read(self.start_of(micro_step)))
        return buf[:-1].view(shape), buf[1:].view(shape)

    def next_batch(self):
        """The next micro-batch on the loader's device."""
        x, y = self.batch_at(self.micro_step)
        self.micro_step += 1
        if self.device.type == "cuda":
            # Pinned memory allows asynchronous copies; pinning raises on a
            # CPU-only torch build, hence only here.
            x = x.pin_memory().to(self.device, non_blocking=True)
            y = y.pin_memory().to(self.device, non_blocking=True)
        return x, y
