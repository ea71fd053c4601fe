"""The report as Markdown blocks: written as they are (``report.md``) and as
one self-contained HTML page (``report.html``: each block converted, figures
embedded as base64 PNG, CSS inline, nothing external). A block is a heading,
a paragraph (with `code` and **bold** spans), a bullet list, a table, or a
:class:`FigureBlock`.
"""

import base64
import html
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..results import THRESHOLD, render
from ..results.render import LEGEND
from . import metadata
from .figures import BAND

TITLE = "Track 3 optimizer benchmark report"
MESSAGE_CHARS = 300
#: A table cell that is a number (right-aligned in HTML).
NUMBER = re.compile(r"[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?")


def bullets(items):
    return "\n".join(f"- {' '.join(str(item).split())}" for item in items)


@dataclass
class Table:
    header: list
    rows: list

    def markdown(self):
        def line(cells):
            cells = (" ".join(str(c).split()).replace("|", "\\|") for c in cells)
            return "| " + " | ".join(cells) + " |"

        return "\n".join(
            [line(self.header), "|---" * len(self.header) + "|"]
            + [line(row) for row in self.rows]
        )


@dataclass
class FigureBlock:
    figure: object  # figures.FigureFile
    number: str
    folder: str  # the figures folder, relative to the report

    def markdown(self):
        fig = self.figure
        paths = {fmt: f"{self.folder}/{path.name}" for fmt, path in fig.files.items()}
        links = " · ".join(f"[{fmt.upper()}]({path})" for fmt, path in paths.items())
        text = f"*Figure {self.number}.* {fig.caption} Files: {links}."
        return f"![{fig.title}]({paths['png']})\n\n{text}" if "png" in paths else text

    def html(self):
        fig, number = self.figure, html.escape(self.number)
        png = base64.b64encode(fig.png).decode("ascii")
        return (
            f'<figure id="figure-{number}"><img alt="{html.escape(fig.title)}" '
            f'width="{fig.size[0]}" height="{fig.size[1]}" '
            f'src="data:image/png;base64,{png}"><figcaption><strong>Figure '
            f"{number}.</strong> {_inline(fig.caption)}</figcaption></figure>"
        )


@dataclass
class Document:
    title: str
    blocks: list  # Markdown text or FigureBlock


# -- the report's content ------------------------------------------------------


