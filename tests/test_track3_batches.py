"""Independent reference tests for the Track 3 training order.

The reference generator below is written from the published script
(modded-nanogpt ``records/track_3_optimization/train_gpt_simple.py``, its
``distributed_data_generator``):

- training shards in sorted order, starting from the first;
- a step of B tokens (global) reads the contiguous slice ``[pos, pos + B + 1)``
  of the current shard, then ``pos += B``;
- before each step, if ``pos + B + 1 >= len(shard)`` (strict: a slice that
  would end exactly at the end of the shard is not taken), the rest of the
  shard is skipped and the step starts at position 0 of the next shard, so a
  batch never spans two shards;
- rank r of W takes ``[pos + r*B/W, pos + (r+1)*B/W + 1)``: inputs =
  slice[:-1], targets = slice[1:], as sequences of seq_len; within a rank,
  micro-batches of ``micro_batch_size`` sequences in order.

The loader under test: ``BatchLoader(paths, micro_batch_size, seq_len, rank,
world_size, device, order="track3", batch_tokens=B)``; micro-step k is step
``k // accum``, micro-batch ``k % accum``, accum = B / (W * mbs * seq_len).
"""

import random

import numpy as np
import pytest
import torch

from benchmark_utils.data.loader import BatchLoader, DataExhaustedError
from benchmark_utils.data.shards import write_shard

SEQ = 8
B = 256  # global batch in tokens: 32 sequences of 8


def shard_lengths(B):
    """Uneven shards that exercise every case of the rule, for batch B.
    Returned with the number of steps each one serves."""
    return [
        # steps at 0, B, 2B; at 3B: 3B + B + 1 > len -> skip the rest
        (3 * B + 57, 3),
        # step at 0; at B: B + B + 1 == len exactly -> skipped (strict >=)
        (2 * B + 1, 1),
        # just long enough for one step (B + 1 < B + 2)
        (B + 2, 1),
        # steps at 0..4B (4B + B + 1 < 5B + 44); at 5B: skip
        (5 * B + 44, 5),
        # steps at 0 and B (B + B + 1 < 2B + 2): the tight fit at pos > 0
        (2 * B + 2, 2),
        # steps at 0 and B; at 2B: 3B + 1 >= 2B + 188 -> data exhausted
        (2 * B + 188, 2),
    ]


def make_shards(directory, lengths, seed=0):
    """Shards of random uint16 tokens (the full range, so that ids above
    32767 must survive the int64 conversion). Returns (sorted paths, arrays)."""
    rng = np.random.default_rng(seed)
    paths, arrays = [], []
    for i, n in enumerate(lengths):
        tokens = rng.integers(0, 65536, size=n, dtype=np.int64)
        path = directory / f"fineweb_train_{i + 1:06d}.bin"
        write_shard(path, tokens.astype(np.uint16))
        paths.append(path)
        arrays.append(tokens)
    return paths, arrays


# --------------------------------------------------------------------------
# The reference, written from the description
# --------------------------------------------------------------------------


def reference_step_starts(lengths, B):
    """(shard index, pos) of every step, until the data runs out."""
    starts = []
    shard, pos = 0, 0
    while True:
        if pos + B + 1 >= lengths[shard]:
            # skip the rest of the shard; the step starts the next one
            shard, pos = shard + 1, 0
            if shard == len(lengths):
                return starts
            # The description does not re-check the new shard (neither does
            # the original, which would fail on a shard shorter than B + 1);
            # the shards of these tests always hold a step.
            assert lengths[shard] >= B + 1, "test shards must hold one step"
        starts.append((shard, pos))
        pos += B


def reference_rank_step(arrays, start, B, world_size, rank, seq_len):
    """(inputs, targets) of one rank for the step starting at ``start``, as
    arrays of shape (B / W / seq_len, seq_len)."""
    shard, pos = start
    local = B // world_size
    buf = arrays[shard][pos + rank * local : pos + (rank + 1) * local + 1]
    assert len(buf) == local + 1
    return buf[:-1].reshape(-1, seq_len), buf[1:].reshape(-1, seq_len)


