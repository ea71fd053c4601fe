"""The report as a list of blocks, written as Markdown and as one
self-contained HTML page (figures as base64 PNG, CSS inline, no external
resource).

Blocks: ``Heading``, ``Para`` (text with `code` and **bold** spans),
``Bullets``, ``Table`` and ``FigureBlock``. The Track 3 tables are the
results package's Markdown rendering, parsed into ``Table`` blocks.
"""

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..results import THRESHOLD, render
from ..results.render import LEGEND
from . import figures as figs
from .metadata import (
    device_rows,
    device_summary,
    file_summaries,
    git_commit,
    now_utc,
    problem_differences,
    versions,
)

TITLE = "Track 3 optimizer benchmark report"
MESSAGE_CHARS = 300
#: A table cell that is a number (right-aligned in HTML).
NUMBER = re.compile(r"[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?")


@dataclass
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list


@dataclass
class Table:
    header: list
    rows: list
    verdicts: bool = False  # colour PASS / FAIL cells in HTML


@dataclass
class FigureBlock:
    figure: object  # figures.FigureFile
    number: str
    folder: str  # the figures folder, relative to the report


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks):
        self.blocks.extend(blocks)


# -- building -----------------------------------------------------------------


def parse_grid(text):
    """The header and rows of the first Markdown table in ``text``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    cells = [row for row in cells if not all(set(c) <= set("-: ") for c in row)]
    return (cells[0], cells[1:]) if cells else ([], [])


def _fmt(value, digits):
    if value is None:
        return "-"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def _last_values(curve, quantity):
    values = []
    for frame in curve.completed:
        if quantity in frame:
            finite = frame[quantity][np.isfinite(frame[quantity])]
            if len(finite):
                values.append(float(finite.iloc[-1]))
    return values


def ms_per_step(runs):
    """Mean over the runs of their training time / the steps they trained
    (not N: a run cut short trained fewer), in milliseconds."""
    values = [
        1000 * run.final_time / run.last_step
        for run in runs
        if math.isfinite(run.final_time) and run.last_step > 0
    ]
    return float(np.mean(values)) if values else math.nan


def throughput_table(problem):
    """Speed per row: seconds per step from the training time to N, and the
    throughput columns when the files have them (None: nothing to show)."""
    optional = [
        ("tokens_per_second", "tokens/s", lambda v: f"{np.mean(v):,.0f}"),
        ("mfu", "MFU", lambda v: f"{100 * np.mean(v):.1f}%"),
        ("peak_memory_gb", "peak memory (GB)", lambda v: f"{max(v):.1f}"),
        ("peak_memory_gib", "peak memory (GiB)", lambda v: f"{max(v):.1f}"),
        (
            "world_size",
            "world size",
            lambda v: ", ".join(str(int(x)) for x in sorted(set(v))),
        ),
    ]
    present = [spec for spec in optional if problem.has(spec[0])]
    header = ["solver", "N", "time to N (s)", "ms/step", *[s[1] for s in present]]
    rows = []
    for curve in problem.curves:
        row = curve.row
        per_step = ms_per_step(row.runs)
        cells = [
            curve.label,
            "-" if row.train_steps is None else str(row.train_steps),
            _fmt(row.time_mean, 1),
            _fmt(per_step, 1),
        ]
        for quantity, _, fmt in present:
            values = [v for v in _last_values(curve, quantity) if math.isfinite(v)]
            cells.append(fmt(values) if values else "-")
        rows.append(cells)
    return Table(header, rows)


def failed_runs_table(problems):
    header = [
        "problem",
        "solver",
        "N",
        "seed",
        "status",
        "last step",
        "file",
        "message",
    ]
    rows = []
    for problem in problems:
        for curve in problem.curves:
            for run in curve.row.runs:
                if not run.failed:
                    continue
                message = " ".join(run.message.split())
                if len(message) > MESSAGE_CHARS:
                    message = message[: MESSAGE_CHARS - 3] + "..."
                rows.append(
                    [
                        str(problem.index),
                        curve.label,
                        "-" if run.train_steps is None else str(run.train_steps),
                        str(run.idx_rep),
                        run.status,
                        _fmt(run.last_step, 0),
                        Path(run.source_file).name,
                        message or "-",
                    ]
                )
    return Table(header, rows)


def summary_line(problem):
    """The fastest passing configuration of a problem, or that none passes."""
    table = problem.table
    passing = [row for row in table.rows if row.verdict == "PASS"]
    head = f"Problem {problem.index} ({problem.title}; target {table.target:g}): "
    if not passing:
        return head + f"no configuration passes ({len(table.rows)} tried)."
    best = min(passing, key=lambda r: (r.train_steps or math.inf, r.val_loss_mean))
    earliest = (
        f", mean first passing at step {best.earliest_pass_step}"
        if best.earliest_pass_step is not None
        and best.earliest_pass_step != best.train_steps
        else ""
    )
    return (
        head + f"fewest steps among the {len(passing)} passing configuration(s): "
        f"**{best.label}** at N={best.train_steps} (mean final loss "
        f"{best.val_loss_mean:.4f} over {best.n_runs} run(s), margin "
        f"{best.rule_margin:.4f}{earliest})."
    )


def _problem_section(doc, problem, figures, several_files, figures_folder):
    table = problem.table
    doc.add(Heading(2, f"Problem {problem.index}: {problem.title}", problem.slug))
    files = sorted({Path(run.source_file).name for run in problem.runs})
    n_failed = sum(run.failed for run in problem.runs)
    doc.add(
        Bullets(
            [
                f"objective: `{table.objective_name}`",
                f"dataset: `{table.dataset_name}`",
                f"target: {problem.target_note}",
                f"runs: {len(problem.runs)} ({n_failed} failed), "
                f"{len(table.rows)} configuration(s)"
                + (", from file(s) " + ", ".join(files) if several_files else ""),
            ]
        )
    )
    doc.add(Heading(3, "Track 3 table"))
    header, rows = parse_grid(render([table], "markdown"))
    doc.add(Table(header, rows, verdicts=True))
    if table.notes:
        doc.add(Bullets(list(table.notes)))
    doc.add(Heading(3, "Speed"))
    doc.add(
        Para(
            "Training time excludes evaluation; time to N is over the runs "
            "that reached N. ms/step: each run's training time / the steps it "
            "trained (an unfinished run trained fewer than N), averaged. "
            "Throughput columns appear when the result files record them."
        )
    )
    doc.add(throughput_table(problem))
    doc.add(Heading(3, "Figures"))
    if not figures:
        doc.add(Para("No figure: no run of this problem has evaluations."))
    for number, figure in enumerate(figures, start=1):
        doc.add(FigureBlock(figure, f"{problem.index}.{number}", figures_folder))


def _differences(doc, data):
    problems = data.problems
    files = file_summaries(data)
    if len(problems) > 1:
        diffs = problem_differences(problems)
        doc.add(
            Para(
                f"**The runs hold {len(problems)} different problems.** Each has "
                "its own table and figures; no table or figure mixes problems. "
                "They differ in:"
            )
        )
        items = []
        for component, key, values, hardware in diffs:
            shown = "; ".join(
                f"problem {p.index}: `{v}`" for p, v in zip(problems, values)
            )
            note = (
                " (a hardware setting: it changes speed, not the problem)"
                if hardware
                else ""
            )
            items.append(f"{component} {key}: {shown}{note}")
        doc.add(Bullets(items or ["(their names differ only in formatting)"]))
        if diffs and all(hardware for *_, hardware in diffs):
            doc.add(
                Para(
                    "These problems differ only in hardware settings: their "
                    "losses are comparable, but the results package keeps "
                    "them apart."
                )
            )
    if len(files) > 1:
        doc.add(Para("Input files and their problems:"))
        doc.add(
            Bullets(
                [
                    f"`{f['name']}`: problem(s) "
                    + ", ".join(str(i) for i in f["problems"])
                    for f in files
                ]
            )
        )


def _metadata_section(doc, data, root, command):
    doc.add(Heading(2, "Run metadata", "metadata"))
    doc.add(Heading(3, "Software versions"))
    doc.add(
        Table(["component", "version", "source"], [list(v) for v in versions(data.df)])
    )
    doc.add(Heading(3, "Device"))
    doc.add(
        Bullets(
            [f"`{name}`: {line}" for name, line in device_summary(data.df, data.paths)]
        )
    )
    rows = device_rows(data.df, data.paths)
    if rows:
        doc.add(Table(["file", "setting", "value(s)"], [list(r) for r in rows]))
    doc.add(Heading(3, "Benchmark and input files"))
    tags = sorted(
        {
            str(v)
            for v in data.df.get("benchmark-git-tag", [])
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        }
    )
    doc.add(
        Bullets(
            [
                f"benchmark commit (at report time, `git rev-parse HEAD`): "
                f"`{git_commit(root)}`",
                "benchmark-git-tag recorded by benchopt: "
                + (", ".join(f"`{t}`" for t in tags) if tags else "none"),
                f"report generated {now_utc()} by `{command}`",
            ]
        )
    )
    doc.add(
        Table(
            [
                "file",
                "size (bytes)",
                "sha256 (16)",
                "rows",
                "runs",
                "failed",
                "problems",
                "date of the runs",
                "date from",
            ],
            [
                [
                    f["path"],
                    f"{f['bytes']:,}",
                    f["sha256"],
                    str(f["rows"]),
                    str(f["runs"]),
                    str(f["failed"]),
                    ", ".join(str(i) for i in f["problems"]) or "-",
                    f["date"],
                    f["date_source"],
                ]
                for f in file_summaries(data)
            ],
        )
    )


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
    doc = Document(title)
    names = ", ".join(f"`{Path(p).name}`" for p in data.paths)
    n_failed = sum(run.failed for run in data.runs)
    doc.add(
        Para(
            f"{len(data.runs)} run(s) ({n_failed} failed) in "
            f"{len(data.problems)} problem(s), from {len(data.paths)} result "
            f"file(s): {names}. Generated {now_utc()}."
        )
    )
    if not data.problems:
        doc.add(Para("No runs in the result files."))
    if figure_errors:
        doc.add(Para("**Figures that failed** (left out of this report):"))
        doc.add(Bullets([f"`{stem}`: {message}" for stem, message in figure_errors]))
    _differences(doc, data)
    if data.problems:
        doc.add(Heading(2, "Summary", "summary"))
        doc.add(Bullets([summary_line(p) for p in data.problems]))
    several_files = len(data.paths) > 1
    for problem in data.problems:
        _problem_section(
            doc, problem, figures.get(problem.index, []), several_files, figures_folder
        )
    doc.add(Heading(2, "Failed runs", "failed-runs"))
    failed = failed_runs_table(data.problems)
    if failed.rows:
        doc.add(
            Para(
                "Every run that diverged, crashed or stopped before its N. A "
                "failed run makes its row FAIL whatever its margin (dropping "
                "seeds would be cherry-picking)."
            )
        )
        doc.add(failed)
    else:
        doc.add(Para("None: every run completed."))
    _metadata_section(doc, data, root, command)
    doc.add(Heading(2, "Definitions", "definitions"))
    doc.add(
        Bullets(
            [
                LEGEND,
                f"Figures: lines are the mean over the completed seeds at the "
                f"steps every seed evaluated; the shaded band is the "
                f"{figs.BAND}. Pass level for the mean of n seeds: "
                f"target - {THRESHOLD}/sqrt(n).",
            ]
        )
    )
    return doc


# -- Markdown -----------------------------------------------------------------


def _md_cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def to_markdown(doc):
    out = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Para):
            out += [block.text, ""]
        elif isinstance(block, Bullets):
            out += [f"- {' '.join(str(item).split())}" for item in block.items] + [""]
        elif isinstance(block, Table):
            out.append("| " + " | ".join(map(_md_cell, block.header)) + " |")
            out.append("|" + "|".join("---" for _ in block.header) + "|")
            out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, FigureBlock):
            fig = block.figure
            links = " · ".join(
                f"[{fmt.upper()}]({block.folder}/{path.name})"
                for fmt, path in fig.files.items()
            )
            if "png" in fig.files:
                out += [f"![{fig.title}]({block.folder}/{fig.files['png'].name})", ""]
            out += [
                f"*Figure {block.number}.* {fig.caption}"
                + (f" Files: {links}." if links else ""),
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


# -- HTML -----------------------------------------------------------------------

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
figure img { width: 36rem; max-width: 100%; height: auto;
  border: 1px solid #eee; }
figcaption { font-size: .88rem; color: #333; max-width: 44rem; }
nav ul { columns: 2; }
"""


