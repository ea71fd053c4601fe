"""Track 3's protocol: step count N, evaluation schedule, LR schedule, no
early stopping, and every run's end recorded (the rules of the Track 3 README,
modded-nanogpt ``records/track_3_optimization/README.md``)."""

import json
import math

import pytest
import torch
from conftest import make_solver

from benchmark_utils.training.protocol import (
    ProtocolCriterion,
    evaluates_at,
    next_evaluation,
    write_run_status,
)
from benchmark_utils.training.recipe import lr_multiplier


def reference_eval_steps(train_steps, every=125, every_final=25):
    """Track 3's training loop, written from its description: for step in
    0..N, evaluate if step == N or step % freq == 0, freq = 125 while
    step / N < 0.9 else 25."""
    steps = []
    for step in range(train_steps + 1):
        freq = every if step / train_steps < 0.9 else every_final
        if step == train_steps or step % freq == 0:
            steps.append(step)
    return steps


def schedule_steps(train_steps, every=125, every_final=25):
    steps, step = [0], 0
    while step < train_steps:
        step = next_evaluation(step, train_steps, every, every_final)
        steps.append(step)
    return steps


@pytest.mark.parametrize("train_steps", [3250, 5625, 4150, 3210, 7, 1, 130])
def test_evaluation_schedule_is_track3s(train_steps):
    expected = reference_eval_steps(train_steps)
    assert schedule_steps(train_steps) == expected
    assert [
        s for s in range(train_steps + 1) if evaluates_at(s, train_steps, 125, 25)
    ] == expected


def test_evaluation_schedule_of_the_muon_baseline():
    steps = reference_eval_steps(3250)
    assert steps[:3] == [0, 125, 250] and steps[-1] == 3250
    # 0.9 * 3250 = 2925: every 25 steps from there.
    assert 2875 in steps and 2900 not in steps and 2925 in steps and 2950 in steps


def reference_track3_lr(step, train_steps, warmup_steps=0, cooldown_frac=0.7):
    """The Track 3 scripts' set_hparams (AdamW #2 adds the warmup factor)."""
    progress = step / train_steps
    eta = 1.0 if progress < 1 - cooldown_frac else (1 - progress) / cooldown_frac
    warmup = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    return warmup * eta


@pytest.mark.parametrize("train_steps,warmup", [(3250, 0), (5625, 250), (4150, 0)])
def test_wsd_schedule_is_track3s_formula(train_steps, warmup):
    for step in range(train_steps):
        assert lr_multiplier(step, train_steps, "wsd", warmup, 0.7, 0.0) == (
            reference_track3_lr(step, train_steps, warmup)
        )


def test_a_run_trains_to_n_without_early_stopping(make_problem, train):
    """The default protocol ignores the target: the run reaches N even after
    its validation loss has passed any target."""
    problem = make_problem(max_steps=12, eval_every=4, eval_every_final=2)
    records = train(make_solver("adamw", lr=3e-3), problem)
    assert [r["step"] for r in records] == reference_eval_steps(12, 4, 2)
    assert records[-1]["step"] == 12


def make_criterion(problem):
    criterion = ProtocolCriterion().get_runner_instance(solver=None)
    criterion.solver = type("S", (), {"problem": problem})()
    return criterion


def row(value, reached=0.0, budget=0.5, diverged=0.0):
    return {
        "objective_value": value,
        "objective_reached_target": reached,
        "objective_budget_used": budget,
        "objective_diverged": diverged,
    }


def test_target_stop_only_when_asked(make_problem):
    reached = [row(3.0, reached=1.0)]
    plain = make_criterion(make_problem())
    assert plain.should_stop(10, reached)[0] is False
    demo = make_criterion(make_problem(stop_at_target=True))
    stop, status, _ = demo.should_stop(10, reached)
    assert stop and status == "done"


def test_a_diverged_run_is_kept_as_a_result(make_problem):
    """benchopt would mark a NaN value 'diverged' and drop the run's rows;
    here it stops as 'done' so the rows (and the divergence) stay."""
    criterion = make_criterion(make_problem())
    stop, status, _ = criterion.should_stop(10, [row(math.nan, diverged=1.0)])
    assert stop and status == "done"


def test_train_steps_come_from_the_solver_or_the_objective(make_problem):
    solver = make_solver("adamw", train_steps=20)
    solver.set_objective(make_problem(max_steps=30, train_steps=None))
    assert solver.n_steps == 20
    solver.set_objective(make_problem(max_steps=30, train_steps=25))
    assert solver.n_steps == 25  # the objective's N wins


def test_train_steps_errors_are_clear(make_problem):
    solver = make_solver("adamw")
    solver.__dict__.pop("train_steps", None)
    solver._parameters.pop("train_steps", None)
    with pytest.raises(ValueError, match="declares no train_steps"):
        solver.set_objective(make_problem(max_steps=30, train_steps=None))
    with pytest.raises(ValueError, match="data budget is max_steps=30"):
        solver.set_objective(make_problem(max_steps=30, train_steps=31))


