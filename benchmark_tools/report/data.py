"""The report's data: the results package's tables (runs, statuses, verdicts),
with every evaluation of every run attached to its table row. A row (a solver
configuration at one step count N) is one curve and one colour in the figures.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..results import TARGET, results_tables, short_names, split_name
from ..results.runs import load

#: Curve quantities, read from ``objective_<name>`` (and ``time``).
QUANTITIES = (
    "step tokens flops val_loss train_loss excess_loss tokens_per_second mfu "
    "world_size peak_memory_gb peak_memory_gib"
).split()
#: The trainer's names of the objective's columns, read when those are absent.
ALIASES = {"objective_train_flops": "objective_flops"}
#: Objective parameters that change the speed of a run, not its problem.
HARDWARE_PARAMETERS = ("device", "micro_batch_size", "compile", "precision", "tf32")
#: The columns naming a run, which are also the names of its ``Run`` fields.
RUN_KEY = ["source_file", "dataset_name", "objective_name", "solver_name", "idx_rep"]


def run_frames(df):
    """{run key: its evaluations}, one numeric column per quantity the file
    has, sorted by step (a repeated step keeps its last row)."""
    for alias, name in ALIASES.items():
        if alias in df and name not in df:
            df = df.rename(columns={alias: name})
    columns = {"time": "time"} | {f"objective_{q}": q for q in QUANTITIES}
    columns = {c: q for c, q in columns.items() if c in df}
    values = df[list(columns)].apply(pd.to_numeric, errors="coerce")
    values = values.rename(columns=columns).astype(float)
    frames = {}
    for key, rows in values.groupby([df[c] for c in RUN_KEY], sort=False):
        rows = rows.sort_values("step", kind="stable")
        frames[key] = rows.drop_duplicates("step", keep="last").reset_index(drop=True)
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
        return any(quantity in f and np.isfinite(f[quantity]).any() for f in frames)

    def mean(self, x, y):
        """Mean over the completed runs of ``x`` and ``y`` at every step they
        all evaluated (if they share fewer than 2 steps: at every step any
        evaluated), with the band over the runs: columns step, x, y, lo, hi,
        n; rows without a finite ``x`` and ``y`` dropped."""
        frames = [
            f.set_index("step", drop=False) for f in self.completed if x in f and y in f
        ]
        if not frames:
            return pd.DataFrame(columns=["step", "x", "y", "lo", "hi", "n"])
        common = pd.concat([f[[x, y]] for f in frames], axis=1, join="inner")
        join = "inner" if len(common) >= 2 else "outer"
        xs = pd.concat([f[x] for f in frames], axis=1, join=join).sort_index()
        ys = pd.concat([f[y] for f in frames], axis=1, join=join).sort_index()
        ys = ys.where(np.isfinite(ys))
        out = pd.DataFrame(
            {
                "step": xs.index.to_numpy(float),
                "x": xs.mean(axis=1),
                "y": ys.mean(axis=1),
                "lo": ys.min(axis=1),
                "hi": ys.max(axis=1),
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

    @property
    def slug(self):
        return f"problem{self.index}"

    @property
    def runs(self):
        return [run for row in self.table.rows for run in row.runs]

    @property
    def published(self):
        """The table's rows of published Track 3 entries."""
        return [row for row in self.table.rows if row.published is not None]

    @property
    def seeds(self):
        return sorted({row.n_completed for row in self.table.rows if row.n_completed})

    def has(self, quantity):
        return any(curve.has(quantity) for curve in self.curves)


def _target_line(table):
    """The target the figures draw: ``--target``, the runs' recorded
    ``objective_target``, else Track 3's on FineWeb only."""
    if table.target_source != "default":
        return table.target, f"{table.target:g} ({table.target_source})"
    if split_name(table.dataset_name)[0].lower().startswith("fineweb"):
        return TARGET, f"{TARGET:g} (Track 3 default for FineWeb)"
    return None, (
        f"none recorded: the table's verdicts use the default {table.target:g}, "
        "the figures draw no target line"
    )


def problem_titles(tables):
    """A short title per table: the dataset's and the objective's names
    reduced to the parameters that differ between the problems."""
    datasets = short_names(sorted({t.dataset_name for t in tables}))
    objectives = short_names(sorted({t.objective_name for t in tables}))
    several = len({split_name(t.objective_name)[0] for t in tables}) > 1
    titles = []
    for table in tables:
        base, params = split_name(objectives[table.objective_name])
        parts = [datasets[table.dataset_name]] + ([base] if several else [])
        parts += [f"{key}={value}" for key, value in params.items()]
        titles.append(", ".join(parts))
    return titles


def _curve(row, rows, frames):
    """The curve of a table row; ``rows``: the table's rows."""
    label = row.label
    if sum(r.label == row.label for r in rows) > 1:
        label += f" (N={row.train_steps})"
    steps = sorted({r.train_steps or 0 for r in rows if r.config == row.config})
    curve = Curve(row, label, row.config, steps.index(row.train_steps or 0))
    for run in row.runs:
        frame = frames.get(tuple(getattr(run, c) for c in RUN_KEY))
        if run.failed:
            curve.failed.append((run, frame))
        elif frame is not None:
            curve.completed.append(frame)
    return curve


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
    for index, (table, title) in enumerate(zip(tables, problem_titles(tables)), 1):
        curves = [
            _curve(row, table.rows, frames)
            for row in table.rows
            if row.published is None  # no runs: marked in the steps figure
        ]
        problems.append(Problem(index, table, title, curves, *_target_line(table)))
    configs = sorted(
        {curve.colour_key for p in problems for curve in p.curves},
        key=lambda config: (split_name(config)[0], config),
    )
    colours = {config: i for i, config in enumerate(configs)}
    return ReportData([s.name for s in sources], df, runs, problems, colours)
