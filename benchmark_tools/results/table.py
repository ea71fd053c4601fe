"""Runs -> the Track 3 results table, one per problem.

Choices (Track 3 leaves them to the reader):

- A row is a solver configuration (its parameters without ``train_steps``)
  at one step count N. Its runs are all runs of that configuration and N in
  the given files: runs from several files (days, machines) add up.
- The mean and std of the final validation loss, the rule margin and the
  pairwise test use the completed runs (trained to N). A failed run
  (diverged, crashed, unfinished: stopped before N, lost) makes the row FAIL
  whatever its margin, and gives it no earliest passing step: dropping the
  bad seeds would be cherry-picking, and a missing run must never make a
  solver look better.
- Problems, (objective_name, dataset_name), are never mixed: one table each.
"""

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from benchmark_utils.tracking import split_name

from .. import leaderboard
from .names import drop_parameters, short_names
from .runs import ResultsError
from .significance import (
    TARGET,
    pairwise_lhs,
    pairwise_significant,
    passes_rule,
    rule_margin,
)

#: Solver parameters that set N; N has its own column.
STEPS_PARAMETERS = ("train_steps",)


@dataclass
class ResultRow:
    label: str  # short name (or the full solver name)
    solver_name: str  # full name of the first run, as benchopt records it
    config: str  # solver name without train_steps
    train_steps: int | None  # N
    n_runs: int
    n_failed: int
    failures: dict  # status -> count
    val_loss_mean: float  # final validation loss over completed runs
    val_loss_std: float
    rule_margin: float  # (target - mean) * sqrt(n completed)
    verdict: str  # PASS | FAIL
    earliest_pass_step: int | None
    time_mean: float  # training seconds to N, over completed runs
    pairwise_lhs: float = math.nan
    pairwise_verdict: str = "-"
    runs: list = field(default_factory=list, repr=False)
    published: object = None  # the leaderboard Entry of a published row

    @property
    def n_completed(self):
        return self.n_runs - self.n_failed


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


def _mean_std(values):
    if not values:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return mean, std


def earliest_passing_step(runs, target=TARGET):
    """The earliest step, evaluated in every run, at which the mean validation
    loss over all the runs passes the rule (Track 3 rule 4: the same step for
    every seed). None if no step passes or a run failed (a failed seed is
    part of "all seeds": its loss is unknown)."""
    if not runs or any(run.failed for run in runs):
        return None
    steps = set(runs[0].curve.index)
    for run in runs[1:]:
        steps &= set(run.curve.index)
    for step in sorted(steps):
        losses = [float(run.curve.loc[step]) for run in runs]
        if all(math.isfinite(v) for v in losses) and passes_rule(
            statistics.fmean(losses), len(runs), target
        ):
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
    mean, std = _mean_std([run.final_val_loss for run in done])
    margin = rule_margin(mean, len(done), target)
    failures = {}
    for run in runs:
        if run.failed:
            failures[run.status] = failures.get(run.status, 0) + 1
    n_failed = sum(failures.values())
    times = [run.final_time for run in done if math.isfinite(run.final_time)]
    return ResultRow(
        label=label,
        solver_name=runs[0].solver_name,
        config=config,
        train_steps=n_steps,
        n_runs=len(runs),
        n_failed=n_failed,
        failures=failures,
        val_loss_mean=mean,
        val_loss_std=std,
        rule_margin=margin,
        verdict=(
            "PASS" if n_failed == 0 and passes_rule(mean, len(done), target) else "FAIL"
        ),
        earliest_pass_step=earliest_passing_step(runs, target),
        time_mean=statistics.fmean(times) if times else math.nan,
        runs=runs,
    )


#: ``--baseline published:36``: Track 3 leaderboard entry #36.
PUBLISHED = "published:"


def published_row(entry, target):
    """A row for a published Track 3 entry: its N, mean and n, judged by
    the same rule (no runs here, no time, no earliest passing step)."""
    return ResultRow(
        label=f"#{entry.number} {entry.name} (published)",
        solver_name=f"{PUBLISHED}{entry.number}",
        config=f"{PUBLISHED}{entry.number}",
        train_steps=entry.train_steps,
        n_runs=entry.n,
        n_failed=0,
        failures={},
        val_loss_mean=entry.val_loss,
        val_loss_std=math.nan,
        rule_margin=rule_margin(entry.val_loss, entry.n, target),
        verdict="PASS" if passes_rule(entry.val_loss, entry.n, target) else "FAIL",
        earliest_pass_step=None,
        time_mean=math.nan,
        published=entry,
    )