def test_learning_rate_follows_track3s_schedule_in_training(make_problem):
    solver = make_solver(
        "adamw", lr=1e-2, schedule="wsd", decay_fraction=0.7, min_lr_ratio=0.0, warmup=0
    )
    solver.set_objective(make_problem(max_steps=10))
    lrs = []
    for _ in range(10):
        solver._train_step()
        lrs.append(solver.optimizers[0].param_groups[0]["lr"])
    assert lrs == pytest.approx([1e-2 * reference_track3_lr(s, 10) for s in range(10)])


def test_run_status_is_recorded(tmp_path, make_problem):
    names = dict(
        solver_name="adamw[lr=0.1]", objective_name="obj", dataset_name="d", idx_rep=2
    )
    path = write_run_status(tmp_path, "error", 7, 30, "boom", names)
    record = json.loads(path.read_text())
    assert record["status"] == "error" and record["step"] == 7
    assert record["train_steps"] == 30 and record["idx_rep"] == 2
    assert record["solver_name"] == "adamw[lr=0.1]"
    with pytest.raises(ValueError):
        write_run_status(tmp_path, "exploded", 0, 1)


def fake_run_context(tmp_path, objective_name="o"):
    """What benchopt attaches to a run's solver (benchopt_compat.run_context)."""
    return type(
        "Ctx",
        (),
        dict(
            run_output_base=tmp_path,
            dataset_name="d",
            objective_name=objective_name,
            solver_name="adamw",
            repetition=0,
        ),
    )()


def read_status(tmp_path):
    (path,) = tmp_path.glob("runs/*/run_status.json")
    return json.loads(path.read_text())


def test_a_run_is_done_only_at_its_n(tmp_path, make_problem, train):
    solver = make_solver("adamw")
    solver._run_context = fake_run_context(tmp_path)
    problem = make_problem(max_steps=6, eval_every=2)
    seen = []
    original = solver._train_step

    def step():  # the status says "running" while the run trains
        seen.append(read_status(tmp_path)["status"])
        original()

    solver._train_step = step
    train(solver, problem)
    assert set(seen) == {"running"}
    record = read_status(tmp_path)
    assert (record["status"], record["step"], record["train_steps"]) == ("done", 6, 6)


def test_a_run_stopped_before_n_is_unfinished(tmp_path, make_problem, train, capfd):
    """benchopt's timeout (or any stop before N) is never 'done'."""
    solver = make_solver("adamw")
    solver._run_context = fake_run_context(tmp_path)
    problem = make_problem(max_steps=10, eval_every=2)

    def timeout(record):  # what benchopt's callback does when time runs out
        if record["step"] >= 4:
            callback_status["status"] = "timeout"
            return True
        return False

    callback_status = {}
    original_run = solver.run

    def run(callback):
        callback.status = "running"
        real_call = callback.__class__.__call__

        class Timed(callback.__class__):
            def __call__(self):
                keep = real_call(self)
                if callback_status:
                    self.status = callback_status["status"]
                return keep

        callback.__class__ = Timed
        original_run(callback)

    solver.run = run
    train(solver, problem, stop=timeout)
    record = read_status(tmp_path)
    assert record["status"] == "unfinished"
    assert record["step"] == 4 and record["train_steps"] == 10
    assert "timeout" in record["message"]
    assert "UNFINISHED" in capfd.readouterr().err


def test_an_interrupted_run_is_unfinished(tmp_path, make_problem, train):
    solver = make_solver("adamw")
    solver._run_context = fake_run_context(tmp_path)
    original = solver._train_step

    def step():
        if solver.step == 3:
            raise KeyboardInterrupt
        original()

    solver._train_step = step
    with pytest.raises(KeyboardInterrupt):
        train(solver, make_problem(max_steps=10, eval_every=5))
    record = read_status(tmp_path)
    assert record["status"] == "unfinished" and record["step"] == 3
    assert "interrupted" in record["message"]


def test_a_crash_is_recorded_and_raised(tmp_path, make_problem, train):
    solver = make_solver("adamw")
    # An objective name longer than a file name may be.
    solver._run_context = fake_run_context(tmp_path, objective_name="o" * 400)
    problem = make_problem(max_steps=10, eval_every=5)
    step = solver._train_step

    def failing_step():
        step()
        if solver.step == 3:
            raise RuntimeError("simulated failure")

    solver._train_step = failing_step
    with pytest.raises(RuntimeError, match="simulated failure"):
        train(solver, problem)
    (path,) = tmp_path.glob("runs/*/run_status.json")
    record = json.loads(path.read_text())
    assert record["status"] == "error" and record["step"] == 3
    assert record["objective_name"] == "o" * 400
    assert "simulated failure" in record["message"]


def test_tf32_is_off_unless_asked():
    from benchmark_utils.training.runtime import configure_backends

    configure_backends(torch.device("cpu"), tf32=True)  # no effect on CPU
    assert torch.backends.cuda.matmul.allow_tf32 is False


def test_full_size_defaults_on_a_small_model_are_pointed_out(make_problem, capfd):
    make_solver("muon").set_objective(make_problem())
    assert "full-size defaults" in capfd.readouterr().err
    make_solver("muon", lr=0.05).set_objective(make_problem())
    assert "full-size defaults" not in capfd.readouterr().err
