"""Summarise benchopt result files: the Track 3 results table, per problem.
Kept for its old command line: ``python -m benchmark_tools.results`` does the
work (see its ``--help``).

    python benchmarks/summarize_results.py                 # newest outputs/*.parquet
    python benchmarks/summarize_results.py outputs/benchopt_run_X.parquet --format rst
    python benchmarks/summarize_results.py a.parquet b.parquet --baseline muon
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_tools.results import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="summarize_results.py"))