def _inline(text):
    """Escape ``text`` and turn `code` and **bold** spans into HTML."""
    parts = str(text).split("`")
    out = []
    for i, part in enumerate(parts):
        escaped = html.escape(part)
        if i % 2:
            out.append(f"<code>{escaped}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped))
    return "".join(out)


def _html_table(block):
    out = ["<table>", "<thead><tr>"]
    out += [f"<th>{_inline(h)}</th>" for h in block.header]
    out += ["</tr></thead>", "<tbody>"]
    for row in block.rows:
        cells = []
        for cell in row:
            css = ""
            if block.verdicts and cell in ("PASS", "FAIL"):
                css = f' class="{cell.lower()}"'
            elif NUMBER.fullmatch(str(cell)):
                css = ' class="num"'
            cells.append(f"<td{css}>{html.escape(str(cell))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def to_html(doc):
    body = [f"<h1>{html.escape(doc.title)}</h1>"]
    toc = [
        f'<li><a href="#{b.anchor}">{html.escape(b.text)}</a></li>'
        for b in doc.blocks
        if isinstance(b, Heading) and b.level == 2 and b.anchor
    ]
    if toc:
        body.append("<nav><ul>" + "".join(toc) + "</ul></nav>")
    for block in doc.blocks:
        if isinstance(block, Heading):
            anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
            level = block.level
            body.append(f"<h{level}{anchor}>{html.escape(block.text)}</h{level}>")
        elif isinstance(block, Para):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{_inline(item)}</li>" for item in block.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            body.append(_html_table(block))
        elif isinstance(block, FigureBlock):
            fig = block.figure
            data = base64.b64encode(fig.png).decode("ascii")
            body.append(
                f'<figure id="figure-{html.escape(block.number)}">'
                f'<img alt="{html.escape(fig.title)}" '
                f'width="{fig.size[0]}" height="{fig.size[1]}" '
                f'src="data:image/png;base64,{data}">'
                f"<figcaption><strong>Figure {html.escape(block.number)}."
                f"</strong> {_inline(fig.caption)}"
                "</figcaption></figure>"
            )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(doc.title)}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
