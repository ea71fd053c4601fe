"""The results module: Track 3's rules, runs from benchopt files and ledgers,
the per-problem table and the command line."""

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark_tools.leaderboard import select as select_entries
from benchmark_tools.results import (
    collect_runs,
    load_results,
    load_runs,
    passes_rule,
    read_ledgers,
    render,
    results_tables,
    rule_margin,
    short_names,
    split_name,
)
from benchmark_tools.results.runs import ResultsError, sanitize
from benchmark_tools.results.significance import pairwise_lhs, pairwise_significant

ROOT = Path(__file__).resolve().parents[1]
OBJ = "nanoGPT validation loss[model=track3,batch_tokens=524288]"
OBJ_B = "nanoGPT validation loss[model=track3,batch_tokens=262144]"
DATA = "fineweb[data_dir=/tmp/fw]"  # '/' is sanitised in benchopt's folders
MUON = "muon[lr=0.025,weight_decay=0.05,train_steps=100]"
ADAMW = "adamw[lr=0.0015,train_steps=100]"


# -- significance: the worked examples of the Track 3 README -----------------


def test_pairwise_13_vs_11_not_significant():
    lhs = pairwise_lhs(3210, 3.2785, 10, 3225, 3.2785, 16)
    assert lhs == pytest.approx(0.00167, abs=5e-6)
    assert not pairwise_significant(3210, 3.2785, 10, 3225, 3.2785, 16)


def test_pairwise_13_vs_8_not_significant_with_either_n():
    # The Track 3 README computes this example with n=16 for #8, although its
    # table lists #8 with n=10: 0.0027 with n=16, 0.00246 with n=10. Either
    # way #13 is not significantly better than #8.
    assert pairwise_lhs(3210, 3.2785, 10, 3250, 3.2778, 16) == pytest.approx(
        0.0027, abs=5e-5
    )
    assert pairwise_lhs(3210, 3.2785, 10, 3250, 3.2778, 10) == pytest.approx(
        0.00246, abs=5e-6
    )
    assert not pairwise_significant(3210, 3.2785, 10, 3250, 3.2778, 16)
    assert not pairwise_significant(3210, 3.2785, 10, 3250, 3.2778, 10)


def test_pairwise_muon_12_vs_6_significant():
    lhs = pairwise_lhs(3325, 3.2790, 20, 3375, 3.2788, 20)
    assert lhs == pytest.approx(0.00648, abs=5e-6)
    assert pairwise_significant(3325, 3.2790, 20, 3375, 3.2788, 20)
    # The test is one-sided: #6 is not better than #12.
    assert not pairwise_significant(3375, 3.2788, 20, 3325, 3.2790, 20)


@pytest.mark.parametrize(
    "mean, n, expected",
    [(3.2759, 1, True), (3.2761, 1, False), (3.2779, 4, True), (3.2781, 4, False)],
)
def test_rule_boundaries(mean, n, expected):
    assert passes_rule(mean, n) is expected
    assert (rule_margin(mean, n) >= 0.004) is expected


def test_rule_margin_value_and_target():
    assert rule_margin(3.275, 4) == pytest.approx(0.010)
    assert rule_margin(3.375, 4, target=3.38) == pytest.approx(0.010)
    assert passes_rule(3.375, 4, target=3.38)
    assert not passes_rule(3.375, 4)
    assert math.isnan(rule_margin(math.nan, 3))
    assert not passes_rule(3.0, 0)


# -- synthetic benchopt results ---------------------------------------------


def run_rows(
    solver,
    rep,
    losses,
    times=None,
    n_steps=100,
    objective=OBJ,
    dataset=DATA,
    diverged=False,
    new_columns=True,
):
    """benchopt rows of one run: ``losses`` maps step -> validation loss."""
    steps = sorted(losses)
    times = times or {}
    rows = []
    for step in steps:
        row = dict(
            solver_name=solver,
            objective_name=objective,
            dataset_name=dataset,
            idx_rep=rep,
            time=float(times.get(step, step / 10)),
            objective_val_loss=float(losses[step]),
            objective_train_loss=float(losses[step]) + 0.01,
            objective_step=float(step),
            objective_tokens=float(step * 1024),
            objective_reached_target=float(losses[step] <= 3.28),
            objective_budget_used=step / n_steps,
        )
        if new_columns:
            row.update(
                objective_train_steps=float(n_steps),
                objective_target=3.28,
                objective_diverged=float(diverged and step == steps[-1]),
            )
        rows.append(row)
    return rows


