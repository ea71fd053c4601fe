"""Hyperparameter sweep of one solver, under a budget, through benchopt.

examples:
  python -m benchmark_tools.sweep adamw --config configs/cpu_compare.yml \\
      --grid lr=0.003,0.006,0.012 --grid weight_decay=0,0.1 --dry-run
  python -m benchmark_tools.sweep muon --config configs/track3_1gpu.yml \\
      --grid lr=0.02,0.025,0.03 --max-tokens-per-run 900000000

The grid (the cartesian product of the --grid values, in benchopt's name
syntax and typed like the solver's defaults: lr=1e-3,3e-3 schedule=cosine,wsd
betas=(0.9,0.95),(0.8,0.95)) is trained through `benchopt run` on the
config's problem (one objective, one dataset; its timeout and other options
are kept) at a reduced step count: --fraction of the solver's N (default 0.5)
or --train-steps. Fixed solver parameters: the config's entry for the solver
(if any), then --set.

Budget (the Neural Forge rule, so that an optimizer is not tuned harder than
the baseline it is compared with): at most --max-runs runs (grid points x
seeds, default 20) of at most --max-tokens-per-run training tokens each
(steps x the objective's batch_tokens, default 500M). It is printed before
anything runs; a larger sweep is refused, and raising a limit is explicit and
belongs in the report.

The best grid point (lowest final validation loss, mean over the seeds; a
configuration with a failed run loses) is written as a run config for the
full-length multi-seed run (the solver's N, --final-seeds seeds), by default
beside the sweep's results under outputs/ (untracked): `benchopt run .
--config OUT`. A best value at the edge of its grid is pointed out, with the
extended grid to sweep next.

Track 3's advice: tune on half-length runs (--fraction 0.5, the default), then
re-tune lr and weight decay at full length (--fraction 1, a small grid around
the best values) before the multi-seed run of the written config.
"""

import argparse
import itertools
import math
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchmark_tools.results import (
    ResultsError,
    ledger_folder,
    load_runs,
    results_tables,
    split_name,
)
from benchmark_utils.benchopt_compat import parse_name, parse_values
from benchmark_utils.errors import UserError
from benchmark_utils.settings import SettingsError, check_parameter_types

from .components import (
    BENCHMARK_DIR,
    drop_full_size_note,
    load_benchmark_module,
    load_solver_class,
    solver_names,
)

ROOT = BENCHMARK_DIR
DEFAULT_FRACTION = 0.5
DEFAULT_MAX_RUNS = 20  # the Neural Forge rule: at most 20 tuning runs
DEFAULT_MAX_TOKENS_PER_RUN = 500_000_000  # ... of at most 500M tokens each
DEFAULT_FINAL_SEEDS = 4  # Track 3: a mean over 4 seeds must be < 3.278
#: Config keys the sweep writes itself; every other key is copied as is.
OWN_KEYS = ("objective", "dataset", "solver", "n-repetitions", "n_repetitions")
RESULTS_NAME = "results.parquet"


class SweepError(UserError):
    """A sweep that cannot run as asked: the message says why and what to do."""


class BudgetError(SweepError):
    """A sweep larger than its budget."""


# -- grid ------------------------------------------------------------------


def solver_parameters(solver_name):
    """The ``parameters`` dict the solver declares (name -> default values)."""
    if solver_name not in solver_names():
        raise SweepError(
            f"no solver {solver_name!r}; solvers: {', '.join(solver_names())}"
        )
    return dict(load_solver_class(solver_name).parameters)


def typed(solver_name, declared, values):
    """``{name: value}`` converted to the types of the declared defaults."""
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise SweepError(
            f"{solver_name} has no parameter {unknown[0]!r}; its parameters "
            f"are: {', '.join(sorted(declared))}"
        )
    try:
        return check_parameter_types(solver_name, declared, values)
    except SettingsError as error:
        raise SweepError(str(error)) from error


