"""benchopt results -> one record per training run.

benchopt writes one row per evaluation; a run is one (result, solver,
objective, dataset, idx_rep) group. benchopt drops the runs that raised, so
the trainer's ledgers (``run_status.json`` in the result's folder
``outputs/<stem>/``) tell that they existed; when every run failed, that
folder alone is the result. A run is done only if its last evaluated step
reached its N, whatever its ledger says.
"""

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark_utils.errors import UserError
from benchmark_utils.tracking import split_name

NAMES = ("solver_name", "objective_name", "dataset_name")
REQUIRED_COLUMNS = (*NAMES, "idx_rep", "objective_val_loss", "objective_step")
STATUS_FILE = "run_status.json"  # the trainer's ledger of a run

#: Run statuses. Every status but DONE is a failed run.
DONE = "done"  # trained to its N
DIVERGED = "diverged"  # the training loss became NaN/inf
CRASHED = "crashed"  # the run raised: a ledger and no (or an "error") record
UNFINISHED = "unfinished"  # stopped before its N (timeout, kill, Ctrl-C, ...)
LOST = "lost"  # its ledger says done, but its rows are in no result file
#: Ledger statuses of a run that did not end by itself: "running" is written
#: at the start and never replaced when the process is killed.
LEDGER_UNFINISHED = ("unfinished", "running")


class ResultsError(UserError):
    """A file that is missing or is not a benchopt result of this benchmark."""


@dataclass
class Source:
    """One result. ``name``: what its runs record as ``source_file``."""

    name: str
    parquet: Path | None  # None: benchopt wrote none (every run failed)
    folder: Path  # its run ledgers


@dataclass
class Run:
    """One training run (one seed of one solver configuration)."""

    source_file: str
    objective_name: str
    dataset_name: str
    solver_name: str
    idx_rep: int
    train_steps: int | None = None  # N, the schedule horizon (None: unknown)
    status: str = DONE
    last_step: float = math.nan
    final_val_loss: float = math.nan  # at the last evaluation
    final_time: float = math.nan  # training seconds at the last evaluation
    target: float = math.nan  # objective_target of the run, when recorded
    message: str = ""
    curve: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))

    @property
    def failed(self):
        return self.status != DONE

    @property
    def problem(self):
        return (self.objective_name, self.dataset_name)


def ledger_paths(folder):
    return sorted(Path(folder).glob(f"**/{STATUS_FILE}"))


def ledger_folder(parquet_path):
    """benchopt's per-run folders of a result file: ``<folder>/<stem>/``."""
    return Path(parquet_path).with_suffix("")


def resolve_source(path):
    """The result that ``path`` names: a parquet file, its folder
    ``outputs/<stem>`` (the parquet beside it, else the ledgers alone), or the
    would-be parquet of a result whose runs all failed; never another one."""
    path = Path(path)
    if path.is_file():
        return Source(str(path), path, ledger_folder(path))
    if path.is_dir():
        beside = path.parent / f"{path.name}.parquet"
        if beside.is_file():
            return Source(str(beside), beside, path)
        if ledger_paths(path):
            return Source(str(path), None, path)
        raise ResultsError(
            f"{path}: a folder with no {beside.name} beside it and no "
            f"{STATUS_FILE} inside: not a benchopt result of this benchmark; "
            "name a result file outputs/<name>.parquet or its folder"
        )
    folder = ledger_folder(path)
    if path.suffix == ".parquet" and ledger_paths(folder):
        return Source(str(folder), None, folder)
    raise ResultsError(f"{path}: no such file")


def _sources(paths):
    """:func:`resolve_source` of each path, each result once (twice would
    double its runs)."""
    sources = {}
    for source in map(resolve_source, paths):
        sources.setdefault(source.folder.resolve(), source)
    return list(sources.values())


