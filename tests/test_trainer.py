import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import load_solver_class, make_solver

from benchmark_utils.data.shards import read_tokens
from benchmark_utils.errors import UserError
from benchmark_utils.models import make_config
from benchmark_utils.training.problem import TrainingProblem
from benchmark_utils.training.recipe import lr_multiplier


def test_invalid_batch_settings_give_a_clear_error(make_problem):
    problem = make_problem(batch_tokens=500)  # not whole sequences of 32
    with pytest.raises(ValueError, match="must be a multiple of seq_len x world_size"):
        problem.grad_accum_steps()
    problem = make_problem(batch_tokens=512, micro_batch_size=3)  # 16 sequences
    with pytest.raises(ValueError, match="does not divide the 16 sequences"):
        problem.grad_accum_steps()
    # 17 sequences cannot be split over 2 ranks whatever the micro-batch.
    problem = make_problem(batch_tokens=17 * 32, micro_batch_size=1)
    with pytest.raises(ValueError, match="seq_len x world_size = 32 x 2 = 64"):
        problem.grad_accum_steps(world_size=2)


def captured_step_gradients(solver):
    """The gradients of one training step, as the optimizers see them."""
    captured = {}
    for name, p in solver.model.named_parameters():
        p.register_post_accumulate_grad_hook(
            lambda p, name=name: captured.__setitem__(name, p.grad.clone())
        )
    solver._train_step()
    return captured


def global_batch_gradient(model, problem, reduction):
    """Independent: one forward of the whole global batch (the same tokens
    the loader gives, read straight from the shard), loss summed over its
    tokens or averaged, as Track 3 / llm.c define the step's gradient."""
    tokens = torch.from_numpy(read_tokens(problem.train_files[0], 0, 600))
    n = problem.batch_tokens
    x = tokens[:n].view(-1, problem.seq_len)
    y = tokens[1 : n + 1].view(-1, problem.seq_len)
    logits = model(x)
    loss = F.cross_entropy(
        logits.view(-1, logits.size(-1)), y.reshape(-1), reduction=reduction
    )
    model.zero_grad()
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("model", ["track3-tiny", "gpt2-tiny"])
def test_step_gradient_has_the_reference_scale(make_problem, model, markov_source):
    """Track 3: the step's gradient is that of the loss SUMMED over the
    global batch (micro-batches add up); classic GPT-2: of the mean. Checked
    with 1 and 4 micro-batches against one independent big-batch forward."""
    reduction = "sum" if model.startswith("track3") else "mean"
    for micro in (16, 4):
        problem = make_problem(
            micro_batch_size=micro,
            model_config=make_config(model, markov_source.vocab_size, 32),
        )
        solver = make_solver("adamw")
        solver.set_objective(problem)
        assert solver.grad_accum == 16 // micro
        reference_model = copy.deepcopy(solver.model)
        got = captured_step_gradients(solver)
        expected = global_batch_gradient(reference_model, problem, reduction)
        assert got.keys() == expected.keys()
        for name, grad in expected.items():
            scale = grad.abs().max().item() + 1e-30
            torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-5 * scale)
        # The scale differs by the number of tokens: the test can tell.
        norm = sum(g.norm() ** 2 for g in expected.values()) ** 0.5
        assert norm > 0


def test_same_seed_gives_identical_losses(make_problem, train):
    problem = make_problem(max_steps=10, eval_every=5)
    a = train(make_solver("adamw", lr=3e-3), problem)
    b = train(make_solver("adamw", lr=3e-3), problem)
    c = train(make_solver("adamw", lr=3e-3), replace(problem, init_seed=1))
    assert [r["val_loss"] for r in a] == [r["val_loss"] for r in b]
    assert [r["train_loss"] for r in a[1:]] == [r["train_loss"] for r in b[1:]]
    assert a[-1]["val_loss"] != c[-1]["val_loss"]


def test_every_solver_sees_the_same_data_and_init(make_problem):
    problem = make_problem()
    a, b = make_solver("adamw"), make_solver("adamw", lr=1e-2)
    a.set_objective(problem)
    b.set_objective(problem)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    for _ in range(3):
        xa, ya = a.loader.next_batch()
        xb, yb = b.loader.next_batch()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_adamw_reduces_the_loss_and_stops_at_the_budget(make_problem, train):
    records = train(make_solver("adamw", lr=3e-3, warmup=2), make_problem(max_steps=30))
    assert [r["step"] for r in records] == [0, 10, 20, 30]
    assert records[-1]["val_loss"] < records[0]["val_loss"] - 1.0
    assert all(math.isfinite(r["train_loss"]) for r in records[1:])
    assert math.isnan(records[0]["train_loss"])  # nothing trained yet


def test_nan_loss_stops_the_run_cleanly(make_problem, train, capfd):
    solver = make_solver("adamw")
    problem = make_problem(max_steps=30, eval_every=5)
    train_step = solver._train_step

    def poisoned_step():
        train_step()
        if solver.step == 3:  # the weights become NaN mid-run
            with torch.no_grad():
                solver.model.embed.weight[3].fill_(float("nan"))

    solver._train_step = poisoned_step
    records = train(solver, problem)
    assert solver.diverged and solver.step == 5  # stopped at the next check
    assert math.isnan(records[-1]["train_loss"])
    assert math.isfinite(records[0]["val_loss"])
    assert "the run diverged" in capfd.readouterr().err


def test_out_of_memory_gives_advice(make_problem):
    solver = make_solver("adamw")
    solver.set_objective(make_problem())

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    solver.train_model = oom
    with pytest.raises(UserError, match="lower the objective's micro_batch_size"):
        solver._train_step()

    def cublas(*args, **kwargs):  # a plain RuntimeError, also out of memory
        raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling ...")

    solver.train_model = cublas
    with pytest.raises(UserError, match="lower the objective's micro_batch_size"):
        solver._train_step()


