"""Results tables -> text, reStructuredText, Markdown, CSV or JSON."""

import csv
import io
import json
import math
import textwrap

from ..leaderboard import grid
from .significance import THRESHOLD

FORMATS = ("text", "rst", "markdown", "csv", "json")

LEGEND = (
    "margin = (target - mean) * sqrt(completed runs); rule: PASS iff margin >= "
    f"{THRESHOLD} and no run failed (diverged, crashed, or unfinished: stopped "
    "before N). "
    "earliest pass: first step evaluated in every run where the mean over all "
    "runs passes. LHS: Track 3 pairwise statistic of the row against the "
    f"baseline, significant at >= {THRESHOLD}. Times: training seconds to N. "
    "(published): a Track 3 leaderboard entry, its N, mean and n as the Track 3 "
    "README lists them."
)

#: The columns of the text formats: header, row attribute, decimals.
COLUMNS = [
    ("solver", "label", None),
    ("N", "train_steps", 0),
    ("runs", "n_runs", None),
    ("failed", "n_failed", None),
    ("val loss", "val_loss_mean", 4),
    ("std", "val_loss_std", 4),
    ("margin", "rule_margin", 4),
    ("rule", "verdict", None),
    ("earliest pass", "earliest_pass_step", 0),
    ("time (s)", "time_mean", 1),
]
PAIRWISE_COLUMNS = [
    ("LHS vs {}", "pairwise_lhs", 5),
    ("vs baseline", "pairwise_verdict", None),
]

#: The fields of a row in CSV and JSON.
PROBLEM_FIELDS = ["objective_name", "dataset_name", "target"]
ROW_FIELDS = """label solver_name config train_steps n_runs n_failed failures
    val_loss_mean val_loss_std rule_margin verdict earliest_pass_step time_mean
    baseline pairwise_lhs pairwise_verdict published""".split()


def _finite_or_none(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _cell(value, decimals):
    if _finite_or_none(value) is None:
        return "-"
    return str(value) if decimals is None else f"{value:.{decimals}f}"


def _text(table, fmt):
    columns = COLUMNS + (PAIRWISE_COLUMNS if table.baseline is not None else [])
    header = [title.format(table.baseline) for title, _, _ in columns]
    body = [[_cell(getattr(row, a), d) for _, a, d in columns] for row in table.rows]
    lines = [
        f"problem: objective {table.objective_name} | dataset "
        f"{table.dataset_name} | target {table.target:g} ({table.target_source})",
        "",
        *grid(header, body, fmt),
    ]
    bullet = "- " if fmt in ("rst", "markdown") else "  "
    if table.notes:
        lines += ["", *(bullet + note for note in table.notes)]
    return "\n".join(lines)


def _records(table):
    """The rows' fields (NaN as None), each with the problem's fields."""
    problem = {name: getattr(table, name) for name in PROBLEM_FIELDS}
    for row in table.rows:
        values = vars(row) | dict(
            rule_margin=row.rule_margin,
            verdict=row.verdict,
            baseline=table.baseline,
            published=getattr(row.published, "number", None),
        )
        yield problem | {name: _finite_or_none(values[name]) for name in ROW_FIELDS}


def render(tables, fmt="text"):
    """All tables in one format. text/rst/markdown: a header line naming the
    problem above each table, its notes (failed runs) below, a legend at the
    end. csv: one line per row, with the problem's columns. json: a list of
    problems with their rows (NaN as null)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    if fmt == "json":
        fields = [*PROBLEM_FIELDS, "target_source", "baseline", "notes"]
        problems = []
        for table in tables:
            rows = [{k: r[k] for k in ROW_FIELDS} for r in _records(table)]
            problems.append({k: getattr(table, k) for k in fields} | {"rows": rows})
        return json.dumps(problems, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        fields = PROBLEM_FIELDS + ROW_FIELDS
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for record in (r for t in tables for r in _records(t)):
            failures = ";".join(f"{k}={v}" for k, v in record["failures"].items())
            record = {k: "" if v is None else v for k, v in record.items()}
            writer.writerow(record | dict(failures=failures))
        return buffer.getvalue().rstrip("\n")
    blocks = [_text(table, fmt) for table in tables] or ["no runs"]
    return "\n\n".join([*blocks, textwrap.fill(LEGEND, width=88)])
