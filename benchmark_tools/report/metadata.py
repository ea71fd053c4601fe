"""Run metadata: versions, device, dates, the benchmark's commit, the input
files, and how the problems of the files differ.

benchopt records system information in columns of every result row
(``version-*``, ``env-*``, ``system-*``, ``platform*``, ``benchmark-git-tag``,
``run_date``); what a file does not record is taken from the environment
that writes the report, and the report says which.
"""

import hashlib
import math
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path

import pandas as pd

from benchmark_utils.tracking import split_name

from ..results.runs import ledger_paths
from .data import HARDWARE_PARAMETERS

SYSTEM_PREFIXES = ("version-", "env-", "system-", "platform")
#: Objective parameters that describe the machine, not the problem.
DEVICE_PARAMETERS = tuple(f"p_obj_{name}" for name in HARDWARE_PARAMETERS)
#: Per-evaluation columns of the objective that describe the machine.
DEVICE_METRICS = {
    "objective_world_size": "world size",
    "objective_micro_batch_size": "micro-batch size (sequences)",
}
#: component -> (benchopt's column, Python distribution or None).
VERSIONS = {
    "python": ("version-python", None),
    "torch": ("version-torch", "torch"),
    "benchopt": ("version-benchopt", "benchopt"),
    "numpy": ("version-numpy", "numpy"),
    "scipy": ("version-scipy", "scipy"),
    "pandas": ("version-pandas", "pandas"),
    "matplotlib": ("version-matplotlib", "matplotlib"),
    "CUDA": ("version-cuda", None),
}


def values_of(df, column):
    """The distinct recorded values of ``column`` as strings (no nulls, no
    NaN, no benchopt-pickled bytes), in order of appearance."""
    if column not in df.columns:
        return []
    out = []
    for value in df[column].tolist():
        if value is None or isinstance(value, bytes | bytearray):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        if text and text not in out:
            out.append(text)
    return out


def _joined(values, default="-"):
    return ", ".join(values) if values else default


def system_columns(df):
    return [
        c
        for c in df.columns
        if c.startswith(SYSTEM_PREFIXES) or c == "benchmark-git-tag"
    ]


def run_dates(df):
    """(first, last) ``run_date`` of the rows, as ``YYYY-MM-DD HH:MM``."""
    dates = pd.to_datetime(
        pd.Series(values_of(df, "run_date"), dtype=object), errors="coerce"
    ).dropna()
    if dates.empty:
        return None
    fmt = "%Y-%m-%d %H:%M"
    return dates.min().strftime(fmt), dates.max().strftime(fmt)


def _sha256(path, limit=None):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:limit]


def file_summaries(data):
    """One dict per input file: path, size, sha256, rows, runs, problems,
    dates (from ``run_date``, else the file's modification time)."""
    problem_of = {}
    for problem in data.problems:
        for run in problem.runs:
            problem_of.setdefault(run.source_file, set()).add(problem.index)
    out = []
    for source in data.paths:
        path = Path(source)
        # A result folder without parquet (every run failed): its ledgers.
        files = ledger_paths(path) if path.is_dir() else [path]
        rows = data.df[data.df["source_file"] == source]
        runs = [run for run in data.runs if run.source_file == source]
        dates = run_dates(rows)
        if dates is not None:
            when, when_source = (
                (dates[0] if dates[0] == dates[1] else f"{dates[0]} to {dates[1]}"),
                "run_date",
            )
        else:
            mtime = max(f.stat().st_mtime for f in files)
            stamp = datetime.fromtimestamp(mtime, timezone.utc)
            when, when_source = stamp.strftime("%Y-%m-%d %H:%M UTC"), "file modified"
        out.append(
            dict(
                path=str(path),
                name=path.name,
                bytes=sum(f.stat().st_size for f in files),
                sha256=_sha256(path, 16) if path.is_file() else "- (no parquet)",
                rows=len(rows),
                runs=len(runs),
                failed=sum(run.failed for run in runs),
                problems=sorted(problem_of.get(source, ())),
                date=when,
                date_source=when_source,
            )
        )
    return out


