"""benchopt result files -> one record per training run.

benchopt writes one row per evaluation. A run is identified by its result
file (``source_file``), problem (``objective_name``, ``dataset_name``), solver
(``solver_name``, with its parameters) and repetition (``idx_rep``, the seed).
benchopt drops runs that raised from the parquet file: the trainer's ledger
(``run_status.json`` in the result's folder next to the file,
``outputs/<stem>/runs/<key>/``) is what tells that they existed. When every
run failed benchopt writes no parquet file at all: the folder alone is then
the result (:func:`resolve_source`).

A run is done only if it trained to its N: its last evaluated step is
checked against N whatever its ledger says, and a ledger still saying
"running" (the process was killed) or "unfinished" makes it unfinished.
"""

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark_utils.errors import UserError
from benchmark_utils.tracking import split_name

#: Columns every benchopt result of this benchmark has.
REQUIRED_COLUMNS = (
    "solver_name",
    "objective_name",
    "dataset_name",
    "idx_rep",
    "objective_val_loss",
    "objective_step",
)
LEDGER_NAME = "run_status.json"

#: Run statuses. Every status but DONE is a failed run.
DONE = "done"  # trained to its N
DIVERGED = "diverged"  # the training loss became NaN/inf
CRASHED = "crashed"  # the run raised: a ledger and no (or an "error") record
UNFINISHED = "unfinished"  # stopped before its N (timeout, kill, Ctrl-C, ...)
LOST = "lost"  # its ledger says done, but its rows are in no result file
STATUSES = (DONE, DIVERGED, CRASHED, UNFINISHED, LOST)
#: Ledger statuses of a run that did not end by itself: "running" is written
#: at the start and never replaced when the process is killed.
LEDGER_UNFINISHED = ("unfinished", "running")


class ResultsError(UserError):
    """A file that is missing or is not a benchopt result of this benchmark."""


@dataclass
class Source:
    """One result: its parquet file (None when benchopt wrote none, as when
    every run failed) and its folder of run ledgers. ``name`` is what the
    runs record as their ``source_file``: the parquet path, else the folder."""

    name: str
    parquet: Path | None
    folder: Path


def ledger_paths(folder):
    return sorted(Path(folder).glob(f"**/{LEDGER_NAME}"))


def resolve_source(path):
    """The result that ``path`` names: a benchopt parquet file, its folder
    ``outputs/<stem>`` (the parquet beside it, else the ledgers alone), or the
    would-be parquet path of a result whose runs all failed. Raises
    :class:`ResultsError` for anything else (never another result)."""
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
            f"{LEDGER_NAME} inside: not a benchopt result of this benchmark; "
            "name a result file outputs/<name>.parquet or its folder"
        )
    folder = ledger_folder(path)
    if path.suffix == ".parquet" and folder.is_dir() and ledger_paths(folder):
        return Source(str(folder), None, folder)
    raise ResultsError(f"{path}: no such file")


def resolve_sources(paths):
    """:func:`resolve_source` of each path, each result once."""
    sources, seen = [], set()
    for path in paths:
        source = resolve_source(path)
        key = source.folder.resolve()
        if key not in seen:  # the same result twice would double its runs
            seen.add(key)
            sources.append(source)
    if not sources:
        raise ResultsError("no result file given")
    return sources


@dataclass
class Run:
    """One training run (one seed of one solver configuration)."""

    source_file: str
    objective_name: str
    dataset_name: str
    solver_name: str
    idx_rep: int
    train_steps: int | None  # N, the schedule horizon (None: unknown)
    status: str
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


def load_results(paths):
    """Read the results of ``paths`` (see :func:`resolve_source`) into one
    DataFrame with a ``source_file`` column (no row for a result without a
    parquet file). Raises :class:`ResultsError` for a missing file or one
    that is not a benchopt result."""
    return _read_frames(resolve_sources(paths))


def _read_frames(sources):
    frames = [pd.DataFrame(columns=[*REQUIRED_COLUMNS, "source_file"])]
    for source in sources:
        path = source.parquet
        if path is None:
            continue
        try:
            df = pd.read_parquet(path)
        except Exception as error:
            raise ResultsError(
                f"{path}: not a benchopt result (unreadable as parquet: {error})"
            ) from error
        if "data_name" in df.columns and "dataset_name" not in df.columns:
            df = df.rename(columns={"data_name": "dataset_name"})  # older files
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise ResultsError(
                f"{path}: not a benchopt result of this benchmark (no column "
                + ", ".join(missing)
                + ")"
            )
        df = df.copy()
        df["source_file"] = source.name
        frames.append(df)
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames[1:], ignore_index=True)


def ledger_folder(parquet_path):
    """benchopt's per-run folders of a result file: ``<folder>/<stem>/``."""
    parquet_path = Path(parquet_path)
    return parquet_path.parent / parquet_path.stem


