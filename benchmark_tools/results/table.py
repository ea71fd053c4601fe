"""Runs -> the Track 3 results table, one per problem (objective, dataset).

A row is a solver configuration (without ``train_steps``) at one step count
N, over all its runs in the given files. Its mean, std, margin and pairwise
test use the completed runs; a failed run makes it FAIL with no earliest
passing step: dropping bad seeds would be cherry-picking, and a missing run
must never make a solver look better.
"""

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmark_utils.tracking import split_name

from .. import leaderboard
from .runs import ResultsError
from .significance import (
    TARGET,
    pairwise_lhs,
    pairwise_significant,
    passes_rule,
    rule_margin,
)

#: ``--baseline published:36``: Track 3 leaderboard entry #36.
PUBLISHED = "published:"
NOT_LIKE_FOR_LIKE = (
    "published rows are Track 3 results (FineWeb, the full model, target "
    f"{TARGET:g}); this problem's target is {{:g}}: a comparison with them is "
    "not like for like"
)


def _join_name(base, params):
    """The inverse of ``split_name``."""
    if not params:
        return base
    return base + "[" + ",".join(f"{k}={v}" for k, v in params.items()) + "]"


def short_names(full_names):
    """{full name: the solver's base name plus the parameters that tell it
    from the other variants of the same solver}."""
    parsed = {name: split_name(name) for name in full_names}
    short = {}
    for name, (base, params) in parsed.items():
        variants = [p for b, p in parsed.values() if b == base]
        differing = [k for k in params if len({v.get(k) for v in variants}) > 1]
        short[name] = _join_name(base, {k: params[k] for k in differing})
    return short


@dataclass
class ResultRow:
    label: str  # short name (or the full solver name)
    solver_name: str  # full name of the first run, as benchopt records it
    config: str  # solver name without train_steps
    train_steps: int | None  # N
    n_runs: int
    val_loss_mean: float  # final validation loss over completed runs
    target: float
    n_failed: int = 0
    failures: dict = field(default_factory=dict)  # status -> count
    val_loss_std: float = math.nan
    earliest_pass_step: int | None = None
    time_mean: float = math.nan  # training seconds to N, over completed runs
    pairwise_lhs: float = math.nan
    pairwise_verdict: str = "-"
    runs: list = field(default_factory=list, repr=False)
    published: object = None  # the leaderboard Entry of a published row

    @property
    def n_completed(self):
        return self.n_runs - self.n_failed

    @property
    def rule_margin(self):
        """(target - mean) * sqrt(n completed)."""
        return rule_margin(self.val_loss_mean, self.n_completed, self.target)

    @property
    def verdict(self):
        passes = passes_rule(self.val_loss_mean, self.n_completed, self.target)
        return "PASS" if passes and not self.n_failed else "FAIL"


@dataclass
class ProblemTable:
    objective_name: str
    dataset_name: str
    target: float
    target_source: str  # "--target", "objective_target" or "default"
    rows: list
    baseline: str | None = None  # label of the baseline row
    notes: list = field(default_factory=list)


def failure_text(run):
    """``"crashed (why)"``, or the message alone when it names the status
    (``"unfinished at step 180 of N=200: ..."``)."""
    if run.message.startswith(run.status):
        return run.message
    return run.status + (f" ({run.message})" if run.message else "")


def earliest_passing_step(runs, target=TARGET):
    """The earliest step, evaluated in every run, at which the mean validation
    loss over all the runs passes the rule (Track 3 rule 4: the same step for
    every seed). None if no step passes or a run failed (its loss is unknown)."""
    if not runs or any(run.failed for run in runs):
        return None
    steps = set.intersection(*(set(run.curve.index) for run in runs))
    for step in sorted(steps):
        losses = [float(run.curve.loc[step]) for run in runs]
        if passes_rule(statistics.fmean(losses), len(runs), target):
            return int(step)
    return None


def _problem_target(runs, target):
    if target is not None:
        return float(target), "--target"
    recorded = {run.target for run in runs if math.isfinite(run.target)}
    if len(recorded) > 1:
        raise ResultsError(
            f"runs of problem {runs[0].objective_name!r} record different "
            f"targets {sorted(recorded)}: pass --target"
        )
    if recorded:
        return recorded.pop(), "objective_target"
    return TARGET, "default"


def _row(config, n_steps, runs, target, label):
    done = [run for run in runs if not run.failed]
    losses = [run.final_val_loss for run in done]
    times = [run.final_time for run in done if math.isfinite(run.final_time)]
    failures = dict(Counter(run.status for run in runs if run.failed))
    return ResultRow(
        label=label,
        solver_name=runs[0].solver_name,
        config=config,
        train_steps=n_steps,
        n_runs=len(runs),
        val_loss_mean=statistics.fmean(losses) if losses else math.nan,
        target=target,
        n_failed=sum(failures.values()),
        failures=failures,
        val_loss_std=statistics.stdev(losses) if len(losses) > 1 else math.nan,
        earliest_pass_step=earliest_passing_step(runs, target),
        time_mean=statistics.fmean(times) if times else math.nan,
        runs=runs,
    )


