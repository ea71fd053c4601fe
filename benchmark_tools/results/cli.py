"""Command line: benchopt result files -> the Track 3 results tables."""

import argparse
import sys
from pathlib import Path

from .render import FORMATS, render
from .runs import ResultsError, load_runs
from .table import results_tables

#: The benchmark folder (the repository root), where benchopt writes outputs/.
ROOT = Path(__file__).resolve().parents[2]

USAGE_EPILOG = """\
examples:
  python -m benchmark_tools.results                      # newest outputs/*.parquet
  python -m benchmark_tools.results outputs/a.parquet outputs/b.parquet \\
      --baseline muon --format markdown

A row is a solver configuration at one step count N. PASS iff
(target - mean final val loss) * sqrt(n) >= 0.004 over the completed runs and
no run failed (diverged, crashed, or stopped before N). --baseline adds Track 3's
pairwise test of every row against the baseline row: LABEL is a row's label,
its full solver name, or the base solver name, with @N to pick one step count.
"""


def newest_result(folder):
    """The most recently modified ``*.parquet`` of ``folder``, or None."""
    files = sorted(Path(folder).glob("*.parquet"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def build_parser(prog=None):
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Track 3 results table of benchopt result files, per problem: "
            "runs, failed runs, final validation loss, significance rule, "
            "earliest passing step, time, and the pairwise test."
        ),
        epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "parquet",
        nargs="*",
        type=Path,
        help="benchopt result files, combined (default: the newest "
        "outputs/*.parquet of the benchmark)",
    )
    parser.add_argument(
        "--baseline",
        metavar="LABEL",
        help="test every row against this solver (Track 3 pairwise rule)",
    )
    parser.add_argument(
        "--target",
        type=float,
        help="target validation loss (default: the objective_target the runs "
        "recorded, else 3.28)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument(
        "--full-names",
        action="store_true",
        help="solver names with all their parameters",
    )
    return parser


def input_paths(prog, paths):
    """The result files named, else the newest ``outputs/*.parquet``; None
    (after saying why) when there is none."""
    paths = list(paths)
    if paths:
        return paths
    newest = newest_result(ROOT / "outputs")
    if newest is None:
        print(
            f"{prog}: error: no result file in {ROOT / 'outputs'}: "
            "run benchopt first or name a file",
            file=sys.stderr,
        )
        return None
    return [newest]


def main(argv=None, prog=None):
    """Print the tables; return the exit status (2: no or bad input)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    paths = input_paths(parser.prog, args.parquet)
    if not paths:
        return 2
    try:
        runs = load_runs(paths)
        tables = results_tables(
            runs,
            target=args.target,
            baseline=args.baseline,
            full_names=args.full_names,
        )
    except ResultsError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    if args.format in ("text", "rst", "markdown"):
        names = ", ".join(Path(p).name for p in paths)
        print(f"{names}: {len(runs)} run(s), {len(tables)} problem(s)\n")
    print(render(tables, args.format))
    return 0