def write_ledger(parquet, solver, rep, status, step, n_steps=100, objective=OBJ):
    folder = (
        parquet.parent
        / parquet.stem
        / sanitize(DATA)
        / sanitize(objective)
        / sanitize(solver)
        / f"rep_{rep}"
    )
    folder.mkdir(parents=True)
    ledger = dict(
        solver_name=solver,
        objective_name=objective,
        dataset_name=DATA,
        idx_rep=rep,
        status=status,
        step=step,
        train_steps=n_steps,
        message="CUDA error: an illegal memory access" if status == "error" else "",
    )
    (folder / "run_status.json").write_text(json.dumps(ledger))


# muon: 3 complete seeds. Mean at step 50 = 3.2780 (margin 0.00346: fail), at
# 75 = 3.2770 (margin 0.00520: pass), so the earliest passing step is 75. Seed
# 2 alone was also evaluated at step 60 (3.20): a step not evaluated in every
# seed must not count. Final losses 3.274, 3.275, 3.276: mean 3.275, std 0.001,
# margin 0.005 * sqrt(3) = 0.00866. Times to N: 10, 12, 14 s.
MUON_CURVES = [
    {0: 10.8, 50: 3.2790, 75: 3.2760, 100: 3.2740},
    {0: 10.8, 50: 3.2770, 75: 3.2780, 100: 3.2750},
    {0: 10.8, 50: 3.2780, 60: 3.2000, 75: 3.2770, 100: 3.2760},
]
MUON_TIMES = [10.0, 12.0, 14.0]


def two_solvers(path):
    """2 solvers x 3 seeds. adamw: seed 0 completes at 3.2700 (a margin of
    0.01 on its own), seed 1 diverges at step 60 (NaN rows), seed 2 crashed
    (its ledger only)."""
    rows = []
    for rep, (curve, t) in enumerate(zip(MUON_CURVES, MUON_TIMES)):
        rows += run_rows(MUON, rep, curve, times={100: t})
    rows += run_rows(ADAMW, 0, {0: 10.8, 50: 3.31, 75: 3.29, 100: 3.2700})
    rows += run_rows(ADAMW, 1, {0: 10.8, 50: 3.5, 60: math.nan}, diverged=True)
    pd.DataFrame(rows).to_parquet(path)
    write_ledger(path, ADAMW, 2, "error", 30)
    write_ledger(path, MUON, 0, "done", 100)  # a ledger beside its rows
    return path


def row_of(table, label):
    [row] = [r for r in table.rows if r.label == label]
    return row


