"""Run metadata: versions, device, dates, the benchmark's commit, the input
files, and how the problems differ.

benchopt records system information in every result row (``version-*``,
``env-*``, ``system-*``, ``platform*``, ``benchmark-git-tag``, ``run_date``);
what a file lacks is taken from the environment writing the report, and the
report says so.
"""

import hashlib
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from ..results import split_name
from ..results.runs import ledger_paths
from .data import HARDWARE_PARAMETERS

#: Columns that describe the machine, beside benchopt's system columns.
DEVICE_COLUMNS = {f"p_obj_{name}": name for name in HARDWARE_PARAMETERS} | {
    "objective_world_size": "world size",
    "objective_micro_batch_size": "micro-batch size (sequences)",
}
SYSTEM_PREFIXES = ("env-", "system-", "platform", "benchmark-git-tag")
#: Versions given: benchopt records ``version-<name in lower case>``.
SOFTWARE = ("python", "torch", "benchopt", "numpy", "scipy", "pandas", "matplotlib")


def values_of(df, column):
    """The distinct recorded values of ``column`` as text, in order of
    appearance (no nulls, no benchopt-pickled bytes; 8.0 as 8)."""
    texts = []
    for value in df[column].dropna() if column in df else []:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, bytes):
            texts.append(str(value).strip())
    return list(dict.fromkeys(text for text in texts if text))


def joined(values, default="-"):
    return ", ".join(values) if values else default


def _rows_of(df, source):
    return df[df["source_file"] == source]


def file_summaries(data):
    """One dict per input file: the cells of the report's files table (the
    dates from ``run_date``, else the file's modification time)."""
    out = []
    for source in data.paths:
        path = Path(source)
        # A result folder without parquet (every run failed): its ledgers.
        files = ledger_paths(path) if path.is_dir() else [path]
        runs = [run for run in data.runs if run.source_file == source]
        rows = _rows_of(data.df, source)
        dates = pd.Series(values_of(rows, "run_date"), dtype=object)
        dates = pd.to_datetime(dates, errors="coerce").dropna()
        if len(dates):
            first, last = (f"{d:%Y-%m-%d %H:%M}" for d in (dates.min(), dates.max()))
            when = first if first == last else f"{first} to {last}"
        else:
            mtime = max(f.stat().st_mtime for f in files)
            when = f"{datetime.fromtimestamp(mtime, timezone.utc):%Y-%m-%d %H:%M UTC}"
        problems = [
            p.index
            for p in data.problems
            if any(r.source_file == source for r in p.runs)
        ]
        out.append(
            {
                "file": str(path),
                "size (bytes)": f"{sum(f.stat().st_size for f in files):,}",
                "sha256 (16)": (
                    hashlib.sha256(path.read_bytes()).hexdigest()[:16]
                    if path.is_file()
                    else "- (no parquet)"
                ),
                "rows": str(len(rows)),
                "runs": str(len(runs)),
                "failed": str(sum(run.failed for run in runs)),
                "problems": ", ".join(map(str, problems)) or "-",
                "date of the runs": when,
                "date from": "run_date" if len(dates) else "file modified",
            }
        )
    return out


def versions(df):
    """(component, version(s), source) of the main software: the files'
    ``version-*`` columns when they record it, else this environment."""
    out = []
    for name in (*SOFTWARE, "CUDA"):
        column = f"version-{name.lower()}"
        recorded = values_of(df, column)
        if recorded:
            out.append((name, joined(recorded), "result files"))
        elif name == "CUDA":
            if column in df and len(df):  # recorded as null: no CUDA
                out.append((name, "none", "result files"))
        else:
            here = platform.python_version() if name == "python" else _installed(name)
            if here is not None:
                out.append((name, here, "report environment (not in the files)"))
    return out


def _installed(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def device_rows(df, paths):
    """(file name, setting, value(s)) describing the machine of each file:
    the objective's hardware parameters, world size and benchopt's system
    columns."""
    out = []
    for source in paths:
        rows = _rows_of(df, source)
        name = Path(source).name
        for column, label in DEVICE_COLUMNS.items():
            if values_of(rows, column):
                out.append((name, label, joined(values_of(rows, column))))
        for column in rows.columns:
            if column.startswith(SYSTEM_PREFIXES):
                values = joined(values_of(rows, column), "(not recorded)")
                out.append((name, column, values))
    return out


def device_summary(df, paths):
    """(file name, one line): device, world size, CUDA, processor, CPUs, RAM
    and system of each file."""
    out = []
    for source in paths:
        rows = _rows_of(df, source)
        if rows.empty:
            out.append((Path(source).name, "no rows"))
            continue
        device = values_of(rows, "p_obj_device")
        world = values_of(rows, "objective_world_size")
        parts = [f"device {joined(device)}"] if device else []
        parts.append(
            f"world size {joined(world)}" if world else "world size not recorded"
        )
        if "version-cuda" in rows:
            parts.append(f"CUDA {joined(values_of(rows, 'version-cuda'), 'none')}")
        for column, label in (
            ("system-processor", "processor"),
            ("system-cpus", "CPUs"),
            ("system-ram (GB)", "RAM (GB)"),
        ):
            if values_of(rows, column):
                parts.append(f"{label} {joined(values_of(rows, column))}")
        system = values_of(rows, "platform") + values_of(rows, "platform-release")
        if system:
            parts.append(" ".join(system))
        out.append((Path(source).name, "; ".join(parts)))
    return out


def git_commit(folder):
    """``git rev-parse HEAD`` of ``folder`` (with "+ uncommitted changes"
    when its work tree differs), or "unknown"."""

    def git(*args):
        command = ["git", "-C", str(folder), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if commit is None:
        return "unknown"
    return commit + (" + uncommitted changes" if dirty else "")


def problem_differences(problems):
    """How the problems differ: (component, parameter, values per problem,
    hardware-only flag) tuples, component "objective" or "dataset", values
    in the order of ``problems`` ("(absent)": not set)."""
    if len(problems) < 2:
        return []
    out = []
    for component in ("objective", "dataset"):
        parsed = [split_name(getattr(p.table, f"{component}_name")) for p in problems]
        bases = [base for base, _ in parsed]
        if len(set(bases)) > 1:
            out.append((component, "name", bases, False))
        keys = dict.fromkeys(key for _, params in parsed for key in params)
        for key in keys:
            values = [params.get(key, "(absent)") for _, params in parsed]
            if len(set(values)) > 1:
                hardware = component == "objective" and key in HARDWARE_PARAMETERS
                out.append((component, key, values, hardware))
    return out


def now_utc():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
