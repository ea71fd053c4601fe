"""A synthetic language with an exactly known loss floor.

A sparse random Markov chain of order ``n`` (1 or 2) over ``V`` tokens: each
context (the previous ``n`` tokens, one of ``V**n`` states) has ``K``
distinct successors with Dirichlet weights. Its entropy rate ``H = sum_s pi_s
H(P(. | s))`` (``pi`` the stationary distribution on contexts) is the best
validation loss any model can reach.

Why order 2: a first-order chain is learnt to its floor by a bigram model
(embedding and output head alone), so the transformer blocks never matter; in
a second-order chain the next token depends on the previous two, which a
model can only combine through attention.
"""

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, ShardError
from .shards import MAX_TOKEN_ID, read_header, write_shard
from .sources import ShardSource

ORDERS = (1, 2)


@dataclass(frozen=True)
class MarkovChain:
    successors: np.ndarray  # (V**order, K) int: the K possible next tokens
    probs: np.ndarray  # (V**order, K) float: their probabilities
    order: int = 1

    @property
    def n_states(self):
        return self.successors.shape[0]

    @property
    def vocab_size(self):
        return self.n_states if self.order == 1 else math.isqrt(self.n_states)

    def next_states(self):
        """(V**order, K): the context each successor leads to. Context ``s``
        of order 2 is the pair ``(a, b) = divmod(s, V)``; ``c`` moves it to
        ``(b, c)``."""
        V = self.vocab_size
        kept = np.arange(self.n_states) % V ** (self.order - 1)
        return kept[:, None] * V + self.successors

    def step_distribution(self, weights):
        """``weights @ P`` for a distribution over contexts."""
        return np.bincount(
            self.next_states().ravel(),
            weights=(weights[:, None] * self.probs).ravel(),
            minlength=self.n_states,
        )


def check_order(order):
    if order not in ORDERS:
        raise DataError(f"order must be one of {ORDERS}, got {order!r}")


def make_chain(vocab_size, n_successors, seed, concentration=1.0, order=1):
    """A random chain whose chain on contexts is irreducible (so it has a
    unique stationary distribution): one successor of each context follows
    a cycle through all contexts, the other ``K - 1`` are distinct and
    uniformly random, every Dirichlet weight positive.

    Order 1: a random cycle through the ``V`` tokens. Order 2: a random
    Eulerian circuit ``t_0 .. t_{N-1}`` (``N = V**2``) of the complete
    directed graph with loops on the tokens holds every pair once as
    ``(t_i, t_{i+1})``; the successor ``t_{i+2}`` of that pair moves it to
    the circuit's next pair, a Hamiltonian cycle of the pair chain.
    """
    check_order(order)
    if not 1 <= n_successors <= vocab_size:
        raise DataError("n_successors must lie in [1, vocab_size]")
    rng = np.random.default_rng(seed)
    V, K = vocab_size, n_successors
    if order == 1:
        cycle = rng.permutation(V)
        next_in_cycle = np.empty(V, dtype=np.int64)
        next_in_cycle[cycle] = np.roll(cycle, -1)
        successors = np.empty((V, K), dtype=np.int64)
        for state in range(V):
            others = rng.permutation(V)
            others = others[others != next_in_cycle[state]][: K - 1]
            successors[state] = np.concatenate([[next_in_cycle[state]], others])
    else:
        circuit = _eulerian_circuit(V, rng)
        next_in_cycle = np.empty(V * V, dtype=np.int64)
        next_in_cycle[circuit * V + np.roll(circuit, -1)] = np.roll(circuit, -2)
        others = _distinct_others(next_in_cycle, V, K - 1, rng)
        successors = np.concatenate([next_in_cycle[:, None], others], axis=1)
    probs = rng.dirichlet(np.full(K, concentration), size=successors.shape[0])
    if not (probs > 0).all():
        raise DataError(
            f"concentration {concentration:g} is too small: a transition "
            "probability underflowed to 0; choose a larger one, e.g. "
            "benchopt run . -d 'simulated[concentration=0.1]' (with your other "
            "options)"
        )
    return MarkovChain(successors, probs, order)


def _eulerian_circuit(V, rng):
    """Tokens of a random Eulerian circuit of the complete directed graph
    with loops on ``V`` vertices (Hierholzer's algorithm), first not repeated."""
    remaining = [list(row) for row in rng.random((V, V)).argsort(axis=1)]
    stack, circuit = [0], []
    while stack:  # walk unused edges, back up when stuck
        vertex = stack[-1]
        if remaining[vertex]:
            stack.append(int(remaining[vertex].pop()))
        else:
            circuit.append(stack.pop())
    return np.asarray(circuit[::-1][:-1], dtype=np.int64)


