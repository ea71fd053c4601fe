"""The ``track3`` data order: modded-nanogpt Track 3's, token for token.

As ``distributed_data_generator`` of ``records/track_3_optimization/
train_gpt_simple.py`` (github.com/KellerJordan/modded-nanogpt) reads it:
shards in order; a step of ``B`` tokens (the global batch) reads the slice
``[pos, pos + B + 1)`` of the current shard, then ``pos += B``; when
``pos + B + 1 >= len(shard)`` the rest of the shard is skipped and the step
starts at position 0 of the next shard (a batch never spans two shards).
Rank ``r`` of ``W`` takes ``buf = tokens[pos + r*B/W:][:B/W + 1]``, inputs
``buf[:-1]`` and targets ``buf[1:]``, which the trainer splits into
``accum`` micro-batches of ``micro_batch_size`` sequences, in order.

Edge cases that 100M-token shards never meet: a shard shorter than
``B + 2`` tokens holds no step here and is skipped, where the reference
crashes or, for exactly ``B + 1`` tokens after a skip, takes one step.
Steps are located in closed form (:class:`Track3Plan`), so any step is read
directly: a run resumes exactly, and ranks need no shared state.
"""

import numpy as np

from .contiguous import TokenStream
from .errors import DataExhaustedError
from .shards import read_header


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


class Track3Order:
    """Fills one rank's step: row ``j`` holds the ``B*T + 1`` tokens of its
    micro-batch ``j``, i.e. ``buf[j*B*T : (j+1)*B*T + 1]`` of the
    reference's ``buf``."""

    def __init__(
        self,
        paths,
        micro_batch_size,
        seq_len,
        accum,
        rank,
        world_size,
        repeat,
        batch_tokens,
    ):
        rank_tokens = micro_batch_size * seq_len
        self.stream = TokenStream(paths)  # checks every header once
        self.plan = Track3Plan(self.stream.paths, batch_tokens)
        self.rank_tokens = rank_tokens
        self.local_tokens = batch_tokens // world_size
        self.rank, self.accum, self.repeat = rank, accum, repeat
        self.row_shape = (rank_tokens + 1,)
        if self.plan.total_steps == 0:
            raise DataExhaustedError(
                f"no training shard holds one Track 3 step of "
                f"{batch_tokens + 2:,} tokens (global batch + 2): the "
                f"{len(self.plan.paths)} shard(s) are too small for this batch; "
                "provide larger shards or lower batch_tokens"
            )

    def fill(self, step, out):
        plan = self.plan
        if step >= plan.total_steps:
            if not self.repeat:
                raise DataExhaustedError(
                    f"training data exhausted at step {step}: in Track 3's "
                    f"order the {len(plan.paths)} shard(s) hold "
                    f"{plan.total_steps} steps of {plan.batch_tokens:,} tokens "
                    "(each shard's tail shorter than a step is skipped). "
                    "Provide more training shards, lower the step count, or "
                    "set the dataset's repeat_data=True."
                )
            step %= plan.total_steps
        shard, pos = plan.locate(step)
        tokens = self.stream.shard(shard)
        buf = tokens[pos + self.rank * self.local_tokens :][: self.local_tokens + 1]
        for j in range(self.accum):
            out[j] = buf[j * self.rank_tokens : (j + 1) * self.rank_tokens + 1]