def parse_assignment(spec, option):
    """``"lr=0.01,0.02"`` -> ``("lr", [0.01, 0.02])``, values in benchopt's
    own syntax (numbers, True/False/None, bare or quoted strings, tuples)."""
    name, _, text = spec.partition("=")
    name = name.strip()
    if "=" not in spec or not name:
        raise SweepError(f"{option} {spec!r}: expected NAME=VALUE[,VALUE...]")
    if not text.strip() or "=" in text:
        raise SweepError(f"{option} {spec!r}: no value given, or a value with '='")
    try:
        return name, parse_values(text)
    except ValueError as error:
        raise SweepError(
            f"{option} {spec!r}: cannot read the values: {error}"
        ) from None


def parse_grid(solver_name, declared, specs):
    """``--grid`` specs -> ``{name: [typed values]}`` in the given order.

    An int given for a float default becomes a float. An unknown name, a
    value of the wrong type, a name given twice or a value listed twice is a
    :class:`SweepError`."""
    grid = {}
    for spec in specs:
        name, values = parse_assignment(spec, "--grid")
        if name in grid:
            raise SweepError(f"--grid {name}: given twice; list every value once")
        if name == "train_steps":
            raise SweepError(
                "--grid train_steps: the sweep sets the step count (--fraction "
                "or --train-steps); compare step counts with separate sweeps"
            )
        grid[name] = [typed(solver_name, declared, {name: v})[name] for v in values]
        for i, value in enumerate(grid[name]):
            if value in grid[name][:i]:
                raise SweepError(f"--grid {name}: the value {value!r} is listed twice")
    return grid


def grid_points(grid):
    """The cartesian product of ``grid``: a list of ``{name: value}``."""
    return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]


def point_label(point):
    return ",".join(f"{k}={v}" for k, v in point.items()) or "(defaults)"


def format_name(base, params):
    """``base[key=value,...]`` that benchopt reads back as exactly ``params``
    (checked with benchopt's own parser). A tuple or list value is wrapped in
    brackets: bare, benchopt would run one configuration per item."""
    if not params:
        return base
    items = [
        f"{k}=[{v!r}]" if isinstance(v, (tuple, list)) else f"{k}={v!r}"
        for k, v in params.items()
    ]
    name = f"{base}[{','.join(items)}]"
    try:
        parsed = parse_name(name)[2]
    except ValueError:
        parsed = {}
    for key, value in params.items():
        got = parsed.get(key)
        if isinstance(value, (tuple, list)):
            got = got[0] if isinstance(got, list) and len(got) == 1 else None
        if got != value or type(got) is not type(value):
            raise SweepError(
                f"{key}={value!r} does not survive benchopt's name syntax "
                f"(read back as {got!r})"
            )
    return name


# -- the problem: the config file ------------------------------------------


def _entries(config, key):
    entries = config.get(key)
    return (
        [] if entries is None else entries if isinstance(entries, list) else [entries]
    )


def _parse_entry(entry, what):
    """A config entry (``"name[k=v]"`` or ``{name: {k: v}}``) -> (name,
    kwargs), each parameter one value (benchopt runs a list as one run per
    item, a bare tuple as one per item: a sweep runs one problem)."""
    if isinstance(entry, str):
        try:
            base, args, kwargs = parse_name(entry)
        except ValueError as error:
            raise SweepError(f"{what} {entry!r}: {error}") from error
    elif isinstance(entry, dict) and len(entry) == 1:
        ((base, kwargs),) = entry.items()
        args = [] if isinstance(kwargs, dict) else [kwargs]
    else:
        raise SweepError(f"{what} {entry!r}: expected NAME[key=value,...]")
    if args:
        raise SweepError(f"{what} {entry!r}: name the parameters (key=value)")
    values = {}
    for key, value in kwargs.items():
        if isinstance(value, tuple):
            raise SweepError(
                f"{what} {entry!r}: {key}={value!r} is a bare tuple, which "
                f"benchopt runs as one configuration per item; write "
                f"{key}=[{value!r}]"
            )
        if isinstance(value, list):
            if len(value) != 1:
                raise SweepError(
                    f"{what} {entry!r}: {key} lists {len(value)} values; a "
                    "sweep runs one problem and takes its grid from --grid"
                )
            value = value[0]
        values[key] = value
    return str(base).strip(), values