def _read_frames(sources):
    frames = [pd.DataFrame(columns=[*REQUIRED_COLUMNS, "source_file"])]
    for source in [s for s in sources if s.parquet]:
        path = source.parquet
        try:
            df = pd.read_parquet(path)
        except Exception as error:
            raise ResultsError(
                f"{path}: not a benchopt result (unreadable as parquet: {error})"
            ) from error
        if "dataset_name" not in df.columns:
            df = df.rename(columns={"data_name": "dataset_name"})  # older files
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise ResultsError(
                f"{path}: not a benchopt result of this benchmark (no column "
                f"{', '.join(missing)})"
            )
        frames.append(df.assign(source_file=source.name))
    return pd.concat(frames[1:], ignore_index=True) if len(frames) > 1 else frames[0]


def load_results(paths):
    """The rows of the results ``paths`` (see :func:`resolve_source`) in one
    DataFrame with a ``source_file`` column."""
    return _read_frames(_sources(paths))


def read_ledgers(path, source_file=None):
    """The ledgers of the result ``path`` (a parquet file or its folder): each
    ``run_status.json`` object plus ``source_file`` (default: ``path``), the
    names it lacks taken from the folder layout
    ``<dataset>/<objective>/<solver>/rep_<k>``; an unreadable one is a crash."""
    path = Path(path)
    folder = path if path.is_dir() else ledger_folder(path)
    ledgers = []
    for file in ledger_paths(folder):
        try:
            data = json.loads(file.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            data = dict(status="error", message=f"unreadable {file.name}: {error}")
        parts = file.relative_to(folder).parts[:-1]
        if len(parts) >= 4:
            dataset, objective, solver, rep = parts[-4:]
            names = dict(
                solver_name=solver, objective_name=objective, dataset_name=dataset
            )
            if match := re.fullmatch(r"rep_(\d+)", rep):
                names["idx_rep"] = int(match.group(1))
            data = names | data
        data["source_file"] = str(path) if source_file is None else source_file
        ledgers.append(data)
    return ledgers


def sanitize(name):
    """benchopt's folder name for a component name (its run_context rule)."""
    return re.sub(r'[/\\:*?"<>|]+', "_", str(name))


def _key(source_file, solver, objective, dataset, idx_rep):
    names = (sanitize(name) for name in (solver, objective, dataset))
    return (str(source_file), *names, int(idx_rep))


def _column(rows, name):
    """Column ``name`` of ``rows`` as numbers (NaN where absent)."""
    if name not in rows:
        return pd.Series(math.nan, index=rows.index)
    return pd.to_numeric(rows[name], errors="coerce")


def _last_finite(values):
    values = values[np.isfinite(values)]
    return float(values.iloc[-1]) if len(values) else math.nan


def _as_steps(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return int(round(value)) if math.isfinite(value) and value > 0 else None


def _train_steps(rows, ledger):
    """N of a run, from the most to the least explicit record: the objective's
    ``train_steps``, the ledger's, the solver's, ``step / budget_used`` (the
    budget the objective's schedule spans), and last the last evaluated step.
    Files written before ``train_steps`` was recorded stopped runs at the
    target by design, so such a run's N is its last step, and a run that
    stopped short of both (a timeout, a kill) gets the budget as N."""
    candidates = [
        _last_finite(_column(rows, "objective_train_steps")),
        ledger.get("train_steps"),
        _last_finite(_column(rows, "p_solver_train_steps")),
        split_name(rows["solver_name"].iloc[0])[1].get("train_steps"),
    ]
    used = _column(rows, "objective_budget_used")
    used = used[used > 0]
    if len(used) and not _column(rows, "objective_reached_target").iloc[-1] >= 1:
        candidates.append(rows.at[used.index[-1], "objective_step"] / used.iloc[-1])
    candidates.append(_last_finite(_column(rows, "objective_step")))
    return next((n for n in map(_as_steps, candidates) if n), None)


def _where(run):
    at = f"{run.last_step:.0f}" if math.isfinite(run.last_step) else "?"
    return f"at step {at} of N={run.train_steps or '?'}"


def _judge(run, ledger, diverged, has_rows):
    """The run's status and message from its ledger and, when it has rows,
    its evaluations: its last step decides whether it finished, whatever the
    ledger says (a timeout can end a run marked "done" before its N)."""
    status = ledger.get("status")
    message = str(ledger.get("message") or "")
    no_rows = "" if has_rows else "; no result rows"
    known = has_rows or status in (DONE, DIVERGED, *LEDGER_UNFINISHED)
    short = run.train_steps is not None and not run.last_step >= run.train_steps
    if status == "error" or not known:
        run.status = CRASHED
        run.message = message or f"its status says {status!r}{no_rows}"
    elif diverged:
        run.status, run.message = DIVERGED, message or f"diverged {_where(run)}"
    elif status == DONE and not has_rows:
        run.status = LOST
        run.message = (
            f"its status says done {_where(run)}, but no result file holds its rows"
        )
    elif status in LEDGER_UNFINISHED or short:
        run.status = UNFINISHED
        run.message = f"unfinished {_where(run)}"
        if status == "running":
            run.message = (
                f"unfinished: killed {_where(run)} (no final status: it still says "
                "'running')"
            )
        elif status == DONE:
            run.message += " although its status says done"
        run.message += no_rows + (f": {message}" if message else "")
    return run


def _run(ledger, rows=None):
    """The run of a ledger and its evaluation ``rows`` (None: none in any
    result file)."""
    ledger = ledger or {}
    first = ledger if rows is None else rows.iloc[0]
    run = Run(
        source_file=str(first.get("source_file")),
        idx_rep=int(first.get("idx_rep", -1)),
        **{name: str(first.get(name, "?")) for name in NAMES},
    )
    if rows is None:
        run.train_steps = _as_steps(ledger.get("train_steps")) or _as_steps(
            split_name(run.solver_name)[1].get("train_steps")
        )
        step = ledger.get("step")
        run.last_step = float(step) if isinstance(step, int | float) else math.nan
        return _judge(run, ledger, ledger.get("status") == DIVERGED, False)
    rows = rows.sort_values("objective_step", kind="stable")
    steps = _column(rows, "objective_step")
    losses = _column(rows, "objective_val_loss")
    curve = pd.Series(losses.to_numpy(), index=steps.to_numpy(), dtype=float)
    run.curve = curve[~curve.index.duplicated(keep="last")]
    run.train_steps = _train_steps(rows, ledger)
    run.last_step = float(steps.max())
    run.final_val_loss = float(losses.iloc[-1])
    run.final_time = float(_column(rows, "time").iloc[-1])
    run.target = _last_finite(_column(rows, "objective_target"))
    diverged = (
        ledger.get("status") == DIVERGED
        or (_column(rows, "objective_diverged") >= 1).any()
        or not math.isfinite(run.final_val_loss)
    )
    return _judge(run, ledger, diverged, True)


def collect_runs(df, ledgers=()):
    """One :class:`Run` per run of ``df`` (as :func:`load_results` returns
    it), plus one per ledger without rows (a failed run)."""
    by_key = {}
    for ledger in ledgers:
        try:
            names = (ledger.get(name, "?") for name in NAMES)
            key = _key(ledger["source_file"], *names, ledger.get("idx_rep", -1))
        except (TypeError, ValueError):
            key = id(ledger)  # no usable idx_rep: a run of its own
        by_key[key] = ledger
    if "source_file" not in df.columns:
        df = df.assign(source_file="")
    runs = [
        _run(by_key.pop(_key(*values), None), rows)
        for values, rows in df.groupby(["source_file", *NAMES, "idx_rep"], sort=False)
    ]
    return runs + [_run(ledger) for ledger in by_key.values()]


def load(paths):
    """(sources, rows, runs) of the results ``paths`` (parquet files or
    result folders, see :func:`resolve_source`), each with its ledgers."""
    sources = _sources(paths)
    df = _read_frames(sources)
    ledgers = [x for s in sources for x in read_ledgers(s.folder, s.name)]
    return sources, df, collect_runs(df, ledgers)


def load_runs(paths):
    """The runs of the results ``paths``, with their ledgers' failed runs."""
    return load(paths)[2]
