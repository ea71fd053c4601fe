"""A synthetic language with an exactly known loss floor.

A sparse random first-order Markov chain over ``V`` tokens: each state has
``K`` successors with Dirichlet weights. Its entropy rate
``H = sum_i pi_i * H(P_i)`` (``pi`` the stationary distribution) is the best
validation loss any model can reach, so results can report ``loss - H``.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MarkovChain:
    successors: np.ndarray  # (V, K) int: the K possible next tokens of each state
    probs: np.ndarray  # (V, K) float: their probabilities

    @property
    def vocab_size(self):
        return self.successors.shape[0]

    def transition_matrix(self):
        V = self.vocab_size
        P = np.zeros((V, V))
        rows = np.repeat(np.arange(V), self.successors.shape[1])
        np.add.at(P, (rows, self.successors.ravel()), self.probs.ravel())
        return P


def make_chain(vocab_size, n_successors, seed, concentration=1.0):
    """Random chain; successors are distinct and include a random cycle so
    that the chain is irreducible (a unique stationary distribution)."""
    if not 1 <= n_successors <= vocab_size:
        raise ValueError("n_successors must lie in [1, vocab_size]")
    rng = np.random.default_rng(seed)
    V, K = vocab_size, n_successors
    cycle = rng.permutation(V)
    next_in_cycle = np.empty(V, dtype=np.int64)
    next_in_cycle[cycle] = np.roll(cycle, -1)
    successors = np.empty((V, K), dtype=np.int64)
    for state in range(V):
        others = rng.permutation(V)
        others = others[others != next_in_cycle[state]][: K - 1]
        successors[state] = np.concatenate([[next_in_cycle[state]], others])
    probs = rng.dirichlet(np.full(K, concentration), size=V)
    return MarkovChain(successors, probs)


def stationary_distribution(chain):
    """Left eigenvector of the transition matrix for eigenvalue 1."""
    P = chain.transition_matrix()
    values, vectors = np.linalg.eig(P.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    pi = np.abs(pi)
    return pi / pi.sum()


def entropy_rate(chain):
    """Entropy rate in nats per token: the exact floor of the validation loss."""
    pi = stationary_distribution(chain)
    p = chain.probs
    row_entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
    return float(pi @ row_entropy)


def sample(chain, n_tokens, seed, n_chains=256):
    """``n_tokens`` tokens as ``n_chains`` independent stationary trajectories
    laid end to end (vectorised across trajectories).

    Only the first token of each trajectory (one in ``n_tokens / n_chains``)
    does not follow the chain's transition, which shifts the achievable loss
    by a negligible amount for the lengths used here.
    """
    rng = np.random.default_rng(seed)
    n_chains = max(1, min(n_chains, n_tokens))
    length = -(-n_tokens // n_chains)
    cumulative = np.cumsum(chain.probs, axis=1)
    cumulative[:, -1] = 1.0
    pi = stationary_distribution(chain)
    state = rng.choice(chain.vocab_size, size=n_chains, p=pi)
    out = np.empty((n_chains, length), dtype=np.int64)
    for t in range(length):
        out[:, t] = state
        u = rng.random(n_chains)
        choice = (u[:, None] > cumulative[state]).sum(axis=1)
        state = chain.successors[state, choice]
    return out.reshape(-1)[:n_tokens]


def empirical_loss(chain, tokens):
    """Mean ``-log P(x[t+1] | x[t])`` of a token sequence under the chain."""
    P = chain.transition_matrix()
    p = P[tokens[:-1], tokens[1:]]
    return float(-np.log(p).mean())
