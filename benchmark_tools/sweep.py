"""Hyperparameter sweep of one solver, under a budget:
``python -m benchmark_tools.sweep``.

    python -m benchmark_tools.sweep adamw --config configs/cpu_compare.yml \\
        --grid lr=0.01,0.02,0.04 --grid weight_decay=0,0.05 [--dry-run]

The grid (the cartesian product of the ``--grid`` values, typed like the
solver's declared defaults) is trained through ``benchopt run`` on the
config's problem at a reduced step count (``--fraction`` of the solver's N,
default 0.5, or ``--train-steps``). Before anything runs the budget is
printed and enforced: at most ``--max-runs`` runs (default 20) of at most
``--max-tokens-per-run`` training tokens each (default 500M, steps x
batch_tokens), the limits the Neural Forge rule sets so that an optimizer is
not tuned harder than the baseline it is compared with. The best grid point
(lowest final validation loss, mean over the seeds; a configuration with a
failed run loses) is written as a run config (``--out``) for the full-length,
multi-seed run: ``benchopt run . --config <out>``.

Track 3's advice: tune on half-length runs (the default ``--fraction 0.5``),
then re-tune lr and weight decay at full length (``--fraction 1``, a small
grid around the best values) before the multi-seed run of the written config.
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
from benchopt.utils.parametrized_name_mixin import (
    _extract_options,
    _extract_parameters,
)

from benchmark_utils.results import (
    ResultsError,
    ledger_folder,
    load_runs,
    results_tables,
    split_name,
)
from benchmark_utils.settings import SettingsError, check_parameter_types

from .components import BENCHMARK_DIR, load_benchmark_module, load_solver_class

ROOT = BENCHMARK_DIR
DEFAULT_FRACTION = 0.5
#: The Neural Forge rule: at most 20 tuning runs of at most 500M tokens each.
DEFAULT_MAX_RUNS = 20
DEFAULT_MAX_TOKENS_PER_RUN = 500_000_000
DEFAULT_FINAL_SEEDS = 4  # Track 3: a mean over 4 seeds must be < 3.278
#: Config keys the sweep writes itself; every other key is copied as is.
OWN_KEYS = ("objective", "dataset", "solver", "n-repetitions", "n_repetitions")
RESULTS_NAME = "results.parquet"


class SweepError(Exception):
    """A sweep that cannot run as asked: the message says why and what to do."""


class BudgetError(SweepError):
    """A sweep larger than its budget."""


# -- grid ------------------------------------------------------------------


def solver_parameters(solver_name):
    """The ``parameters`` dict the solver declares (name -> default values)."""
    path = ROOT / "solvers" / f"{solver_name}.py"
    if not path.is_file():
        names = sorted(p.stem for p in (ROOT / "solvers").glob("*.py"))
        raise SweepError(f"no solver {solver_name!r}; solvers: {', '.join(names)}")
    return dict(load_solver_class(solver_name).parameters)


def _parameter_list(declared):
    return ", ".join(sorted(declared))


def _typed(solver_name, declared, name, value):
    """``value`` converted to the type of ``name``'s declared default."""
    if name not in declared:
        raise SweepError(
            f"{solver_name} has no parameter {name!r}; its parameters are: "
            f"{_parameter_list(declared)}"
        )
    try:
        return check_parameter_types(solver_name, declared, {name: value})[name]
    except SettingsError as error:
        raise SweepError(str(error)) from error


def parse_values(text):
    """``"0.01,0.02,1e-3"`` -> ``[0.01, 0.02, 0.001]``, with benchopt's own
    syntax for solver names: numbers, True/False/None, bare or quoted
    strings, tuples such as ``(0.9,0.95),(0.8,0.95)``."""
    if not text.strip():
        raise SweepError("no value given")
    if "=" in text:
        raise SweepError(f"{text!r}: a value may not contain '='")
    try:
        values = _extract_parameters(text)
    except ValueError as error:
        raise SweepError(f"cannot read the values {text!r}: {error}") from error
    return list(values)


def parse_assignment(spec, option):
    """``"lr=0.01,0.02"`` -> ``("lr", [0.01, 0.02])``."""
    name, sep, text = spec.partition("=")
    name = name.strip()
    if not sep or not name:
        raise SweepError(f"{option} {spec!r}: expected NAME=VALUE[,VALUE...]")
    try:
        return name, parse_values(text)
    except SweepError as error:
        raise SweepError(f"{option} {spec!r}: {error}") from error


