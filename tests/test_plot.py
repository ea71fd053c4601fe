"""``benchopt plot`` on this benchmark's results, in both modes.

A tiny real ``benchopt run`` (simulated data, tiny GPT, 6 steps, 2
repetitions) gives a result file with the real column layout; variants of it
add solvers, a dataset without a loss floor, a metric evaluated less often
and runs that reach the target. Each test works on a copy of the benchmark,
so ``outputs/`` of the checkout is left alone."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark_tools import plotting as offline
from benchmark_tools.plotting import make_offline
from benchmark_utils import plotting
from benchmark_utils.plotting import (
    curve,
    metric_columns,
    short_labels,
    time_to_target,
)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK_PARTS = [
    "objective.py",
    "config.yml",
    "benchmark_utils",
    "datasets",
    "solvers",
    "plots",
]
TINY_OBJECTIVE = (
    "nanoGPT validation loss[model=track3-tiny,seq_len=64,batch_tokens=1024,"
    "val_tokens=4096,eval_every=2,max_steps=6,train_steps=6,micro_batch_size=8,"
    "device=cpu,"
    "compile=False]"
)
KINDS = ["training_curves", "time_to_target"]


def copy_benchmark(dest):
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in BENCHMARK_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=ignore)
        else:
            shutil.copy(source, dest / part)
    (dest / "outputs").mkdir()
    return dest


def env(tmp):
    return dict(
        os.environ,
        NANOGPT_BENCH_DATA=str(tmp / "data"),
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
    )


def benchopt(*args, cwd, tmp, timeout=600):
    result = subprocess.run(
        [sys.executable, "-m", "benchopt", *map(str, args)],
        cwd=cwd,
        env=env(tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def run_results(tmp_path_factory):
    """The result frame of a tiny real run (2 repetitions of AdamW)."""
    tmp = tmp_path_factory.mktemp("tiny_run")
    bench = copy_benchmark(tmp / "bench")
    output = tmp / "run.parquet"
    benchopt(
        "run",
        bench,
        "-d",
        "simulated[vocab_size=64]",
        "-s",
        "adamw",
        "-o",
        TINY_OBJECTIVE,
        "-r",
        2,
        "--timeout",
        300,
        "--no-plot",
        "--no-cache",
        "--output",
        output,
        cwd=tmp,
        tmp=tmp,
    )
    return pd.read_parquet(output)


@pytest.fixture
def bench(tmp_path):
    return copy_benchmark(tmp_path / "bench")


def rich_solvers(df):
    """A: the run's AdamW; B: AdamW with another learning rate; C: Muon."""
    solver_a = df["solver_name"].iloc[0]
    solver_b = re.sub(r"(?<=[\[,])lr=[^,\]]+", "lr=0.00777", solver_a)
    assert solver_b != solver_a
    return [solver_a, solver_b, "muon[lr=0.02]"]


def rich_results(df):
    """Three solvers, two datasets (one without a floor: excess_loss all
    NaN), a HellaSwag column evaluated only at the last step, and runs that
    reach the target (all of B's, one of A's two, none of C's)."""
    assert df["objective_train_loss"].isna().iloc[0]  # step 0: no training yet
    frames = []
    for k, solver in enumerate(rich_solvers(df)):
        for dataset in [df["dataset_name"].iloc[0], "fineweb[target=3.28]"]:
            part = df.copy()
            part["solver_name"] = solver
            part["dataset_name"] = dataset
            part["time"] = part["time"] * (1 + k)
            part["objective_val_loss"] += 0.1 * k
            if dataset.startswith("fineweb"):
                part["objective_excess_loss"] = np.nan
            last = part["stop_val"] == part["stop_val"].max()
            part["objective_hellaswag"] = np.where(last, 0.25 + 0.01 * k, np.nan)
            reached = {0: part["idx_rep"] == 0, 1: part["idx_rep"] >= 0}.get(k)
            part["objective_reached_target"] = (
                ((part["stop_val"] >= 4) & reached).astype(float)
                if reached is not None
                else 0.0
            )
            frames.append(part)
    return pd.concat(frames, ignore_index=True)


def expected_files(df):
    """The figure files --no-html should write: one per combination."""
    datasets = short_labels(df["dataset_name"].unique())
    objectives = short_labels(df["objective_name"].unique())
    names = set()
    for d in datasets.values():
        for o in objectives.values():
            for metric in metric_columns(df):
                for x in ("time", "step"):
                    names.add(f"training_curves_{d}_{o}_{metric}_{x}.pdf")
            for measure in ("time", "step"):
                names.add(f"time_to_target_{d}_{o}_{measure}.pdf")
    return names


def figures(bench):
    return {p.name for p in (bench / "outputs").glob("*.pdf")}


# -- benchopt plot, both modes ---------------------------------------------------


