"""Shared fixtures: a tiny training problem on generated Markov data, and a
stand-in for benchopt's callback so solvers can be trained in plain pytest."""

import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmark_tools.components import load_solver_class, make_solver  # noqa: E402, F401
from benchmark_utils.data.markov import MarkovSource  # noqa: E402
from benchmark_utils.data.shards import read_tokens  # noqa: E402
from benchmark_utils.models import make_config  # noqa: E402
from benchmark_utils.training.evaluation import validation_loss  # noqa: E402
from benchmark_utils.training.problem import TrainingProblem  # noqa: E402


class StepCallback:
    """Mimics benchopt's callback: evaluates at step 0 and at the steps the
    solver's ``get_next`` gives (Track 3's schedule), stops when ``stop``
    returns True."""

    def __init__(self, solver, evaluate, stop=None):
        self.solver, self.evaluate = solver, evaluate
        self.stop = stop or (lambda record: False)
        self.it = 0
        self.next_stopval = 0
        self.records = []

    def __call__(self):
        if self.it == self.next_stopval:
            record = self.evaluate(**self.solver.get_result())
            self.records.append(record)
            self.next_stopval = self.solver.get_next(self.next_stopval)
            if self.stop(record) or math.isnan(record["val_loss"]):
                return False
        self.it += 1
        return True


@pytest.fixture
def one_thread():
    """Single-threaded torch, for timing-sensitive or tiny-tensor tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def markov_source(tmp_path_factory):
    return MarkovSource(
        tmp_path_factory.mktemp("markov"),
        vocab_size=64,
        shard_tokens=100_000,
        n_val_tokens=20_000,
    )


@pytest.fixture
def make_problem(markov_source):
    """``make_problem(**overrides)`` -> a tiny CPU TrainingProblem (Track 3
    architecture). ``max_steps`` alone also sets ``train_steps`` (N)."""

    def _make(**overrides):
        if "max_steps" in overrides and "train_steps" not in overrides:
            overrides["train_steps"] = overrides["max_steps"]
        problem = TrainingProblem(
            model_config=make_config("track3-tiny", markov_source.vocab_size, 32),
            init_seed=0,
            train_files=(),
            seq_len=32,
            batch_tokens=512,
            micro_batch_size=16,
            max_steps=30,
            train_steps=30,
            eval_every=10,
            eval_every_final=10,
            device="cpu",
            compile=False,
        )
        problem = replace(problem, **overrides)
        if not problem.train_files:
            needed = 2 * problem.max_steps * problem.batch_tokens + 1
            problem = replace(
                problem, train_files=tuple(markov_source.train_files(needed))
            )
        return problem

    return _make


@pytest.fixture
def train(markov_source):
    """``train(solver, problem)`` -> list of evaluation records (dicts with
    step, val_loss, train_loss), running the solver's real loop."""
    val = torch.from_numpy(read_tokens(markov_source.val_file(), 0, 64 * 32 + 1))

    def _train(solver, problem, stop=None):
        solver.set_objective(problem)

        def evaluate(model, step, train_loss, **_):
            loss = validation_loss(model, val, problem.seq_len, 16, torch.device("cpu"))
            return dict(step=step, val_loss=loss, train_loss=train_loss)

        callback = StepCallback(solver, evaluate, stop)
        solver.run(callback)
        if callback.records[-1]["step"] != solver.step:
            callback.records.append(evaluate(**solver.get_result()))
        return callback.records

    return _train
