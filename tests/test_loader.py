import tracemalloc

import numpy as np
import pytest
import torch

from benchmark_utils.data.contiguous import TokenStream
from benchmark_utils.data.loader import BatchLoader, DataExhaustedError
from benchmark_utils.data.shards import write_shard
from benchmark_utils.errors import UserError


def contiguous(paths, mbs, seq_len, world_size=1, accum=1, **kwargs):
    return BatchLoader(
        paths,
        mbs,
        seq_len,
        order="contiguous",
        batch_tokens=accum * world_size * mbs * seq_len,
        world_size=world_size,
        **kwargs,
    )


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
    out = stream.read_into(990, np.empty(1400, dtype=np.int32))
    np.testing.assert_array_equal(out, np.arange(990, 2390))
    with pytest.raises(DataExhaustedError):
        stream.read_into(4000, np.empty(400, dtype=np.int32))


def test_batches_are_deterministic_and_resumable(shards):
    a = contiguous(shards, 4, 16)
    first = [a.next_batch() for _ in range(10)]
    b = contiguous(shards, 4, 16)
    again = [b.next_batch() for _ in range(10)]
    resumed = contiguous(shards, 4, 16)
    resumed.micro_step = 6
    for (x1, y1), (x2, y2) in zip(first, again):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x, y = resumed.next_batch()
    assert torch.equal(x, first[6][0]) and torch.equal(y, first[6][1])
    x, y = contiguous(shards, 4, 16).batch_at(7)  # random access
    assert torch.equal(x, first[7][0]) and torch.equal(y, first[7][1])


@pytest.mark.parametrize("accum", [2, 3])
def test_a_step_read_at_once_gives_the_same_micro_batches(shards, accum):
    """Micro-batches come from one buffer per step (accum of them): the
    same tokens, in the same order, as one micro-batch at a time; each is a
    view of the step's buffer."""
    one = contiguous(shards, 2, 16)
    grouped = contiguous(shards, 2, 16, accum=accum)
    assert grouped.accum == accum
    batches = [grouped.next_batch() for _ in range(2 * accum)]
    for k, (x, y) in enumerate(batches):
        wx, wy = one.batch_at(k)
        assert torch.equal(x, wx) and torch.equal(y, wy)
        assert torch.equal(grouped.batch_at(k)[0], x)
    step_storage = {x.untyped_storage().data_ptr() for x, _ in batches[:accum]}
    assert len(step_storage) == 1


def test_targets_are_inputs_shifted_by_one(shards):
    x, y = contiguous(shards, 2, 8).next_batch()
    assert x.shape == y.shape == (2, 8) and x.dtype == torch.int64
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)
    assert torch.equal(flat_y[:-1], flat_x[1:])


@pytest.mark.parametrize("world_size", [1, 2])
def test_no_gap_no_overlap_across_steps_and_ranks(shards, world_size):
    B, T, steps = 3, 16, 20
    loaders = [contiguous(shards, B, T, world_size, rank=r) for r in range(world_size)]
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
    loader = contiguous(shards, 4, 256)
    for _ in range(4):
        loader.next_batch()
    with pytest.raises(DataExhaustedError, match="training data exhausted") as info:
        loader.next_batch()
    assert isinstance(info.value, UserError) and "repeat_data=True" in str(info.value)


def test_repeat_wraps_around(shards):
    loader = contiguous(shards, 4, 256, repeat=True)
    for _ in range(4):
        loader.next_batch()
    x, _ = loader.next_batch()  # starts at 4096, wraps after 4337
    assert x[0, 0].item() == 4096 and x.reshape(-1)[241].item() == 0


def test_invalid_settings(shards):
    with pytest.raises(UserError, match="rank 2"):
        contiguous(["unused"], 1, 1, 2, rank=2)
    with pytest.raises(UserError, match="multiple of world_size"):
        BatchLoader(shards, 4, 16, order="contiguous", batch_tokens=100)
    with pytest.raises(UserError, match="data_order='shuffled': choose one of"):
        BatchLoader(shards, 4, 16, order="shuffled", batch_tokens=64)


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
        loader = contiguous(paths, 8, 128)
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("order", ["track3", "contiguous"])
def test_cuda_steps_are_one_copy_and_equal_the_cpu_batches(shards, order):
    """On CUDA a step is one page-locked int32 buffer, copied once and
    converted to int64 on the device; with two host buffers alternating,
    a step read while the previous copy may be in flight stays correct."""
    accum = 2
    kwargs = dict(order=order, batch_tokens=accum * 2 * 16)
    cpu = BatchLoader(shards, 2, 16, **kwargs)
    gpu = BatchLoader(shards, 2, 16, device="cuda", **kwargs)
    for k in range(6 * accum):
        x, y = gpu.next_batch()
        assert x.device.type == "cuda" and x.dtype == torch.int64
        wx, wy = cpu.batch_at(k)
        assert torch.equal(x.cpu(), wx) and torch.equal(y.cpu(), wy)
    assert len(gpu._host) == 2 and all(b.is_pinned() for b, _ in gpu._host)