@dataclass
class Plan:
    """Everything a sweep does, decided before anything runs."""

    solver: str
    grid: dict  # name -> typed values
    points: list  # grid points, in grid order
    fixed: dict  # solver parameters fixed for every point (config, --set)
    fixed_source: dict  # name -> "config" | "--set"
    seeds: int
    sweep_steps: int  # the step count of the sweep's runs
    full_steps: int  # the solver's N, for the full-length run
    full_steps_source: str
    n_on_objective: bool  # the config sets N on the objective
    objective_base: str
    objective_params: dict  # as given in the config
    batch_tokens: int
    dataset_entries: list
    extra: dict  # other config keys (timeout, ...), copied
    config_path: Path
    notes: list = field(default_factory=list)

    @property
    def n_runs(self):
        return len(self.points) * self.seeds

    @property
    def tokens_per_run(self):
        return self.sweep_steps * self.batch_tokens

    @property
    def fraction(self):
        return self.sweep_steps / self.full_steps


def read_config(path):
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SweepError(f"--config {path}: cannot read it: {error}") from error
    if not isinstance(config, dict):
        raise SweepError(f"--config {path}: not a benchopt run config (a mapping)")
    return config


def make_plan(
    solver,
    grid_specs,
    config_path,
    *,
    set_specs=(),
    fraction=None,
    train_steps=None,
    seeds=1,
):
    """Check the solver, grid, config and step counts; return the :class:`Plan`."""
    if seeds < 1:
        raise SweepError(f"--seeds {seeds}: at least 1")
    declared = solver_parameters(solver)
    grid = parse_grid(solver, declared, grid_specs)
    config_path = Path(config_path).resolve()
    config = read_config(config_path)

    # The problem: one objective, one dataset.
    objectives, datasets = _entries(config, "objective"), _entries(config, "dataset")
    if len(objectives) != 1 or len(datasets) != 1:
        raise SweepError(
            f"--config {config_path.name}: a sweep runs one problem; the config "
            f"lists {len(objectives)} objective(s) and {len(datasets)} "
            "dataset(s): keep one of each"
        )
    objective_base, objective_values = _parse_entry(objectives[0], "objective")
    _parse_entry(datasets[0], "dataset")
    defaults = load_benchmark_module("objective.py").Objective.parameters
    unknown = sorted(set(objective_values) - set(defaults))
    if unknown:
        raise SweepError(
            f"objective {objectives[0]!r}: unknown parameter(s) "
            f"{', '.join(unknown)}; its parameters are: {', '.join(sorted(defaults))}"
        )
    settings = {k: v[0] for k, v in defaults.items()} | objective_values
    for key in ("batch_tokens", "max_steps"):
        value = settings[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SweepError(f"objective {key}={value!r}: a positive integer")

    # Fixed solver parameters: the config's entry for the solver, then --set.
    entries = [
        values
        for base, values in map(
            lambda e: _parse_entry(e, "solver"), _entries(config, "solver")
        )
        if base == solver
    ]
    if len(entries) > 1:
        raise SweepError(
            f"--config {config_path.name} lists {solver} {len(entries)} times: "
            "keep one entry, or fix parameters with --set"
        )
    fixed = typed(solver, declared, entries[0]) if entries else {}
    fixed_source = dict.fromkeys(fixed, "config")
    for spec in set_specs:
        key, values = parse_assignment(spec, "--set")
        if len(values) != 1:
            raise SweepError(f"--set {spec!r}: one value (a list goes in --grid)")
        if key in grid:
            raise SweepError(f"{key}: given with both --grid and --set")
        fixed[key] = typed(solver, declared, {key: values[0]})[key]
        fixed_source[key] = "--set"
    notes = []
    for key in sorted(set(grid) & set(fixed)):
        notes.append(f"the grid replaces the config's {solver} {key}={fixed[key]}")
        del fixed[key], fixed_source[key]

    # N: the objective's train_steps, else the solver's.
    n_on_objective = settings.get("train_steps") is not None
    if n_on_objective:
        full_steps, source = (
            settings["train_steps"],
            "the config's objective train_steps",
        )
    elif fixed.get("train_steps") is not None:
        full_steps = fixed["train_steps"]
        source = f"{solver}'s train_steps (from {fixed_source['train_steps']})"
    elif (declared.get("train_steps") or [None])[0] is not None:
        full_steps = declared["train_steps"][0]
        source = f"{solver}'s default train_steps"
    else:
        raise SweepError(
            f"the full run's step count N is unknown: {solver} declares no "
            "train_steps and the config's objective sets none; add "
            "train_steps=N to the config's objective"
            + (" or pass --set train_steps=N" if "train_steps" in declared else "")
        )
    if not isinstance(full_steps, (int, float)) or full_steps < 1:
        raise SweepError(f"train_steps={full_steps!r} ({source}): at least 1")
    full_steps = int(full_steps)

    if train_steps is not None:
        if fraction is not None:
            raise SweepError("give --fraction or --train-steps, not both")
        if train_steps < 1:
            raise SweepError(f"--train-steps {train_steps}: at least 1")
        sweep_steps = int(train_steps)
    else:
        fraction = DEFAULT_FRACTION if fraction is None else fraction
        if not 0 < fraction <= 1:
            raise SweepError(f"--fraction {fraction}: in (0, 1]")
        sweep_steps = max(1, round(fraction * full_steps))
    max_steps = settings["max_steps"]
    for what, steps in (("the sweep's runs", sweep_steps), ("N", full_steps)):
        if steps > max_steps:
            raise SweepError(
                f"{what} train {steps} steps but the objective's data budget is "
                f"max_steps={max_steps}: raise max_steps in the config's objective"
            )
    if settings.get("stop_at_target"):
        notes.append(
            "stop_at_target is off in the sweep: final losses are compared at "
            "the same step (Track 3 forbids stopping on the validation loss)"
        )
    return Plan(
        solver=solver,
        grid=grid,
        points=grid_points(grid),
        fixed=fixed,
        fixed_source=fixed_source,
        seeds=int(seeds),
        sweep_steps=sweep_steps,
        full_steps=full_steps,
        full_steps_source=source,
        n_on_objective=n_on_objective,
        objective_base=objective_base,
        objective_params=objective_values,
        batch_tokens=settings["batch_tokens"],
        dataset_entries=list(datasets),
        extra={k: v for k, v in config.items() if k not in OWN_KEYS},
        config_path=config_path,
        notes=notes,
    )


# -- budget ----------------------------------------------------------------


def budget_lines(plan, max_runs, max_tokens_per_run):
    """The budget, as printed before anything runs."""
    sizes = " x ".join(str(len(v)) for v in plan.grid.values()) or "1"
    return [
        f"Sweep of {plan.solver} on {plan.config_path.name}:",
        *(f"  grid {k}: {', '.join(map(str, v))}" for k, v in plan.grid.items()),
        *(
            f"  fixed {k}={v} (from {plan.fixed_source[k]})"
            for k, v in plan.fixed.items()
        ),
        f"  runs: {sizes} = {len(plan.points)} grid point(s) x {plan.seeds} "
        f"seed(s) = {plan.n_runs} (limit {max_runs})",
        f"  steps per run: {plan.sweep_steps} = {plan.fraction:.3g} x "
        f"N={plan.full_steps} ({plan.full_steps_source})",
        f"  tokens per run: {plan.sweep_steps:,} steps x {plan.batch_tokens:,} "
        f"batch tokens = {plan.tokens_per_run:,} (limit {max_tokens_per_run:,})",
        f"  total: {plan.n_runs * plan.tokens_per_run:,} training tokens",
        *(f"  note: {note}" for note in plan.notes),
    ]


def check_budget(plan, max_runs, max_tokens_per_run):
    """Raise :class:`BudgetError` if the sweep needs more runs or more tokens
    per run than allowed, saying by how much and how to shrink it."""
    problems, shrink, raise_ = [], [], []
    if plan.n_runs > max_runs:
        sizes = ", ".join(f"{k}: {len(v)} values" for k, v in plan.grid.items())
        problems.append(
            f"it takes {plan.n_runs} runs ({len(plan.points)} grid point(s) x "
            f"{plan.seeds} seed(s)), more than --max-runs {max_runs}"
        )
        shrink.append(
            f"fewer grid values ({sizes or 'no grid'}) or fewer --seeds, for at "
            f"most {max_runs} runs"
        )
        raise_.append(f"--max-runs {plan.n_runs}")
    if plan.tokens_per_run > max_tokens_per_run:
        problems.append(
            f"each run trains {plan.sweep_steps:,} steps x {plan.batch_tokens:,} "
            f"= {plan.tokens_per_run:,} tokens, more than --max-tokens-per-run "
            f"{max_tokens_per_run:,}"
        )
        fit = max_tokens_per_run // plan.batch_tokens
        fits = f"--train-steps {fit} ({fit * plan.batch_tokens:,} tokens)"
        fraction = math.floor(100 * fit / plan.full_steps) / 100
        if fraction > 0 and round(fraction * plan.full_steps) <= fit:
            fits = f"--fraction {fraction:g} or " + fits
        shrink.append(
            f"shorter runs: {fits} fit"
            if fit
            else f"no run fits: one step is {plan.batch_tokens:,} tokens; raise it"
        )
        raise_.append(f"--max-tokens-per-run {plan.tokens_per_run}")
    if problems:
        raise BudgetError(
            "refused: the sweep is over its budget:\n  - "
            + "\n  - ".join(problems)
            + f"\nShrink it: {'; '.join(shrink)}.\nOr raise the limit explicitly "
            f"({' '.join(raise_)}) and report it with the results: a tuning "
            "budget larger than the baseline's makes the comparison unfair."
        )


# -- configs ---------------------------------------------------------------


def solver_entry(plan, point, train_steps=None):
    params = {k: v for k, v in plan.fixed.items() if k != "train_steps"} | point
    if train_steps is not None:
        params["train_steps"] = train_steps
    return format_name(plan.solver, params)


def run_config(plan, objective, solvers, seeds):
    return {
        "objective": [format_name(plan.objective_base, objective)],
        "dataset": list(plan.dataset_entries),
        "solver": solvers,
        "n-repetitions": int(seeds),
        **plan.extra,
    }


def sweep_config(plan):
    """The benchopt run config of the sweep: every grid point at the sweep's
    step count (set on the objective: it overrides every solver's N), with
    stop_at_target off (final losses compared at the same step)."""
    objective = dict(plan.objective_params, train_steps=plan.sweep_steps)
    if objective.get("stop_at_target"):
        objective["stop_at_target"] = False
    solvers = [solver_entry(plan, point) for point in plan.points]
    return run_config(plan, objective, solvers, plan.seeds)


def final_config(plan, point, seeds=DEFAULT_FINAL_SEEDS):
    """The run config of the full-length multi-seed run of ``point``: the same
    objective and dataset, N where the config had it (the objective), else on
    the solver."""
    n = None if plan.n_on_objective else plan.full_steps
    return run_config(
        plan, plan.objective_params, [solver_entry(plan, point, n)], seeds
    )


def config_text(config, header=()):
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)
    return "".join(f"# {line}".rstrip() + "\n" for line in header) + body


