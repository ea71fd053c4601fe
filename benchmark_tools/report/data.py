"""The report's data: the results package's tables, plus the per-run curves
(every evaluation of every run) that the figures need.

The rows of a results table (a solver configuration at one step count N) are
the units of the figures: one curve, one colour each. Runs, statuses, tables
and verdicts all come from :mod:`benchmark_tools.results`; this module only
attaches the evaluations of each run to its row.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark_utils.tracking import split_name

from ..results import TARGET, results_tables, short_names
from ..results.runs import load

#: Curve quantities: name -> (candidate columns, first present wins).
#: ``flops`` and the throughput columns come from newer versions of the
#: objective; both spellings seen in the benchmark's branches are accepted.
QUANTITIES = {
    "step": ("objective_step",),
    "tokens": ("objective_tokens",),
    "time": ("time",),
    "flops": ("objective_flops", "objective_train_flops"),
    "val_loss": ("objective_val_loss",),
    "train_loss": ("objective_train_loss",),
    "excess_loss": ("objective_excess_loss",),
    "tokens_per_second": ("objective_tokens_per_second",),
    "mfu": ("objective_mfu",),
    "world_size": ("objective_world_size",),
    "peak_memory_gb": ("objective_peak_memory_gb",),
    "peak_memory_gib": ("objective_peak_memory_gib",),
}

#: Parameters of the objective that change the speed of a run, not the
#: problem it solves (see objective.py).
HARDWARE_PARAMETERS = ("device", "micro_batch_size", "compile", "precision", "tf32")

#: Datasets whose default target is Track 3's 3.28.
FINEWEB_DATASETS = ("fineweb",)


def run_key(source_file, dataset_name, objective_name, solver_name, idx_rep):
    return (
        str(source_file),
        str(dataset_name),
        str(objective_name),
        str(solver_name),
        int(idx_rep),
    )


def run_frames(df):
    """One DataFrame per run of the benchopt frame ``df``: a row per
    evaluation, sorted by step (a repeated step keeps its last row), one
    numeric column per quantity of :data:`QUANTITIES` the file has."""
    present = {}
    for name, candidates in QUANTITIES.items():
        for column in candidates:
            if column in df.columns:
                present[name] = column
                break
    frames = {}
    group_cols = [
        "source_file",
        "dataset_name",
        "objective_name",
        "solver_name",
        "idx_rep",
    ]
    for values, rows in df.groupby(group_cols, sort=False):
        frame = pd.DataFrame(
            {
                name: pd.to_numeric(rows[column], errors="coerce").to_numpy(float)
                for name, column in present.items()
            }
        )
        frame = frame.sort_values("step", kind="stable")
        frame = frame.drop_duplicates("step", keep="last").reset_index(drop=True)
        frames[run_key(*values)] = frame
    return frames


@dataclass
class Curve:
    """The runs of one results-table row, with their evaluations."""

    row: object  # results.ResultRow
    label: str  # legend label
    colour_key: str  # the configuration: the same colour in every figure
    style_index: int = 0  # rank of N among the configuration's N values
    completed: list = field(default_factory=list)  # DataFrames
    failed: list = field(default_factory=list)  # (Run, DataFrame or None)

    def has(self, quantity):
        frames = self.completed + [f for _, f in self.failed if f is not None]
        return any(
            quantity in f and np.isfinite(f[quantity].to_numpy(float)).any()
            for f in frames
        )

    def mean(self, x, y):
        """Mean over the completed runs of ``y`` and ``x`` at every step all
        of them evaluated (if they share fewer than 2 steps: at every step
        any evaluated, over the runs that did), with the band (min, max and
        std over the runs). Columns step, x, y, lo, hi, std, n; rows without
        a finite ``x`` and ``y`` dropped."""
        frames = [f for f in self.completed if x in f and y in f]
        if not frames:
            return pd.DataFrame(columns=["step", "x", "y", "lo", "hi", "std", "n"])
        common = set(frames[0]["step"])
        for frame in frames[1:]:
            common &= set(frame["step"])
        union = set().union(*(set(f["step"]) for f in frames))
        steps = sorted(common if len(common) >= 2 or len(union) < 2 else union)
        xs = pd.DataFrame({i: f[x].set_axis(f["step"]) for i, f in enumerate(frames)})
        ys = pd.DataFrame({i: f[y].set_axis(f["step"]) for i, f in enumerate(frames)})
        xs, ys = xs.reindex(steps), ys.reindex(steps)
        ys = ys.where(np.isfinite(ys))
        out = pd.DataFrame(
            {
                "step": np.asarray(steps, dtype=float),
                "x": xs.mean(axis=1),
                "y": ys.mean(axis=1),
                "lo": ys.min(axis=1),
                "hi": ys.max(axis=1),
                "std": ys.std(axis=1, ddof=1),
                "n": ys.count(axis=1),
            }
        )
        return out[np.isfinite(out["y"]) & np.isfinite(out["x"])]


@dataclass
class Problem:
    """One problem (objective, dataset): its results table and curves."""

    index: int  # 1-based, in the order of the tables
    table: object  # results.ProblemTable
    title: str  # short: dataset and the objective parameters that differ
    curves: list
    target_line: float | None  # the target drawn in figures (None: none)
    target_note: str  # where the target comes from
    runs: list  # every results.Run of the problem

    @property
    def slug(self):
        return f"problem{self.index}"

    @property
    def published(self):
        """The table's rows of published Track 3 entries."""
        return [row for row in self.table.rows if row.published is not None]

    def has(self, quantity):
        return any(curve.has(quantity) for curve in self.curves)

    @property
    def seeds(self):
        return sorted({row.n_completed for row in self.table.rows if row.n_completed})


