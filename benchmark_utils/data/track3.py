"""The ``track3`` data order: modded-nanogpt Track 3's, token for token.

``distributed_data_generator`` of ``records/track_3_optimization/
train_gpt_simple.py`` (github.com/KellerJordan/modded-nanogpt) reads the
shards in order; before each step of ``batch_size`` tokens, if ``pos +
batch_size + 1 >= len(tokens)`` the rest of the shard is skipped and the step
starts at position 0 of the next one; rank ``r`` takes ``buf = tokens[pos + r
* local_batch_size:][:local_batch_size + 1]``, inputs ``buf[:-1]``, targets
``buf[1:]``; then ``pos += batch_size``. :meth:`Track3Plan.buf` is that
generator's step, located in closed form: any step is read directly, so a run
resumes exactly and ranks share no state. A shard shorter than
``batch_size + 2`` tokens holds no step here (where the reference crashes).
"""

from .contiguous import TokenStream, cumulative, exhausted, locate
from .errors import DataExhaustedError


def track3_steps_in_shard(n_tokens, batch_tokens):
    """Steps the generator takes from a shard of ``n_tokens``: those at
    ``pos = k * batch_tokens`` with ``pos + batch_tokens + 1 < n_tokens``."""
    return max(0, -(-(n_tokens - batch_tokens - 1) // batch_tokens))


def track3_tokens_needed(n_steps, batch_tokens, shard_tokens=None):
    """Training tokens ``n_steps`` read: whole shards of ``shard_tokens``
    (each shard's tail shorter than a step is skipped), or ``n_steps x
    batch_tokens + 1`` when the shard size is unknown."""
    tokens = n_steps * batch_tokens + 1
    per_shard = track3_steps_in_shard(shard_tokens or 0, batch_tokens)
    if per_shard:
        tokens = max(tokens, -(-n_steps // per_shard) * shard_tokens)
    return tokens


class Track3Plan:
    """Track 3's order for rank ``rank`` of ``world_size``; ``total_steps``:
    the steps the shards hold."""

    def __init__(self, paths, batch_tokens, rank=0, world_size=1, repeat=False):
        self.stream = TokenStream(paths)
        self.batch_size = int(batch_tokens)
        self.local_batch_size = self.batch_size // world_size
        self.rank, self.repeat = rank, repeat
        steps = [track3_steps_in_shard(n, self.batch_size) for n in self.stream.counts]
        self.offsets = cumulative(steps)
        self.total_steps = int(self.offsets[-1])

    def buf(self, step):
        """This rank's tokens of ``step``: the reference's ``buf = tokens[pos +
        rank * local_batch_size:][:local_batch_size + 1]``."""
        if step >= self.total_steps:
            step = self._wrap(step)
        shard, k = locate(self.offsets, step)
        tokens, pos = self.stream.shard(shard), k * self.batch_size
        start = pos + self.rank * self.local_batch_size
        return tokens[start : start + self.local_batch_size + 1]

    def fill(self, step, out):
        """Row ``j`` of ``out``: micro-batch ``j``, ``buf[j*n : (j+1)*n + 1]``
        with ``n = micro_batch_size x seq_len``."""
        buf, n = self.buf(step), out.shape[1] - 1
        for j in range(len(out)):
            out[j] = buf[j * n : (j + 1) * n + 1]

    def _wrap(self, step):
        n_shards = len(self.stream.paths)
        if self.total_steps == 0:
            raise DataExhaustedError(
                f"no training shard holds one Track 3 step of "
                f"{self.batch_size + 2:,} tokens (global batch + 2): the "
                f"{n_shards} shard(s) are too small for this batch; provide "
                "larger shards or lower batch_tokens"
            )
        if not self.repeat:
            raise exhausted(
                f"step {step}",
                f"in Track 3's order the {n_shards} shard(s) hold "
                f"{self.total_steps} steps of {self.batch_size:,} tokens (each "
                "shard's tail shorter than a step is skipped)",
            )
        return step % self.total_steps