def test_plot_a_real_run(run_results, bench, tmp_path):
    """The run's own file (NaN training loss at step 0): --no-html used to
    crash on it and to write every figure under one truncated name."""
    run_results.to_parquet(bench / "outputs" / "run.parquet")
    result = benchopt(
        "plot",
        bench,
        "-f",
        bench / "outputs" / "run.parquet",
        "--no-html",
        "--no-display",
        cwd=tmp_path,
        tmp=tmp_path,
    )
    assert "invalid" not in result.stderr  # the views in config.yml are valid
    expected = expected_files(run_results)
    assert "training_curves_simulated_nanoGPT_validation_loss_val_loss_time.pdf" in (
        expected
    )
    assert len(expected) == 3 * 2 + 2  # val, train, excess loss x 2 axes + 2
    assert figures(bench) == expected
    assert all((bench / "outputs" / name).stat().st_size > 1000 for name in expected)


def test_plot_solvers_repetitions_and_nan_metrics_in_both_modes(
    run_results, bench, tmp_path
):
    df = rich_results(run_results)
    df.to_parquet(bench / "outputs" / "rich.parquet")
    benchopt(
        "plot",
        bench,
        "-f",
        bench / "outputs" / "rich.parquet",
        "--no-html",
        "--no-display",
        cwd=tmp_path,
        tmp=tmp_path,
    )
    expected = expected_files(df)
    assert len(expected) == 2 * (4 * 2 + 2)  # 2 datasets; hellaswag added
    assert figures(bench) == expected

    benchopt(
        "plot",
        bench,
        "-f",
        bench / "outputs" / "rich.parquet",
        "--html",
        "--no-display",
        cwd=tmp_path,
        tmp=tmp_path,
    )
    page = bench / "outputs" / "benchmark_nanogpt_rich.html"
    html = page.read_text()
    assert "Validation loss vs time" in html and "training_curves" in html
    assert offline.PLOTLY_CDN.search(html)  # blank without network
    assert (bench / "outputs" / "benchmark_nanogpt.html").is_file()
    assert make_offline(page)
    html = page.read_text()
    assert not offline.PLOTLY_CDN.search(html) and "plotly.js v" in html
    assert not make_offline(page)  # done once


# -- the plot data, in process -----------------------------------------------------


def plot_data(bench, df):
    from benchopt.benchmark import Benchmark

    data, _ = Benchmark(bench).get_plot_data(df, KINDS)
    return data


def test_curves_are_aligned_and_keys_are_file_names(run_results, bench):
    df = rich_results(run_results)
    data = plot_data(bench, df)
    keys = [key for kind in KINDS for key in data[kind]]
    assert len(keys) == len(expected_files(df))
    assert all("." not in key and "/" not in key and " " not in key for key in keys)
    for key, figure in data["training_curves"].items():
        for trace in figure["data"]:
            n = len(trace["y"])
            assert len(trace["x"]) == n and n > 0, key
            assert not np.isnan(trace["y"]).any(), key
            if "x_low" in trace:
                assert len(trace["x_low"]) == len(trace["x_high"]) == n
    simulated = "simulated"
    objective = "nanoGPT_validation_loss"
    train = data["training_curves"][
        f"training_curves_{simulated}_{objective}_train_loss_step"
    ]["data"]
    # Three solvers; the NaN training loss of step 0 is left out.
    assert len(train) == 3
    assert all(trace["x"] == [2.0, 4.0, 6.0] for trace in train)
    val = data["training_curves"][
        f"training_curves_{simulated}_{objective}_val_loss_time"
    ]["data"]
    assert all(trace["x"][0] >= 0 and len(trace["x"]) == 4 for trace in val)
    assert all("x_low" in trace for trace in val)  # 2 repetitions
    hellaswag = data["training_curves"][
        f"training_curves_{simulated}_{objective}_hellaswag_step"
    ]["data"]
    assert [trace["x"] for trace in hellaswag] == [[6.0]] * 3
    excess = data["training_curves"][
        f"training_curves_fineweb_{objective}_excess_loss_time"
    ]["data"]
    assert excess == []  # no floor: nothing to draw, and no crash
    bars = data["time_to_target"][f"time_to_target_{simulated}_{objective}_step"]
    by_label = {bar["label"]: bar for bar in bars["data"]}
    a, b, c = rich_solvers(run_results)
    legend = short_labels([a, b, c], safe=False)
    assert legend[b] == "adamw[lr=0.00777]" and legend[c] == "muon"
    assert by_label[legend[a]]["y"] == [4.0]
    assert by_label[legend[a]]["text"] == "1/2 runs"
    assert by_label[legend[b]]["y"] == [4.0, 4.0]
    assert by_label[legend[b]]["text"] == ""
    assert by_label["muon (not reached)"]["text"] == "target not reached"
    assert by_label["muon (not reached)"]["y"] == [6.0]  # its longest run


