"""Command line: benchopt results -> the Track 3 results tables.

:func:`input_parser` and :func:`read_input` are the input handling this
command and ``python -m benchmark_tools.report`` share.
"""

import argparse
import sys
from pathlib import Path

from benchmark_utils.errors import UserError

from .. import leaderboard
from .render import FORMATS, render
from .runs import ledger_paths, load
from .table import results_tables

#: The benchmark folder (the repository root), where benchopt writes outputs/.
ROOT = Path(__file__).resolve().parents[2]
#: ``--published`` alone: the tuned Muon baseline (#36, Track 3's reference
#: script) and the world record (#46).
DEFAULT_PUBLISHED = "36,46"

USAGE_EPILOG = """\
examples:
  python -m benchmark_tools.results                      # the newest result in outputs/
  python -m benchmark_tools.results outputs/a.parquet outputs/b.parquet \\
      --baseline muon --format markdown
  python -m benchmark_tools.results outputs/benchopt_run_X  # a result folder

A RESULT is a benchopt parquet file or its folder outputs/<name> (when every
run failed benchopt writes no parquet: the folder's run_status.json files are
then the result). A row is a solver configuration at one step count N. PASS
iff (target - mean final val loss) * sqrt(n) >= 0.004 over the completed runs
and no run failed (diverged, crashed, or unfinished: stopped before N).
--baseline LABEL: a row's label, full solver name or base solver name, with
@N to pick one step count, or published:K for Track 3's leaderboard entry #K
(its N, mean and n as published).
"""


def input_parser(prog, description, epilog):
    """A parser with the input arguments of the results and report commands."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "results",
        nargs="*",
        type=Path,
        metavar="RESULT",
        help="benchopt result files or result folders, combined (default: the "
        "newest result in the benchmark's outputs/)",
    )
    parser.add_argument(
        "--baseline",
        metavar="LABEL",
        help="test every row against this solver (Track 3 pairwise rule); "
        "published:K for Track 3's leaderboard entry #K",
    )
    parser.add_argument(
        "--published",
        nargs="?",
        const=DEFAULT_PUBLISHED,
        metavar="K,K|records|all",
        help="show Track 3 leaderboard entries as rows, marked (published) "
        f"(default: {DEFAULT_PUBLISHED}, the tuned Muon baseline and the "
        "record; python -m benchmark_tools.leaderboard lists them)",
    )
    parser.add_argument(
        "--target",
        type=float,
        help="target validation loss (default: the objective_target the runs "
        "recorded, else 3.28)",
    )
    parser.add_argument(
        "--full-names", action="store_true", help="solver names with all parameters"
    )
    return parser


def newest_result(folder):
    """The most recent result of ``folder``: a ``*.parquet`` file, or a
    result folder with run ledgers and no parquet (every run failed), by the
    time it was last written; None if there is none."""
    folder = Path(folder)
    found = [(path.stat().st_mtime, path) for path in folder.glob("*.parquet")]
    for sub in folder.iterdir() if folder.is_dir() else ():
        if sub.is_dir() and not (folder / f"{sub.name}.parquet").exists():
            stamps = [p.stat().st_mtime for p in ledger_paths(sub)]
            if stamps:
                found.append((max(stamps), sub))
    return max(found, key=lambda item: item[0])[1] if found else None


def read_input(parser, argv, read):
    """(args, ``read(paths, target=, baseline=, full_names=, published=)``) of
    the results ``argv`` names (default: the newest in outputs/), or (args,
    None) after saying what is wrong with them."""
    args = parser.parse_args(argv)
    try:
        if not args.results:
            outputs = ROOT / "outputs"
            newest = newest_result(outputs)
            if newest is None:
                raise UserError(
                    f"no result file in {outputs}: run benchopt first or name a file"
                )
            args.results = [newest]
        published = leaderboard.select(args.published) if args.published else []
        return args, read(
            args.results,
            target=args.target,
            baseline=args.baseline,
            full_names=args.full_names,
            published=published,
        )
    except UserError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return args, None


def read_tables(paths, **options):
    """(sources, runs, tables) of the results ``paths``; ``options`` as
    :func:`results_tables` takes them."""
    sources, _, runs = load(paths)
    return sources, runs, results_tables(runs, **options)


def main(argv=None, prog=None):
    """Print the tables; return the exit status (2: no or bad input)."""
    parser = input_parser(
        prog,
        "Track 3 results table of benchopt results, per problem: runs, failed "
        "runs, final validation loss, significance rule, earliest passing "
        "step, time, and the pairwise test.",
        USAGE_EPILOG,
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    args, read = read_input(parser, argv, read_tables)
    if read is None:
        return 2
    sources, runs, tables = read
    if args.format in ("text", "rst", "markdown"):
        names = ", ".join(
            Path(s.name).name
            + ("" if s.parquet else " (no parquet file: runs from run_status.json)")
            for s in sources
        )
        print(f"{names}: {len(runs)} run(s), {len(tables)} problem(s)\n")
    print(render(tables, args.format))
    return 0