def published_row(entry, target):
    """A row for a published Track 3 entry: its N, mean and n, judged by the
    same rule (no runs, no time, no earliest passing step)."""
    name = f"{PUBLISHED}{entry.number}"
    return ResultRow(
        label=f"#{entry.number} {entry.name} (published)",
        solver_name=name,
        config=name,
        train_steps=entry.train_steps,
        n_runs=entry.n,
        val_loss_mean=entry.val_loss,
        target=target,
        published=entry,
    )


def _baseline_matches(table, spec):
    """The rows that ``--baseline spec`` names in ``table``."""
    if spec.startswith(PUBLISHED):
        entry = leaderboard.entry(spec[len(PUBLISHED) :])
        rows = [row for row in table.rows if row.published == entry]
        return rows or [published_row(entry, table.target)]
    name, sep, steps = spec.rpartition("@")  # LABEL@N
    n_steps = int(steps) if sep and name and steps.isdigit() else None
    name = spec if n_steps is None else name
    rows = [
        row
        for row in table.rows
        if row.published is None and n_steps in (None, row.train_steps)
    ]
    for key in ("label", "config", "solver_name"):
        found = [row for row in rows if getattr(row, key) == name]
        if found:
            return found
    return [row for row in rows if split_name(row.config)[0] == name]


def _pairwise_verdict(row, base):
    a = (row.train_steps, row.val_loss_mean, row.n_completed)
    b = (base.train_steps, base.val_loss_mean, base.n_completed)
    row.pairwise_lhs = pairwise_lhs(*a, *b)
    if not math.isfinite(row.pairwise_lhs):
        return "-"
    if row.n_failed or base.n_failed:
        return "incomplete"
    if pairwise_significant(*a, *b):
        return "better"
    return "worse" if pairwise_significant(*b, *a) else "n.s."


def _apply_baseline(table, spec):
    matches = _baseline_matches(table, spec)
    if not matches:
        table.notes.append(f"baseline {spec!r}: no such solver in this problem")
        return False
    if len(matches) > 1:
        candidates = ", ".join(
            f"{row.label}@{row.train_steps}" if row.train_steps else row.label
            for row in matches
        )
        raise ResultsError(
            f"--baseline {spec!r} matches several rows of problem "
            f"{table.objective_name!r}: {candidates}; name one (LABEL or LABEL@N)"
        )
    [base] = matches
    table.baseline = base.label
    if all(row is not base for row in table.rows):  # a published entry
        table.notes.append(
            f"baseline {base.label}: N={base.train_steps}, mean "
            f"{base.val_loss_mean:.4f}, n={base.n_runs}, from "
            f"{base.published.source} in github.com/KellerJordan/modded-nanogpt"
        )
    for row in table.rows:
        if row is base:
            row.pairwise_verdict = "baseline"
        else:
            row.pairwise_verdict = _pairwise_verdict(row, base)
    return True


def _sort_key(row):
    return (
        row.verdict != "PASS",
        row.train_steps if row.train_steps is not None else math.inf,
        row.val_loss_mean if math.isfinite(row.val_loss_mean) else math.inf,
        row.label,
    )


def results_tables(runs, target=None, baseline=None, full_names=False, published=()):
    """The results table of every problem in ``runs``.

    ``target``: the target loss (default: the runs' ``objective_target``,
    else 3.28). ``baseline``: a row's label, configuration, full solver name
    or base solver name, optionally ``@N``, or ``published:K`` for Track 3's
    leaderboard entry #K; each row is then tested against it with Track 3's
    pairwise rule. ``published``: leaderboard entries shown as rows of every
    table. Raises :class:`ResultsError` if the baseline matches no row at all
    or several rows of a problem.
    """
    problems = {}
    for run in runs:
        problems.setdefault(run.problem, []).append(run)
    tables = []
    for (objective, dataset), problem_runs in problems.items():
        problem_target, source = _problem_target(problem_runs, target)
        groups = {}
        for run in problem_runs:
            base, params = split_name(run.solver_name)
            params.pop("train_steps", None)  # N has its own column
            config = _join_name(base, params)
            groups.setdefault((config, run.train_steps), []).append(run)
        labels = short_names(sorted({config for config, _ in groups}))
        rows = [published_row(entry, problem_target) for entry in published]
        for (config, n_steps), group in groups.items():
            group.sort(key=lambda run: (run.source_file, run.idx_rep))
            label = group[0].solver_name if full_names else labels[config]
            rows.append(_row(config, n_steps, group, problem_target, label))
        rows.sort(key=_sort_key)
        table = ProblemTable(objective, dataset, problem_target, source, rows)
        compares_published = published or str(baseline).startswith(PUBLISHED)
        if compares_published and problem_target != TARGET:
            table.notes.append(NOT_LIKE_FOR_LIKE.format(problem_target))
        several_files = len({run.source_file for run in problem_runs}) > 1
        for row in rows:
            for run in [run for run in row.runs if run.failed]:
                where = f" of {Path(run.source_file).name}" if several_files else ""
                table.notes.append(
                    f"{row.label} N={row.train_steps}: rep {run.idx_rep}"
                    f"{where} {failure_text(run)}"
                )
        tables.append(table)
    if baseline is None:
        return tables
    found = [_apply_baseline(table, baseline) for table in tables]  # every table
    if not any(found):
        raise ResultsError(
            f"--baseline {baseline!r} matches no solver; rows: "
            + ", ".join(sorted({row.label for t in tables for row in t.rows}))
        )
    return tables
