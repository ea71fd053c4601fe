"""The offline report: synthetic benchopt files with the real column layout
(two problems in two files, a diverged and a crashed run), the command line
end to end, and the pieces it is made of."""

import hashlib
import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmark_tools.report.data import load_report_data  # noqa: E402
from benchmark_tools.report.figures import (  # noqa: E402
    DPI,
    HEIGHT,
    WIDTH,
    log_ticks,
    zoom_limits,
)
from benchmark_tools.report.metadata import problem_differences  # noqa: E402

OBJ = (
    "nanoGPT validation loss[batch_tokens=524288,device=cuda,eval_every=125,"
    "model=track3,seq_len=1024,val_tokens=10485760]"
)
OBJ_B = OBJ.replace("batch_tokens=524288", "batch_tokens=262144")
DATA = "fineweb[data_dir=/data/fineweb]"
MUON = "muon[lr=0.025,weight_decay=0.05]"
ADAMW = "adamw[lr=0.0015,weight_decay=0.1]"
SHAMPOO = "shampoo[lr=0.0015,precondition_frequency=5]"
INITIAL_LOSS = 10.83
FLOPS_PER_TOKEN = 855.6e6


def eval_steps(n, every=125, final_every=25):
    """Track 3's schedule: 0, every 125 steps while step/N < 0.9, then every
    25, and N."""
    steps, step = [0], 0
    while step < n:
        step += every if step / n < 0.9 else final_every
        steps.append(min(step, n))
    return sorted(set(steps))


def loss_at(step, n, final):
    """A Track 3 shaped curve: a fast drop, then the slow decay-phase
    approach to ``final`` at step N."""
    p = step / n
    shape = 0.9 * math.exp(-25 * p) + 0.1 * (1 - p) ** 1.5
    return final + (INITIAL_LOSS - final) * shape


def run_rows(
    solver,
    rep,
    n,
    final,
    objective=OBJ,
    dataset=DATA,
    step_time=0.15,
    diverge_at=None,
    throughput=True,
    date="2026-11-20T10:00:00",
):
    """benchopt rows of one run: one per evaluation, with the objective's
    columns and benchopt's system-info columns as a real file has them."""
    batch = 262_144 if "262144" in objective else 524_288
    rows = []
    rng = np.random.default_rng(rep)
    for step in eval_steps(n):
        diverged = diverge_at is not None and step >= diverge_at
        val = math.nan if diverged else loss_at(step, n, final)
        tokens = float(step * batch)
        row = {
            "base_seed": 0,
            "objective_name": objective,
            "solver_name": solver,
            "dataset_name": dataset,
            "idx_rep": rep,
            "sampling_strategy": "Iteration",
            "p_obj_device": "cuda",
            "p_obj_micro_batch_size": 64,
            "p_solver_lr": 0.025,
            "stop_val": step,
            "time": step * step_time * (1 + 0.01 * rep),
            "objective_value": val,
            "objective_val_loss": val,
            "objective_train_loss": (
                math.nan
                if step == 0
                else (math.inf if diverged else val + 0.02 + 0.01 * rng.random())
            ),
            "objective_step": float(step),
            "objective_tokens": tokens,
            "objective_reached_target": float(val <= 3.28),
            "objective_budget_used": step / n,
            "objective_train_steps": float(n),
            "objective_target": 3.28,
            "objective_diverged": float(diverged),
            "env-OMP_NUM_THREADS": "8",
            "platform": "Linux",
            "platform-release": "6.8.0",
            "system-cpus": 96,
            "system-processor": "x86_64",
            "system-ram (GB)": 1024,
            "version-cuda": "12.8",
            "version-numpy": "2.4.6",
            "version-scipy": "1.17.1",
            "benchmark-git-tag": None,
            "run_date": date,
        }
        if throughput:
            row.update(
                objective_flops=tokens * FLOPS_PER_TOKEN,
                objective_tokens_per_second=batch / step_time,
                objective_mfu=0.41,
                objective_world_size=8.0,
                objective_peak_memory_gb=52.3,
            )
        rows.append(row)
        if diverged:
            break
    return rows