def clear_results(results):
    """Remove a previous sweep's result file and run statuses from a reused
    work folder: benchopt would write ``results_1.parquet`` beside the old
    file and the ranking would read stale rows. Finished runs stay in
    benchopt's cache, so a repeated point costs nothing."""
    results = Path(results)
    results.unlink(missing_ok=True)
    shutil.rmtree(ledger_folder(results), ignore_errors=True)


def benchopt_command(config_path, output, no_cache=False):
    """``benchopt run`` in a subprocess rather than ``benchopt.run_benchmark``:
    it is the very command a user re-runs with the written config (same
    config handling, cache and result files), and each sweep trains in a
    fresh process, so a crash or an out-of-memory run cannot take the sweep
    (its budget, its ranking) down with it."""
    command = [sys.executable, "-m", "benchopt", "run", str(ROOT)]
    command += ["--config", str(config_path), "--no-plot", "--no-display"]
    return command + ["--output", str(output)] + (["--no-cache"] if no_cache else [])


def run_benchopt(command):
    """Run ``command`` in the benchmark folder; its exit status. Its stderr is
    passed on without the trainer's note on full-size defaults: a grid point
    may equal a solver's defaults, on purpose."""
    with subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, text=True, errors="replace"
    ) as process:
        sys.stderr.writelines(drop_full_size_note(process.stderr))
    return process.returncode


