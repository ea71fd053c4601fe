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


def recorded(rows, column, default=""):
    """The distinct values of ``column`` in ``rows``, in order, joined by
    commas (no nulls, no benchopt-pickled bytes; 8.0 as 8), else ``default``."""
    values = rows[column].dropna() if column in rows else []
    texts = [
        str(int(v) if isinstance(v, float) and v.is_integer() else v).strip()
        for v in values
        if not isinstance(v, bytes)
    ]
    return ", ".join(dict.fromkeys(text for text in texts if text)) or default


def file_summaries(data):
    """One dict per input file: the cells of the report's files table (the
    dates from ``run_date``, else the file's modification time)."""
    out = []
    for source in data.paths:
        path = Path(source)
        # A result folder without parquet (every run failed): its ledgers.
        files = ledger_paths(path) if path.is_dir() else [path]
        runs = [run for run in data.runs if run.source_file == source]
        rows = data.df[data.df["source_file"] == source]
        dates = rows["run_date"] if "run_date" in rows else pd.Series()
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
        if recorded(df, column):
            out.append((name, recorded(df, column), "result files"))
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


def _part(rows, column, label, default=""):
    value = recorded(rows, column, default)
    return f"{label} {value}" if value else ""


def devices(df, paths):
    """Per file of ``paths``: its name, a line saying its device, world size,
    CUDA, processor, CPUs, RAM and system, and (setting, value) rows: the
    objective's hardware parameters, world size and benchopt's system columns.
    """
    out = []
    for source in paths:
        rows = df[df["source_file"] == source]
        parts = [
            _part(rows, "p_obj_device", "device"),
            _part(rows, "objective_world_size", "world size", "not recorded"),
            _part(
                rows, "version-cuda", "CUDA", "none" if "version-cuda" in rows else ""
            ),
            _part(rows, "system-processor", "processor"),
            _part(rows, "system-cpus", "CPUs"),
            _part(rows, "system-ram (GB)", "RAM (GB)"),
            f"{recorded(rows, 'platform')} {recorded(rows, 'platform-release')}",
        ]
        line = "; ".join(part.strip() for part in parts if part.strip())
        settings = [(label, recorded(rows, c)) for c, label in DEVICE_COLUMNS.items()]
        settings += [
            (c, recorded(rows, c, "(not recorded)"))
            for c in rows.columns
            if c.startswith(SYSTEM_PREFIXES)
        ]
        settings = [(setting, value) for setting, value in settings if value]
        out.append((Path(source).name, line if len(rows) else "no rows", settings))
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
