"""Offline report of benchmark results, with paper-ready figures.

    python -m benchmark_tools.report [RESULT ...] --out report/
        [--baseline LABEL|published:K] [--published [K,K|records|all]]
        [--target T] [--formats png pdf] [--title TITLE] [--full-names]

writes ``report.md``, a self-contained ``report.html`` and every figure as
PNG and PDF, per problem (never mixing problems). The tables, verdicts and
run statuses are those of :mod:`benchmark_tools.results`; ``data`` attaches
each run's evaluations to its table row, ``figures`` draws them, ``metadata``
collects versions, device, dates and the benchmark's commit, ``document``
writes Markdown and HTML, ``cli`` is the command line.
"""

from .cli import main

__all__ = ["main"]