@pytest.mark.skipif(
    not __import__("benchopt").__version__.startswith("1.10"),
    reason="documents benchopt 1.10's objective_curve",
)
def test_benchopt_objective_curve_misaligns_nan_rows(run_results):
    """The root cause of the ``--no-html`` crash with benchopt's default
    plot: y drops the NaN rows (pivot_table), x keeps them."""
    from benchopt.plotting.default_plots import ObjectiveCurvePlot

    df = run_results
    (trace,) = ObjectiveCurvePlot().plot(
        df,
        dataset=df["dataset_name"].iloc[0],
        objective=df["objective_name"].iloc[0],
        objective_column="objective_train_loss",
        X_axis="Time",
    )
    assert len(trace["x"]) == 4 and len(trace["y"]) == 3


# -- helpers -----------------------------------------------------------------------


def test_short_labels():
    names = [
        "adamw[betas=(0.9, 0.95),lr=0.003,warmup=0.05]",
        "adamw[betas=(0.9, 0.95),lr=0.001,warmup=0.05]",
        "muon[lr=0.02]",
        "simulated[concentration=1.0,n_successors=4]",
    ]
    labels = short_labels(names)
    assert labels[names[0]] == "adamw[lr=0p003]"
    assert labels[names[1]] == "adamw[lr=0p001]"
    assert labels[names[2]] == "muon" and labels[names[3]] == "simulated"
    readable = short_labels(names, safe=False)
    assert readable[names[0]] == "adamw[lr=0.003]"
    long = [f"x[{'a' * 80}={i}]" for i in range(2)]
    labels = short_labels(long)
    assert len(set(labels.values())) == 2
    assert all(len(label) <= plotting.MAX_LABEL for label in labels.values())


def test_curve_and_time_to_target_on_a_small_frame():
    df = pd.DataFrame(
        {
            "idx_rep": [0, 0, 0, 1, 1, 1],
            "stop_val": [0, 5, 10, 0, 5, 10],
            "time": [0.0, 1.0, 2.0, 0.0, 3.0, 6.0],
            "objective_step": [0.0, 5.0, 10.0, 0.0, 5.0, 10.0],
            "objective_train_loss": [np.nan, 4.0, 3.0, np.nan, 6.0, 5.0],
            "objective_reached_target": [0.0, 0.0, 1.0, 0.0, 1.0, 1.0],
        }
    )
    points = curve(df, "train_loss", "time")
    assert points["x"] == [2.0, 4.0] and points["y"] == [5.0, 4.0]
    assert len(points["x_low"]) == 2
    assert curve(df, "train_loss", "step")["x"] == [5.0, 10.0]
    assert curve(df, "missing", "step") is None
    assert time_to_target(df, "time") == ([2.0, 3.0], 2, 2)
    assert time_to_target(df, "step") == ([10.0, 5.0], 2, 2)
    with pytest.raises(ValueError, match="unknown x axis"):
        curve(df, "train_loss", "tokens")


def test_make_offline_inlines_plotly(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body>\n"
        '<script src="https://cdn.plot.ly/plotly-2.12.1.min.js"></script>\n'
        "<script>Plotly.react(div, [], {title: 'x'});</script>\n</body></html>"
    )
    assert make_offline(page, js="/* plotly */ var Plotly = {}; '</script>';")
    html = page.read_text()
    assert "cdn.plot.ly" not in html and "/* plotly */" in html
    assert "'<\\/script>'" in html  # cannot end the element early
    assert html.index("/* plotly */") < html.index("Plotly.react(div")
    assert not make_offline(page)
    assert "plotly.js v" in offline.plotly_js()[:200]
    assert offline.main([str(page)]) == 0


def test_training_curves_label_an_unfinished_run():
    """A run that stopped before its N (benchopt's timeout) is labelled so in
    benchopt's training-curve plot: its curve is truncated, not converged."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "training_curves", ROOT / "plots" / "training_curves.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = []
    for solver, rep, steps in [("muon", 0, (0, 5, 10)), ("muon", 1, (0, 5)),
                               ("adamw", 0, (0, 5, 10))]:  # fmt: skip
        for step in steps:
            rows.append(
                dict(
                    solver_name=solver,
                    dataset_name="d",
                    objective_name="o",
                    idx_rep=rep,
                    stop_val=step,
                    time=float(step),
                    objective_step=float(step),
                    objective_train_steps=10.0,
                    objective_val_loss=5.0 - step / 10,
                )
            )
    df = pd.DataFrame(rows)
    curves = module.Plot().plot(df, "d", "o", "val_loss", "step")
    labels = sorted(c["label"] for c in curves)
    assert labels == ["adamw", "muon (1 run unfinished at step 5 of N=10)"]
    assert module.unfinished(df.drop(columns="objective_train_steps")) == ""