def read_ledgers(path, source_file=None):
    """The run-status ledgers of the result ``path`` (a parquet file, whose
    ledgers are in :func:`ledger_folder`, or that folder itself).

    Each is the JSON object of one ``run_status.json`` plus ``source_file``
    (default: ``path``).
    Missing keys are filled in from the folder layout
    ``<dataset>/<objective>/<solver>/rep_<k>`` (names sanitised by benchopt);
    an unreadable ledger is kept as a crashed run.
    """
    folder = Path(path) if Path(path).is_dir() else ledger_folder(path)
    return _ledgers_in(folder, str(path) if source_file is None else source_file)


def _ledgers_in(folder, source_file):
    ledgers = []
    for path in ledger_paths(folder):
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            data = dict(status="error", message=f"unreadable {path.name}: {error}")
        parts = path.relative_to(folder).parts[:-1]
        if len(parts) >= 4:
            from_path = dict(
                dataset_name=parts[-4],
                objective_name=parts[-3],
                solver_name=parts[-2],
            )
            rep = re.fullmatch(r"rep_(\d+)", parts[-1])
            if rep:
                from_path["idx_rep"] = int(rep.group(1))
            for key, value in from_path.items():
                data.setdefault(key, value)
        data["source_file"] = source_file
        ledgers.append(data)
    return ledgers


def sanitize(name):
    """benchopt's folder name for a component name (its run_context rule)."""
    return re.sub(r'[/\\:*?"<>|]+', "_", str(name))


def _key(source_file, dataset, objective, solver, idx_rep):
    return (
        str(source_file),
        sanitize(dataset),
        sanitize(objective),
        sanitize(solver),
        int(idx_rep),
    )


def _last_finite(values):
    values = pd.to_numeric(values, errors="coerce")
    values = values[values.map(math.isfinite)]
    return float(values.iloc[-1]) if len(values) else math.nan


