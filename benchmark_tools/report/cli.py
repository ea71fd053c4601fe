"""Command line: benchopt result files -> an offline report (Markdown, one
self-contained HTML page, and every figure as PNG and PDF)."""

import re
import shlex
import sys
from pathlib import Path

from ..results.cli import ROOT, input_parser, read_input
from .data import load_report_data
from .document import TITLE, build_document, to_html, to_markdown
from .figures import FORMATS, all_figures

FIGURES = "figures"
#: Figure files this command writes; older ones are removed before a new run.
FIGURE_FILE = re.compile(r"problem\d+_[a-z_]+\.(png|pdf|svg)")

USAGE_EPILOG = """\
examples:
  python -m benchmark_tools.report                       # the newest result
  python -m benchmark_tools.report outputs/a.parquet outputs/b.parquet \\
      --out report/ --baseline muon --formats png pdf

writes OUT/report.md, OUT/report.html (self-contained: figures embedded, no
external resource) and OUT/figures/problem<k>_<figure>.<format>. Problems
(objective and dataset) are never mixed: each has its own table and figures.
The tables are those of python -m benchmark_tools.results, and RESULT, LABEL
and --target mean the same there.
"""


def build_parser(prog=None):
    parser = input_parser(
        prog,
        "Offline report of benchopt results: the Track 3 table, figures "
        "(validation loss against steps, tokens, time and FLOPs, zoom near the "
        "target, steps to target, final loss per seed, training loss), failed "
        "runs and run metadata, per problem.",
        USAGE_EPILOG,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("report"),
        help="output folder (default: ./report)",
    )
    parser.add_argument(
        "--formats",
        nargs="+",
        choices=FORMATS,
        default=["png", "pdf"],
        metavar="FORMAT",
        help=f"figure files to write, among {', '.join(FORMATS)} (default: "
        "png pdf; the HTML page embeds PNG either way)",
    )
    parser.add_argument("--title", default=TITLE, help="the report's title")
    return parser


def main(argv=None, prog=None):
    """Write the report; return the exit status (2: no or bad input, 1: a
    figure failed: the report is written without it)."""
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    parser = build_parser(prog)
    args, data = read_input(parser, argv, load_report_data)
    if data is None:
        return 2
    out, figures_folder = args.out, args.out / FIGURES
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path in figures_folder.glob("*"):  # those of an earlier report
            if path.is_file() and FIGURE_FILE.fullmatch(path.name):
                path.unlink()
    except OSError as error:
        print(f"{parser.prog}: error: {out}: {error}", file=sys.stderr)
        return 2
    formats = list(dict.fromkeys(args.formats))
    errors = []
    figures = all_figures(data, figures_folder, formats, errors)
    for stem, message in errors:
        print(
            f"{parser.prog}: warning: figure {stem} failed: {message}", file=sys.stderr
        )
    command = " ".join(["python -m benchmark_tools.report", *map(shlex.quote, argv)])
    doc = build_document(
        data, figures, ROOT, command, title=args.title, figure_errors=errors
    )
    (out / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    (out / "report.html").write_text(to_html(doc), encoding="utf-8")
    n_figures = sum(len(v) for v in figures.values())
    print(
        f"{out / 'report.md'}, {out / 'report.html'} and {n_figures} figure(s) "
        f"({', '.join(formats)}) in {figures_folder}: {len(data.runs)} run(s), "
        f"{len(data.problems)} problem(s)"
    )
    return 1 if errors else 0