def test_table_two_solvers_failed_runs_and_baseline(tmp_path):
    path = two_solvers(tmp_path / "benchopt_run_a.parquet")
    [table] = results_tables(load_runs([path]), baseline="muon")
    assert (table.objective_name, table.dataset_name) == (OBJ, DATA)
    assert table.target == 3.28 and table.target_source == "objective_target"

    muon = row_of(table, "muon")
    assert (muon.train_steps, muon.n_runs, muon.n_failed) == (100, 3, 0)
    assert muon.val_loss_mean == pytest.approx(3.275)
    assert muon.val_loss_std == pytest.approx(0.001)
    assert muon.rule_margin == pytest.approx(0.005 * math.sqrt(3))
    assert muon.verdict == "PASS"
    assert muon.earliest_pass_step == 75
    assert muon.time_mean == pytest.approx(12.0)
    assert muon.pairwise_verdict == "baseline"

    adamw = row_of(table, "adamw")
    assert (adamw.train_steps, adamw.n_runs, adamw.n_failed) == (100, 3, 2)
    assert adamw.failures == {"diverged": 1, "crashed": 1}
    assert adamw.val_loss_mean == pytest.approx(3.27)  # the completed seed
    assert adamw.rule_margin >= 0.004  # would pass on its own ...
    assert adamw.verdict == "FAIL"  # ... but failed runs make it FAIL
    assert adamw.earliest_pass_step is None
    # (3.275 - 3.27) / sqrt(1/1 + 1/3): better on paper, but incomplete.
    assert adamw.pairwise_lhs == pytest.approx(0.005 / math.sqrt(4 / 3))
    assert adamw.pairwise_verdict == "incomplete"

    assert table.rows[0] is muon  # passing rows first
    assert any(
        "rep 2 crashed" in note and "illegal memory" in note for note in table.notes
    )
    assert any("rep 1 diverged" in note for note in table.notes)

    text = render([table], "text")
    assert text.splitlines()[0].startswith(f"problem: objective {OBJ} | dataset {DATA}")
    [muon_line] = [line for line in text.splitlines() if line.startswith("muon ")]
    assert muon_line.split() == [
        "muon", "100", "3", "0", "3.2750", "0.0010", "0.0087", "PASS", "75",
        "12.0", "-", "baseline",
    ]  # fmt: skip
    [adamw_line] = [line for line in text.splitlines() if line.startswith("adamw ")]
    assert adamw_line.split() == [
        "adamw", "100", "3", "2", "3.2700", "-", "0.0100", "FAIL", "-", "10.0",
        "0.00433", "incomplete",
    ]  # fmt: skip


def test_ledgers_read_and_matched(tmp_path):
    path = two_solvers(tmp_path / "run.parquet")
    ledgers = read_ledgers(path)
    assert sorted((d["solver_name"], d["idx_rep"]) for d in ledgers) == [
        (ADAMW, 2),
        (MUON, 0),
    ]
    runs = collect_runs(load_results([path]), ledgers)
    assert len(runs) == 6  # the muon ledger matches its rows: no extra run
    crashed = [r for r in runs if r.status == "crashed"]
    assert [(r.solver_name, r.idx_rep, r.train_steps) for r in crashed] == [
        (ADAMW, 2, 100)
    ]
    assert len(collect_runs(load_results([path]))) == 5  # without ledgers


def pairwise_table(tmp_path):
    """muon (N=100, mean 3.275, n=3) against rows with known verdicts."""
    offsets = (-0.001, 0.0, 0.001)
    rows = []
    for rep, curve in enumerate(MUON_CURVES):
        rows += run_rows(MUON, rep, curve)
    variants = {
        # solver: (N, mean)
        "better[x=1]": (100, 3.2690),  # 0.006 / sqrt(2/3) = 0.00735
        "worse[x=1]": (100, 3.2800),  # -0.005 / sqrt(2/3): muon is better
        "close[x=1]": (100, 3.2740),  # 0.001 / sqrt(2/3) = 0.00122
        # 50 steps fewer are worth 0.00225: (-0.004 + 0.00225) / sqrt(2/3)
        "short[x=1,train_steps=50]": (50, 3.2790),
    }
    for solver, (n_steps, mean) in variants.items():
        for rep, offset in enumerate(offsets):
            curve = {0: 10.8, n_steps: mean + offset}
            rows += run_rows(solver, rep, curve, n_steps=n_steps)
    path = tmp_path / "pairs.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_pairwise_column(tmp_path):
    [table] = results_tables(load_runs([pairwise_table(tmp_path)]), baseline="muon")
    expected = {
        "better": (0.006 / math.sqrt(2 / 3), "better"),
        "worse": (-0.005 / math.sqrt(2 / 3), "worse"),
        "close": (0.001 / math.sqrt(2 / 3), "n.s."),
        "short": (-0.00175 / math.sqrt(2 / 3), "n.s."),
    }
    for label, (lhs, verdict) in expected.items():
        row = row_of(table, label)
        assert row.pairwise_lhs == pytest.approx(lhs, abs=1e-9), label
        assert row.pairwise_verdict == verdict, label
    assert row_of(table, "short").train_steps == 50