def _published_note(table):
    if table.target != TARGET:
        return (
            "published rows are Track 3 results (FineWeb, the full model, "
            f"target {TARGET:g}); this problem's target is {table.target:g}: "
            "a comparison with them is not like for like"
        )
    return None


def _split_baseline(spec):
    """``"muon@3250"`` -> ``("muon", 3250)``; ``"muon"`` -> ``("muon", None)``."""
    name, sep, steps = spec.rpartition("@")
    if sep and name and steps.isdigit():
        return name, int(steps)
    return spec, None


def _baseline_matches(rows, spec):
    name, n_steps = _split_baseline(spec)
    for key in ("label", "config", "solver_name", "base"):
        found = [
            row
            for row in rows
            if (split_name(row.config)[0] if key == "base" else getattr(row, key))
            == name
            and (n_steps is None or row.train_steps == n_steps)
        ]
        if found:
            return found
    return []


def _apply_baseline(table, spec):
    if spec.startswith(PUBLISHED):
        number = leaderboard.entry(spec[len(PUBLISHED) :]).number
        matches = [
            row
            for row in table.rows
            if row.published is not None and row.published.number == number
        ] or [published_row(leaderboard.entry(number), table.target)]
    else:
        matches = _baseline_matches(
            [row for row in table.rows if row.published is None], spec
        )
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
            f"{table.objective_name!r}: {candidates}; name one (LABEL or "
            "LABEL@N)"
        )
    base = matches[0]
    table.baseline = base.label
    if base.published is not None and base not in table.rows:
        table.notes.append(
            f"baseline {base.label}: N={base.train_steps}, mean "
            f"{base.val_loss_mean:.4f}, n={base.n_runs}, from "
            f"{base.published.source} in github.com/KellerJordan/modded-nanogpt"
        )
        note = _published_note(table)
        if note and note not in table.notes:
            table.notes.append(note)
    n_b = base.n_completed
    for row in table.rows:
        if row is base:
            row.pairwise_verdict = "baseline"
            continue
        args = (
            row.train_steps,
            row.val_loss_mean,
            row.n_completed,
            base.train_steps,
            base.val_loss_mean,
            n_b,
        )
        args = tuple(math.nan if v is None else v for v in args)
        row.pairwise_lhs = pairwise_lhs(*args)
        if not math.isfinite(row.pairwise_lhs):
            row.pairwise_verdict = "-"
        elif row.n_failed or base.n_failed:
            row.pairwise_verdict = "incomplete"
        elif pairwise_significant(*args):
            row.pairwise_verdict = "better"
        elif pairwise_significant(*args[3:], *args[:3]):
            row.pairwise_verdict = "worse"
        else:
            row.pairwise_verdict = "n.s."
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
    table, marked as published. Raises :class:`ResultsError` if the baseline
    matches no row at all or several rows of a problem.
    """
    problems = {}
    for run in runs:
        problems.setdefault(run.problem, []).append(run)
    tables = []
    for (objective, dataset), problem_runs in problems.items():
        problem_target, source = _problem_target(problem_runs, target)
        groups = {}
        for run in problem_runs:
            config = drop_parameters(run.solver_name, STEPS_PARAMETERS)
            groups.setdefault((config, run.train_steps), []).append(run)
        labels = short_names(sorted({config for config, _ in groups}))
        rows = [published_row(entry, problem_target) for entry in published]
        for (config, n_steps), group in groups.items():
            group.sort(key=lambda run: (run.source_file, run.idx_rep))
            label = group[0].solver_name if full_names else labels[config]
            rows.append(_row(config, n_steps, group, problem_target, label))
        rows.sort(key=_sort_key)
        table = ProblemTable(objective, dataset, problem_target, source, rows)
        note = _published_note(table) if published else None
        if note:
            table.notes.append(note)
        several_files = len({run.source_file for run in problem_runs}) > 1
        for row in rows:
            for run in row.runs:
                if run.failed:
                    where = f" of {Path(run.source_file).name}" if several_files else ""
                    table.notes.append(
                        f"{row.label} N={row.train_steps}: rep {run.idx_rep}"
                        f"{where} {failure_text(run)}"
                    )
        tables.append(table)
    if baseline is not None:
        found = [_apply_baseline(table, baseline) for table in tables]
        if not any(found):
            raise ResultsError(
                f"--baseline {baseline!r} matches no solver; rows: "
                + ", ".join(sorted({row.label for t in tables for row in t.rows}))
            )
    return tables