# -- ranking ---------------------------------------------------------------


@dataclass
class Ranked:
    point: dict
    seeds: int  # runs expected
    n_done: int = 0
    failures: dict = field(default_factory=dict)  # status -> count
    val_loss_mean: float = math.nan
    val_loss_std: float = math.nan

    @property
    def n_failed(self):
        return sum(self.failures.values())

    @property
    def ok(self):
        return self.n_failed == 0 and self.n_done >= self.seeds

    @property
    def status(self):
        if self.ok:
            return "ok"
        return ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items()))


def _matches(solver_name, solver, point):
    """benchopt records each parameter as ``str(value)`` in result names."""
    base, params = split_name(solver_name)
    return base == solver and all(params.get(k) == str(v) for k, v in point.items())


def rank_points(runs, solver, points, seeds, train_steps=None):
    """Rank the grid ``points`` by final validation loss (mean over their
    completed runs), from the results of :func:`results.load_runs`.

    A point with a failed run (diverged, crashed, stopped before N) or
    fewer runs than ``seeds`` (a missing one counts as "missing") ranks after
    every point whose runs all completed: dropping a bad seed would reward a
    fragile configuration. ``train_steps``: only results at that N count."""
    rows = [
        row
        for table in results_tables(runs)
        for row in table.rows
        if train_steps is None or row.train_steps == train_steps
    ]
    ranked = []
    for point in points:
        entry = Ranked(point=dict(point), seeds=seeds)
        runs_of_point = [
            run
            for row in rows
            if _matches(row.config, solver, point)
            for run in row.runs
        ]
        done = [run.final_val_loss for run in runs_of_point if not run.failed]
        for run in runs_of_point:
            if run.failed:
                entry.failures[run.status] = entry.failures.get(run.status, 0) + 1
        entry.n_done = len(done)
        if seeds > len(done) + entry.n_failed:
            entry.failures["missing"] = seeds - len(done) - entry.n_failed
        if done:
            entry.val_loss_mean = statistics.fmean(done)
        if len(done) > 1:
            entry.val_loss_std = statistics.stdev(done)
        ranked.append(entry)

    def key(entry):
        mean = entry.val_loss_mean
        return (not entry.ok, entry.n_failed, mean if math.isfinite(mean) else math.inf)

    return sorted(ranked, key=key)  # stable: ties keep the grid order