def test_baseline_matching(tmp_path):
    path = pairwise_table(tmp_path)
    runs = load_runs([path])
    table = results_tables(runs, baseline=MUON)[0]  # the full solver name
    assert table.baseline == "muon"
    with pytest.raises(ResultsError, match="matches no solver"):
        results_tables(runs, baseline="sgd")
    # Two muon configurations: "muon" is ambiguous, a label or @N picks one.
    rows = [*pd.read_parquet(path).to_dict("records")]
    other = "muon[lr=0.05,weight_decay=0.05,train_steps=100]"
    rows += run_rows(other, 0, {0: 10.8, 100: 3.27})
    pd.DataFrame(rows).to_parquet(path)
    runs = load_runs([path])
    with pytest.raises(ResultsError, match="several rows"):
        results_tables(runs, baseline="muon")
    table = results_tables(runs, baseline="muon[lr=0.05]")[0]
    assert table.baseline == "muon[lr=0.05]"
    # (3.27 - 3.275) / sqrt(1/3 + 1/1) = -0.00433: the baseline is better.
    assert row_of(table, "muon[lr=0.025]").pairwise_verdict == "worse"
    assert results_tables(runs, baseline="better@100")[0].baseline == "better"
    with pytest.raises(ResultsError, match="matches no solver"):
        results_tables(runs, baseline="better@50")


def test_two_objectives_two_tables(tmp_path):
    first = two_solvers(tmp_path / "a.parquet")
    rows = []
    for rep, curve in enumerate(MUON_CURVES[:2]):
        rows += run_rows(MUON, rep, curve, objective=OBJ_B)
    second = tmp_path / "b.parquet"
    pd.DataFrame(rows).to_parquet(second)
    tables = results_tables(load_runs([first, second]))
    assert [t.objective_name for t in tables] == [OBJ, OBJ_B]
    muon_a, muon_b = (row_of(t, "muon") for t in tables)
    assert (muon_a.n_runs, muon_b.n_runs) == (3, 2)
    assert muon_b.val_loss_mean == pytest.approx(3.2745)
    assert "adamw" not in {r.label for r in tables[1].rows}
    text = render(tables, "text")
    headers = [line for line in text.splitlines() if line.startswith("problem:")]
    assert [OBJ in headers[0], OBJ_B in headers[1]] == [True, True]


def test_same_problem_in_two_files_is_combined(tmp_path):
    a = two_solvers(tmp_path / "a.parquet")
    rows = run_rows(MUON, 0, {0: 10.8, 100: 3.2770}, times={100: 20.0})
    b = tmp_path / "b.parquet"
    pd.DataFrame(rows).to_parquet(b)
    [table] = results_tables(load_runs([a, b, a]))  # a file given twice counts once
    muon = row_of(table, "muon")
    assert muon.n_runs == 4
    assert muon.val_loss_mean == pytest.approx((3.274 + 3.275 + 3.276 + 3.277) / 4)
    assert muon.time_mean == pytest.approx(14.0)
    assert muon.earliest_pass_step == 100  # steps 50 and 75 not in every run
    assert set(load_results([a, b])["source_file"]) == {str(a), str(b)}


def test_older_files_without_the_new_columns(tmp_path):
    """data_name instead of dataset_name, no train_steps/target/diverged
    columns: N from the solver name, the target 3.28 (or --target), divergence
    from a NaN validation loss, and a run that stopped early is incomplete."""
    solver = "muon[lr=0.025,train_steps=100]"
    rows = run_rows(solver, 0, {0: 10.8, 100: 3.2750}, new_columns=False)
    rows += run_rows(solver, 1, {0: 10.8, 50: 3.2800}, new_columns=False)
    rows += run_rows(solver, 2, {0: 10.8, 50: math.nan}, new_columns=False)
    df = pd.DataFrame(rows).rename(columns={"dataset_name": "data_name"})
    df = df.drop(columns="objective_budget_used")
    path = tmp_path / "old.parquet"
    df.to_parquet(path)
    runs = load_runs([path])
    assert [(r.idx_rep, r.train_steps, r.status) for r in runs] == [
        (0, 100, "done"),
        (1, 100, "unfinished"),
        (2, 100, "diverged"),
    ]
    [table] = results_tables(runs)
    assert (table.target, table.target_source) == (3.28, "default")
    [row] = table.rows
    assert (row.n_runs, row.n_failed, row.verdict) == (3, 2, "FAIL")
    [table] = results_tables(runs, target=3.3)
    assert (table.target, table.rows[0].rule_margin) == (3.3, pytest.approx(0.025))