def _distinct_others(excluded, V, n, rng, rows_per_chunk=4096):
    """(len(excluded), n): per row, ``n`` distinct tokens drawn uniformly
    from ``range(V)`` without ``excluded[row]``."""
    out = np.empty((len(excluded), n), dtype=np.int64)
    if n == 0:
        return out
    for first in range(0, len(excluded), rows_per_chunk):
        rows = slice(first, first + rows_per_chunk)
        keys = rng.random((len(out[rows]), V - 1))
        picked = np.argpartition(keys, n - 1, axis=1)[:, :n]  # a random n-subset
        out[rows] = picked + (picked >= excluded[rows, None])  # skip excluded
    return out


def stationary_distribution(chain, tol=1e-13, max_iter=200_000):
    """Stationary distribution over contexts, by power iteration of the lazy
    chain ``(I + P) / 2`` (same distribution, aperiodic, so it converges)."""
    pi = np.full(chain.n_states, 1.0 / chain.n_states)
    for _ in range(max_iter):
        new = 0.5 * (pi + chain.step_distribution(pi))
        new /= new.sum()
        change = np.abs(new - pi).sum()
        pi = new
        if change < tol:
            return pi
    raise RuntimeError("power iteration did not converge")


def _entropy(p, axis=-1):
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=axis)


def entropy_rate(chain, pi=None):
    """Entropy rate in nats per token: the exact floor of the validation loss
    (of positions that see at least ``order`` previous tokens)."""
    pi = stationary_distribution(chain) if pi is None else pi
    return float(pi @ _entropy(chain.probs))


def context_entropy(chain, n_context, pi=None):
    """Exact ``H(x_t | the previous n_context tokens)`` of the stationary
    chain: the best loss of a model that sees ``n_context`` tokens (0:
    unigram, 1: bigram); the entropy rate for ``n_context >= order``."""
    if n_context >= chain.order:
        return entropy_rate(chain, pi)
    pi = stationary_distribution(chain) if pi is None else pi
    V, width = chain.vocab_size, chain.vocab_size**n_context
    kept = np.arange(chain.n_states) % width  # the last n_context tokens
    joint = np.bincount(
        (kept[:, None] * V + chain.successors).ravel(),
        weights=(pi[:, None] * chain.probs).ravel(),
        minlength=width * V,
    ).reshape(width, V)
    return float(_entropy(joint.ravel()) - _entropy(joint.sum(axis=1)))


def window_floor(chain, seq_len, pi=None):
    """Best mean loss over a window of ``seq_len`` predictions whose first
    sees one token, the second two, ... (as validation windows are scored)."""
    pi = stationary_distribution(chain) if pi is None else pi
    seen = np.minimum(np.arange(1, seq_len + 1), chain.order)
    losses = {n: context_entropy(chain, n, pi) for n in np.unique(seen)}
    return float(np.mean([losses[n] for n in seen]))


