"""Track 3 results: benchopt parquet files -> per-problem results tables.

    python -m benchmark_tools.results [PARQUET ...] [--baseline muon]
        [--target 3.28] [--format text|rst|markdown|csv|json] [--full-names]

``significance`` holds Track 3's rules as pure functions, ``runs`` turns the
files (and the run-status ledgers beside them) into runs, ``table`` groups
runs into rows and applies the rules, ``render`` formats, ``cli`` is the
command line.
"""

from .cli import main, newest_result
from .names import drop_parameters, short_names, split_name
from .render import FORMATS, render
from .runs import (
    ResultsError,
    Run,
    collect_runs,
    ledger_folder,
    load_results,
    load_runs,
    read_ledgers,
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
    "collect_runs",
    "drop_parameters",
    "earliest_passing_step",
    "ledger_folder",
    "load_results",
    "load_runs",
    "main",
    "newest_result",
    "pairwise_lhs",
    "pairwise_significant",
    "passes_rule",
    "read_ledgers",
    "render",
    "results_tables",
    "rule_margin",
    "runs_frame",
    "short_names",
    "split_name",
]