def test_learning_rate_follows_the_schedule(make_problem):
    solver = make_solver(
        "adamw", lr=1e-2, warmup=4, schedule="cosine", min_lr_ratio=0.1
    )
    solver.set_objective(make_problem(max_steps=20))
    lrs = []
    for _ in range(20):
        solver._train_step()
        lrs.append(solver.optimizers[0].param_groups[0]["lr"])
    expected = [1e-2 * lr_multiplier(s, 20, "cosine", 4, 0.2, 0.1) for s in range(20)]
    assert lrs == pytest.approx(expected)
    assert lrs[0] == pytest.approx(2.5e-3) and lrs[3] == pytest.approx(1e-2)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "linear", "wsd"])
def test_schedules(schedule):
    values = [lr_multiplier(s, 100, schedule, 10, 0.2, 0.1) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(0.1 - 1e-12 <= v <= 1.0 for v in values)
    if schedule == "constant":
        assert values[-1] == 1.0
    else:
        assert values[-1] < 0.2
    if schedule == "wsd":
        assert values[79] == 1.0 and values[81] < 1.0
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_multiplier(0, 10, "bogus")


def test_evaluation_hooks_wrap_every_evaluation(make_problem, train):
    solver = make_solver("adamw")
    calls = []
    solver.before_evaluation = lambda: calls.append("eval")
    solver.after_evaluation = lambda: calls.append("train")
    train(solver, make_problem(max_steps=4, eval_every=2))
    assert calls == ["eval", "train", "eval", "train", "eval"]


def test_get_next_works_on_a_bare_solver():
    solver = load_solver_class("adamw")()
    assert solver.get_next(0) == 1
    assert TrainingProblem.__dataclass_fields__["compile"].default is True


def test_compilation_warm_up_restarts_from_the_fresh_model(make_problem):
    """The warm-up steps (run before the timed run on CUDA) leave no trace:
    same weights, data position, step and optimizer state as a fresh run."""
    problem = make_problem()
    fresh, warmed = make_solver("adamw"), make_solver("adamw")
    fresh.set_objective(problem)
    warmed.set_objective(problem)
    warmed._warm_up_compilation()
    assert warmed.step == 0 and warmed.loader.micro_step == 0
    assert not warmed.optimizers[0].state
    for pf, pw in zip(fresh.model.parameters(), warmed.model.parameters()):
        assert torch.equal(pf, pw)


def test_an_optimizer_may_follow_its_own_schedule(make_problem):
    """Entries whose optimizers decay differently (Track 3 #27, #33, #4) give
    an optimizer ``lr_multiplier(step, n_steps)``; the others follow the
    solver's schedule."""
    solver = make_solver("adamw", lr=1e-2, schedule="wsd", decay_fraction=0.7, warmup=0)
    build = solver.build_optimizers

    def build_optimizers(groups):
        optimizers = build(groups)
        optimizers[0].lr_multiplier = lambda step, n: 1 - step / n  # linear
        return optimizers

    solver.build_optimizers = build_optimizers
    solver.set_objective(make_problem(max_steps=10))
    hidden, aux = solver.optimizers
    base_aux = [g["lr"] for g in aux.param_groups]
    for _ in range(6):
        solver._train_step()
    # The last step set the learning rates for step 5 of 10.
    assert hidden.param_groups[0]["lr"] == pytest.approx(1e-2 * (1 - 5 / 10))
    wsd = (1 - 5 / 10) / 0.7  # step / N = 0.5 >= 0.3: decaying
    assert [g["lr"] for g in aux.param_groups] == pytest.approx(
        [lr * wsd for lr in base_aux]
    )


def test_an_entry_may_initialise_the_model_by_module_name(make_problem):
    """``init_model`` runs on every fresh model with the run's seed set: an
    entry's own init is the same in every run of a seed, for every solver."""
    drawn = []

    def init_model(model):
        for name, p in model.named_parameters():
            if name.endswith("mlp.proj.weight"):
                with torch.no_grad():
                    p.mul_(3.0)
        drawn.append(torch.rand(3))

    def fresh(seed=0):
        solver = make_solver("adamw")
        solver.init_model = init_model
        solver.set_objective(make_problem(max_steps=2))
        return {n: p.detach().clone() for n, p in solver.model.named_parameters()}

    plain = make_solver("adamw")
    plain.set_objective(make_problem(max_steps=2))
    reference = dict(plain.model.named_parameters())
    first, second = fresh(), fresh()
    scaled = [n for n in first if n.endswith("mlp.proj.weight")]
    assert scaled
    for name in first:
        factor = 3.0 if name in scaled else 1.0
        torch.testing.assert_close(first[name], reference[name].detach() * factor)
        assert torch.equal(first[name], second[name])
    assert torch.equal(drawn[0], drawn[1])  # the hook's own draws are seeded


def test_a_run_does_not_depend_on_what_ran_before_it(make_problem):
    """An optimizer drawing from torch's global generator (PSGD's probes)
    or NumPy's (pytorch-optimizer Kron's balancing) draws the same numbers
    in every run of a seed, whatever ran before."""

    def draws_after_set_up():
        solver = make_solver("adamw")
        solver.set_objective(make_problem(max_steps=2))
        return torch.rand(4), np.random.random(4)

    first = draws_after_set_up()
    torch.rand(1000)  # another run, or anything else, used the generators
    np.random.random(1000)
    second = draws_after_set_up()
    assert torch.equal(second[0], first[0])
    assert np.array_equal(second[1], first[1])