def test_train_steps_from_budget_or_last_step(tmp_path):
    # No train_steps anywhere. A run that stopped at step 100 of a 200-step
    # budget above the target (a timeout) is incomplete with N=200 ...
    curve = {0: 10.8, 100: 3.30}
    df = pd.DataFrame(run_rows("sgd", 0, curve, n_steps=200, new_columns=False))
    [run] = collect_runs(df)
    assert (run.train_steps, run.status) == (200, "unfinished")
    # ... without budget_used, N is the last step.
    [run] = collect_runs(df.drop(columns="objective_budget_used"))
    assert (run.train_steps, run.status) == (100, "done")
    # Older files stopped runs at the target by design: N is the last step.
    curve = {0: 10.8, 100: 3.27}
    df = pd.DataFrame(run_rows("sgd", 0, curve, n_steps=200, new_columns=False))
    [run] = collect_runs(df)
    assert (run.train_steps, run.status) == (100, "done")


def write_status(result, solver, rep, status, step, n_steps, message=""):
    """A run_status.json where the trainer writes it:
    ``outputs/<stem>/runs/<key>/`` with the run's names inside."""
    folder = result / "runs" / f"{abs(hash((solver, rep))):016x}"[:16]
    folder.mkdir(parents=True)
    record = dict(
        status=status,
        step=step,
        train_steps=n_steps,
        message=message,
        solver_name=solver,
        objective_name=OBJ,
        dataset_name=DATA,
        idx_rep=rep,
    )
    (folder / "run_status.json").write_text(json.dumps(record))


MUON_200 = "muon[lr=0.025,train_steps=200]"
TIMEOUT = "benchopt stopped the run (--timeout 600)"


def cut_short(tmp_path):
    """Issue 13's demo: muon at N=200, seed 0 stopped by benchopt's timeout
    at step 180 although its status file says done, with a loss that would
    pass on its own; seed 1 killed after step 200 was evaluated (status still
    "running"); seed 2 says unfinished (why given); seed 3 complete."""
    rows = run_rows(MUON_200, 0, {0: 10.8, 100: 3.30, 180: 3.2500}, n_steps=200)
    rows += run_rows(MUON_200, 1, {0: 10.8, 100: 3.30, 200: 3.2700}, n_steps=200)
    rows += run_rows(MUON_200, 2, {0: 10.8, 100: 3.31}, n_steps=200)
    rows += run_rows(MUON_200, 3, {0: 10.8, 100: 3.30, 200: 3.2710}, n_steps=200)
    path = tmp_path / "cut.parquet"
    pd.DataFrame(rows).to_parquet(path)
    result = tmp_path / "cut"
    write_status(result, MUON_200, 0, "done", 180, 200)
    write_status(result, MUON_200, 1, "running", 0, 200)
    write_status(result, MUON_200, 2, "unfinished", 100, 200, TIMEOUT)
    write_status(result, MUON_200, 3, "done", 200, 200)
    return path


def test_a_run_that_stopped_before_n_is_unfinished_whatever_its_status(tmp_path):
    runs = {r.idx_rep: r for r in load_runs([cut_short(tmp_path)])}
    assert {k: r.status for k, r in runs.items()} == {
        0: "unfinished",  # step 180 < N=200, although the status says done
        1: "unfinished",  # killed: the status stayed "running"
        2: "unfinished",
        3: "done",
    }
    assert runs[0].last_step == 180 and runs[0].train_steps == 200
    assert runs[0].message.startswith("unfinished at step 180 of N=200")
    assert "killed" in runs[1].message
    assert runs[2].message == f"unfinished at step 100 of N=200: {TIMEOUT}"


