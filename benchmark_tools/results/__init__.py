"""Track 3 results: benchopt results -> per-problem results tables.

    python -m benchmark_tools.results [RESULT ...] [--baseline LABEL|published:K]
        [--published [K,K|records|all]] [--target 3.28]
        [--format text|rst|markdown|csv|json] [--full-names]

A RESULT is a benchopt parquet file or its folder ``outputs/<name>`` (which,
when every run failed, holds only the runs' ``run_status.json``).

``significance`` holds Track 3's rules as pure functions, ``runs`` turns the
files (and the run-status ledgers beside them) into runs, ``table`` groups
runs into rows and applies the rules, ``render`` formats, ``cli`` is the
command line.
"""

from .cli import main, newest_result
from .names import drop_parameters, short_names, split_name
from .render import FORMATS, render
from .runs import (
    STATUSES,
    UNFINISHED,
    ResultsError,
    Run,
    collect_runs,
    ledger_folder,
    load,
    load_results,
    load_runs,
    read_ledgers,
    resolve_source,
    runs_frame,
)
from .significance import (
    LOSS_PER_100_STEPS,
    TARGET,
    THRESHOLD,
    pairwise_lhs,
    pairwise_significant,
    passes_rule,
    rule_margin,
)
from .table import ProblemTable, ResultRow, earliest_passing_step, results_tables

__all__ = [
    "FORMATS",
    "LOSS_PER_100_STEPS",
    "TARGET",
    "THRESHOLD",
    "ProblemTable",
    "ResultRow",
    "ResultsError",
    "Run",
    "STATUSES",
    "UNFINISHED",
    "collect_runs",
    "drop_parameters",
    "earliest_passing_step",
    "ledger_folder",
    "load",
    "load_results",
    "load_runs",
    "main",
    "newest_result",
    "pairwise_lhs",
    "pairwise_significant",
    "passes_rule",
    "read_ledgers",
    "render",
    "resolve_source",
    "results_tables",
    "rule_margin",
    "runs_frame",
    "short_names",
    "split_name",
]