def sample(chain, n_tokens, seed, n_chains=None, chain_length=16_384, pi=None):
    """``n_tokens`` tokens as ``n_chains`` independent stationary trajectories
    (by default of about ``chain_length`` tokens) laid end to end, sampled
    together. Only the first ``order`` tokens of each do not follow the
    chain from the tokens before them: a negligible shift of the floor."""
    rng = np.random.default_rng(seed)
    if n_chains is None:
        n_chains = -(-n_tokens // chain_length)
    n_chains = max(1, min(n_chains, n_tokens))
    length = max(-(-n_tokens // n_chains), chain.order)
    V, K = chain.vocab_size, chain.probs.shape[1]
    cumulative = np.cumsum(chain.probs, axis=1)[:, :-1]  # the last one is 1
    flat_successors = chain.successors.ravel()
    flat_next = chain.next_states().ravel()
    pi = stationary_distribution(chain) if pi is None else pi
    state = rng.choice(chain.n_states, size=n_chains, p=pi)
    out = np.empty((length, n_chains), dtype=np.int64)
    for t in range(chain.order):  # the tokens of the starting context
        out[t] = state // V ** (chain.order - 1 - t) % V
    uniforms = rng.random((length - chain.order, n_chains))
    for t, u in enumerate(uniforms, start=chain.order):
        index = state * K + (u[:, None] > cumulative[state]).sum(axis=1)
        out[t] = flat_successors[index]
        state = flat_next[index]
    return out.T.reshape(-1)[:n_tokens]


def token_log_probs(chain, tokens):
    """``log P(x[t] | previous order tokens)`` for ``t >= order`` (-inf for a
    transition the chain cannot make)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    V, n = chain.vocab_size, chain.order
    state = np.zeros(len(tokens) - n, dtype=np.int64)
    for lag in range(n, 0, -1):
        state = state * V + tokens[n - lag : len(tokens) - lag]
    nxt = tokens[n:]
    p = (chain.probs[state] * (chain.successors[state] == nxt[:, None])).sum(axis=1)
    with np.errstate(divide="ignore"):
        return np.log(p)


def empirical_loss(chain, tokens):
    """Mean ``-log P(x[t] | previous order tokens)`` of a token sequence."""
    return float(-token_log_probs(chain, tokens).mean())


class MarkovSource(ShardSource):
    """The Markov language, generated into ``cache_dir`` on demand.

    ``order`` 1 is the default (what the tests' tiny problems expect); the
    ``simulated`` dataset asks for 2, where ``bigram_loss`` is the best loss
    of a model that sees one previous token. Shard ``i`` depends only on
    (parameters, seed, i), in a folder whose name holds every parameter:
    valid files are reused, missing or corrupt ones regenerated. Nothing is
    computed or written when the source is built. ``floor`` is the entropy
    rate; even the exact chain scores ``window_floor(seq_len)`` on windows.
    """

    name = "simulated"
    bos_token = None  # no documents: one continuous chain

    def __init__(
        self,
        cache_dir,
        vocab_size=128,
        n_successors=4,
        concentration=1.0,
        seed=0,
        shard_tokens=1_000_000,
        n_val_tokens=200_000,
        target_margin=0.1,
        order=1,
    ):
        check_order(order)
        if not (isinstance(concentration, (int, float)) and concentration > 0):
            raise DataError(
                f"concentration={concentration!r}: must be a number > 0 (the "
                "Dirichlet weight of each successor), e.g. concentration=1.0"
            )
        if not 1 <= n_successors <= vocab_size <= MAX_TOKEN_ID + 1:
            raise DataError(
                f"n_successors={n_successors}, vocab_size={vocab_size}: need "
                f"1 <= n_successors <= vocab_size <= {MAX_TOKEN_ID + 1}"
            )
        self.vocab_size, self.n_successors = vocab_size, n_successors
        self.concentration, self.order, self.seed = concentration, order, seed
        self.shard_tokens, self.n_val_tokens = shard_tokens, n_val_tokens
        self.target_margin = target_margin
        key = (
            f"markov_o{order}_V{vocab_size}_K{n_successors}_a{concentration:g}_"
            f"seed{seed}_shard{shard_tokens}_val{n_val_tokens}"
        )
        self.cache_dir = Path(cache_dir) / key

    @functools.cached_property
    def chain(self):
        return make_chain(
            self.vocab_size,
            self.n_successors,
            self.seed,
            self.concentration,
            self.order,
        )

    @functools.cached_property
    def _pi(self):
        return stationary_distribution(self.chain)

    @functools.cached_property
    def floor(self):
        return entropy_rate(self.chain, self._pi)

    @functools.cached_property
    def bigram_loss(self):
        return context_entropy(self.chain, 1, self._pi)

    @property
    def target(self):
        return self.floor + self.target_margin

    def window_floor(self, seq_len):
        """Best mean loss over validation windows of ``seq_len`` tokens."""
        return window_floor(self.chain, seq_len, self._pi)

    def _ensure(self, name, n_tokens, index):
        path = self.cache_dir / name
        try:
            if read_header(path) == n_tokens:
                return path
        except ShardError:
            pass
        meta = self.cache_dir / "meta.json"
        if not meta.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            info = {
                "order": self.order,
                "floor_nats": self.floor,
                "bigram_nats": self.bigram_loss,
                "uniform_nats": math.log(self.vocab_size),
            }
            meta.write_text(json.dumps(info, indent=1))
        tokens = sample(self.chain, n_tokens, [self.seed, index], pi=self._pi)
        write_shard(path, tokens)
        return path

    def val_file(self):
        return self._ensure("markov_val_000000.bin", self.n_val_tokens, 0)

    def train_files(self, n_tokens):
        n_shards = max(1, -(-n_tokens // self.shard_tokens))
        return [
            self._ensure(f"markov_train_{i:06d}.bin", self.shard_tokens, i)
            for i in range(1, n_shards + 1)
        ]