def _fmt(value, digits):
    """A number with ``digits`` decimals; "-" for None or a non-finite one."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def ms_per_step(runs):
    """Mean over the runs of their training time / the steps they trained
    (not N: a run cut short trained fewer), in milliseconds."""
    values = [
        1000 * run.final_time / run.last_step
        for run in runs
        if math.isfinite(run.final_time) and run.last_step > 0
    ]
    return float(np.mean(values)) if values else math.nan


#: Throughput columns, shown when the files record them: (quantity, header,
#: the text of the runs' last values).
THROUGHPUT = (
    ("tokens_per_second", "tokens/s", lambda v: f"{np.mean(v):,.0f}"),
    ("mfu", "MFU", lambda v: f"{100 * np.mean(v):.1f}%"),
    ("peak_memory_gb", "peak memory (GB)", lambda v: f"{max(v):.1f}"),
    ("peak_memory_gib", "peak memory (GiB)", lambda v: f"{max(v):.1f}"),
    (
        "world_size",
        "world size",
        lambda v: ", ".join(f"{x:.0f}" for x in sorted(set(v))),
    ),
)


def throughput_table(problem):
    """Speed per row: the training time to N, ms per step, and the
    throughput columns the files have."""
    present = [spec for spec in THROUGHPUT if problem.has(spec[0])]
    header = ["solver", "N", "time to N (s)", "ms/step", *[s[1] for s in present]]
    rows = []
    for curve in problem.curves:
        row = curve.row
        cells = [
            curve.label,
            _fmt(row.train_steps, 0),
            _fmt(row.time_mean, 1),
            _fmt(ms_per_step(row.runs), 1),
        ]
        for quantity, _, text in present:
            series = [f[quantity] for f in curve.completed if quantity in f]
            last = [s[np.isfinite(s)].iloc[-1] for s in series if np.isfinite(s).any()]
            cells.append(text(last) if last else "-")
        rows.append(cells)
    return Table(header, rows)


def failed_runs_table(problems):
    """Every failed run, its message shortened to :data:`MESSAGE_CHARS`."""
    header = "problem,solver,N,seed,status,last step,file,message".split(",")
    rows = [
        [
            str(problem.index),
            curve.label,
            _fmt(run.train_steps, 0),
            str(run.idx_rep),
            run.status,
            _fmt(run.last_step, 0),
            Path(run.source_file).name,
            textwrap.shorten(run.message, MESSAGE_CHARS, placeholder="...") or "-",
        ]
        for problem in problems
        for curve in problem.curves
        for run in curve.row.runs
        if run.failed
    ]
    return Table(header, rows)


def summary_line(problem):
    """The fastest passing configuration of a problem, or that none passes."""
    table = problem.table
    passing = [row for row in table.rows if row.verdict == "PASS"]
    head = f"Problem {problem.index} ({problem.title}; target {table.target:g}): "
    if not passing:
        return head + f"no configuration passes ({len(table.rows)} tried)."
    best = min(passing, key=lambda r: (r.train_steps or math.inf, r.val_loss_mean))
    earliest = best.earliest_pass_step
    return (
        head + f"fewest steps among the {len(passing)} passing configuration(s): "
        f"**{best.label}** at N={best.train_steps} (mean final loss "
        f"{best.val_loss_mean:.4f} over {best.n_runs} run(s), margin "
        f"{best.rule_margin:.4f}"
        + (
            f", mean first passing at step {earliest}"
            if earliest not in (None, best.train_steps)
            else ""
        )
        + ")."
    )


def _problem_section(problem, figures, several_files, folder):
    table = problem.table
    files = sorted({Path(run.source_file).name for run in problem.runs})
    n_failed = sum(run.failed for run in problem.runs)
    grid = render([table], "markdown")
    blocks = [
        f"## Problem {problem.index}: {problem.title}",
        bullets(
            [
                f"objective: `{table.objective_name}`",
                f"dataset: `{table.dataset_name}`",
                f"target: {problem.target_note}",
                f"runs: {len(problem.runs)} ({n_failed} failed), "
                f"{len(table.rows)} configuration(s)"
                + (", from file(s) " + ", ".join(files) if several_files else ""),
            ]
        ),
        "### Track 3 table",
        # The results package's Markdown, without its header line and legend.
        "\n".join(line for line in grid.splitlines() if line.startswith("|")),
        *([bullets(table.notes)] if table.notes else []),
        "### Speed",
        "Training time excludes evaluation; time to N is over the runs that "
        "reached N. ms/step: each run's training time / the steps it trained (an "
        "unfinished run trained fewer than N), averaged. Throughput columns "
        "appear when the result files record them.",
        throughput_table(problem).markdown(),
        "### Figures",
    ]
    if not figures:
        blocks.append("No figure: no run of this problem has evaluations.")
    for number, figure in enumerate(figures, start=1):
        blocks.append(FigureBlock(figure, f"{problem.index}.{number}", folder))
    return blocks


def _differences(data, files):
    """How the problems differ and which file holds which."""
    problems, blocks = data.problems, []
    if len(problems) > 1:
        diffs = metadata.problem_differences(problems)
        items = [
            f"{component} {key}: "
            + "; ".join(f"problem {p.index}: `{v}`" for p, v in zip(problems, values))
            + (" (a hardware setting: it changes speed, not the problem)" if hw else "")
            for component, key, values, hw in diffs
        ]
        blocks += [
            f"**The runs hold {len(problems)} different problems.** Each has its "
            "own table and figures; no table or figure mixes problems. They "
            "differ in:",
            bullets(items or ["(their names differ only in formatting)"]),
        ]
        if diffs and all(hw for *_, hw in diffs):
            blocks.append(
                "These problems differ only in hardware settings: their losses "
                "are comparable, but the results package keeps them apart."
            )
    if len(files) > 1:
        items = [f"`{Path(f['file']).name}`: problem(s) {f['problems']}" for f in files]
        blocks += ["Input files and their problems:", bullets(items)]
    return blocks


def _metadata_section(data, files, root, command):
    tags = sorted({str(v) for v in data.df.get("benchmark-git-tag", []) if pd.notna(v)})
    machines = metadata.devices(data.df, data.paths)
    rows = [[name, *setting] for name, _, settings in machines for setting in settings]
    versions_table = Table(
        ["component", "version", "source"], metadata.versions(data.df)
    )
    return [
        "## Run metadata",
        "### Software versions",
        versions_table.markdown(),
        "### Device",
        bullets(f"`{name}`: {line}" for name, line, _ in machines),
        *([Table(["file", "setting", "value(s)"], rows).markdown()] if rows else []),
        "### Benchmark and input files",
        bullets(
            [
                "benchmark commit (at report time, `git rev-parse HEAD`): "
                f"`{metadata.git_commit(root)}`",
                "benchmark-git-tag recorded by benchopt: "
                + (", ".join(f"`{t}`" for t in tags) if tags else "none"),
                f"report generated {metadata.now_utc()} by `{command}`",
            ]
        ),
        Table(list(files[0]), [list(f.values()) for f in files]).markdown(),
    ]


def build_document(
    data,
    figures,
    root,
    command,
    title=TITLE,
    figures_folder="figures",
    figure_errors=(),
):
    """The whole report. ``figures``: {problem index: [FigureFile]};
    ``root``: the benchmark folder (for its git commit); ``command``: the
    command line that made the report."""
    names = ", ".join(f"`{Path(p).name}`" for p in data.paths)
    files = metadata.file_summaries(data)
    failed = failed_runs_table(data.problems)
    blocks = [
        f"{len(data.runs)} run(s) ({sum(r.failed for r in data.runs)} failed) in "
        f"{len(data.problems)} problem(s), from {len(data.paths)} result file(s): "
        f"{names}. Generated {metadata.now_utc()}."
    ]
    if not data.problems:
        blocks.append("No runs in the result files.")
    if figure_errors:
        blocks += [
            "**Figures that failed** (left out of this report):",
            bullets(f"`{stem}`: {message}" for stem, message in figure_errors),
        ]
    blocks += _differences(data, files)
    if data.problems:
        blocks += ["## Summary", bullets(summary_line(p) for p in data.problems)]
    for problem in data.problems:
        figs = figures.get(problem.index, [])
        blocks += _problem_section(problem, figs, len(files) > 1, figures_folder)
    blocks.append("## Failed runs")
    if failed.rows:
        blocks += [
            "Every run that diverged, crashed or stopped before its N. A failed "
            "run makes its row FAIL whatever its margin (dropping seeds would be "
            "cherry-picking).",
            failed.markdown(),
        ]
    else:
        blocks.append("None: every run completed.")
    blocks += _metadata_section(data, files, root, command)
    definition = (
        "Figures: lines are the mean over the completed seeds at the steps every "
        f"seed evaluated; the shaded band is the {BAND}. Pass level for the mean "
        f"of n seeds: target - {THRESHOLD}/sqrt(n)."
    )
    blocks += ["## Definitions", bullets([LEGEND, definition])]
    return Document(title, blocks)


def _markdown(block):
    return block if isinstance(block, str) else block.markdown()


def to_markdown(doc):
    return "\n\n".join([f"# {doc.title}", *map(_markdown, doc.blocks)]) + "\n"


def _inline(text):
    """``text`` escaped for HTML, its `code` and **bold** spans as tags."""
    parts = html.escape(str(text)).split("`")
    parts[1::2] = [f"<code>{part}</code>" for part in parts[1::2]]
    parts[::2] = [
        re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", p) for p in parts[::2]
    ]
    return "".join(parts)


def _anchor(heading):
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _td(cell):
    cell = cell.strip().replace("\\|", "|")
    if cell in ("PASS", "FAIL"):
        return f'<td class="{cell.lower()}">{cell}</td>'
    css = ' class="num"' if NUMBER.fullmatch(cell) else ""
    return f"<td{css}>{html.escape(cell)}</td>"


def _html(block):
    """One block as HTML: the Markdown that this module writes, or a figure."""
    if not isinstance(block, str):
        return block.html()
    if block.startswith("## "):
        return f'<h2 id="{_anchor(block[3:])}">{html.escape(block[3:])}</h2>'
    if block.startswith("### "):
        return f"<h3>{html.escape(block[4:])}</h3>"
    lines = block.splitlines()
    if block.startswith("- "):
        return (
            "<ul>"
            + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines)
            + "</ul>"
        )
    if block.startswith("|"):
        # Cells split at the pipes that Markdown does not escape.
        header, _, *rows = [re.split(r"(?<!\\)\|", line)[1:-1] for line in lines]
        head = "".join(f"<th>{_inline(h.strip())}</th>" for h in header)
        body = "".join("<tr>" + "".join(map(_td, row)) + "</tr>\n" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>"
    return f"<p>{_inline(block)}</p>"


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1b1b1b;
  line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 1px solid #e4e4e4; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
code { background: #f3f3f3; padding: 0 .2em; border-radius: 3px;
  font-size: .88em; word-break: break-all; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .85rem;
  display: block; overflow-x: auto; }
th, td { border: 1px solid #d8d8d8; padding: .2rem .45rem; text-align: left;
  vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pass { background: #e3f4e3; color: #185c18; font-weight: 600; }
td.fail { background: #fbe4e1; color: #8a1c10; font-weight: 600; }
figure { margin: 1.2rem 0; }
figure img { width: 36rem; max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .88rem; color: #333; max-width: 44rem; }
nav ul { columns: 2; }
"""


def to_html(doc):
    """One self-contained page, with the sections' contents at the top."""
    sections = [b[3:] for b in doc.blocks if isinstance(b, str) and b.startswith("## ")]
    toc = "".join(
        f'<li><a href="#{_anchor(s)}">{html.escape(s)}</a></li>' for s in sections
    )
    title = html.escape(doc.title)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{title}</h1>\n<nav><ul>{toc}</ul></nav>\n"
        + "\n".join(map(_html, doc.blocks))
        + "\n</body>\n</html>\n"
    )