def reference_micro_batches(arrays, lengths, B, world_size, rank, mbs, seq_len):
    """Every micro-batch of one rank, in order, as (inputs, targets) arrays
    of shape (mbs, seq_len)."""
    out = []
    for start in reference_step_starts(lengths, B):
        x, y = reference_rank_step(arrays, start, B, world_size, rank, seq_len)
        for j in range(0, len(x), mbs):
            out.append((x[j : j + mbs], y[j : j + mbs]))
    return out


def test_reference_follows_the_description():
    """Sanity check of the reference itself on the shard layout."""
    lengths = [n for n, _ in shard_lengths(B)]
    starts = reference_step_starts(lengths, B)
    steps_per_shard = [sum(1 for s, _ in starts if s == i) for i in range(len(lengths))]
    assert steps_per_shard == [k for _, k in shard_lengths(B)]
    for shard, pos in starts:
        assert pos % B == 0 and pos + B + 1 < lengths[shard]


# --------------------------------------------------------------------------
# The loader against the reference
# --------------------------------------------------------------------------


def loader_for(paths, mbs, rank, world_size, batch_tokens=B, seq_len=SEQ):
    return BatchLoader(
        paths,
        mbs,
        seq_len,
        rank=rank,
        world_size=world_size,
        device="cpu",
        order="track3",
        batch_tokens=batch_tokens,
    )


def assert_batch_equal(got, want, where):
    x, y = got
    wx, wy = want
    for t in (x, y):
        assert isinstance(t, torch.Tensor), where
        assert t.dtype == torch.int64, where
        assert t.device.type == "cpu", where
        assert tuple(t.shape) == wx.shape, where
    assert np.array_equal(x.numpy(), wx), f"inputs differ at {where}"
    assert np.array_equal(y.numpy(), wy), f"targets differ at {where}"


# (world_size, micro_batch_size): accumulation 1, 2, 4 and 8
CONFIGS = [(1, 32), (1, 8), (1, 4), (2, 16), (2, 4), (4, 2), (8, 4), (8, 2)]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    lengths = [n for n, _ in shard_lengths(B)]
    paths, arrays = make_shards(tmp_path_factory.mktemp("track3_shards"), lengths)
    return paths, arrays, lengths


@pytest.mark.parametrize("world_size, mbs", CONFIGS)
def test_every_micro_batch_of_every_rank_matches_the_reference(shards, world_size, mbs):
    paths, arrays, lengths = shards
    accum = B // (world_size * mbs * SEQ)
    n_steps = len(reference_step_starts(lengths, B))
    assert n_steps == 14  # crosses 5 shard boundaries
    for rank in range(world_size):
        want = reference_micro_batches(arrays, lengths, B, world_size, rank, mbs, SEQ)
        assert len(want) == n_steps * accum
        # sequential
        loader = loader_for(paths, mbs, rank, world_size)
        for k, w in enumerate(want):
            assert_batch_equal(loader.next_batch(), w, f"rank {rank} next_batch {k}")
        # random access, in shuffled order, on a fresh loader
        loader = loader_for(paths, mbs, rank, world_size)
        order = list(range(len(want)))
        random.Random(world_size * 100 + mbs * 10 + rank).shuffle(order)
        for k in order:
            assert_batch_equal(loader.batch_at(k), want[k], f"rank {rank} batch_at {k}")


@pytest.mark.parametrize("world_size, mbs", CONFIGS)
def test_micro_step_numbering(shards, world_size, mbs):
    """Micro-step k is micro-batch k % accum of step k // accum."""
    paths, arrays, lengths = shards
    accum = B // (world_size * mbs * SEQ)
    starts = reference_step_starts(lengths, B)
    rank = world_size - 1
    loader = loader_for(paths, mbs, rank, world_size)
    for step in (0, 3, 4, 5, 13):  # around the shard boundaries, and the last
        x, y = reference_rank_step(arrays, starts[step], B, world_size, rank, SEQ)
        for j in range(accum):
            got = loader.batch_at(step * accum + j)
            want = (x[j * mbs : (j + 1) * mbs], y[j * mbs : (j + 1) * mbs])
            assert_batch_equal(got, want, f"step {step} micro-batch {j}")


