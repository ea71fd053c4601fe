"""Deterministic, resumable micro-batches for one rank, in a data order:
``track3`` (:mod:`.track3`, the default), ``contiguous`` (:mod:`.contiguous`)
or ``bos_aligned`` (:mod:`.bos_aligned`). Micro-step ``k`` is micro-batch
``k % accum`` of step ``k // accum`` and its tokens depend only on ``k``.

A step's tokens are read into one host buffer of int32 (page-locked on CUDA),
sent to the device in one asynchronous copy and converted to int64 there; the
micro-batches are views of it. Two host buffers alternate, and one is refilled
only after its previous copy has finished (a CUDA event), so the CPU may run
ahead of the GPU.
"""

import numpy as np
import torch

from .bos_aligned import BosAlignedOrder, BosIndex  # noqa: F401 (public)
from .contiguous import ContiguousOrder
from .errors import DataError, DataExhaustedError  # noqa: F401 (public)
from .track3 import Track3Plan, track3_tokens_needed  # noqa: F401 (public)

ORDERS = ("track3", "contiguous", "bos_aligned")


class BatchLoader:
    """Micro-batches ``(inputs, targets)``, int64 of shape ``(B, T)``.

    ``batch_tokens``: the global batch in tokens; ``repeat``: wrap around the
    data (epochs) instead of raising :class:`DataExhaustedError`;
    ``bos_token``: the document separator ``order="bos_aligned"`` needs.
    """

    def __init__(
        self,
        paths,
        micro_batch_size,
        seq_len,
        *,
        order,
        batch_tokens,
        rank=0,
        world_size=1,
        device="cpu",
        repeat=False,
        bos_token=None,
    ):
        if not 0 <= rank < world_size:
            raise DataError(f"rank {rank} is not in [0, {world_size})")
        if order not in ORDERS:
            raise DataError(f"data_order={order!r}: choose one of {', '.join(ORDERS)}")
        self.micro_batch_size, self.seq_len = int(micro_batch_size), int(seq_len)
        per_micro = world_size * self.micro_batch_size * self.seq_len
        if not batch_tokens or batch_tokens % per_micro:
            raise DataError(
                f"batch_tokens={batch_tokens} must be a multiple of world_size "
                f"x micro_batch_size x seq_len = {world_size} x "
                f"{self.micro_batch_size} x {self.seq_len} = {per_micro}"
            )
        self.order = order
        self.accum = batch_tokens // per_micro
        self.device = torch.device(device)
        shape = (self.micro_batch_size, self.seq_len)
        if order == "track3":
            self.plan = Track3Plan(paths, batch_tokens, rank, world_size, repeat)
        elif order == "contiguous":
            self.plan = ContiguousOrder(paths, *shape, rank, world_size, repeat)
        else:
            args = (rank, world_size, repeat, bos_token)
            self.plan = BosAlignedOrder(paths, *shape, *args)
        row = (2, *shape) if order == "bos_aligned" else (shape[0] * shape[1] + 1,)
        self.step_shape = (self.accum, *row)
        self.micro_step = 0
        self._step = None  # the step whose micro-batches _views holds
        self._views = None
        self._host = []  # (buffer, event of its last copy): alternating
        self._turn = 0

    def _read_step(self, step, out=None):
        """This rank's tokens of ``step``: int32, ``step_shape``."""
        if out is None:
            out = np.empty(self.step_shape, dtype=np.int32)
        self.plan.fill(step, out)
        return out

    def _micro_views(self, buffer):
        """``[(x, y)]`` per micro-batch: views of one step's buffer."""
        if self.order == "bos_aligned":
            return [(row[0], row[1]) for row in buffer]
        shape = (self.micro_batch_size, self.seq_len)
        return [(row[:-1].view(shape), row[1:].view(shape)) for row in buffer]

    def batch_at(self, micro_step):
        """CPU int64 tensors of ``micro_step``, without moving the position."""
        step, micro = divmod(micro_step, self.accum)
        row = self._read_step(step)[micro : micro + 1]
        return self._micro_views(torch.from_numpy(row).to(torch.int64))[0]

    def _device_step(self, step):
        """One step's buffer on the loader's device, int64."""
        if self.device.type != "cuda":
            return torch.from_numpy(self._read_step(step)).to(torch.int64)
        if len(self._host) < 2:
            buffer = torch.empty(self.step_shape, dtype=torch.int32, pin_memory=True)
            self._host.append((buffer, None))
        buffer, event = self._host[self._turn]
        if event is not None:
            event.synchronize()  # its previous copy has left the buffer
        self._read_step(step, buffer.numpy())
        on_device = buffer.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))  # the copy's stream
        self._host[self._turn] = (buffer, event)
        self._turn = (self._turn + 1) % 2
        return on_device.to(torch.int64)

    def next_batch(self):
        """The next micro-batch, on the loader's device."""
        step, micro = divmod(self.micro_step, self.accum)
        if self._step != step:
            self._views = self._micro_views(self._device_step(step))
            self._step = step
        self.micro_step += 1
        return self._views[micro]
