import numpy as np

from benchmark_utils.markov import (
    empirical_loss,
    entropy_rate,
    make_chain,
    sample,
    stationary_distribution,
)
from benchmark_utils.shards import read_header
from benchmark_utils.sources import MarkovSource


def test_chain_is_a_valid_sparse_transition():
    chain = make_chain(32, 4, seed=1)
    P = chain.transition_matrix()
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
    P = chain.transition_matrix()
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