def parse_grid(solver_name, declared, specs):
    """``--grid`` specs -> ``{name: [typed values]}`` in the given order.

    Values are converted to the types of the solver's declared defaults (an
    int given for a float default becomes a float). An unknown name, a value
    of the wrong type, a name given twice or a value listed twice is a
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
        typed = [_typed(solver_name, declared, name, v) for v in values]
        for i, value in enumerate(typed):
            if value in typed[:i]:
                raise SweepError(f"--grid {name}: the value {value!r} is listed twice")
        grid[name] = typed
    return grid


def grid_points(grid):
    """The cartesian product of ``grid``: a list of ``{name: value}``."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]


def point_label(point):
    return ",".join(f"{k}={v}" for k, v in point.items()) or "(defaults)"


# -- benchopt names ----------------------------------------------------------


def format_value(value):
    """A value in benchopt's name syntax (read back by ``ast.literal_eval``)."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SweepError(f"{value!r} cannot be written in a benchopt name")
        return repr(value)
    if isinstance(value, str):
        if any(c in value for c in "'\"[]"):
            raise SweepError(f"{value!r} cannot be written in a benchopt name")
        return f'"{value}"'
    if isinstance(value, tuple):
        inner = ", ".join(format_value(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    raise SweepError(f"{value!r} cannot be written in a benchopt name")


def format_name(base, params):
    """``base[key=value,...]`` that benchopt reads back as exactly ``params``.

    A tuple or list value is wrapped in brackets: bare, benchopt would run
    one configuration per item."""
    if not params:
        return base
    items = []
    for key, value in params.items():
        text = format_value(value)
        if isinstance(value, (tuple, list)):
            text = f"[{text}]"
        items.append(f"{key}={text}")
    name = f"{base}[{','.join(items)}]"
    _, _, parsed = _extract_options(name)  # what benchopt will read
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


def recorded_value(value):
    """How benchopt writes a parameter value in the names of its results."""
    return str(value)


# -- the problem: the config file ------------------------------------------


def _entries(config, key):
    entries = config.get(key)
    if entries is None:
        return []
    return entries if isinstance(entries, list) else [entries]


def _parse_entry(entry, what):
    """A config entry (``"name[k=v]"`` or ``{name: {k: v}}``) -> (name, kwargs)."""
    if isinstance(entry, str):
        try:
            base, args, kwargs = _extract_options(entry)
        except ValueError as error:
            raise SweepError(f"{what} {entry!r}: {error}") from error
        if args:
            raise SweepError(f"{what} {entry!r}: name the parameters (key=value)")
        return base.strip(), dict(kwargs)
    if isinstance(entry, dict) and len(entry) == 1:
        ((base, kwargs),) = entry.items()
        if not isinstance(kwargs, dict):
            raise SweepError(f"{what} {entry!r}: name the parameters (key: value)")
        return str(base).strip(), dict(kwargs)
    raise SweepError(f"{what} {entry!r}: expected NAME[key=value,...]")


def _single_values(kwargs, what):
    """The entry's parameters, each one value (a one-item list is unwrapped;
    benchopt reads a list as one run per item)."""
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, list):
            if len(value) != 1:
                raise SweepError(
                    f"{what}: {key} lists {len(value)} values ({value!r}); a "
                    "sweep runs one problem and takes its grid from --grid"
                )
            value = value[0]
        elif isinstance(value, tuple):
            raise SweepError(
                f"{what}: {key}={value!r} is a bare tuple, which benchopt runs "
                f"as one configuration per item; write {key}=[{value!r}]"
            )
        out[key] = value
    return out


@dataclass
class Plan:
    """Everything a sweep does, decided before anything runs."""

    solver: str
    declared: dict  # the solver's parameters
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
    max_steps: int
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
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"--config {path}: no such file")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SweepError(f"--config {path}: not YAML: {error}") from error
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
    objectives = _entries(config, "objective")
    datasets = _entries(config, "dataset")
    if len(objectives) != 1 or len(datasets) != 1:
        raise SweepError(
            f"--config {config_path.name}: a sweep runs one problem; the config "
            f"lists {len(objectives)} objective(s) and {len(datasets)} "
            "dataset(s): keep one of each"
        )
    objective_base, objective_params = _parse_entry(objectives[0], "objective")
    objective_values = _single_values(objective_params, f"objective {objectives[0]!r}")
    _single_values(_parse_entry(datasets[0], "dataset")[1], f"dataset {datasets[0]!r}")
    defaults = load_benchmark_module("objective.py").Objective.parameters
    unknown = sorted(set(objective_values) - set(defaults))
    if unknown:
        raise SweepError(
            f"objective {objectives[0]!r}: unknown parameter(s) "
            f"{', '.join(unknown)}; its parameters are: {_parameter_list(defaults)}"
        )
    settings = {k: v[0] for k, v in defaults.items()} | objective_values
    batch_tokens, max_steps = settings["batch_tokens"], settings["max_steps"]
    for key, value in (("batch_tokens", batch_tokens), ("max_steps", max_steps)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SweepError(f"objective {key}={value!r}: a positive integer")

    # Fixed solver parameters: the config's entry for the solver, then --set.
    fixed, fixed_source = {}, {}
    entries = [
        _parse_entry(e, "solver")
        for e in _entries(config, "solver")
        if _parse_entry(e, "solver")[0] == solver
    ]
    if len(entries) > 1:
        raise SweepError(
            f"--config {config_path.name} lists {solver} {len(entries)} times: "
            "keep one entry, or fix parameters with --set"
        )
    if entries:
        for key, value in _single_values(entries[0][1], f"solver {solver}").items():
            fixed[key] = _typed(solver, declared, key, value)
            fixed_source[key] = "config"
    for spec in set_specs:
        key, values = parse_assignment(spec, "--set")
        if len(values) != 1:
            raise SweepError(f"--set {spec!r}: one value (a list goes in --grid)")
        fixed[key] = _typed(solver, declared, key, values[0])
        fixed_source[key] = "--set"
    both = sorted(set(grid) & set(fixed))
    notes = []
    for key in both:
        if fixed_source[key] == "--set":
            raise SweepError(f"{key}: given with both --grid and --set")
        notes.append(f"the grid replaces the config's {solver} {key}={fixed[key]}")
        del fixed[key], fixed_source[key]

    # N: the objective's train_steps, else the solver's.
    n_on_objective = settings.get("train_steps") is not None
    if n_on_objective:
        full_steps = settings["train_steps"]
        source = "the config's objective train_steps"
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
    extra = {k: v for k, v in config.items() if k not in OWN_KEYS}
    return Plan(
        solver=solver,
        declared=declared,
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
        batch_tokens=batch_tokens,
        max_steps=max_steps,
        dataset_entries=list(datasets),
        extra=extra,
        config_path=config_path,
        notes=notes,
    )


# -- budget ----------------------------------------------------------------


def budget_lines(plan, max_runs, max_tokens_per_run):
    """The budget, as printed before anything runs."""
    sizes = " x ".join(str(len(v)) for v in plan.grid.values()) or "1"
    lines = [f"Sweep of {plan.solver} on {plan.config_path.name}:"]
    for name, values in plan.grid.items():
        lines.append(f"  grid {name}: {', '.join(map(str, values))}")
    for name, value in plan.fixed.items():
        lines.append(f"  fixed {name}={value} (from {plan.fixed_source[name]})")
    lines += [
        f"  runs: {sizes} = {len(plan.points)} grid point(s) x {plan.seeds} "
        f"seed(s) = {plan.n_runs} (limit {max_runs})",
        f"  steps per run: {plan.sweep_steps} = {plan.fraction:.3g} x "
        f"N={plan.full_steps} ({plan.full_steps_source})",
        f"  tokens per run: {plan.sweep_steps:,} steps x {plan.batch_tokens:,} "
        f"batch tokens = {plan.tokens_per_run:,} (limit {max_tokens_per_run:,})",
        f"  total: {plan.n_runs * plan.tokens_per_run:,} training tokens",
    ]
    lines += [f"  note: {note}" for note in plan.notes]
    return lines


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
        if fit < 1:
            shrink.append(
                f"no run fits: one step is {plan.batch_tokens:,} tokens; raise "
                "the limit"
            )
        else:
            fits = f"--train-steps {fit} ({fit * plan.batch_tokens:,} tokens)"
            fraction = math.floor(100 * fit / plan.full_steps) / 100
            if fraction > 0 and round(fraction * plan.full_steps) <= fit:
                fits = f"--fraction {fraction:g} or " + fits
            shrink.append(f"shorter runs: {fits} fit")
        raise_.append(f"--max-tokens-per-run {plan.tokens_per_run}")
    if problems:
        raise BudgetError(
            "refused: the sweep is over its budget:\n  - "
            + "\n  - ".join(problems)
            + "\nShrink it: "
            + "; ".join(shrink)
            + ".\nOr raise the limit explicitly ("
            + " ".join(raise_)
            + ") and report it with the results: a tuning budget larger than "
            "the baseline's makes the comparison unfair."
        )


# -- configs ---------------------------------------------------------------


def _objective_entry(plan, train_steps):
    params = dict(plan.objective_params)
    if train_steps is not None:
        params["train_steps"] = train_steps
    return format_name(plan.objective_base, params)


def solver_entry(plan, point, train_steps=None):
    params = {k: v for k, v in plan.fixed.items() if k != "train_steps"}
    params |= point
    if train_steps is not None:
        params["train_steps"] = train_steps
    return format_name(plan.solver, params)


def sweep_config(plan):
    """The benchopt run config of the sweep: every grid point at the sweep's
    step count (set on the objective: it overrides every solver's N)."""
    objective = dict(plan.objective_params)
    if objective.get("stop_at_target"):
        objective["stop_at_target"] = False
    objective["train_steps"] = plan.sweep_steps
    return {
        "objective": [format_name(plan.objective_base, objective)],
        "dataset": list(plan.dataset_entries),
        "solver": [solver_entry(plan, point) for point in plan.points],
        "n-repetitions": plan.seeds,
        **plan.extra,
    }


def final_config(plan, point, seeds=DEFAULT_FINAL_SEEDS):
    """The run config of the full-length multi-seed run of ``point``: the same
    objective and dataset, N where the config had it (the objective), else on
    the solver."""
    return {
        "objective": [_objective_entry(plan, None)],
        "dataset": list(plan.dataset_entries),
        "solver": [
            solver_entry(plan, point, None if plan.n_on_objective else plan.full_steps)
        ],
        "n-repetitions": int(seeds),
        **plan.extra,
    }


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
    command = [
        sys.executable,
        "-m",
        "benchopt",
        "run",
        str(ROOT),
        "--config",
        str(config_path),
        "--no-plot",
        "--no-display",
        "--output",
        str(output),
    ]
    return command + (["--no-cache"] if no_cache else [])


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
        parts = [f"{k} {v}" for k, v in sorted(self.failures.items())]
        return ", ".join(parts) or "no run"


def _matches(solver_name, solver, point):
    base, params = split_name(solver_name)
    return base == solver and all(
        params.get(k) == recorded_value(v) for k, v in point.items()
    )


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
        done = []
        for row in rows:
            if not _matches(row.config, solver, point):
                continue
            for run in row.runs:
                if run.failed:
                    entry.failures[run.status] = entry.failures.get(run.status, 0) + 1
                else:
                    done.append(run.final_val_loss)
        entry.n_done = len(done)
        missing = seeds - len(done) - entry.n_failed
        if missing > 0:
            entry.failures["missing"] = missing
        if done:
            entry.val_loss_mean = statistics.fmean(done)
            if len(done) > 1:
                entry.val_loss_std = statistics.stdev(done)
        ranked.append(entry)

    def key(entry):
        mean = entry.val_loss_mean
        return (
            not entry.ok,
            entry.n_failed,
            mean if math.isfinite(mean) else math.inf,
        )

    return sorted(ranked, key=key)  # stable: ties keep the grid order


def ranking_table(ranked, names):
    header = ["rank", *names, "runs ok", "val loss", "std", "status"]
    body = []
    for i, entry in enumerate(ranked, 1):
        body.append(
            [
                str(i),
                *(str(entry.point.get(name, "")) for name in names),
                f"{entry.n_done}/{entry.seeds}",
                f"{entry.val_loss_mean:.4f}"
                if math.isfinite(entry.val_loss_mean)
                else "-",
                f"{entry.val_loss_std:.4f}"
                if math.isfinite(entry.val_loss_std)
                else "-",
                entry.status,
            ]
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
        for r in [header, *body]
    )


def final_header(plan, ranked, results_path, seeds, out):
    best = ranked[0]
    rel = _display_path(results_path)
    lines = [
        f"Full-length run of the best {plan.solver} configuration of a sweep",
        "(python -m benchmark_tools.sweep), on the problem of "
        f"{_display_path(plan.config_path)}.",
        f"Sweep: {len(plan.points)} grid point(s) x {plan.seeds} seed(s) = "
        f"{plan.n_runs} runs of {plan.sweep_steps} steps "
        f"({plan.fraction:.3g} x N={plan.full_steps}), "
        f"{plan.tokens_per_run:,} tokens each; results {rel}",
        f"Best: {point_label(best.point)}, final val loss "
        f"{best.val_loss_mean:.4f} (mean of {best.n_done} seed(s)).",
    ]
    lines.append("Ranked (final validation loss at the sweep's step count):")
    lines += [
        f"  {line}" for line in ranking_table(ranked, list(plan.grid)).split("\n")
    ]
    lines += [
        f"This config: N={plan.full_steps}, {seeds} seeds. Track 3: re-tune lr "
        "and weight decay at full length (--fraction 1) before claiming a result.",
        f"  benchopt run . --config {_display_path(out)}",
    ]
    return lines


def _display_path(path):
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# -- command line ----------------------------------------------------------

EPILOG = """\
examples:
  python -m benchmark_tools.sweep adamw --config configs/cpu_compare.yml \\
      --grid lr=0.003,0.006,0.012 --grid weight_decay=0,0.1 --dry-run
  python -m benchmark_tools.sweep muon --config configs/track3_1gpu.yml \\
      --grid lr=0.02,0.025,0.03 --max-tokens-per-run 900000000

Track 3's advice: tune on half-length runs (--fraction 0.5, the default), then
re-tune lr and weight decay at full length (--fraction 1, a small grid around
the best values) before the multi-seed run of the written config.

Budget (Neural Forge rule): at most 20 runs (grid points x seeds) and at most
500M training tokens per run (steps x the objective's batch_tokens). A larger
sweep is refused; raising a limit is explicit and belongs in the report.

Grid values use benchopt's name syntax and the types of the solver's defaults:
lr=1e-3,3e-3  schedule=cosine,wsd  betas=(0.9,0.95),(0.8,0.95).
Fixed solver parameters: the config's entry for the solver (if any), then
--set. The runs go through `benchopt run` (results in the work folder's
results.parquet, runs in benchopt's cache); a failed or diverged run makes its
configuration lose. The best one is written to --out for
`benchopt run . --config OUT` at the solver's full N with --final-seeds seeds.
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.sweep",
        description=(
            "Sweep a solver's hyperparameters at a reduced step count, under a "
            "budget, through benchopt; write the best configuration as a run "
            "config for the full-length multi-seed run."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("solver", help="solver name (a file solvers/NAME.py)")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="values of one solver parameter (repeat for a cartesian product)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a solver parameter fixed for every grid point",
    )
    parser.add_argument(
        "--config",
        required=True,
        type=Path,
        help="benchopt run config with the problem: one objective, one dataset "
        "(its timeout and other run options are kept)",
    )
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument(
        "--fraction",
        type=float,
        help=f"sweep runs train this fraction of N (default {DEFAULT_FRACTION}: "
        "Track 3 tunes on half-length runs)",
    )
    steps.add_argument(
        "--train-steps",
        type=int,
        help="sweep runs train this many steps (not a fraction of N)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds per grid point")
    parser.add_argument(
        "--max-runs",
        type=int,
        default=DEFAULT_MAX_RUNS,
        help=f"budget: most runs, grid points x seeds (default {DEFAULT_MAX_RUNS}; "
        "not benchopt's --max-runs)",
    )
    parser.add_argument(
        "--max-tokens-per-run",
        type=int,
        default=DEFAULT_MAX_TOKENS_PER_RUN,
        help="budget: most training tokens of one run, steps x batch_tokens "
        f"(default {DEFAULT_MAX_TOKENS_PER_RUN:,})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="run config of the best configuration (default "
        "configs/sweep_<solver>.yml)",
    )
    parser.add_argument(
        "--final-seeds",
        type=int,
        default=DEFAULT_FINAL_SEEDS,
        help=f"n-repetitions of the written config (default {DEFAULT_FINAL_SEEDS})",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="folder of the sweep's config and results (default "
        "outputs/sweeps/<solver>-<time>)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="passed to benchopt run"
    )
    parser.add_argument(
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
    except SweepError as error:
        _error(error)
        return 2
    print("\n".join(budget_lines(plan, args.max_runs, args.max_tokens_per_run)))
    try:
        check_budget(plan, args.max_runs, args.max_tokens_per_run)
    except BudgetError as error:
        _error(error)
        return 2

    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = args.work_dir or ROOT / "outputs" / "sweeps" / f"{args.solver}-{stamp}"
    work = Path(work).resolve()
    config_path, results = work / "sweep.yml", work / RESULTS_NAME
    out = (args.out or ROOT / "configs" / f"sweep_{args.solver}.yml").resolve()
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
    completed = subprocess.run(command, cwd=ROOT)
    if completed.returncode != 0:
        _error(f"benchopt run exited with status {completed.returncode}")
        return 1
    try:
        ranked = rank_points(
            load_runs([results]),
            plan.solver,
            plan.points,
            plan.seeds,
            train_steps=plan.sweep_steps,
        )
    except ResultsError as error:
        _error(f"no sweep results: {error}")
        return 1
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
