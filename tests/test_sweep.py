"""The sweep helper: grid, budget, ranking, written config, and one real
(tiny) sweep through benchopt."""

import math
import sys

import pandas as pd
import pytest
import yaml

from benchmark_tools import sweep
from benchmark_tools.components import FULL_SIZE_NOTE, load_solver_class, make_solver
from benchmark_tools.results import collect_runs, load_results, load_runs
from benchmark_tools.sweep import (
    BudgetError,
    Plan,
    SweepError,
    check_budget,
    config_text,
    edge_notes,
    final_config,
    format_name,
    grid_points,
    parse_grid,
    rank_points,
    sweep_config,
)
from benchmark_utils.benchopt_compat import parse_name

ADAMW = load_solver_class("adamw").parameters
OBJECTIVE = "nanoGPT validation loss"


def write_config(path, objective_params, solvers=("adamw",), **extra):
    objective = OBJECTIVE + "[" + ",".join(objective_params) + "]"
    config = dict(
        objective=[objective],
        dataset=["simulated"],
        solver=list(solvers),
        **{"n-repetitions": 3, "timeout": 300},
        **extra,
    )
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def gpu_config(tmp_path):
    """Track 3 sizes: 524,288-token batches, N=3250 on the objective."""
    return write_config(
        tmp_path / "gpu.yml",
        ["batch_tokens=524288", "max_steps=6000", "train_steps=3250"],
    )


# -- grid ------------------------------------------------------------------


def test_grid_values_take_the_types_of_the_solver_defaults():
    grid = parse_grid(
        "adamw",
        ADAMW,
        [
            "lr=0.01,1e-3,1",
            "weight_decay=0,0.05",
            "betas=(0.9,0.95),(0.8,0.99)",
            "schedule=cosine,wsd",
        ],
    )
    assert grid["lr"] == [0.01, 0.001, 1.0]
    assert grid["weight_decay"] == [0.0, 0.05]
    assert all(type(v) is float for v in grid["lr"] + grid["weight_decay"])
    assert grid["betas"] == [(0.9, 0.95), (0.8, 0.99)]
    assert grid["schedule"] == ["cosine", "wsd"]
    points = grid_points(grid)
    assert len(points) == 3 * 2 * 2 * 2
    assert points[0] == dict(
        lr=0.01, weight_decay=0.0, betas=(0.9, 0.95), schedule="cosine"
    )
    assert points[1]["schedule"] == "wsd"  # the last name varies fastest
    assert len({tuple(p.items()) for p in points}) == len(points)


def test_unknown_parameter_names_the_solver_parameters():
    with pytest.raises(SweepError) as error:
        parse_grid("adamw", ADAMW, ["lr=0.01", "wd=0,0.1"])
    message = str(error.value)
    assert "no parameter 'wd'" in message
    for name in ADAMW:
        assert name in message


@pytest.mark.parametrize(
    "specs, match",
    [
        (["lr=abc"], "lr"),
        (["lr="], "no value"),
        (["lr"], "NAME=VALUE"),
        (["lr=0.1,0.10"], "listed twice"),
        (["lr=0.1", "lr=0.2"], "given twice"),
        (["betas=0.9"], "betas"),
        (["train_steps=100,200"], "separate sweeps"),
    ],
)
def test_bad_grids_are_refused(specs, match):
    with pytest.raises(SweepError, match=match):
        parse_grid("adamw", ADAMW, specs)


def test_names_read_back_by_benchopt_and_recorded_as_the_grid_point():
    grid = parse_grid(
        "adamw", ADAMW, ["lr=1e-3,0.02", "betas=(0.9,0.95)", "schedule=wsd"]
    )
    points = grid_points(grid)
    for point in points:
        name = format_name("adamw", point)
        base, args, kwargs = parse_name(name)
        assert base == "adamw" and not args
        assert kwargs["lr"] == point["lr"]
        assert kwargs["betas"] == [point["betas"]]  # one run, not one per item
        # benchopt's recorded name of that solver matches this point only
        recorded = str(load_solver_class("adamw").get_instance(**point))
        matches = [p for p in points if sweep._matches(recorded, "adamw", p)]
        assert matches == [point]


# -- plan and budget --------------------------------------------------------


def test_budget_refuses_too_many_runs_and_says_how_to_shrink(gpu_config):
    plan = Plan(
        "adamw",
        ["lr=0.01,0.02,0.04,0.08", "weight_decay=0,0.05,0.1"],
        gpu_config,
        train_steps=900,
        seeds=2,
    )
    assert plan.n_runs == 24 and plan.tokens_per_run == 900 * 524_288
    with pytest.raises(BudgetError) as error:
        check_budget(plan, max_runs=20, max_tokens_per_run=500_000_000)
    message = str(error.value)
    assert "24 runs" in message and "--max-runs 20" in message
    assert "lr: 4 values" in message and "--seeds" in message
    assert "--max-runs 24" in message  # how to raise it explicitly
    assert "tokens" not in message.split("Shrink")[0]  # the tokens fit
    check_budget(plan, max_runs=24, max_tokens_per_run=500_000_000)