def ranking_table(ranked, names):
    def number(x):
        return f"{x:.4f}" if math.isfinite(x) else "-"

    rows = [["rank", *names, "runs ok", "val loss", "std", "status"]]
    for i, entry in enumerate(ranked, 1):
        rows.append(
            [str(i), *(str(entry.point.get(name, "")) for name in names)]
            + [f"{entry.n_done}/{entry.seeds}", number(entry.val_loss_mean)]
            + [number(entry.val_loss_std), entry.status]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows
    )


def edge_notes(grid, best):
    """For each numeric grid parameter whose best value is the smallest or the
    largest of its grid (the optimum may lie beyond): a note with the grid
    extended by one value past that edge (the ratio of the two edge values
    when every value is positive, else their difference)."""
    notes = []
    for name, values in grid.items():
        numeric = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        if (
            not numeric
            or len(values) < 2
            or best[name] not in (min(values), max(values))
        ):
            continue
        ordered = sorted(values)
        largest = best[name] == ordered[-1]
        edge, inner = (
            (ordered[-1], ordered[-2]) if largest else (ordered[0], ordered[1])
        )
        positive = all(v > 0 for v in values)
        if positive:
            beyond = edge * (edge / inner)
        else:  # no natural extension below a zero or negative edge
            beyond = edge + (edge - inner) if largest else None
        if beyond is not None:
            beyond = (
                int(round(beyond)) if isinstance(edge, int) else float(f"{beyond:.3g}")
            )
        side = "largest" if largest else "smallest"
        note = (
            f"the best {name}={best[name]} is the {side} value of its grid: the "
            "optimum may lie beyond it"
        )
        # (an int grid rounded to its edge, or to 0 below a positive one: none)
        if beyond is not None and beyond != edge and (beyond > 0 or not positive):
            extended = [*ordered, beyond] if largest else [beyond, *ordered]
            text = ",".join(map(str, extended))
            note += f"; sweep the extended grid --grid {name}={text}"
        notes.append(note)
    return notes


