import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark_utils.data import markov
from benchmark_utils.data.markov import (
    MarkovSource,
    context_entropy,
    empirical_loss,
    entropy_rate,
    make_chain,
    sample,
    stationary_distribution,
    token_log_probs,
    window_floor,
)
from benchmark_utils.data.shards import read_header, read_tokens
from benchmark_utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_chain_is_a_valid_sparse_transition():
    chain = make_chain(32, 4, seed=1)
    P = pair_transition_matrix(chain)  # order 1: the token transitions
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert ((P > 0).sum(axis=1) == 4).all()
    pi = stationary_distribution(chain)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-12)
    assert (pi > 0).all()


def test_floor_matches_monte_carlo_estimate():
    """The entropy-rate formula against -log P(x[t+1] | x[t]) averaged over a
    long sampled trajectory: agreement within 4 standard errors."""
    chain = make_chain(64, 5, seed=3)
    tokens = sample(chain, 400_000, seed=4, n_chains=1)
    P = pair_transition_matrix(chain)  # order 1: the token transitions
    nll = -np.log(P[tokens[:-1], tokens[1:]])
    stderr = nll.std() / np.sqrt(len(nll))  # ignores autocorrelation: small
    floor = entropy_rate(chain)
    assert abs(empirical_loss(chain, tokens) - floor) < 4 * stderr + 1e-3
    assert 0 < floor < np.log(5)


def test_source_is_deterministic_and_regenerates_corrupt_shards(tmp_path):
    a = MarkovSource(
        tmp_path / "a", vocab_size=32, shard_tokens=5000, n_val_tokens=1000
    )
    files = a.train_files(12_000)
    assert len(files) == 3 and read_header(a.val_file()) == 1000
    b = MarkovSource(
        tmp_path / "b", vocab_size=32, shard_tokens=5000, n_val_tokens=1000
    )
    for fa, fb in zip(files, b.train_files(12_000)):
        assert fa.read_bytes() == fb.read_bytes()
    assert a.target > a.floor > 0
    original = files[1].read_bytes()
    files[1].write_bytes(original[:-7])  # truncate: must be regenerated
    assert a.train_files(12_000)[1].read_bytes() == original
    other = MarkovSource(
        tmp_path / "a", vocab_size=32, seed=1, shard_tokens=5000, n_val_tokens=1000
    )
    assert other.cache_dir != a.cache_dir  # new parameters, new files


# -- second order ----------------------------------------------------------------


