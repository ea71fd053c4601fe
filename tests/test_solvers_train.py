"""Every optimizer solver trains the tiny model on the synthetic Markov task,
and a solver that breaks the parameter-group contract fails clearly."""

import math

import pytest
import torch
from conftest import load_solver_class, make_solver

from benchmark_utils.trainer import SolverContractError, TrainerSolver

SOLVERS = ["muon", "shampoo", "soap", "psgd_kron", "schedule_free_adamw", "lion", "sgd"]

# Learning rates scaled for a 2-layer, d=64 model and 40 steps; the solvers'
# own defaults are for GPT-2 124M. Everything else is the solver default.
TINY_LR = {
    "muon": dict(lr=0.05, embedding_lr=0.02, scalar_lr=0.02),
    "shampoo": dict(lr=0.01),
    "soap": dict(lr=0.01),
    "psgd_kron": dict(lr=0.02),
    "schedule_free_adamw": dict(lr=0.01),
    "lion": dict(lr=0.003),
    "sgd": dict(lr=0.5),
}
STEPS = 40


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", SOLVERS)
def test_solver_reduces_validation_loss(name, make_problem, train):
    problem = make_problem(max_steps=STEPS, eval_every=STEPS)
    solver = make_solver(name, **TINY_LR[name])
    records = train(solver, problem)
    start, end = records[0]["val_loss"], records[-1]["val_loss"]
    assert records[-1]["step"] == STEPS
    assert math.isfinite(end)
    # At initialisation the loss is ~log(64) = 4.16; the chain's floor is
    # far below. AdamW (lr 3e-3) gets ~2.1 nats lower in 40 steps; each
    # solver here gets 1.7-2.8 lower, doing nothing gets 0.
    assert end < start - 1.0, (name, start, end)


@pytest.mark.parametrize("name", SOLVERS)
def test_solver_trains_every_parameter(name, make_problem):
    problem = make_problem(max_steps=2, eval_every=2)
    solver = make_solver(name, **TINY_LR[name])
    solver.set_objective(problem)
    before = {n: p.detach().clone() for n, p in solver.model.named_parameters()}
    for _ in range(2):  # SOAP skips its first step to build its basis
        solver._train_step()
    frozen = [
        n
        for n, p in solver.model.named_parameters()
        if torch.equal(p.detach(), before[n])
    ]
    assert not frozen, f"{name}: parameters never updated: {frozen}"


def test_schedule_free_evaluates_the_averaged_weights(make_problem):
    """Evaluation sees x (the average), training resumes from y."""
    problem = make_problem(max_steps=5, eval_every=5)
    solver = make_solver("schedule_free_adamw", lr=0.01, warmup=0)
    solver.set_objective(problem)
    for _ in range(5):
        solver._train_step()
    (optimizer,) = solver.optimizers
    beta1 = optimizer.param_groups[0]["betas"][0]
    p = solver.model.blocks[0].attn.c_attn.weight
    y = p.detach().clone()
    z = optimizer.state[p]["z"]
    solver.get_result()  # before_evaluation
    x = p.detach().clone()
    # y = (1 - beta1) z + beta1 x  =>  x = (y - (1 - beta1) z) / beta1
    torch.testing.assert_close(x, (y - (1 - beta1) * z) / beta1, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(x, y)
    solver._train_step()  # after_evaluation restores y, then one more step
    assert optimizer.param_groups[0]["train_mode"]


class _NoOptimizer(TrainerSolver):
    name = "no_optimizer"

    def build_optimizers(self, groups):
        return []


class _ForgetsScalars(TrainerSolver):
    name = "forgets_scalars"

    def build_optimizers(self, groups):
        return [torch.optim.AdamW(groups.hidden_matrices + groups.embedding)]


class _TwiceTheEmbedding(TrainerSolver):
    name = "twice"

    def build_optimizers(self, groups):
        return [
            torch.optim.AdamW(groups.all()),
            torch.optim.SGD(groups.embedding, lr=0.1),
        ]


@pytest.mark.parametrize(
    "solver_class, message",
    [
        (_NoOptimizer, "returned no optimizer"),
        (_ForgetsScalars, "would never train"),
        (_TwiceTheEmbedding, "given to two optimizers"),
    ],
)
def test_contract_violations_fail_clearly(solver_class, message, make_problem):
    solver = solver_class.get_instance()
    with pytest.raises(SolverContractError, match=message) as error:
        solver.set_objective(make_problem(max_steps=2))
    assert solver_class.name in str(error.value)
    if solver_class is _ForgetsScalars:
        # names the forgotten tensors and says what to do
        assert "ln_1.weight" in str(error.value)
        assert "ParameterGroups" in str(error.value)


@pytest.mark.parametrize("name", SOLVERS)
def test_solver_declares_its_hyperparameters(name):
    """Every hyperparameter is a benchopt parameter (so it can be swept) and
    the defaults build on a bare instance."""
    cls = load_solver_class(name)
    assert cls.name == name
    assert "lr" in cls.parameters
    assert all(len(values) == 1 for values in cls.parameters.values())


def test_shampoo_offers_distributed_shampoo_only_when_installed():
    import importlib.util

    solver = make_solver("shampoo", implementation="distributed_shampoo")
    skip, reason = solver.skip()
    installed = importlib.util.find_spec("distributed_shampoo") is not None
    assert skip is not installed
    if skip:
        assert "not installed" in reason
    assert make_solver("shampoo").skip() == (False, None)