def _installed(distribution):
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return None


def versions(df):
    """(component, version(s), source) for the main software: the files'
    system-info columns when they record it, else this environment."""
    out = []
    for component, (column, distribution) in VERSIONS.items():
        recorded = values_of(df, column)
        if recorded:
            out.append((component, _joined(recorded), "result files"))
            continue
        if component == "python":
            here = platform.python_version()
        elif component == "CUDA":
            if column in df.columns and len(df):  # recorded as null: no CUDA
                out.append((component, "none", "result files"))
            continue
        else:
            here = _installed(distribution)
        if here is not None:
            out.append((component, here, "report environment (not in the files)"))
    return out


def device_rows(df, paths):
    """(file name, setting, value(s)) describing the machine of each file of
    ``paths``: the objective's hardware parameters, world size and
    benchopt's system-info columns."""
    out = []
    for source in paths:
        rows = df[df["source_file"] == source]
        name = Path(source).name
        for column in DEVICE_PARAMETERS:
            values = values_of(rows, column)
            if values:
                out.append((name, column.removeprefix("p_obj_"), _joined(values)))
        for column, label in DEVICE_METRICS.items():
            values = values_of(rows, column)
            if values:
                out.append((name, label, _joined(values)))
        for column in system_columns(rows):
            if column.startswith("version-"):
                continue  # in the versions table
            values = values_of(rows, column)
            out.append((name, column, _joined(values, "(not recorded)")))
    return out


def device_summary(df, paths):
    """One line per file of ``paths``: device, world size, CUDA, processor,
    CPUs, RAM, system."""
    out = []
    for source in paths:
        rows = df[df["source_file"] == source]
        if rows.empty:
            out.append((Path(source).name, "no rows"))
            continue
        parts = []
        device = values_of(rows, "p_obj_device")
        if device:
            parts.append(f"device {_joined(device)}")
        world = values_of(rows, "objective_world_size")
        parts.append(
            f"world size {_joined(world)}" if world else "world size not recorded"
        )
        cuda = values_of(rows, "version-cuda")
        if "version-cuda" in rows.columns:
            parts.append(f"CUDA {_joined(cuda, 'none')}")
        for column, label in (
            ("system-processor", "processor"),
            ("system-cpus", "CPUs"),
            ("system-ram (GB)", "RAM (GB)"),
        ):
            values = values_of(rows, column)
            if values:
                parts.append(f"{label} {_joined(values)}")
        system = values_of(rows, "platform") + values_of(rows, "platform-release")
        if system:
            parts.append(" ".join(system))
        out.append((Path(source).name, "; ".join(parts)))
    return out


def git_commit(folder):
    """``git rev-parse HEAD`` of ``folder`` (with "+ uncommitted changes"
    when its work tree differs), or "unknown"."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if head.returncode != 0:
            return "unknown"
        commit = head.stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if dirty.returncode == 0 and dirty.stdout.strip():
            commit += " + uncommitted changes"
        return commit
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def problem_differences(problems):
    """How the problems differ: a list of (component, parameter, values
    per problem, hardware-only flag), where component is "objective" or
    "dataset" and values are in the order of ``problems`` ("-": absent)."""
    if len(problems) < 2:
        return []
    out = []
    for component, attr in (
        ("objective", "objective_name"),
        ("dataset", "dataset_name"),
    ):
        parsed = [split_name(getattr(p.table, attr)) for p in problems]
        bases = [base for base, _ in parsed]
        if len(set(bases)) > 1:
            out.append((component, "name", bases, False))
        keys = []
        for _, params in parsed:
            keys += [k for k in params if k not in keys]
        for key in keys:
            values = [params.get(key, "(absent)") for _, params in parsed]
            if len(set(values)) > 1:
                hardware = component == "objective" and key in HARDWARE_PARAMETERS
                out.append((component, key, values, hardware))
    return out


def now_utc():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
