"""BOS-aligned batches: every sequence starts at a document boundary."""

import numpy as np
import pytest
import torch

from benchmark_utils.data.loader import BatchLoader, DataExhaustedError
from benchmark_utils.data.shards import write_shard
from benchmark_utils.errors import UserError

BOS = 50256


def aligned(paths, mbs, seq_len, world_size=1, accum=1, **kwargs):
    kwargs.setdefault("bos_token", BOS)
    return BatchLoader(
        paths,
        mbs,
        seq_len,
        order="bos_aligned",
        batch_tokens=accum * world_size * mbs * seq_len,
        world_size=world_size,
        **kwargs,
    )


def make_docs(rng, n_docs, max_len):
    """Documents ``[BOS, tokens...]`` with lengths from 1 to ``max_len``."""
    lengths = rng.integers(1, max_len, size=n_docs)
    return [
        np.concatenate([[BOS], rng.integers(0, 1000, size=n)]).astype(np.uint16)
        for n in lengths
    ]


@pytest.fixture
def shards(tmp_path):
    """Three shards of a stream of documents; the second one starts in the
    middle of a document."""
    rng = np.random.default_rng(0)
    stream = np.concatenate(make_docs(rng, 400, 60))
    bos = np.flatnonzero(stream == BOS)
    long_doc = next(
        i for i in range(len(bos) - 1) if bos[i] > 4000 and bos[i + 1] - bos[i] > 10
    )
    cuts = [0, int(bos[long_doc]) + 5, 9000, len(stream)]
    paths, contents = [], []
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        paths.append(write_shard(tmp_path / f"doc_train_{i + 1:06d}.bin", stream[a:b]))
        contents.append(stream[a:b].astype(np.int64))
    assert contents[1][0] != BOS
    return paths, contents


def reference_starts(tokens, seq_len):
    """Greedy starts, written plainly: first BOS at or after the position,
    each sequence inside the shard, next search from start + seq_len."""
    starts, pos = [], 0
    bos_positions = [i for i, t in enumerate(tokens) if t == BOS]
    for i in bos_positions:
        if i >= pos and i + seq_len + 1 <= len(tokens):
            starts.append(i)
            pos = i + seq_len
    return starts


def reference_rows(contents, seq_len):
    return [
        tokens[s : s + seq_len + 1]
        for tokens in contents
        for s in reference_starts(tokens, seq_len)
    ]


@pytest.mark.parametrize("seq_len", [8, 32, 100])
def test_every_sequence_matches_the_reference(shards, seq_len):
    paths, contents = shards
    expected = reference_rows(contents, seq_len)
    batch = 4
    loader = aligned(paths, batch, seq_len)
    n_steps = len(expected) // batch
    assert n_steps >= 3
    for k in range(n_steps):
        x, y = loader.next_batch()
        assert x.shape == y.shape == (batch, seq_len)
        assert x.dtype == torch.int64 and x.is_contiguous() and y.is_contiguous()
        assert (x[:, 0] == BOS).all()  # BOS alignment holds for every row
        assert torch.equal(x[:, 1:], y[:, :-1])
        for b in range(batch):
            row = expected[k * batch + b]
            assert torch.equal(x[b], torch.from_numpy(row[:-1]))
            assert torch.equal(y[b], torch.from_numpy(row[1:]))
    with pytest.raises(DataExhaustedError, match="exhausted"):
        for _ in range(2):
            loader.next_batch()


def test_inputs_never_overlap_and_skip_only_cut_tails(shards):
    paths, contents = shards
    seq_len = 16
    loader = aligned(paths, 2, seq_len)
    index = loader.plan.index
    index.index_until(10**9)
    for shard, tokens in enumerate(contents):
        start = index.offsets[shard]
        starts = [index.locate(j)[1] for j in range(start, index.offsets[shard + 1])]
        assert np.all(np.diff(starts) >= seq_len)  # no input token used twice
        for a, b in zip(starts[:-1], starts[1:]):
            # greedy: no document starts between a + seq_len and b
            assert not np.any(tokens[a + seq_len : b] == BOS)
    assert 0 < index.coverage() <= 1
    assert len(index._cache) <= 2  # memory: start positions of two shards only


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_slice_the_single_rank_order(shards, world_size):
    paths, _ = shards
    seq_len, batch = 12, 2
    single = aligned(paths, batch, seq_len)
    ranks = [
        aligned(paths, batch, seq_len, world_size, rank=r) for r in range(world_size)
    ]
    for k in range(3):
        together = torch.cat([loader.batch_at(k)[0] for loader in ranks])
        expected = torch.cat(
            [single.batch_at(k * world_size + r)[0] for r in range(world_size)]
        )
        assert torch.equal(together, expected)


def test_deterministic_and_resumable(shards):
    paths, _ = shards
    first = aligned(paths, 3, 20)
    batches = [first.next_batch() for _ in range(6)]
    resumed = aligned(paths, 3, 20)
    resumed.micro_step = 4
    for k in (4, 5):
        x, y = resumed.next_batch()
        assert torch.equal(x, batches[k][0]) and torch.equal(y, batches[k][1])
    # batch_at does not move the position and does not depend on history
    fresh = aligned(paths, 3, 20)
    assert torch.equal(fresh.batch_at(5)[0], batches[5][0])
    assert fresh.micro_step == 0


def test_repeat_wraps_around_epochs(shards):
    paths, contents = shards
    seq_len = 50
    total = len(reference_rows(contents, seq_len))
    loader = aligned(paths, 1, seq_len, repeat=True)
    first_epoch = [loader.batch_at(k)[0] for k in range(total)]
    for k in range(3):
        assert torch.equal(loader.batch_at(total + k)[0], first_epoch[k])
    no_repeat = aligned(paths, 1, seq_len)
    with pytest.raises(DataExhaustedError, match="document boundary"):
        no_repeat.batch_at(total)


def test_contiguous_default_is_unchanged(shards):
    paths, contents = shards
    stream = np.concatenate(contents)
    loader = BatchLoader(paths, 2, 10, order="contiguous", batch_tokens=20)
    x, y = loader.batch_at(3)
    expected = torch.from_numpy(stream[60 : 60 + 21])
    assert torch.equal(x.reshape(-1), expected[:-1])
    assert torch.equal(y.reshape(-1), expected[1:])


def test_clear_errors_without_documents(tmp_path):
    path = write_shard(tmp_path / "x_train_000001.bin", np.arange(500) % 300)
    with pytest.raises(UserError, match="document separator"):
        aligned([path], 2, 8, bos_token=None)
    loader = aligned([path], 2, 8)
    with pytest.raises(DataExhaustedError, match="no BOS-aligned sequence"):
        loader.batch_at(0)


def test_a_step_read_at_once_gives_the_same_micro_batches(shards):
    paths, _ = shards
    one = aligned(paths, 2, 12)
    grouped = aligned(paths, 2, 12, accum=3)
    for k in range(6):
        x, y = grouped.next_batch()
        assert x.is_contiguous() and y.is_contiguous()
        assert torch.equal(x, one.batch_at(k)[0]) and torch.equal(y, one.batch_at(k)[1])