def write_ledger(parquet, solver, rep, status, step, n, message, objective=OBJ):
    """A run-status ledger as the trainer writes it (benchmark_utils/run_status.py)."""
    key = hashlib.sha1(f"{DATA}\n{objective}\n{solver}\n{rep}".encode()).hexdigest()
    folder = parquet.parent / parquet.stem / "runs" / key[:16]
    folder.mkdir(parents=True)
    ledger = dict(
        status=status,
        step=step,
        train_steps=n,
        message=message,
        solver_name=solver,
        objective_name=objective,
        dataset_name=DATA,
        idx_rep=rep,
    )
    (folder / "run_status.json").write_text(json.dumps(ledger))


# Problem A (file a): muon 3 seeds at N=3250, finals 3.2760/3.2765/3.2770:
# mean 3.2765, margin 0.0035 * sqrt(3) = 0.0061 -> PASS; its mean first
# passes at step 3225 (3.2770: margin 0.0052; at 3200 3.2779: 0.0037).
# adamw 2 seeds at N=5625, mean 3.2790: margin 0.0014 -> FAIL; vs muon: worse.
# shampoo N=4150: 2 complete seeds (3.2750) but seed 2 diverged at step 1000
# and seed 3 crashed (ledger only) -> FAIL whatever its margin.
MUON_FINALS = (3.2760, 3.2765, 3.2770)
ADAMW_FINALS = (3.2785, 3.2795)
DIVERGED_MESSAGE = "training loss is nan at step 1000"
CRASH_MESSAGE = "torch.OutOfMemoryError: CUDA out of memory"


def problem_a(path):
    rows = []
    for rep, final in enumerate(MUON_FINALS):
        rows += run_rows(MUON, rep, 3250, final)
    for rep, final in enumerate(ADAMW_FINALS):
        rows += run_rows(ADAMW, rep, 5625, final, step_time=0.14)
    for rep in (0, 1):
        rows += run_rows(SHAMPOO, rep, 4150, 3.2750, step_time=0.2)
    rows += run_rows(SHAMPOO, 2, 4150, 3.2750, step_time=0.2, diverge_at=1000)
    pd.DataFrame(rows).to_parquet(path)
    write_ledger(path, SHAMPOO, 2, "diverged", 1000, 4150, DIVERGED_MESSAGE)
    write_ledger(path, SHAMPOO, 3, "error", 20, 4150, CRASH_MESSAGE)
    return path


# Problem B (file b, another day, half the batch, no throughput columns):
# muon 2 seeds at N=6500, mean 3.2740 -> PASS; adamw 1 seed at N=11000,
# 3.2770 -> FAIL (one run needs < 3.276).
def problem_b(path):
    rows = []
    for rep, final in enumerate((3.2735, 3.2745)):
        rows += run_rows(
            MUON,
            rep,
            6500,
            final,
            objective=OBJ_B,
            throughput=False,
            date="2026-11-21T09:30:00",
        )
    rows += run_rows(
        ADAMW,
        0,
        11000,
        3.2770,
        objective=OBJ_B,
        throughput=False,
        date="2026-11-21T09:30:00",
    )
    pd.DataFrame(rows).to_parquet(path)
    return path


def cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "benchmark_tools.report", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


STEMS = (
    "val_loss_step",
    "val_loss_zoom",
    "val_loss_tokens",
    "val_loss_time",
    "val_loss_flops",
    "steps_to_target",
    "final_loss",
    "train_loss_step",
)
#: Figures whose legend fits inside the axes: exactly WIDTH x HEIGHT inches.
FIXED_SIZE = ("val_loss_step", "val_loss_tokens", "val_loss_time", "val_loss_flops")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    a = problem_a(folder / "a.parquet")
    b = problem_b(folder / "b.parquet")
    out = folder / "out"
    result = cli(a, b, "--out", out, "--baseline", "muon", "--formats", "png", "pdf")
    return out, result