def final_header(plan, ranked, results_path, seeds, out):
    best = ranked[0]
    return [
        f"Full-length run of the best {plan.solver} configuration of a sweep",
        "(python -m benchmark_tools.sweep), on the problem of "
        f"{_display_path(plan.config_path)}.",
        f"Sweep: {len(plan.points)} grid point(s) x {plan.seeds} seed(s) = "
        f"{plan.n_runs} runs of {plan.sweep_steps} steps "
        f"({plan.fraction:.3g} x N={plan.full_steps}), "
        f"{plan.tokens_per_run:,} tokens each; results {_display_path(results_path)}",
        f"Best: {point_label(best.point)}, final val loss "
        f"{best.val_loss_mean:.4f} (mean of {best.n_done} seed(s)).",
        *(f"Note: {note}" for note in edge_notes(plan.grid, best.point)),
        "Ranked (final validation loss at the sweep's step count):",
        *(f"  {line}" for line in ranking_table(ranked, list(plan.grid)).split("\n")),
        f"This config: N={plan.full_steps}, {seeds} seeds. Track 3: re-tune lr "
        "and weight decay at full length (--fraction 1) before claiming a result.",
        f"  benchopt run . --config {_display_path(out)}",
    ]


def _display_path(path):
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# -- command line ----------------------------------------------------------


def build_parser():
    description, epilog = __doc__.split("\n\n", 1)
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.sweep",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("solver", help="solver name (a file solvers/NAME.py)")
    add(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="values of one solver parameter (repeat for a cartesian product)",
    )
    add(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a solver parameter fixed for every grid point",
    )
    add("--config", required=True, type=Path, help="benchopt run config: the problem")
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument(
        "--fraction",
        type=float,
        help=f"sweep runs train this fraction of N (default {DEFAULT_FRACTION})",
    )
    steps.add_argument(
        "--train-steps", type=int, help="sweep runs train this many steps"
    )
    add("--seeds", type=int, default=1, help="seeds per grid point (default 1)")
    add(
        "--max-runs",
        type=int,
        default=DEFAULT_MAX_RUNS,
        help=f"budget: most runs, grid points x seeds (default {DEFAULT_MAX_RUNS}; "
        "not benchopt's --max-runs)",
    )
    add(
        "--max-tokens-per-run",
        type=int,
        default=DEFAULT_MAX_TOKENS_PER_RUN,
        help="budget: most training tokens of one run, steps x batch_tokens "
        f"(default {DEFAULT_MAX_TOKENS_PER_RUN:,})",
    )
    add(
        "--out",
        type=Path,
        help="run config of the best configuration (default "
        "<work-dir>/best_<solver>.yml, under outputs/: untracked)",
    )
    add(
        "--final-seeds",
        type=int,
        default=DEFAULT_FINAL_SEEDS,
        help=f"n-repetitions of the written config (default {DEFAULT_FINAL_SEEDS})",
    )
    add(
        "--work-dir",
        type=Path,
        help="folder of the sweep's config and results (default "
        "outputs/sweeps/<solver>-<time>)",
    )
    add("--no-cache", action="store_true", help="passed to benchopt run")
    add(
        "--dry-run",
        action="store_true",
        help="print the budget, the benchopt command and config; run nothing",
    )
    return parser


