"""Deterministic, resumable batches from a contiguous stream of shards.

The training stream is the concatenation of the ordered shards. Micro-step
``k`` of rank ``r`` out of ``world_size`` reads ``B*T + 1`` tokens starting at
``(k * world_size + r) * B * T``: inputs never overlap and leave no gap,
across steps and across ranks, and the position depends only on ``k`` so a run
resumes exactly from any step.
"""

import numpy as np
import torch

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
            out[filled:filled + take] = tokens[local:local + take]
            filled += take
            index += 1
        return out


class BatchLoader:
    """Micro-batches ``(inputs, targets)`` of shape ``(B, T)`` for one rank.

    ``repeat=True`` wraps around the stream (epochs) instead of raising
    :class:`DataExhaustedError` when the shards run out.
    """

    def __init__(self, paths, micro_batch_size, seq_len, rank=0, world_size=1,
                 device="cpu", start_micro_step=0, repeat=False,
                 bos_aligned=False, bos_token=None):
        if bos_aligned:
            raise NotImplementedError("BOS-aligned batches are not available yet")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.stream = TokenStream(paths)
        self.micro_batch_size = int(micro_batch_size)
        self.seq_len = int(seq_len)
        self.rank = rank
        self.world_size = world_size
        self.device = torch.device(device)
        self.micro_step = int(start_micro_step)
        self.repeat = repeat
        self.rank_tokens = self.micro_batch_size * self.seq_len
        if self.rank_tokens + 1 > self.stream.total_tokens:
            raise DataExhaustedError(
                f"one micro-batch needs {self.rank_tokens + 1} tokens but the "
                f"shards hold only {self.stream.total_tokens}"
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

    def batch_at(self, micro_step):
        """CPU int64 tensors for ``micro_step``, without moving the position."""
        buf = torch.from_numpy(self._read(self.start_of(micro_step)))
        shape = (self.micro_batch_size, self.seq_len)
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