def section(markdown, heading):
    """The text of a ``## heading`` section, up to the next ``## ``."""
    start = markdown.index(f"\n## {heading}")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def table_rows(text, first_header):
    """The rows of the Markdown table of ``text`` whose header starts with
    ``first_header``, as dicts."""
    lines = text.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |")
    )
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return rows


def test_cli_writes_every_file(report):
    out, result = report
    assert result.returncode == 0, result.stderr
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    for stem in STEMS:
        for fmt in ("png", "pdf"):
            assert (out / "figures" / f"problem1_{stem}.{fmt}").is_file(), stem
            if stem != "val_loss_flops":
                assert (out / "figures" / f"problem2_{stem}.{fmt}").is_file(), stem
    # File b has no FLOPs column: no FLOPs figure, no error. Neither file has
    # synthetic-data excess loss.
    assert not list(out.glob("figures/problem2_val_loss_flops.*"))
    assert not list(out.glob("figures/*excess_loss*"))
    for pdf in out.glob("figures/*.pdf"):
        assert pdf.read_bytes()[:5] == b"%PDF-", pdf.name
    assert "15 figure(s)" in result.stdout


def test_pngs_open_with_the_expected_size(report):
    from matplotlib.image import imread

    out, _ = report
    pngs = sorted(out.glob("figures/*.png"))
    assert len(pngs) == 15
    for png in pngs:
        image = imread(png)
        height, width = image.shape[:2]
        assert width == round(WIDTH * DPI), png.name
        assert round(1.4 * DPI) <= height <= round(5 * DPI), png.name
        if png.stem.split("_", 1)[1] in FIXED_SIZE:
            assert height == round(HEIGHT * DPI), png.name
        assert image[..., :3].std() > 0.05, f"{png.name} is blank"


class Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        for key in ("src", "href", "action", "data", "poster"):
            if key in attrs:
                self.urls.append(attrs[key])
        if tag == "img":
            self.images.append(attrs)


def test_html_is_self_contained(report):
    from matplotlib.image import imread

    out, _ = report
    text = (out / "report.html").read_text()
    assert "http://" not in text and "https://" not in text
    assert "url(" not in text and "@import" not in text
    parser = Sources()
    parser.feed(text)
    assert not {"script", "link", "iframe", "object"} & set(parser.tags)
    assert parser.urls, "no embedded figure at all"
    for url in parser.urls:
        assert url.startswith(("data:image/png;base64,", "#")), url[:40]
    # Every figure is embedded, with the size of its PNG file.
    assert len(parser.images) == 15
    sizes = sorted((int(img["width"]), int(img["height"])) for img in parser.images)
    files = sorted(imread(p).shape[1::-1] for p in out.glob("figures/*.png"))
    assert sizes == [tuple(s) for s in files]


def test_markdown_tables_per_problem(report):
    out, _ = report
    markdown = (out / "report.md").read_text()
    one = section(markdown, "Problem 1")
    two = section(markdown, "Problem 2")
    assert "batch_tokens=524288" in one and "batch_tokens=262144" in two
    rows = {r["solver"]: r for r in table_rows(one, "solver")}
    assert set(rows) == {"muon", "adamw", "shampoo"}
    assert rows["muon"]["rule"] == "PASS" and rows["muon"]["N"] == "3250"
    assert rows["muon"]["earliest pass"] == "3225"
    assert rows["muon"]["runs"] == "3" and rows["muon"]["val loss"] == "3.2765"
    assert rows["muon"]["vs baseline"] == "baseline"
    assert rows["adamw"]["rule"] == "FAIL" and rows["adamw"]["vs baseline"] == "worse"
    assert rows["shampoo"]["rule"] == "FAIL" and rows["shampoo"]["failed"] == "2"
    assert rows["shampoo"]["vs baseline"] == "incomplete"
    rows = {r["solver"]: r for r in table_rows(two, "solver")}
    assert set(rows) == {"muon", "adamw"}
    assert rows["muon"]["rule"] == "PASS" and rows["muon"]["N"] == "6500"
    assert rows["adamw"]["rule"] == "FAIL" and rows["adamw"]["N"] == "11000"
    # Never mixed: no step count of one problem in the other's table.
    assert "6500" not in one and "3250" not in two
    # Figures of each problem in its own section.
    assert "figures/problem1_val_loss_zoom.png" in one
    assert "figures/problem2_" not in one and "figures/problem1_" not in two
    # The files' problems differ in the global batch, and the report says so.
    head = markdown[: markdown.index("\n## Problem 1")]
    assert "2 different problems" in head
    assert "objective batch_tokens: problem 1: `524288`; problem 2: `262144`" in head