def test_budget_refuses_too_many_tokens_per_run(gpu_config):
    plan = Plan("adamw", ["lr=0.01,0.02"], gpu_config)  # half of 3250
    assert plan.sweep_steps == 1625
    with pytest.raises(BudgetError) as error:
        check_budget(plan, max_runs=20, max_tokens_per_run=500_000_000)
    message = str(error.value)
    assert "851,968,000 tokens" in message  # 1625 x 524,288
    assert "--train-steps 953" in message  # 953 x 524,288 <= 500M < 954 x ...
    assert "--fraction 0.29" in message
    assert "--max-tokens-per-run 851968000" in message
    assert "runs" not in message.split("Shrink")[0].replace("each run", "")
    check_budget(plan, max_runs=20, max_tokens_per_run=851_968_000)
    short = Plan("adamw", ["lr=0.01,0.02"], gpu_config, fraction=0.29)
    check_budget(short, max_runs=20, max_tokens_per_run=500_000_000)


def test_cli_prints_the_budget_and_refuses_before_running(
    gpu_config, tmp_path, capsys, monkeypatch
):
    def no_run(*args, **kwargs):
        raise AssertionError("benchopt must not run")

    monkeypatch.setattr(sweep, "run_benchopt", no_run)
    work = tmp_path / "work"
    args = ["adamw", "--config", str(gpu_config), "--work-dir", str(work)]
    status = sweep.main([*args, "--grid", "lr=0.01,0.02"])
    out, err = capsys.readouterr()
    assert status == 2
    assert "tokens per run: 1,625 steps x 524,288" in out
    assert "refused" in err and "--max-tokens-per-run" in err
    assert not work.exists()

    # Within the budget, --dry-run shows the command and config, runs nothing.
    status = sweep.main(
        [*args, "--grid", "lr=0.01,0.02", "--train-steps", "900", "--dry-run"]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "runs: 2 = 2 grid point(s) x 1 seed(s) = 2 (limit 20)" in out
    assert "benchopt run" in out and "--config" in out
    assert "adamw[lr=0.01]" in out and "adamw[lr=0.02]" in out
    assert "train_steps=900" in out
    assert not work.exists()
    assert not (tmp_path / "configs").exists()


def test_plan_errors_are_clear(tmp_path, gpu_config):
    # No N on the objective: the solver's own (every preset declares one).
    no_n = write_config(tmp_path / "no_n.yml", ["batch_tokens=4096"])
    plan = Plan("adamw", ["lr=0.01"], no_n)
    assert (plan.full_steps, plan.sweep_steps) == (5625, 2812)
    assert not plan.n_on_objective
    two = write_config(tmp_path / "two.yml", ["train_steps=10", "max_steps=[10, 20]"])
    with pytest.raises(SweepError, match="one problem"):
        Plan("adamw", ["lr=0.01"], two)
    with pytest.raises(SweepError, match="max_steps=6000"):
        Plan("adamw", ["lr=0.01"], gpu_config, train_steps=7000)
    with pytest.raises(SweepError, match="no solver 'nope'"):
        Plan("nope", [], gpu_config)
    with pytest.raises(SweepError, match="both --grid and --set"):
        Plan("adamw", ["lr=0.01"], gpu_config, set_specs=["lr=0.1"])


# -- ranking ----------------------------------------------------------------


def _rows(point, rep, losses, steps, n_steps, diverged=False):
    name = str(load_solver_class("adamw").get_instance(**point))
    return [
        dict(
            solver_name=name,
            objective_name=f"{OBJECTIVE}[train_steps={n_steps}]",
            dataset_name="simulated",
            idx_rep=rep,
            objective_step=float(step),
            objective_val_loss=float(loss),
            objective_train_steps=float(n_steps),
            objective_diverged=float(diverged and i == len(steps) - 1),
            time=float(step),
        )
        for i, (step, loss) in enumerate(zip(steps, losses))
    ]


def test_best_configuration_is_the_lowest_mean_final_loss_without_failures(
    tmp_path,
):
    points = grid_points(dict(lr=[0.01, 0.02, 0.04, 0.08]))
    a, b, c, d = points
    rows = []
    # a: the best mean of its completed seeds, but seed 1 diverged: it loses.
    rows += _rows(a, 0, [5.0, 3.0], [0, 4], 4)
    rows += _rows(a, 1, [5.0, math.nan], [0, 4], 4, diverged=True)
    # b: mean 3.5 over both seeds; its loss at step 2 (3.0) is not final.
    rows += _rows(b, 0, [5.0, 3.0, 3.4], [0, 2, 4], 4)
    rows += _rows(b, 1, [5.0, 3.6], [0, 4], 4)
    # c: mean 3.55; better runs at another N do not count.
    rows += _rows(c, 0, [5.0, 3.5], [0, 4], 4)
    rows += _rows(c, 1, [5.0, 3.6], [0, 4], 4)
    rows += _rows(c, 0, [5.0, 2.0], [0, 8], 8)
    rows += _rows(c, 1, [5.0, 2.0], [0, 8], 8)
    # d: the lowest loss, but one of its two seeds is missing.
    rows += _rows(d, 0, [5.0, 2.5], [0, 4], 4)
    path = tmp_path / "sweep.parquet"
    pd.DataFrame(rows).to_parquet(path)

    ranked = rank_points(load_runs([path]), "adamw", points, seeds=2, train_steps=4)
    assert [r.point for r in ranked] == [b, c, d, a]
    assert ranked[0].ok and ranked[1].ok
    assert ranked[0].val_loss_mean == pytest.approx(3.5)
    assert ranked[1].val_loss_mean == pytest.approx(3.55)
    assert ranked[2].failures == {"missing": 1} and not ranked[2].ok
    assert ranked[3].failures == {"diverged": 1} and not ranked[3].ok
    # Without the N filter, c's runs at N=8 join its row set and c wins.
    runs = collect_runs(load_results([path]))
    assert rank_points(runs, "adamw", points, seeds=2)[0].point == c


# -- written configs ----------------------------------------------------------


def test_final_config_has_the_best_parameters_and_the_full_n(tmp_path):
    config = write_config(
        tmp_path / "c.yml",
        ["batch_tokens=4096", "max_steps=600", "train_steps=600", "device=cpu"],
        solvers=["adamw[lr=0.012,warmup=0.05]", "muon[lr=0.05]"],
    )
    plan = Plan("adamw", ["lr=0.01,0.02", "weight_decay=0,0.1"], config)
    best = plan.points[3]
    text = config_text(final_config(plan, best, seeds=4), ["a comment"])
    assert text.startswith("# a comment\n")
    written = yaml.safe_load(text)
    assert written["n-repetitions"] == 4 and written["timeout"] == 300
    assert written["dataset"] == ["simulated"]
    ((solver,),) = [written["solver"]]
    base, _, params = parse_name(solver)
    assert base == "adamw"
    assert params == dict(warmup=0.05, lr=0.02, weight_decay=0.1)  # config's warmup
    _, _, objective = parse_name(written["objective"][0])
    assert objective["train_steps"] == 600  # the full N, on the objective
    # The sweep itself: half the steps, one entry per grid point.
    swept = yaml.safe_load(config_text(sweep_config(plan)))
    _, _, objective = parse_name(swept["objective"][0])
    assert objective["train_steps"] == 300
    assert len(swept["solver"]) == 4 and swept["n-repetitions"] == 1


def test_n_declared_by_the_solver_goes_on_the_solver(tmp_path, monkeypatch):
    declared = dict(ADAMW, train_steps=[3250])
    monkeypatch.setattr(sweep, "solver_parameters", lambda name: declared)
    config = write_config(tmp_path / "c.yml", ["max_steps=6000"])
    plan = Plan("adamw", ["lr=0.01,0.02"], config, set_specs=["train_steps=3000"])
    assert (plan.full_steps, plan.sweep_steps) == (3000, 1500)
    swept = sweep_config(plan)
    assert "train_steps=1500" in swept["objective"][0]
    assert all("train_steps" not in s for s in swept["solver"])
    final = yaml.safe_load(config_text(final_config(plan, plan.points[0])))
    assert "train_steps" not in final["objective"][0]
    _, _, params = parse_name(final["solver"][0])
    assert params == dict(lr=0.01, train_steps=3000)
    default = Plan("adamw", ["lr=0.01"], config, fraction=0.2)
    assert (default.full_steps, default.sweep_steps) == (3250, 650)


# -- end to end ---------------------------------------------------------------


def test_tiny_sweep_through_benchopt(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NANOGPT_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = write_config(
        tmp_path / "tiny.yml",
        [
            "model=track3-tiny",
            "seq_len=64",
            "batch_tokens=1024",
            "val_tokens=4096",
            "train_steps=8",
            "max_steps=8",
            "eval_every=2",
            "eval_every_final=1",
            "micro_batch_size=8",
            "device=cpu",
            "compile=False",
        ],
    )
    out, work = tmp_path / "best.yml", tmp_path / "work"
    grid = [0.001, 0.01]
    status = sweep.main(
        [
            "adamw",
            "--config",
            str(config),
            "--grid",
            "lr=" + ",".join(map(str, grid)),
            "--out",
            str(out),
            "--work-dir",
            str(work),
            "--no-cache",
        ]
    )
    printed, err = capsys.readouterr()
    assert status == 0, printed[-3000:] + err[-3000:]
    assert "steps per run: 4 = 0.5 x N=8" in printed
    # lr=0.001 is adamw's default: the trainer's note on full-size defaults
    # is not for a sweep's grid point.
    assert "full-size defaults" not in err
    results = work / "results.parquet"
    assert results.is_file()
    df = pd.read_parquet(results)
    assert df["solver_name"].nunique() == 2
    assert df["objective_step"].max() == 4
    assert set(df["objective_train_steps"]) == {4.0}
    assert (work / "sweep.yml").is_file()
    text = out.read_text()
    written = yaml.safe_load(text)
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any("0.001" in line and "ok" in line for line in comments)  # ranked
    _, _, params = parse_name(written["solver"][0])
    assert params["lr"] in grid and set(params) == {"lr"}
    _, _, objective = parse_name(written["objective"][0])
    assert objective["train_steps"] == 8
    assert written["n-repetitions"] == 4
    # The best is the lower mean final validation loss of the two.
    final = df.sort_values("objective_step").groupby("solver_name").last()
    best_name = final["objective_val_loss"].idxmin()
    assert f"lr={params['lr']}," in best_name


def test_a_reused_work_folder_starts_clean(tmp_path):
    """benchopt would write results_1.parquet beside an old results.parquet
    and the ranking would read the old rows: the old file and its run
    statuses go first."""
    from benchmark_tools.results import ledger_folder
    from benchmark_tools.sweep import clear_results

    results = tmp_path / "results.parquet"
    results.write_bytes(b"old")
    status = ledger_folder(results) / "runs" / "abc" / "run_status.json"
    status.parent.mkdir(parents=True)
    status.write_text("{}")
    clear_results(results)
    assert not results.exists() and not status.exists()
    clear_results(results)  # nothing there: no error


# -- contributor frictions (issue 14) ----------------------------------------


def test_the_best_value_at_the_edge_of_its_grid_is_pointed_out():
    grid = dict(lr=[0.01, 0.02, 0.04], weight_decay=[0.0, 0.1], warmup=[10, 20, 30])
    assert edge_notes(grid, dict(lr=0.02, weight_decay=0.1, warmup=20)) == [
        "the best weight_decay=0.1 is the largest value of its grid: the optimum "
        "may lie beyond it; sweep the extended grid --grid weight_decay=0.0,0.1,0.2"
    ]
    notes = edge_notes(grid, dict(lr=0.01, weight_decay=0.0, warmup=30))
    assert "--grid lr=0.005,0.01,0.02,0.04" in notes[0]  # ratio 2, below
    assert notes[1].startswith("the best weight_decay=0.0 is the smallest")
    assert "--grid" not in notes[1]  # nothing natural below 0
    assert "--grid warmup=10,20,30,45" in notes[2]  # int, ratio 1.5
    assert (
        edge_notes(
            dict(lr=[0.01], schedule=["wsd", "cosine"]), {"lr": 0.01, "schedule": "wsd"}
        )
        == []
    )


def test_the_written_config_defaults_to_the_untracked_work_folder(
    tmp_path, gpu_config, capsys
):
    work = tmp_path / "work"
    args = ["adamw", "--config", str(gpu_config), "--work-dir", str(work)]
    assert (
        sweep.main([*args, "--grid", "lr=0.01", "--fraction", "0.1", "--dry-run"]) == 0
    )
    out = capsys.readouterr().out
    assert f"would go to {work / 'best_adamw.yml'}" in out
    help_text = sweep.build_parser().format_help()
    assert "outputs/" in help_text and "configs/" not in help_text.split("--out")[1]


def test_the_trainers_full_size_note_is_dropped_from_benchopts_stderr(
    make_problem, capfd
):
    make_solver("adamw").set_objective(make_problem())
    note = capfd.readouterr().err
    assert FULL_SIZE_NOTE in note  # the trainer's wording, as the filter knows it
    script = "import sys; sys.stderr.write(sys.argv[1]); print('kept', file=sys.stderr)"
    assert sweep.run_benchopt([sys.executable, "-c", script, note]) == 0
    err = capfd.readouterr().err
    assert err == "kept\n"  # the note and the blank line before it are gone