def _target_line(table):
    """The target the figures draw: ``--target``, the runs' recorded
    ``objective_target``, or 3.28 by default on FineWeb only (another
    dataset without a recorded target gets no line)."""
    if table.target_source != "default":
        return table.target, f"{table.target:g} ({table.target_source})"
    base = split_name(table.dataset_name)[0].lower()
    if base.startswith(FINEWEB_DATASETS):
        return TARGET, f"{TARGET:g} (Track 3 default for FineWeb)"
    return None, (
        f"none recorded: the table's verdicts use the default {table.target:g}, "
        "the figures draw no target line"
    )


def _labels(rows):
    """Row labels, with N appended where one label has several N."""
    counts = {}
    for row in rows:
        counts[row.label] = counts.get(row.label, 0) + 1
    return {
        id(row): row.label
        + (f" (N={row.train_steps})" if counts[row.label] > 1 else "")
        for row in rows
    }


def problem_titles(tables):
    """A short title per table: the dataset's and the objective's names
    reduced to the parameters that differ between the problems."""
    datasets = short_names(sorted({t.dataset_name for t in tables}))
    objectives = short_names(sorted({t.objective_name for t in tables}))
    titles = []
    for table in tables:
        base, params = split_name(objectives[table.objective_name])
        parts = [datasets[table.dataset_name]]
        if len({split_name(t.objective_name)[0] for t in tables}) > 1:
            parts.append(base)
        parts += [f"{key}={value}" for key, value in params.items()]
        titles.append(", ".join(parts))
    return titles


@dataclass
class ReportData:
    paths: list  # the inputs (str: parquet file, else result folder), each once
    df: pd.DataFrame
    runs: list
    problems: list
    colours: dict = field(default_factory=dict)  # configuration -> index


def load_report_data(paths, target=None, baseline=None, full_names=False, published=()):
    """Read the results (with their ledgers), build the results tables and
    attach the curves. Raises :class:`results.ResultsError` on bad input."""
    sources, df, runs = load(paths)
    tables = results_tables(
        runs,
        target=target,
        baseline=baseline,
        full_names=full_names,
        published=published,
    )
    frames = run_frames(df)
    problems = []
    for index, (table, title) in enumerate(
        zip(tables, problem_titles(tables)), start=1
    ):
        labels = _labels(table.rows)
        curves = []
        for row in table.rows:
            if row.published is not None:
                continue  # no runs: marked in the steps figure
            curve = Curve(
                row=row,
                label=labels[id(row)],
                colour_key=row.config,
                style_index=sorted(
                    {r.train_steps or 0 for r in table.rows if r.config == row.config}
                ).index(row.train_steps or 0),
            )
            for run in row.runs:
                frame = frames.get(
                    run_key(
                        run.source_file,
                        run.dataset_name,
                        run.objective_name,
                        run.solver_name,
                        run.idx_rep,
                    )
                )
                if run.failed:
                    curve.failed.append((run, frame))
                elif frame is not None:
                    curve.completed.append(frame)
            curves.append(curve)
        line, note = _target_line(table)
        problem_runs = [run for row in table.rows for run in row.runs]
        problems.append(Problem(index, table, title, curves, line, note, problem_runs))
    data = ReportData([s.name for s in sources], df, runs, problems)
    keys = sorted(
        {curve.colour_key for p in problems for curve in p.curves},
        key=lambda config: (split_name(config)[0], config),
    )
    data.colours = {key: i for i, key in enumerate(keys)}
    return data


def finite(values):
    values = [float(v) for v in values if v is not None]
    return [v for v in values if math.isfinite(v)]