def _error(message):
    print(f"error: {message}", file=sys.stderr)


def main(argv=None):
    """Run the sweep; return the exit status: 0 done, 1 the runs failed, 2 bad
    input or over budget."""
    args = build_parser().parse_args(argv)
    try:
        if args.final_seeds < 1:
            raise SweepError(f"--final-seeds {args.final_seeds}: at least 1")
        plan = make_plan(
            args.solver,
            args.grid,
            args.config,
            set_specs=args.set,
            fraction=args.fraction,
            train_steps=args.train_steps,
            seeds=args.seeds,
        )
        config = sweep_config(plan)
        print("\n".join(budget_lines(plan, args.max_runs, args.max_tokens_per_run)))
        check_budget(plan, args.max_runs, args.max_tokens_per_run)
    except SweepError as error:
        _error(error)
        return 2

    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = args.work_dir or ROOT / "outputs" / "sweeps" / f"{args.solver}-{stamp}"
    work = Path(work).resolve()
    config_path, results = work / "sweep.yml", work / RESULTS_NAME
    out = (args.out or work / f"best_{args.solver}.yml").resolve()
    command = benchopt_command(config_path, results, args.no_cache)
    header = [
        f"Sweep of {plan.solver} written by python -m benchmark_tools.sweep",
        f"from {_display_path(plan.config_path)}.",
    ]
    text = config_text(config, header)
    where = "not written: dry run" if args.dry_run else str(config_path)
    print(f"\nbenchopt run config ({where}):\n{text}")
    print(f"command (in {ROOT}):\n  {' '.join(command)}\n")
    if args.dry_run:
        print(f"dry run: nothing ran; the best configuration would go to {out}")
        return 0

    work.mkdir(parents=True, exist_ok=True)
    config_path.write_text(text)
    clear_results(results)
    returncode = run_benchopt(command)
    if returncode != 0:
        _error(f"benchopt run exited with status {returncode}")
        return 1
    try:
        runs = load_runs([results])
    except ResultsError as error:
        _error(f"no sweep results: {error}")
        return 1
    ranked = rank_points(
        runs, plan.solver, plan.points, plan.seeds, train_steps=plan.sweep_steps
    )
    print(
        f"\nRanked by final validation loss at step {plan.sweep_steps} "
        f"(mean over {plan.seeds} seed(s); a failed run loses): {results}\n"
    )
    print(ranking_table(ranked, list(plan.grid)))
    print(f"\nFull table: python -m benchmark_tools.results {results}")
    best = ranked[0]
    if not best.ok:
        _error("no grid point completed all its runs: nothing written")
        return 1
    for note in edge_notes(plan.grid, best.point):
        print(f"\nnote: {note}")
    final = final_config(plan, best.point, args.final_seeds)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        config_text(final, final_header(plan, ranked, results, args.final_seeds, out))
    )
    print(
        f"\nBest: {point_label(best.point)}. Wrote {out}:\n"
        f"  benchopt run . --config {_display_path(out)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