@pytest.mark.parametrize("world_size, mbs", [(2, 4), (2, 16), (4, 2), (8, 2), (8, 4)])
def test_union_over_ranks_is_the_single_rank_step(shards, world_size, mbs):
    """Same global batch whatever W: the ranks' micro-batches of a step,
    stacked rank by rank, equal the world-size-1 step."""
    paths, _, lengths = shards
    n_steps = len(reference_step_starts(lengths, B))
    accum = B // (world_size * mbs * SEQ)
    single = loader_for(paths, B // SEQ, 0, 1)  # whole step in one micro-batch
    loaders = [loader_for(paths, mbs, r, world_size) for r in range(world_size)]
    for step in range(n_steps):
        sx, sy = single.batch_at(step)
        parts = [
            loaders[r].batch_at(step * accum + j)
            for r in range(world_size)
            for j in range(accum)
        ]
        assert torch.equal(torch.cat([p[0] for p in parts]), sx), step
        assert torch.equal(torch.cat([p[1] for p in parts]), sy), step
        # targets are inputs shifted by one token along the global slice
        assert torch.equal(sx.flatten()[1:], sy.flatten()[:-1]), step


@pytest.mark.parametrize("world_size, mbs", [(1, 32), (1, 4), (2, 4), (8, 2)])
def test_running_past_the_data_raises(shards, world_size, mbs):
    paths, _, lengths = shards
    accum = B // (world_size * mbs * SEQ)
    n_micro = len(reference_step_starts(lengths, B)) * accum
    for rank in range(world_size):
        loader = loader_for(paths, mbs, rank, world_size)
        for _ in range(n_micro):
            loader.next_batch()
        with pytest.raises(DataExhaustedError):
            loader.next_batch()
        fresh = loader_for(paths, mbs, rank, world_size)
        fresh.batch_at(n_micro - 1)
        for k in (n_micro, n_micro + accum - 1, n_micro + 10 * accum):
            with pytest.raises(DataExhaustedError):
                fresh.batch_at(k)


def test_exact_fit_at_the_end_of_the_shard_is_skipped(tmp_path):
    """One shard of 2B + 1 tokens then one of 2B + 2: the second step of the
    first shard would end exactly at its end (pos + B + 1 == len) and is not
    taken; the next step starts the second shard, which serves two steps."""
    paths, arrays = make_shards(tmp_path, [2 * B + 1, 2 * B + 2], seed=1)
    loader = loader_for(paths, B // SEQ, 0, 1)
    x, y = loader.batch_at(0)
    assert np.array_equal(x.numpy().ravel(), arrays[0][:B])
    x, y = loader.batch_at(1)
    assert np.array_equal(x.numpy().ravel(), arrays[1][:B])
    assert np.array_equal(y.numpy().ravel(), arrays[1][1 : B + 1])
    x, y = loader.batch_at(2)
    assert np.array_equal(x.numpy().ravel(), arrays[1][B : 2 * B])
    assert np.array_equal(y.numpy().ravel(), arrays[1][B + 1 : 2 * B + 1])
    with pytest.raises(DataExhaustedError):
        loader.batch_at(3)


@pytest.mark.parametrize("world_size, mbs", [(8, 64), (4, 64), (1, 64)])
def test_track3_sizes(tmp_path, world_size, mbs):
    """The real numbers: B = 524,288 = 512 x 1024, micro-batches of 64
    sequences (accumulation 1, 2 and 8), on two small shards; the first ends
    with the exact-fit case."""
    big_b, seq = 8 * 64 * 1024, 1024
    lengths = [2 * big_b + 1, big_b + 5000]
    paths, arrays = make_shards(tmp_path, lengths, seed=2)
    starts = reference_step_starts(lengths, big_b)
    assert starts == [(0, 0), (1, 0)]
    accum = big_b // (world_size * mbs * seq)
    for rank in (0, world_size - 1):
        want = reference_micro_batches(
            arrays, lengths, big_b, world_size, rank, mbs, seq
        )
        assert len(want) == 2 * accum
        loader = loader_for(
            paths, mbs, rank, world_size, batch_tokens=big_b, seq_len=seq
        )
        for k, w in enumerate(want):
            assert_batch_equal(loader.next_batch(), w, f"rank {rank} micro-step {k}")
        with pytest.raises(DataExhaustedError):
            loader.next_batch()
