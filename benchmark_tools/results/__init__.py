"""Track 3 results: benchopt results -> per-problem results tables
(``python -m benchmark_tools.results --help``).

``significance`` holds Track 3's rules as pure functions, ``runs`` turns the
result files and their run-status ledgers into runs, ``table`` groups runs
into rows and applies the rules, ``render`` formats, ``cli`` is the command
line.
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