def test_markdown_failed_runs_and_speed(report):
    out, _ = report
    markdown = (out / "report.md").read_text()
    failed = table_rows(section(markdown, "Failed runs"), "problem")
    by_seed = {(r["solver"], r["seed"]): r for r in failed}
    assert set(by_seed) == {("shampoo", "2"), ("shampoo", "3")}
    assert by_seed["shampoo", "2"]["status"] == "diverged"
    assert by_seed["shampoo", "2"]["message"] == DIVERGED_MESSAGE
    assert by_seed["shampoo", "3"]["status"] == "crashed"
    assert by_seed["shampoo", "3"]["message"] == CRASH_MESSAGE
    speed = {
        r["solver"]: r
        for r in table_rows_all(section(markdown, "Problem 1"))
        if "ms/step" in r
    }
    assert speed["muon"]["MFU"] == "41.0%" and speed["muon"]["world size"] == "8"
    assert float(speed["muon"]["ms/step"]) == pytest.approx(151.5, abs=0.05)
    speed_two = [
        r for r in table_rows_all(section(markdown, "Problem 2")) if "ms/step" in r
    ]
    assert speed_two and "MFU" not in speed_two[0]


def table_rows_all(text):
    """Rows of every Markdown table of ``text``."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not set("".join(cells)) <= set("-"):
            rows.append(dict(zip(header, cells)))
    return rows


def test_markdown_metadata(report):
    out, _ = report
    markdown = (out / "report.md").read_text()
    meta = section(markdown, "Run metadata")
    versions = {r["component"]: r for r in table_rows(meta, "component")}
    assert versions["numpy"]["version"] == "2.4.6"
    assert versions["numpy"]["source"] == "result files"
    assert versions["torch"]["source"].startswith("report environment")
    assert versions["python"]["version"] == sys.version.split()[0]
    assert versions["CUDA"]["version"] == "12.8"
    assert "`a.parquet`: device cuda; world size 8;" in meta
    assert "`b.parquet`: device cuda; world size not recorded;" in meta
    files = {
        Path(r["file"]).name: r for r in table_rows_all(meta) if "sha256 (16)" in r
    }
    assert files["a.parquet"]["date of the runs"] == "2026-11-20 10:00"
    assert files["b.parquet"]["date of the runs"] == "2026-11-21 09:30"
    assert files["a.parquet"]["runs"] == "9" and files["a.parquet"]["failed"] == "2"
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    commit = head.stdout.strip() if head.returncode == 0 else "unknown"
    assert re.search(rf"benchmark commit [^\n]*`{re.escape(commit)}", meta)


# -- errors -------------------------------------------------------------------


def test_missing_input_exits_2(tmp_path):
    out = tmp_path / "out"
    result = cli(tmp_path / "missing.parquet", "--out", out)
    assert result.returncode == 2
    assert "missing.parquet: no such file" in result.stderr
    assert not out.exists()


def test_bad_inputs_exit_2(tmp_path):
    other = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1.0]}).to_parquet(other)
    result = cli(other, "--out", tmp_path / "out")
    assert result.returncode == 2 and "not a benchopt result" in result.stderr
    b = problem_b(tmp_path / "b.parquet")
    result = cli(b, "--out", tmp_path / "out", "--baseline", "sgd")
    assert result.returncode == 2 and "matches no solver" in result.stderr
    assert not (tmp_path / "out" / "report.md").exists()


def test_default_input_is_the_newest_result(tmp_path, monkeypatch, capsys):
    from benchmark_tools.report import cli as report_cli
    from benchmark_tools.results import cli as results_cli

    monkeypatch.setattr(results_cli, "ROOT", tmp_path)  # where outputs/ is
    assert report_cli.main(["--out", str(tmp_path / "none")]) == 2
    assert "no result file in" in capsys.readouterr().err
    (tmp_path / "outputs").mkdir()
    old = problem_a(tmp_path / "outputs" / "old.parquet")
    new = tmp_path / "outputs" / "new.parquet"
    pd.DataFrame(
        run_rows(MUON, 0, 500, 3.27, objective=OBJ_B, throughput=False)
    ).to_parquet(new)
    import os

    os.utime(old, (1, 1))
    out = tmp_path / "out"
    assert report_cli.main(["--out", str(out), "--formats", "svg"]) == 0
    markdown = (out / "report.md").read_text()
    assert "`new.parquet`" in markdown and "old.parquet" not in markdown
    assert (out / "figures" / "problem1_val_loss_zoom.svg").is_file()
    assert not list(out.glob("figures/*.png")) and not list(out.glob("figures/*.pdf"))
    assert "data:image/png;base64," in (out / "report.html").read_text()
    # A second report in the same folder removes the figures of the first.
    stale = out / "figures" / "problem7_val_loss_step.svg"
    stale.write_text("old")
    assert report_cli.main([str(new), "--out", str(out), "--formats", "svg"]) == 0
    assert not stale.exists()


# -- pieces -------------------------------------------------------------------


def test_curves_attach_to_their_rows(tmp_path):
    a = problem_a(tmp_path / "a.parquet")
    b = problem_b(tmp_path / "b.parquet")
    data = load_report_data([a, b])
    one, two = data.problems
    assert one.title == "fineweb, batch_tokens=524288"
    assert two.title == "fineweb, batch_tokens=262144"
    curves = {c.label: c for c in one.curves}
    muon = curves["muon"].mean("step", "val_loss")
    assert list(muon["step"]) == eval_steps(3250)
    last = muon.iloc[-1]
    assert last["y"] == pytest.approx(3.2765, abs=1e-9)
    assert (last["lo"], last["hi"], last["n"]) == pytest.approx((3.276, 3.277, 3))
    # shampoo: 2 completed runs averaged, the diverged run kept apart with its
    # rows, the crashed run (ledger only) without rows.
    shampoo = curves["shampoo"]
    assert len(shampoo.completed) == 2
    statuses = sorted((run.status, frame is None) for run, frame in shampoo.failed)
    assert statuses == [("crashed", True), ("diverged", False)]
    # Problem 2's curves hold only problem 2's runs (N = 6500 and 11000).
    steps = {int(f["step"].max()) for c in two.curves for f in c.completed}
    assert steps == {6500, 11000}
    # One colour per configuration, the same in both problems.
    assert {c.colour_key for c in two.curves} <= {c.colour_key for c in one.curves}
    assert len(data.colours) == 3
    assert one.target_line == 3.28 and "objective_target" in one.target_note


def test_same_problem_from_two_files_is_combined(tmp_path):
    first = tmp_path / "day1.parquet"
    pd.DataFrame(run_rows(MUON, 0, 500, 3.270)).to_parquet(first)
    second = tmp_path / "day2.parquet"
    pd.DataFrame(run_rows(MUON, 1, 500, 3.272)).to_parquet(second)
    data = load_report_data([first, second])
    [problem] = data.problems
    [curve] = problem.curves
    assert len(curve.completed) == 2
    assert curve.mean("step", "val_loss")["y"].iloc[-1] == pytest.approx(3.271)


def test_target_line_only_when_known(tmp_path):
    rows = run_rows(MUON, 0, 500, 1.5, dataset="simulated[seed=0]")
    for row in rows:
        row["objective_target"] = math.nan
    path = tmp_path / "sim.parquet"
    pd.DataFrame(rows).to_parquet(path)
    [problem] = load_report_data([path]).problems
    assert problem.target_line is None and "no target line" in problem.target_note
    [problem] = load_report_data([path], target=1.6).problems
    assert problem.target_line == 1.6
    rows = run_rows(MUON, 0, 500, 3.27)
    for row in rows:
        row["objective_target"] = math.nan
    pd.DataFrame(rows).to_parquet(path)
    [problem] = load_report_data([path]).problems
    assert problem.target_line == 3.28 and "FineWeb" in problem.target_note


def test_problem_differences_flag_hardware_settings(tmp_path):
    path = tmp_path / "x.parquet"
    cpu = OBJ.replace("device=cuda", "device=cpu")
    rows = run_rows(MUON, 0, 500, 3.27) + run_rows(MUON, 0, 500, 3.27, objective=cpu)
    pd.DataFrame(rows).to_parquet(path)
    data = load_report_data([path])
    assert len(data.problems) == 2
    assert problem_differences(data.problems) == [
        ("objective", "device", ["cuda", "cpu"], True)
    ]
    assert problem_differences(data.problems[:1]) == []


@pytest.mark.parametrize("lo, hi", [(3.2, 8.3), (1.18, 1.35), (0.02, 5.0)])
def test_log_ticks(lo, hi):
    ticks = log_ticks(lo, hi)
    assert len(ticks) >= 3
    assert all(lo <= t <= hi for t in ticks)
    assert ticks == sorted(set(ticks))


def test_zoom_limits_show_the_target_and_the_final_losses(tmp_path):
    path = problem_b(tmp_path / "b.parquet")
    [problem] = load_report_data([path]).problems
    means = [c.mean("step", "val_loss") for c in problem.curves]
    lo, hi = zoom_limits(problem, means)
    finals = [m["y"].iloc[-1] for m in means]
    assert lo < min(finals) and lo < 3.28 - 0.004
    assert hi > max(finals) and hi > 3.28
    assert hi - lo < 0.1  # a zoom, not the whole curve


def test_throughput_columns_as_the_trainer_names_them(tmp_path):
    """objective_train_flops and objective_peak_memory_gib (the trainer's
    names) are read like objective_flops and objective_peak_memory_gb."""
    from benchmark_tools.report.document import throughput_table

    rows = run_rows(MUON, 0, 500, 3.27)
    for row in rows:
        row["objective_train_flops"] = row.pop("objective_flops")
        row["objective_peak_memory_gib"] = row.pop("objective_peak_memory_gb")
        row["objective_mfu"] = math.nan  # a CPU run: no known peak
    path = tmp_path / "x.parquet"
    pd.DataFrame(rows).to_parquet(path)
    [problem] = load_report_data([path]).problems
    assert problem.has("flops") and not problem.has("mfu")
    table = throughput_table(problem)
    assert table.header == [
        "solver",
        "N",
        "time to N (s)",
        "ms/step",
        "tokens/s",
        "peak memory (GiB)",
        "world size",
    ]
    assert table.rows[0][-2:] == ["52.3", "8"]


# -- unfinished runs and results without parquet --------------------------------


def cut_short(path):
    """Issue 13's demo: one muon run at N=500 stopped by benchopt's timeout
    at step 375 although its status says done, 0.2 s per step."""
    rows = [
        row
        for row in run_rows(MUON, 0, 500, 3.27, step_time=0.2)
        if row["objective_step"] <= 375
    ]
    pd.DataFrame(rows).to_parquet(path)
    write_ledger(path, MUON, 0, "done", 375, 500, "")
    return path


def test_report_of_an_unfinished_run(tmp_path):
    from matplotlib.figure import Figure

    from benchmark_tools.report.document import build_document, to_markdown
    from benchmark_tools.report.figures import curve_figure

    data = load_report_data([cut_short(tmp_path / "cut.parquet")])
    [problem] = data.problems
    [curve] = problem.curves
    assert curve.row.verdict == "FAIL" and curve.row.failures == {"unfinished": 1}
    markdown = to_markdown(build_document(data, {}, ROOT, "report"))
    assert "every run completed" not in markdown
    [failed] = table_rows(section(markdown, "Failed runs"), "problem")
    assert (failed["status"], failed["last step"]) == ("unfinished", "375")
    assert (
        failed["message"]
        == "unfinished at step 375 of N=500 although its status says done"
    )
    [speed] = [
        r for r in table_rows_all(section(markdown, "Problem 1")) if "ms/step" in r
    ]
    # 75 s over the 375 steps trained: 200 ms/step (not 75 s / N = 150).
    assert speed["ms/step"] == "200.0" and speed["time to N (s)"] == "-"
    # The truncated curve is marked: an end bar, a label with the step, and
    # the legend says so.
    for fig in (
        curve_figure(problem, data.colours, "step", "val_loss"),
        curve_figure(problem, data.colours, "step", "val_loss", zoom=True),
    ):
        assert isinstance(fig, Figure)
        [ax] = fig.axes
        texts = [t.get_text() for t in ax.texts]
        assert "unfinished at step 375" in texts
        legend = ax.get_legend() or fig.legends[0]
        labels = [" ".join(t.get_text().split()) for t in legend.get_texts()]
        assert any(
            "(1 run unfinished at step 375 of N=500)" in label for label in labels
        )
        assert any(
            line.get_marker() == "|" and list(line.get_xdata()) == [375]
            for line in ax.lines
        )


def test_report_of_a_result_whose_runs_all_failed(tmp_path):
    """benchopt wrote no parquet: the folder (or the would-be parquet path)
    is the result, and its failed runs are listed."""
    path = tmp_path / "outputs" / "all_failed.parquet"
    path.parent.mkdir()
    write_ledger(path, MUON, 0, "error", 3, 3250, CRASH_MESSAGE)
    write_ledger(path, ADAMW, 0, "unfinished", 40, 5625, "benchopt timeout")
    for arg in (path.with_suffix(""), path):
        out = tmp_path / "out"
        result = cli(arg, "--out", out, "--formats", "svg")
        assert result.returncode == 0, result.stderr
        markdown = (out / "report.md").read_text()
        assert "every run completed" not in markdown
        failed = table_rows(section(markdown, "Failed runs"), "problem")
        assert sorted((r["solver"], r["status"]) for r in failed) == [
            ("adamw", "unfinished"),
            ("muon", "crashed"),
        ]
        assert "2 run(s) (2 failed)" in markdown
        assert "`all_failed`" in markdown


def test_report_beside_published_entries(tmp_path):
    from benchmark_tools.leaderboard import select
    from benchmark_tools.report.document import build_document, to_markdown
    from benchmark_tools.report.figures import steps_figure

    path = problem_a(tmp_path / "a.parquet")
    data = load_report_data([path], baseline="published:36", published=select("36,46"))
    [problem] = data.problems
    assert sorted(row.published.number for row in problem.published) == [36, 46]
    assert {c.label for c in problem.curves} == {"muon", "adamw", "shampoo"}
    markdown = to_markdown(build_document(data, {}, ROOT, "report"))
    rows = {r["solver"].split()[0]: r for r in table_rows(markdown, "solver")}
    assert rows["#36"]["N"] == "3250" and rows["#36"]["vs baseline"] == "baseline"
    assert "(published)" in rows["#46"]["solver"] and rows["#46"]["N"] == "2690"
    # muon: 3 seeds at 3250, mean 3.2765, against #36 (3250, 3.2787, n=10).
    lhs = 0.0022 / math.sqrt(1 / 3 + 1 / 10)
    assert rows["muon"]["LHS vs #36 Muon tuned baseline (published)"] == f"{lhs:.5f}"
    # The steps figure marks the published N.
    fig = steps_figure(problem, data.colours)
    [ax] = fig.axes
    assert {t.get_text() for t in ax.texts} >= {"#36", "#46"}
    vertical = [
        line.get_xdata()[0]
        for line in ax.lines
        if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2
    ]
    assert sorted(vertical) == [2690, 3250]
