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
from .render import render
from .runs import (
    ResultsError,
    collect_runs,
    ledger_folder,
    load_results,
    load_runs,
    read_ledgers,
)
from .significance import TARGET, THRESHOLD, pairwise_lhs, passes_rule, rule_margin
from .table import results_tables, short_names, split_name

__all__ = [
    "TARGET",
    "THRESHOLD",
    "ResultsError",
    "collect_runs",
    "ledger_folder",
    "load_results",
    "load_runs",
    "main",
    "newest_result",
    "pairwise_lhs",
    "passes_rule",
    "read_ledgers",
    "render",
    "results_tables",
    "rule_margin",
    "short_names",
    "split_name",
]