def _as_steps(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return int(round(value)) if math.isfinite(value) and value > 0 else None


def _stopped_at_target(rows):
    if "objective_reached_target" not in rows:
        return False
    reached = pd.to_numeric(rows["objective_reached_target"], errors="coerce")
    return bool(reached.iloc[-1] >= 1)


def _train_steps(rows, ledger):
    """N of a run, from the most to the least explicit record: the objective's
    ``train_steps`` column, the ledger, the solver's ``train_steps`` parameter,
    ``step / budget_used`` (the budget the objective's schedule spans), and
    last the run's last evaluated step.

    ``step / budget_used`` is skipped for a run whose last evaluation reached
    the target: files written before ``train_steps`` was recorded come from a
    stopping criterion that ended runs at the target by design, so their N is
    their last step; a run that stopped short of both (a timeout, a kill) gets
    the budget as N and is unfinished."""
    candidates = []
    if "objective_train_steps" in rows:
        candidates.append(_last_finite(rows["objective_train_steps"]))
    if ledger is not None:
        candidates.append(ledger.get("train_steps"))
    if "p_solver_train_steps" in rows:
        candidates.append(_last_finite(rows["p_solver_train_steps"]))
    candidates.append(split_name(rows["solver_name"].iloc[0])[1].get("train_steps"))
    if "objective_budget_used" in rows and not _stopped_at_target(rows):
        used = pd.to_numeric(rows["objective_budget_used"], errors="coerce")
        ok = used > 0
        if ok.any():
            last = ok[ok].index[-1]
            candidates.append(rows.at[last, "objective_step"] / used[last])
    candidates.append(_last_finite(rows["objective_step"]))
    for candidate in candidates:
        steps = _as_steps(candidate)
        if steps is not None:
            return steps
    return None


def _steps_text(step, n_steps):
    at = "?" if step is None or not math.isfinite(step) else f"{step:.0f}"
    return f"at step {at} of N={n_steps if n_steps is not None else '?'}"


def _unfinished_message(ledger_status, step, n_steps, message, rows=True):
    """Why a run is unfinished, in one line: where it stopped and, when the
    ledger says, why."""
    text = f"unfinished {_steps_text(step, n_steps)}"
    if ledger_status == "running":
        text = (
            f"unfinished: killed {_steps_text(step, n_steps)} (no final "
            "status: it still says 'running')"
        )
    elif ledger_status == DONE:
        text += " although its status says done"
    if not rows:
        text += "; no result rows"
    return text + (f": {message}" if message else "")


def _run_from_rows(rows, ledger):
    rows = rows.sort_values("objective_step", kind="stable")
    first = rows.iloc[0]
    steps = pd.to_numeric(rows["objective_step"], errors="coerce")
    val = pd.to_numeric(rows["objective_val_loss"], errors="coerce")
    curve = pd.Series(val.to_numpy(), index=steps.to_numpy(), dtype=float)
    curve = curve[~curve.index.duplicated(keep="last")]
    last = rows.iloc[-1]
    n_steps = _train_steps(rows, ledger)
    run = Run(
        source_file=str(first["source_file"]),
        objective_name=str(first["objective_name"]),
        dataset_name=str(first["dataset_name"]),
        solver_name=str(first["solver_name"]),
        idx_rep=int(first["idx_rep"]),
        train_steps=n_steps,
        status=DONE,
        last_step=float(steps.max()),
        final_val_loss=float(val.iloc[-1]),
        final_time=float(last["time"]) if "time" in rows else math.nan,
        target=(
            _last_finite(rows["objective_target"])
            if "objective_target" in rows
            else math.nan
        ),
        curve=curve,
    )
    diverged_flag = (
        "objective_diverged" in rows
        and (pd.to_numeric(rows["objective_diverged"], errors="coerce") >= 1).any()
    )
    ledger_status = (ledger or {}).get("status")
    message = str((ledger or {}).get("message") or "")
    short = n_steps is not None and not run.last_step >= n_steps
    if ledger_status == "error":
        run.status, run.message = CRASHED, message or "the ledger says error"
    elif (
        diverged_flag
        or ledger_status == DIVERGED
        or not math.isfinite(run.final_val_loss)
    ):
        run.status = DIVERGED
        run.message = message or f"diverged by step {run.last_step:.0f}"
    elif ledger_status in LEDGER_UNFINISHED or short:
        # The last step decides, whatever the ledger says: a timeout or a
        # stopping criterion can end a run marked "done" before its N.
        run.status = UNFINISHED
        run.message = _unfinished_message(
            ledger_status, run.last_step, n_steps, message
        )
    return run


def _run_from_ledger(ledger):
    status = ledger.get("status")
    message = str(ledger.get("message") or "")
    n_steps = _as_steps(ledger.get("train_steps"))
    if n_steps is None:
        n_steps = _as_steps(
            split_name(str(ledger.get("solver_name", "")))[1].get("train_steps")
        )
    step = ledger.get("step")
    step = float(step) if isinstance(step, int | float) else math.nan
    if status == DIVERGED:
        run_status = DIVERGED
    elif status in LEDGER_UNFINISHED:
        run_status = UNFINISHED
        message = _unfinished_message(status, step, n_steps, message, rows=False)
    elif status == DONE:
        run_status = LOST
        message = (
            f"its status says done {_steps_text(step, n_steps)}, but no result "
            "file holds its rows"
        )
    else:
        run_status = CRASHED
        message = message or f"status {status!r} and no result rows"
    return Run(
        source_file=str(ledger["source_file"]),
        objective_name=str(ledger.get("objective_name", "?")),
        dataset_name=str(ledger.get("dataset_name", "?")),
        solver_name=str(ledger.get("solver_name", "?")),
        idx_rep=int(ledger.get("idx_rep", -1)),
        train_steps=n_steps,
        status=run_status,
        last_step=step,
        message=message,
    )


def collect_runs(df, ledgers=()):
    """One :class:`Run` per run of ``df`` (as :func:`load_results` returns
    it), plus one per ledger without rows (a crashed run)."""
    by_key = {}
    for ledger in ledgers:
        try:
            key = _key(
                ledger["source_file"],
                ledger.get("dataset_name", "?"),
                ledger.get("objective_name", "?"),
                ledger.get("solver_name", "?"),
                ledger.get("idx_rep", -1),
            )
        except (TypeError, ValueError):
            key = (str(ledger.get("source_file")), id(ledger))
        by_key[key] = ledger
    runs = []
    group_cols = [
        "source_file",
        "dataset_name",
        "objective_name",
        "solver_name",
        "idx_rep",
    ]
    if "source_file" not in df.columns:
        df = df.assign(source_file="")
    for values, rows in df.groupby(group_cols, sort=False):
        ledger = by_key.pop(_key(*values), None)
        runs.append(_run_from_rows(rows, ledger))
    runs.extend(_run_from_ledger(ledger) for ledger in by_key.values())
    return runs


def load(paths):
    """(sources, rows, runs) of the results ``paths`` (parquet files or
    result folders, see :func:`resolve_source`), each with its ledgers."""
    sources = resolve_sources(paths)
    df = _read_frames(sources)
    ledgers = [
        ledger
        for source in sources
        for ledger in _ledgers_in(source.folder, source.name)
    ]
    return sources, df, collect_runs(df, ledgers)


def load_runs(paths):
    """The runs of the results ``paths``, with their ledgers' failed runs."""
    return load(paths)[2]


def runs_frame(runs):
    """The runs as a DataFrame (one row per run, without the curves)."""
    return pd.DataFrame(
        [
            {k: v for k, v in run.__dict__.items() if k != "curve"}
            | {"failed": run.failed}
            for run in runs
        ]
    )