def dataset_defaults():
    """The ``simulated`` dataset's default parameters (first of each list)."""
    spec = importlib.util.spec_from_file_location(
        "simulated_dataset", ROOT / "datasets" / "simulated.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: values[0] for name, values in module.Dataset.parameters.items()}


def default_chain():
    p = dataset_defaults()
    return make_chain(
        p["vocab_size"],
        p["n_successors"],
        p["seed"],
        p["concentration"],
        order=p["order"],
    )


def pair_transition_matrix(chain):
    """Dense (V**2, V**2) matrix of the chain on pairs (small V only)."""
    P = np.zeros((chain.n_states, chain.n_states))
    rows = np.repeat(np.arange(chain.n_states), chain.probs.shape[1])
    np.add.at(P, (rows, chain.next_states().ravel()), chain.probs.ravel())
    return P


def test_second_order_chain_is_a_valid_irreducible_pair_chain():
    V, K = 12, 3
    chain = make_chain(V, K, seed=1, order=2)
    assert chain.order == 2 and chain.vocab_size == V
    assert chain.successors.shape == chain.probs.shape == (V * V, K)
    np.testing.assert_allclose(chain.probs.sum(axis=1), 1.0)
    assert (chain.probs > 0).all()
    assert all(len(set(row)) == K for row in chain.successors.tolist())
    # Pair (a, b) = divmod(s, V) emits c and moves to (b, c).
    a, b = np.divmod(np.arange(V * V), V)
    np.testing.assert_array_equal(
        chain.next_states(), b[:, None] * V + chain.successors
    )
    P = pair_transition_matrix(chain)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    # The first successor walks one cycle through all V**2 pairs.
    state, seen = 0, set()
    for _ in range(V * V):
        seen.add(state)
        state = chain.next_states()[state, 0]
    assert state == 0 and len(seen) == V * V
    pi = stationary_distribution(chain)
    assert (pi > 0).all() and abs(pi.sum() - 1) < 1e-12
    np.testing.assert_allclose(pi @ P, pi, atol=1e-13)
    # Stationary: the first and second tokens of a pair have one marginal.
    joint = pi.reshape(V, V)
    np.testing.assert_allclose(joint.sum(axis=1), joint.sum(axis=0), atol=1e-13)
    with pytest.raises(ValueError, match="order"):
        make_chain(V, K, seed=1, order=3)


def test_stationary_distribution_of_a_large_pair_chain():
    """V = 128: 16,384 pairs, by sparse power iteration (no dense matrix)."""
    chain = make_chain(128, 4, seed=0, order=2)
    start = time.perf_counter()
    pi = stationary_distribution(chain)
    elapsed = time.perf_counter() - start
    print(f"stationary distribution of 16,384 pairs: {elapsed:.2f} s")
    assert np.abs(chain.step_distribution(pi) - pi).sum() < 1e-12
    assert (pi > 0).all()


def batch_mean_stderr(values, n_batches=100):
    """Standard error of the mean from batch means (robust to the
    correlation between nearby positions of a chain)."""
    means = values[: len(values) // n_batches * n_batches]
    means = means.reshape(n_batches, -1).mean(axis=1)
    return means.std(ddof=1) / np.sqrt(n_batches)


def test_second_order_floor_matches_monte_carlo_estimate():
    """The entropy rate against -log P(x[t] | x[t-2], x[t-1]) averaged over
    one long trajectory: agreement within 4 standard errors."""
    chain = default_chain()
    tokens = sample(chain, 400_000, seed=4, n_chains=1)
    nll = -token_log_probs(chain, tokens)
    assert np.isfinite(nll).all()  # every transition is one the chain makes
    floor = entropy_rate(chain)
    estimate = empirical_loss(chain, tokens)
    assert abs(estimate - floor) < 4 * batch_mean_stderr(nll)
    assert 0 < floor < np.log(chain.probs.shape[1])


def plug_in_conditional_entropy(tokens, V, n_context):
    """H(x[t] | previous n_context tokens) from counts (n_context <= 1)."""
    if n_context == 0:
        p = np.bincount(tokens, minlength=V) / len(tokens)
        return float(-(p[p > 0] * np.log(p[p > 0])).sum())
    counts = np.bincount(tokens[:-1] * V + tokens[1:], minlength=V * V)
    joint = counts.reshape(V, V) / counts.sum()
    rows = joint.sum(axis=1, keepdims=True)
    mask = joint > 0
    return float(-(joint[mask] * np.log((joint / rows)[mask])).sum())


def test_default_chain_is_really_second_order():
    """A model that sees one previous token (embedding and head alone) stays
    well above the floor: its best loss, computed exactly from the
    stationary distribution, is checked against counts from a long sample,
    and exceeds the target (floor + target_margin) by a wide margin."""
    defaults = dataset_defaults()
    chain = default_chain()
    pi = stationary_distribution(chain)
    floor = entropy_rate(chain, pi)
    bigram = context_entropy(chain, 1, pi)
    unigram = context_entropy(chain, 0, pi)
    uniform = np.log(chain.vocab_size)
    print(
        f"floor {floor:.4f}  bigram {bigram:.4f}  unigram {unigram:.4f}  "
        f"uniform {uniform:.4f} nats"
    )
    assert floor + 0.3 < bigram <= unigram <= uniform
    assert bigram > floor + defaults["target_margin"] + 0.3
    tokens = sample(chain, 400_000, seed=5, n_chains=1)
    V = chain.vocab_size
    assert abs(plug_in_conditional_entropy(tokens, V, 1) - bigram) < 0.01
    assert abs(plug_in_conditional_entropy(tokens, V, 0) - unigram) < 0.01
    # Validation windows: the first prediction sees one token only.
    expected = (bigram + 127 * floor) / 128
    assert window_floor(chain, 128, pi) == pytest.approx(expected, rel=1e-12)


def test_first_order_context_entropies():
    chain = make_chain(32, 4, seed=1)
    assert context_entropy(chain, 1) == pytest.approx(entropy_rate(chain))
    assert window_floor(chain, 64) == pytest.approx(entropy_rate(chain))


def test_sample_is_deterministic_and_keeps_long_trajectories():
    chain = make_chain(16, 4, seed=0, order=2)
    a = sample(chain, 50_000, seed=[0, 3])
    np.testing.assert_array_equal(a, sample(chain, 50_000, seed=[0, 3]))
    assert not np.array_equal(a, sample(chain, 50_000, seed=[0, 4]))
    assert a.min() >= 0 and a.max() < 16
    # Trajectories of 16,384 tokens (here 4 of 12,500): impossible
    # transitions can only follow a trajectory's first two tokens.
    impossible = np.flatnonzero(~np.isfinite(token_log_probs(chain, a))) + 2
    assert set(impossible) <= {12_500, 12_501, 25_000, 25_001, 37_500, 37_501}


def test_second_order_source_writes_valid_shards_and_reuses_them(tmp_path, monkeypatch):
    def make(folder, **kwargs):
        return MarkovSource(
            tmp_path / folder,
            vocab_size=16,
            order=2,
            shard_tokens=5000,
            n_val_tokens=1000,
            **kwargs,
        )

    a = make("a")
    assert a.order == 2 and "_o2_" in a.cache_dir.name
    files = a.train_files(12_000)
    assert len(files) == 3 and read_header(a.val_file()) == 1000
    for path in [a.val_file(), *files]:
        tokens = read_tokens(path)
        assert tokens.min() >= 0 and tokens.max() < 16
        assert np.isfinite(token_log_probs(a.chain, tokens)).all()
    b = make("b")
    for fa, fb in zip([a.val_file(), *files], [b.val_file(), *b.train_files(12_000)]):
        assert fa.read_bytes() == fb.read_bytes()
    meta = json.loads((a.cache_dir / "meta.json").read_text())
    assert meta["order"] == 2 and meta["floor_nats"] == pytest.approx(a.floor)
    assert a.bigram_loss == pytest.approx(meta["bigram_nats"])
    assert a.target == pytest.approx(a.floor + 0.1)
    assert a.bigram_loss > a.target + 0.3
    assert a.window_floor(128) > a.floor

    written = []
    monkeypatch.setattr(
        markov, "write_shard", lambda path, tokens: written.append(path)
    )
    make("a").train_files(12_000)  # all there: nothing is written again
    assert written == []
    first_order = MarkovSource(
        tmp_path / "a", vocab_size=16, shard_tokens=5000, n_val_tokens=1000
    )
    assert first_order.order == 1 and first_order.cache_dir != a.cache_dir


def test_building_a_source_computes_and_writes_nothing(tmp_path, monkeypatch):
    """Settings are checked before any data exists: building the source,
    even of a huge language and shards, neither writes a file nor computes
    the chain; only asking for files does."""

    def forbidden(*args, **kwargs):
        raise AssertionError("nothing may be computed at construction")

    monkeypatch.setattr(markov, "make_chain", forbidden)
    source = MarkovSource(
        tmp_path / "cache",
        vocab_size=60_000,
        order=2,
        shard_tokens=10**12,
        n_val_tokens=10**12,
    )
    assert source.vocab_size == 60_000 and source.bos_token is None
    assert not list(tmp_path.iterdir())
    monkeypatch.undo()
    small = MarkovSource(tmp_path / "cache", vocab_size=16, shard_tokens=500)
    assert not (tmp_path / "cache").exists()
    assert len(small.train_files(1200)) == 3  # asked for: generated now
    assert (small.cache_dir / "meta.json").exists()


def test_bad_source_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="n_successors=20, vocab_size=16"):
        MarkovSource(tmp_path, vocab_size=16, n_successors=20)
    with pytest.raises(UserError, match="order must be one of"):
        MarkovSource(tmp_path, order=3)
    assert not list(tmp_path.iterdir())
