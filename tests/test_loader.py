import tracemalloc

import numpy as np
import pytest
import torch

from benchmark_utils.loader import BatchLoader, DataExhaustedError, TokenStream
from benchmark_utils.shards import write_shard


@pytest.fixture
def shards(tmp_path):
    """Three shards of unequal sizes holding the stream 0, 1, 2, ..."""
    sizes = [1000, 1337, 2000]
    paths, start = [], 0
    for i, n in enumerate(sizes):
        paths.append(
            write_shard(
                tmp_path / f"s_{i:06d}.bin", np.arange(start, start + n) % 65536
            )
        )
        start += n
    return paths


def test_stream_reads_across_shard_boundaries(shards):
    stream = TokenStream(shards)
    assert stream.total_tokens == 4337
    np.testing.assert_array_equal(stream.read(990, 1400), np.arange(990, 2390))
    with pytest.raises(DataExhaustedError):
        stream.read(4000, 400)


def test_batches_are_deterministic_and_resumable(shards):
    a = BatchLoader(shards, micro_batch_size=4, seq_len=16)
    first = [a.next_batch() for _ in range(10)]
    b = BatchLoader(shards, micro_batch_size=4, seq_len=16)
    again = [b.next_batch() for _ in range(10)]
    resumed = BatchLoader(shards, micro_batch_size=4, seq_len=16, start_micro_step=6)
    for (x1, y1), (x2, y2) in zip(first, again):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x, y = resumed.next_batch()
    assert torch.equal(x, first[6][0]) and torch.equal(y, first[6][1])


def test_targets_are_inputs_shifted_by_one(shards):
    x, y = BatchLoader(shards, micro_batch_size=2, seq_len=8).next_batch()
    assert x.shape == y.shape == (2, 8) and x.dtype == torch.int64
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)
    assert torch.equal(flat_y[:-1], flat_x[1:])


@pytest.mark.parametrize("world_size", [1, 2])
def test_no_gap_no_overlap_across_steps_and_ranks(shards, world_size):
    B, T, steps = 3, 16, 20
    loaders = [
        BatchLoader(shards, B, T, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    seen = []
    for _ in range(steps):
        for loader in loaders:
            x, _ = loader.next_batch()
            seen.append(x.reshape(-1).numpy())
    seen = np.concatenate(seen)
    # The stream holds 0, 1, 2, ...: every input token appears exactly once,
    # in order, and steps x ranks tile the stream with no gap.
    np.testing.assert_array_equal(seen, np.arange(steps * world_size * B * T))


def test_exhausted_stream_gives_a_clear_error(shards):
    loader = BatchLoader(shards, micro_batch_size=4, seq_len=256)
    for _ in range(4):
        loader.next_batch()
    with pytest.raises(DataExhaustedError, match="training data exhausted"):
        loader.next_batch()


def test_repeat_wraps_around(shards):
    loader = BatchLoader(shards, micro_batch_size=4, seq_len=256, repeat=True)
    for _ in range(4):
        loader.next_batch()
    x, _ = loader.next_batch()  # starts at 4096, wraps after 4337
    assert x[0, 0].item() == 4096 and x.reshape(-1)[241].item() == 0


def test_invalid_rank():
    with pytest.raises(ValueError, match="rank 2"):
        BatchLoader(["unused"], 1, 1, rank=2, world_size=2)


def test_memory_does_not_grow_with_the_number_of_shards(tmp_path):
    """Python-side allocations (numpy reports to tracemalloc) stay at the
    size of a batch whether the stream has 4 or 40 shards: shards are
    memory-mapped, never loaded."""

    def peak_for(n_shards):
        folder = tmp_path / str(n_shards)
        paths = [
            write_shard(folder / f"s{i:03d}.bin", np.full(50_000, i, dtype=np.uint16))
            for i in range(n_shards)
        ]
        loader = BatchLoader(paths, micro_batch_size=8, seq_len=128)
        n_steps = (n_shards * 50_000 - 1) // (8 * 128)
        tracemalloc.start()
        for _ in range(n_steps):
            loader.next_batch()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak, loader

    small, _ = peak_for(4)
    large, loader = peak_for(40)
    shard_bytes = 50_000 * 2
    assert large < shard_bytes, large  # never a whole shard in memory
    assert large < 2 * small + 50_000, (small, large)