def test_an_unfinished_run_never_passes(tmp_path):
    path = cut_short(tmp_path)
    [table] = results_tables(load_runs([path]))
    [row] = table.rows
    assert (row.n_runs, row.n_failed, row.failures) == (4, 3, {"unfinished": 3})
    # The one complete seed (3.271) passes on its own, seed 0's step-180
    # loss is not a final loss: FAIL, with the reason in the notes.
    assert row.val_loss_mean == pytest.approx(3.271)
    assert row.rule_margin >= 0.004 and row.verdict == "FAIL"
    assert row.earliest_pass_step is None
    text = render([table], "text")
    [line] = [line for line in text.splitlines() if line.startswith("muon ")]
    assert line.split()[:8] == [
        "muon", "200", "4", "3", "3.2710", "-", "0.0090", "FAIL"
    ]  # fmt: skip
    assert "rep 0 unfinished at step 180 of N=200" in text
    assert TIMEOUT in text
    # Alone (no status file: an older result), the cut run is a failed row
    # with no final loss.
    rows = run_rows(MUON_200, 0, {0: 10.8, 180: 3.2500}, n_steps=200)
    path = tmp_path / "alone.parquet"
    pd.DataFrame(rows).to_parquet(path)
    [table] = results_tables(load_runs([path]))
    [row] = table.rows
    assert (row.n_failed, row.verdict) == (1, "FAIL")
    assert math.isnan(row.val_loss_mean)


def test_a_result_folder_without_parquet_lists_its_failed_runs(tmp_path):
    """Every run failed: benchopt wrote no parquet, only the folder."""
    result = tmp_path / "outputs" / "benchopt_run_x"
    write_status(result, MUON, 0, "error", 3, 100, "CUDA error: out of memory")
    write_status(result, MUON, 1, "unfinished", 40, 100, TIMEOUT)
    write_status(result, ADAMW, 0, "running", 0, 100)
    write_status(result, ADAMW, 1, "diverged", 12, 100, "loss is nan")
    for path in (result, result.with_suffix(".parquet")):  # the folder or the
        runs = load_runs([path])  # would-be parquet
        assert sorted((r.solver_name, r.idx_rep, r.status) for r in runs) == [
            (ADAMW, 0, "unfinished"),
            (ADAMW, 1, "diverged"),
            (MUON, 0, "crashed"),
            (MUON, 1, "unfinished"),
        ]
        assert {r.source_file for r in runs} == {str(result)}
    [table] = results_tables(runs)
    assert [r.verdict for r in table.rows] == ["FAIL", "FAIL"]
    assert sum("out of memory" in note for note in table.notes) == 1
    for path in (result, result.with_suffix(".parquet")):
        out = cli(path)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0] == (
            "benchopt_run_x (no parquet file: runs from run_status.json): "
            "4 run(s), 1 problem(s)"
        )
        assert "rep 1 unfinished at step 40 of N=100" in out.stdout
        assert "rep 0 crashed (CUDA error: out of memory)" in out.stdout
    # A folder holding no status file is no result; a parquet beside a
    # folder is the result.
    empty = tmp_path / "outputs" / "empty"
    empty.mkdir()
    with pytest.raises(ResultsError, match="no run_status.json"):
        load_runs([empty])
    with pytest.raises(ResultsError, match="no such file"):
        load_runs([empty.with_suffix(".parquet")])
    both = two_solvers(tmp_path / "outputs" / "both.parquet")
    assert len(load_runs([both.with_suffix("")])) == 6
    assert len(load_runs([both, both.with_suffix("")])) == 6  # once


def test_newest_result_is_never_an_older_unrelated_one(tmp_path):
    import os

    from benchmark_tools.results import newest_result

    outputs = tmp_path / "outputs"
    outputs.mkdir()
    old = two_solvers(outputs / "old.parquet")
    os.utime(old, (1, 1))
    for ledger in (outputs / "old").glob("**/run_status.json"):
        os.utime(ledger, (1, 1))
    assert newest_result(outputs) == old
    failed = outputs / "all_failed"
    write_status(failed, MUON, 0, "error", 3, 100, "boom")
    assert newest_result(outputs) == failed


def test_short_labels_keep_only_differing_parameters():
    names = ["muon[lr=0.02,wd=0.05]", "muon[lr=0.03,wd=0.05]", "adamw[lr=0.001]"]
    assert short_names(names) == {
        "muon[lr=0.02,wd=0.05]": "muon[lr=0.02]",
        "muon[lr=0.03,wd=0.05]": "muon[lr=0.03]",
        "adamw[lr=0.001]": "adamw",
    }
    assert split_name("adamw[lr=0.1,betas=(0.9, 0.95)]") == (
        "adamw",
        {"lr": "0.1", "betas": "(0.9, 0.95)"},
    )


