"""A synthetic language with an exactly known loss floor.

A sparse random Markov chain of order ``n`` (1 or 2) over ``V`` tokens: each
context (the previous ``n`` tokens, one of ``V**n`` states) has ``K``
distinct successors with Dirichlet weights. Its entropy rate
``H = sum_s pi_s * H(P(. | s))`` (``pi`` the stationary distribution of the
chain on contexts) is the best validation loss any model can reach, so
results can report ``loss - H``.

Why order 2: a first-order chain is learnt to its floor by a bigram model
(embedding and output head alone), so the transformer blocks never matter.
In a second-order chain the next token depends on the previous two tokens,
which a model can only combine through attention; ``context_entropy(chain,
1)`` is the exact best loss of any predictor that sees one previous token.
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
        if self.order == 1:
            return self.n_states
        return math.isqrt(self.n_states)

    def next_states(self):
        """(V**order, K): the context reached by each successor. Context
        ``s`` of order 2 is the pair ``(a, b) = divmod(s, V)``; emitting
        ``c`` moves it to ``(b, c)``."""
        V = self.vocab_size
        return (np.arange(self.n_states) % V ** (self.order - 1))[
            :, None
        ] * V + self.successors

    def transition_matrix(self):
        """Dense (V, V) token transition matrix (order 1 only)."""
        if self.order != 1:
            raise ValueError("a dense transition matrix exists for order 1 only")
        V = self.vocab_size
        P = np.zeros((V, V))
        rows = np.repeat(np.arange(V), self.successors.shape[1])
        np.add.at(P, (rows, self.successors.ravel()), self.probs.ravel())
        return P

    def step_distribution(self, weights):
        """``weights`` (a distribution over contexts) one step later:
        ``weights @ P`` for the sparse chain on contexts."""
        return np.bincount(
            self.next_states().ravel(),
            weights=(weights[:, None] * self.probs).ravel(),
            minlength=self.n_states,
        )


def make_chain(vocab_size, n_successors, seed, concentration=1.0, order=1):
    """Random chain of order 1 or 2 whose chain on contexts is irreducible,
    so that it has a unique stationary distribution.

    Order 1: the successors of each state include a random cycle through all
    ``V`` states. Order 2: the successors of each pair include one that
    makes the pair chain follow a cycle through all ``V**2`` pairs. It is
    read off a random Eulerian circuit ``t_0 t_1 ... t_{N-1}`` (cyclic,
    ``N = V**2``) of the complete directed graph with loops on the ``V``
    tokens (every vertex has in- and out-degree ``V``, so one exists;
    Hierholzer's algorithm finds it). Every ordered pair occurs exactly once
    as ``(t_i, t_{i+1})``; giving pair ``(t_i, t_{i+1})`` the successor
    ``t_{i+2}`` moves it to ``(t_{i+1}, t_{i+2})``, the next pair of the
    circuit, so the pair chain has a Hamiltonian cycle: it is irreducible.
    The other ``K - 1`` successors are distinct, uniformly random, and every
    Dirichlet weight is checked positive.
    """
    if order not in ORDERS:
        raise DataError(f"order must be one of {ORDERS}, got {order!r}")
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
        N = V * V
        next_in_cycle = np.empty(N, dtype=np.int64)
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
    """Tokens ``t_0 .. t_{V*V-1}`` of a random Eulerian circuit of the
    complete directed graph with loops on ``V`` vertices (closing back to
    ``t_0``): every ordered pair ``(t_i, t_{i+1 mod V*V})`` occurs once."""
    remaining = [list(row) for row in rng.random((V, V)).argsort(axis=1)]
    stack, circuit = [0], []
    while stack:  # Hierholzer: walk unused edges, back up when stuck
        vertex = stack[-1]
        if remaining[vertex]:
            stack.append(int(remaining[vertex].pop()))
        else:
            circuit.append(stack.pop())
    circuit.reverse()  # V*V + 1 vertices, first == last
    assert len(circuit) == V * V + 1 and circuit[0] == circuit[-1]
    return np.asarray(circuit[:-1], dtype=np.int64)


def _distinct_others(excluded, V, n, rng, rows_per_chunk=4096):
    """(len(excluded), n): for each row, ``n`` distinct tokens drawn
    uniformly from ``range(V)`` without ``excluded[row]``."""
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
    """Stationary distribution over contexts (``V**order`` of them), by
    power iteration of the lazy chain ``(I + P) / 2`` (same stationary
    distribution, aperiodic, so it converges for any irreducible chain)
    until the L1 change per step is below ``tol``."""
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
    """Exact ``H(x_t | x_{t-n_context} .. x_{t-1})`` of the stationary chain,
    in nats: the best loss of any predictor that sees only the previous
    ``n_context`` tokens (0: unigram, 1: bigram model). Equals the entropy
    rate for ``n_context >= order``."""
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
    sees one token, the second two, and so on (how validation windows are
    scored): the entropy rate plus a ``O(order / seq_len)`` excess."""
    pi = stationary_distribution(chain) if pi is None else pi
    seen = np.minimum(np.arange(1, seq_len + 1), chain.order)
    losses = {n: context_entropy(chain, n, pi) for n in np.unique(seen)}
    return float(np.mean([losses[n] for n in seen]))


def sample(chain, n_tokens, seed, n_chains=None, chain_length=16_384, pi=None):
    """``n_tokens`` tokens as ``n_chains`` independent stationary trajectories
    laid end to end (vectorised across trajectories; by default as many as
    make trajectories of about ``chain_length`` tokens).

    Only the first ``order`` tokens of each trajectory do not follow the
    chain's transition from the tokens before them: about ``order`` tokens in
    ``chain_length``, a negligible shift of the achievable loss, and none in
    a validation prefix shorter than one trajectory.
    """
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
    """Mean ``-log P(x[t] | x[t-order] .. x[t-1])`` of a token sequence under
    the chain (over the positions ``t >= order``)."""
    return float(-token_log_probs(chain, tokens).mean())


class MarkovSource(ShardSource):
    """The synthetic Markov language, generated into ``cache_dir`` on demand.

    ``order`` 1: the next token depends on the previous one only, which an
    embedding and output head alone (a bigram model) learn to the floor.
    ``order`` 2: it depends on the previous two, so a model needs attention;
    ``bigram_loss`` is the best loss of a model that sees one previous token.
    The default stays 1 (what the tests' tiny problems expect); the
    ``simulated`` dataset asks for 2.

    Shard ``i`` depends only on (parameters, seed, i): generation is
    deterministic, reuses valid files already there, and regenerates a file
    that is missing or corrupt. The cache folder's name holds every
    parameter, the order included. Nothing is computed or written when the
    source is built: the chain when first needed, the files when asked for.

    ``floor`` is the chain's entropy rate. A validation window's first
    prediction sees one token only (its second, two), so even the exact
    chain scores slightly above it: ``window_floor(seq_len)``.
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
        if order not in ORDERS:
            raise DataError(f"order must be one of {ORDERS}, got {order!r}")
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
        self.vocab_size = vocab_size
        self.n_successors = n_successors
        self.concentration = concentration
        self.order = order
        self.shard_tokens = shard_tokens
        self.n_val_tokens = n_val_tokens
        self.seed = seed
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
            order=self.order,
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

    def _write_meta(self):
        meta = self.cache_dir / "meta.json"
        if not meta.exists():
            info = {
                "order": self.order,
                "floor_nats": self.floor,
                "bigram_nats": self.bigram_loss,
                "uniform_nats": math.log(self.vocab_size),
            }
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps(info, indent=1))

    def _ensure(self, path, n_tokens, seed):
        try:
            if read_header(path) == n_tokens:
                return path
        except ShardError:
            pass
        self._write_meta()
        write_shard(path, sample(self.chain, n_tokens, seed, pi=self._pi))
        return path

    def val_file(self):
        return self._ensure(
            self.cache_dir / "markov_val_000000.bin", self.n_val_tokens, [self.seed, 0]
        )

    def train_files(self, n_tokens):
        n_shards = max(1, -(-n_tokens // self.shard_tokens))
        return [
            self._ensure(
                self.cache_dir / f"markov_train_{i:06d}.bin",
                self.shard_tokens,
                [self.seed, i],
            )
            for i in range(1, n_shards + 1)
        ]
