"""Summarise benchopt result files: the Track 3 results table, per problem.

Kept for its old command line; the work is done by ``benchmark_tools.results``
(``python -m benchmark_tools.results --help``), which this script runs.

    python benchmarks/summarize_results.py                 # newest outputs/*.parquet
    python benchmarks/summarize_results.py outputs/benchopt_run_X.parquet --format rst
    python benchmarks/summarize_results.py a.parquet b.parquet --baseline muon
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmark_tools.results import main, short_names, split_name  # noqa: E402

__all__ = ["main", "short_names", "split_name"]

if __name__ == "__main__":
    sys.exit(main(prog="summarize_results.py"))