def test_label_ignores_train_steps_and_full_names(tmp_path):
    path = pairwise_table(tmp_path)
    [table] = results_tables(load_runs([path]))
    assert "short" in {r.label for r in table.rows}  # train_steps is column N
    [table] = results_tables(load_runs([path]), full_names=True)
    assert MUON in {r.label for r in table.rows}


def test_machine_formats(tmp_path):
    tables = results_tables(
        load_runs([two_solvers(tmp_path / "a.parquet")]), baseline="muon"
    )
    [problem] = json.loads(render(tables, "json"))
    assert problem["objective_name"] == OBJ and problem["baseline"] == "muon"
    by_label = {row["label"]: row for row in problem["rows"]}
    assert by_label["muon"]["earliest_pass_step"] == 75
    assert by_label["adamw"]["val_loss_std"] is None  # NaN -> null
    assert by_label["adamw"]["failures"] == {"diverged": 1, "crashed": 1}
    records = list(csv.DictReader(io.StringIO(render(tables, "csv"))))
    assert [(r["label"], r["verdict"], r["n_failed"]) for r in records] == [
        ("muon", "PASS", "0"),
        ("adamw", "FAIL", "2"),
    ]
    assert {r["objective_name"] for r in records} == {OBJ}
    markdown = render(tables, "markdown")
    assert "| muon | 100 | 3 | 0 | 3.2750 |" in markdown
    rst = render(tables, "rst").splitlines()
    assert rst[2].startswith("=====") and rst[2] == rst[4]


def test_empty_result(tmp_path):
    path = tmp_path / "empty.parquet"
    pd.DataFrame(run_rows(MUON, 0, {0: 10.8})).iloc[:0].to_parquet(path)
    tables = results_tables(load_runs([path]))
    assert tables == []
    assert render(tables, "text").startswith("no runs")
    assert render(tables, "csv").startswith("objective_name,dataset_name,target,")
    assert json.loads(render(tables, "json")) == []


def test_not_a_result_file(tmp_path):
    with pytest.raises(ResultsError, match="no such file"):
        load_results([tmp_path / "missing.parquet"])
    text = tmp_path / "notes.parquet"
    text.write_text("hello")
    with pytest.raises(ResultsError, match="unreadable as parquet"):
        load_results([text])
    other = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1.0]}).to_parquet(other)
    with pytest.raises(ResultsError, match="no column solver_name"):
        load_results([other])


# -- command line -------------------------------------------------------------


def cli(*args, script=None):
    command = [sys.executable]
    command += [str(script)] if script else ["-m", "benchmark_tools.results"]
    return subprocess.run(
        [*command, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_prints_the_table(tmp_path):
    path = two_solvers(tmp_path / "benchopt_run_x.parquet")
    result = cli(path, "--baseline", "muon")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "benchopt_run_x.parquet: 6 run(s), 1 problem(s)"
    assert any(line.startswith(f"problem: objective {OBJ}") for line in lines)
    [muon] = [line for line in lines if line.startswith("muon ")]
    assert muon.split()[7:9] == ["PASS", "75"]
    [adamw] = [line for line in lines if line.startswith("adamw ")]
    assert adamw.split()[-2:] == ["0.00433", "incomplete"]
    result = cli(path, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 1


def test_cli_errors(tmp_path):
    result = cli(tmp_path / "missing.parquet")
    assert result.returncode == 2
    assert "missing.parquet: no such file" in result.stderr
    assert result.stdout == ""
    other = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1.0]}).to_parquet(other)
    result = cli(other)
    assert result.returncode == 2 and "not a benchopt result" in result.stderr
    path = two_solvers(tmp_path / "a.parquet")
    result = cli(path, "--baseline", "sgd")
    assert result.returncode == 2 and "matches no solver" in result.stderr


