"""benchopt result files -> one record per training run.

benchopt writes one row per evaluation. A run is identified by its result
file (``source_file``), problem (``objective_name``, ``dataset_name``), solver
(``solver_name``, with its parameters) and repetition (``idx_rep``, the seed).
benchopt drops runs that raised from the parquet file: the trainer's ledger
(``run_status.json`` in benchopt's per-run folder next to the file) is what
tells that they existed.
"""

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .names import split_name

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
DONE = "done"
DIVERGED = "diverged"  # the training loss became NaN/inf
CRASHED = "crashed"  # the run raised: a ledger and no (or an "error") record
INCOMPLETE = "incomplete"  # stopped before its N without being marked done
STATUSES = (DONE, DIVERGED, CRASHED, INCOMPLETE)


class ResultsError(Exception):
    """A file that is missing or is not a benchopt result of this benchmark."""


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
    """Read benchopt parquet files into one DataFrame with a ``source_file``
    column. Raises :class:`ResultsError` for a missing file or one that is not
    a benchopt result."""
    frames, seen = [], set()
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ResultsError(f"{path}: no such file")
        resolved = path.resolve()
        if resolved in seen:  # the same file twice would double its runs
            continue
        seen.add(resolved)
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
        df["source_file"] = str(path)
        frames.append(df)
    if not frames:
        raise ResultsError("no result file given")
    return pd.concat(frames, ignore_index=True)


def ledger_folder(parquet_path):
    """benchopt's per-run folders of a result file: ``<folder>/<stem>/``."""
    parquet_path = Path(parquet_path)
    return parquet_path.parent / parquet_path.stem


def read_ledgers(parquet_path):
    """The run-status ledgers written during the runs of ``parquet_path``.

    Each is the JSON object of one ``run_status.json`` plus ``source_file``.
    Missing keys are filled in from the folder layout
    ``<dataset>/<objective>/<solver>/rep_<k>`` (names sanitised by benchopt);
    an unreadable ledger is kept as a crashed run.
    """
    folder = ledger_folder(parquet_path)
    ledgers = []
    for path in sorted(folder.glob(f"**/{LEDGER_NAME}")):
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
        data["source_file"] = str(parquet_path)
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
    the budget as N and is incomplete."""
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
        last_step=float(steps.iloc[-1]),
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
    if ledger_status == "error":
        run.status, run.message = CRASHED, message or "the ledger says error"
    elif (
        diverged_flag
        or ledger_status == DIVERGED
        or not math.isfinite(run.final_val_loss)
    ):
        run.status = DIVERGED
        run.message = message or f"diverged by step {run.last_step:.0f}"
    elif ledger_status == DONE:
        run.status = DONE
    elif n_steps is not None and run.last_step < n_steps:
        run.status = INCOMPLETE
        run.message = message or (
            f"last evaluation at step {run.last_step:.0f} < N={n_steps}"
        )
    return run


def _run_from_ledger(ledger):
    status = ledger.get("status")
    message = str(ledger.get("message") or "")
    if status == DIVERGED:
        run_status = DIVERGED
    else:
        run_status = CRASHED
        message = message or f"status {status!r} and no result rows"
    n_steps = _as_steps(ledger.get("train_steps"))
    if n_steps is None:
        n_steps = _as_steps(
            split_name(str(ledger.get("solver_name", "")))[1].get("train_steps")
        )
    step = ledger.get("step")
    return Run(
        source_file=str(ledger["source_file"]),
        objective_name=str(ledger.get("objective_name", "?")),
        dataset_name=str(ledger.get("dataset_name", "?")),
        solver_name=str(ledger.get("solver_name", "?")),
        idx_rep=int(ledger.get("idx_rep", -1)),
        train_steps=n_steps,
        status=run_status,
        last_step=float(step) if isinstance(step, int | float) else math.nan,
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


def load_runs(paths):
    """:func:`load_results` + every file's ledgers -> :func:`collect_runs`."""
    df = load_results(paths)
    ledgers = [
        ledger for path in df["source_file"].unique() for ledger in read_ledgers(path)
    ]
    return collect_runs(df, ledgers)


def runs_frame(runs):
    """The runs as a DataFrame (one row per run, without the curves)."""
    return pd.DataFrame(
        [
            {k: v for k, v in run.__dict__.items() if k != "curve"}
            | {"failed": run.failed}
            for run in runs
        ]
    )
