"""Results tables -> text, reStructuredText, Markdown, CSV or JSON."""

import csv
import io
import json
import math
import textwrap

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


def _num(value, digits):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _int(value):
    return "-" if value is None else str(int(value))


def _cells(table):
    header = [
        "solver",
        "N",
        "runs",
        "failed",
        "val loss",
        "std",
        "margin",
        "rule",
        "earliest pass",
        "time (s)",
    ]
    if table.baseline is not None:
        header += [f"LHS vs {table.baseline}", "vs baseline"]
    body = []
    for row in table.rows:
        cells = [
            row.label,
            _int(row.train_steps),
            str(row.n_runs),
            str(row.n_failed),
            _num(row.val_loss_mean, 4),
            _num(row.val_loss_std, 4),
            _num(row.rule_margin, 4),
            row.verdict,
            _int(row.earliest_pass_step),
            _num(row.time_mean, 1),
        ]
        if table.baseline is not None:
            cells += [_num(row.pairwise_lhs, 5), row.pairwise_verdict]
        body.append(cells)
    return header, body


def _grid(header, body, fmt):
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
        ]
        return lines + ["| " + " | ".join(cells) + " |" for cells in body]
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    if fmt == "rst":
        rule = "  ".join("=" * w for w in widths)
        return [rule, line(header), rule, *map(line, body), rule]
    return [line(header), line(["-" * w for w in widths]), *map(line, body)]


def problem_header(table):
    return (
        f"problem: objective {table.objective_name} | dataset "
        f"{table.dataset_name} | target {table.target:g} ({table.target_source})"
    )


def _row_dict(table, row):
    return dict(
        objective_name=table.objective_name,
        dataset_name=table.dataset_name,
        target=table.target,
        label=row.label,
        solver_name=row.solver_name,
        config=row.config,
        train_steps=row.train_steps,
        n_runs=row.n_runs,
        n_failed=row.n_failed,
        failures=dict(row.failures),
        val_loss_mean=row.val_loss_mean,
        val_loss_std=row.val_loss_std,
        rule_margin=row.rule_margin,
        verdict=row.verdict,
        earliest_pass_step=row.earliest_pass_step,
        time_mean=row.time_mean,
        baseline=table.baseline,
        pairwise_lhs=row.pairwise_lhs,
        pairwise_verdict=row.pairwise_verdict,
        published=row.published.number if row.published is not None else None,
    )


CSV_FIELDS = [
    "objective_name",
    "dataset_name",
    "target",
    "label",
    "solver_name",
    "config",
    "train_steps",
    "n_runs",
    "n_failed",
    "failures",
    "val_loss_mean",
    "val_loss_std",
    "rule_margin",
    "verdict",
    "earliest_pass_step",
    "time_mean",
    "baseline",
    "pairwise_lhs",
    "pairwise_verdict",
    "published",
]


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    return value


def render(tables, fmt="text"):
    """All tables in one format. text/rst/markdown: a header line naming the
    problem above each table, its notes (failed runs) below, a legend at the
    end. csv: one line per row, with the problem's columns. json: a list of
    problems with their rows (NaN as null)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    if fmt == "json":
        out = [
            dict(
                objective_name=t.objective_name,
                dataset_name=t.dataset_name,
                target=t.target,
                target_source=t.target_source,
                baseline=t.baseline,
                notes=list(t.notes),
                rows=[
                    {
                        k: _finite_or_none(v)
                        for k, v in _row_dict(t, row).items()
                        if k not in ("objective_name", "dataset_name", "target")
                    }
                    for row in t.rows
                ],
            )
            for t in tables
        ]
        return json.dumps(out, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        rows = [_row_dict(t, row) for t in tables for row in t.rows]
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            row["failures"] = ";".join(f"{k}={v}" for k, v in row["failures"].items())
            writer.writerow(
                {k: "" if _finite_or_none(v) is None else v for k, v in row.items()}
            )
        return buffer.getvalue().rstrip("\n")
    blocks = [] if tables else ["no runs"]
    for table in tables:
        header, body = _cells(table)
        lines = [problem_header(table), "", *_grid(header, body, fmt)]
        if table.notes:
            lines += [""] + [
                ("- " if fmt in ("rst", "markdown") else "  ") + note
                for note in table.notes
            ]
        blocks.append("\n".join(lines))
    blocks.append(textwrap.fill(LEGEND, width=88))
    return "\n\n".join(blocks)