def test_summarize_results_script_delegates(tmp_path):
    path = two_solvers(tmp_path / "a.parquet")
    result = cli(
        path, "--format", "markdown", script=ROOT / "benchmarks/summarize_results.py"
    )
    assert result.returncode == 0, result.stderr
    assert "| muon | 100 | 3 | 0 | 3.2750 |" in result.stdout
    result = cli(
        tmp_path / "missing.parquet", script=ROOT / "benchmarks/summarize_results.py"
    )
    assert result.returncode == 2


def test_newest_result(tmp_path):
    import os

    from benchmark_tools.results import newest_result

    assert newest_result(tmp_path) is None
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    old.write_bytes(b""), new.write_bytes(b"")
    os.utime(old, (1, 1))
    assert newest_result(tmp_path) == new


# -- published Track 3 entries -----------------------------------------------


def near_record(path):
    """muon 3 seeds at N=3200 (finals 3.2765, 3.2770, 3.2775: mean 3.2770)."""
    solver = "muon[lr=0.025,train_steps=3200]"
    rows = []
    for rep, final in enumerate((3.2765, 3.2770, 3.2775)):
        rows += run_rows(solver, rep, {0: 10.8, 3200: final}, n_steps=3200)
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_baseline_published_entry(tmp_path):
    path = near_record(tmp_path / "r.parquet")
    [table] = results_tables(load_runs([path]), baseline="published:36")
    [row] = table.rows  # the published baseline is not shown as a row ...
    # By hand: #36 is 3250 steps, mean 3.2787, n=10. (3.2787 - 3.2770) +
    # 50 / 100 * 0.0045 = 0.00395, over sqrt(1/3 + 1/10) = 0.65828.
    assert row.pairwise_lhs == pytest.approx(0.0060005, abs=1e-6)
    assert row.pairwise_verdict == "better"
    assert table.baseline.startswith("#36 ") and table.baseline.endswith("(published)")
    assert any("20260610_tuned_baseline_3250" in note for note in table.notes)
    # ... unless asked: published rows, marked, judged by the same rule.
    [table] = results_tables(
        load_runs([path]), baseline="published:36", published=select_entries("36,46")
    )
    rows = {r.label.split()[0]: r for r in table.rows}
    assert set(rows) == {"muon", "#36", "#46"}
    tuned = rows["#36"]
    assert tuned.published.number == 36 and tuned.pairwise_verdict == "baseline"
    assert (tuned.train_steps, tuned.n_runs, tuned.val_loss_mean) == (3250, 10, 3.2787)
    assert tuned.rule_margin == pytest.approx(0.0013 * math.sqrt(10))
    assert tuned.verdict == "PASS" and tuned.runs == []
    # #46 against #36: (0.0004 + 5.6 * 0.0045) / sqrt(1/8 + 1/10) = 0.05397.
    assert rows["#46"].pairwise_lhs == pytest.approx(0.0256 / math.sqrt(0.225))
    assert rows["muon"].pairwise_lhs == pytest.approx(0.0060005, abs=1e-6)
    records = list(csv.DictReader(io.StringIO(render([table], "csv"))))
    assert sorted(r["published"] for r in records) == ["", "36", "46"]


def test_published_rows_on_another_problem_say_so(tmp_path):
    path = two_solvers(tmp_path / "a.parquet")
    [table] = results_tables(
        load_runs([path]), target=3.3, published=select_entries("2")
    )
    assert any("not like for like" in note for note in table.notes)
    [table] = results_tables(load_runs([path]), published=select_entries("2"))
    assert not any("not like for like" in note for note in table.notes)


def test_cli_published(tmp_path):
    path = near_record(tmp_path / "r.parquet")
    result = cli(path, "--baseline", "published:36", "--published")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    [tuned] = [line for line in lines if line.startswith("#36 ")]
    assert "(published)" in tuned and tuned.split()[-1] == "baseline"
    [muon] = [line for line in lines if line.startswith("muon ")]
    assert muon.split()[-2:] == ["0.00600", "better"]
    assert any(line.startswith("#46 ") for line in lines)
    result = cli(path, "--baseline", "published:99")
    assert result.returncode == 2 and "entries 1 to 46" in result.stderr
    result = cli(path, "--published", "36,x")
    assert result.returncode == 2 and "'x'" in result.stderr
