"""Hyperparameter sweep of one solver, under a budget, through benchopt.

examples:
  python -m benchmark_tools.sweep adamw --config configs/cpu_compare.yml \\
      --grid lr=0.003,0.006,0.012 --grid weight_decay=0,0.1 --dry-run
  python -m benchmark_tools.sweep muon --config configs/track3_1gpu.yml \\
      --grid lr=0.02,0.025,0.03 --max-tokens-per-run 900000000

The grid (the cartesian product of the --grid values, in benchopt's syntax and
typed like the solver's defaults: lr=1e-3,3e-3 schedule=cosine,wsd
betas=(0.9,0.95),(0.8,0.95)) is trained with `benchopt run` on the config's
problem (one objective, one dataset; its other options are kept) for
--fraction of the solver's N (default 0.5) or --train-steps. Fixed solver
parameters: the config's entry for the solver, then --set.

Budget (the Neural Forge rule: an optimizer is not tuned harder than its
baseline): at most --max-runs runs (grid points x seeds, default 20) of at
most --max-tokens-per-run tokens each (default 500M). It is printed before
anything runs; a larger sweep is refused unless a limit is raised explicitly
(say so in the report).

The best point (lowest mean final validation loss; a point with a failed run
loses) is written as the run config of the full-length multi-seed run, by
default under outputs/ (untracked); a best value at the edge of its grid is
pointed out with the extended grid to sweep next. Track 3's advice: tune on
half-length runs, then re-tune lr and weight decay at full length (--fraction
1) before the multi-seed run.
"""

import argparse
import itertools
import math
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmark_tools.results import ResultsError, ledger_folder, load_runs, split_name
from benchmark_utils.benchopt_compat import parse_name, parse_values
from benchmark_utils.errors import UserError
from benchmark_utils.settings import SettingsError, check_parameter_types

from .components import BENCHMARK_DIR as ROOT
from .components import (
    drop_full_size_note,
    load_benchmark_module,
    load_solver_class,
    solver_names,
)

DEFAULT_FRACTION = 0.5
DEFAULT_MAX_RUNS = 20  # the Neural Forge rule: at most 20 tuning runs
DEFAULT_MAX_TOKENS_PER_RUN = 500_000_000  # ... of at most 500M tokens each
DEFAULT_FINAL_SEEDS = 4  # Track 3: a mean over 4 seeds must be < 3.278
#: Config keys the sweep writes itself; every other key is copied as is.
OWN_KEYS = ("objective", "solver", "n-repetitions", "n_repetitions")


class SweepError(UserError):
    """A sweep that cannot run as asked: the message says why and what to do."""

    status = 2  # main's exit status: bad input or over budget


class BudgetError(SweepError):
    """A sweep larger than its budget."""


class RunError(SweepError):
    """The sweep's runs failed: nothing to rank or write."""

    status = 1


# -- grid ------------------------------------------------------------------


def solver_parameters(solver_name):
    """The ``parameters`` dict the solver declares (name -> default values)."""
    if solver_name not in solver_names():
        names = ", ".join(solver_names())
        raise SweepError(f"no solver {solver_name!r}; solvers: {names}")
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
    """``"lr=0.01,0.02"`` -> ``("lr", [0.01, 0.02])``, in benchopt's syntax."""
    name, _, text = spec.partition("=")
    try:
        ok = name.strip() and text.strip() and "=" not in text
        values = parse_values(text) if ok else []
    except ValueError:
        values = []
    if not values:
        raise SweepError(
            f"{option} {spec!r}: expected NAME=VALUE[,VALUE...] in benchopt's "
            "syntax (no value given, or one it cannot read)"
        )
    return name.strip(), values


def parse_grid(solver_name, declared, specs):
    """``--grid`` specs -> ``{name: [typed values]}``, in the given order."""
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
        if len(set(map(repr, grid[name]))) < len(values):
            raise SweepError(f"--grid {name}: a value is listed twice")
    return grid


def grid_points(grid):
    """The cartesian product of ``grid``: a list of ``{name: value}``."""
    return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]


def point_label(point):
    return ",".join(f"{k}={v}" for k, v in point.items()) or "(defaults)"


def format_name(base, params):
    """``base[key=value,...]``, checked to read back through benchopt's parser
    as exactly ``params``. A tuple goes in brackets: bare, benchopt would run
    one configuration per item."""
    if not params:
        return base
    wrapped = {k: [v] if isinstance(v, (tuple, list)) else v for k, v in params.items()}
    name = f"{base}[{','.join(f'{k}={v!r}' for k, v in wrapped.items())}]"
    try:
        ok = parse_name(name)[2] == wrapped
    except ValueError:
        ok = False
    if not ok:
        raise SweepError(f"{params} does not survive benchopt's name syntax: {name}")
    return name


# -- the plan: grid, config, step counts -----------------------------------


def _entries(config, key):
    entries = config.get(key) or []
    return entries if isinstance(entries, list) else [entries]


def _parse_entry(entry, what):
    """A config entry (``"name[k=v]"`` or ``{name: {k: v}}``) -> (name,
    kwargs), one value per parameter: a sweep runs one problem."""
    if isinstance(entry, dict) and len(entry) == 1:
        ((base, kwargs),) = entry.items()
        args = [] if isinstance(kwargs, dict) else [kwargs]
    elif isinstance(entry, str):
        try:
            base, args, kwargs = parse_name(entry)
        except ValueError as error:
            raise SweepError(f"{what} {entry!r}: {error}") from error
    else:
        raise SweepError(f"{what} {entry!r}: expected NAME[key=value,...]")
    if args:
        raise SweepError(f"{what} {entry!r}: name the parameters (key=value)")
    for key, value in kwargs.items():
        # benchopt runs a list, or a bare tuple, as one configuration per item
        if isinstance(value, tuple) or isinstance(value, list) and len(value) != 1:
            raise SweepError(
                f"{what} {entry!r}: {key}={value!r} is several configurations; "
                f"a sweep runs one problem and takes its grid from --grid (a "
                f"tuple value is written {key}=[(...)])"
            )
    values = {k: v[0] if isinstance(v, list) else v for k, v in kwargs.items()}
    return str(base).strip(), values


class Plan:
    """Everything a sweep does, checked before anything runs: the grid, the
    solver's fixed parameters, the config's problem and the step counts."""

    def __init__(
        self,
        solver,
        grid_specs,
        config_path,
        *,
        set_specs=(),
        fraction=None,
        train_steps=None,
        seeds=1,
    ):
        if seeds < 1:
            raise SweepError(f"--seeds {seeds}: at least 1")
        declared = solver_parameters(solver)
        self.solver, self.seeds = solver, int(seeds)
        self.grid = parse_grid(solver, declared, grid_specs)
        self.points = grid_points(self.grid)
        self.config_path = Path(config_path).resolve()
        try:
            config = yaml.safe_load(self.config_path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise SweepError(
                f"--config {config_path}: cannot read it: {error}"
            ) from None
        if not isinstance(config, dict):
            raise SweepError(f"--config {config_path}: not a benchopt run config")
        #: other config keys (dataset, timeout, ...), copied as is
        self.extra = {k: v for k, v in config.items() if k not in OWN_KEYS}
        settings = self._read_problem(config)
        self.batch_tokens = settings["batch_tokens"]
        self.notes = self._fix_parameters(config, declared, set_specs)
        self._set_steps(settings, declared, fraction, train_steps)
        self.n_runs = len(self.points) * self.seeds
        self.tokens_per_run = self.sweep_steps * self.batch_tokens
        self.fraction = self.sweep_steps / self.full_steps
        if settings["stop_at_target"]:
            self.notes.append(
                "stop_at_target is off in the sweep: final losses are compared at "
                "the same step (Track 3 forbids stopping on the validation loss)"
            )

    def _read_problem(self, config):
        """The config's one objective and dataset; the objective's settings."""
        objectives = _entries(config, "objective")
        datasets = _entries(config, "dataset")
        if len(objectives) != 1 or len(datasets) != 1:
            raise SweepError(
                f"--config {self.config_path.name}: a sweep runs one problem; the "
                f"config lists {len(objectives)} objective(s) and {len(datasets)} "
                "dataset(s): keep one of each"
            )
        self.objective_base, self.objective_params = _parse_entry(
            objectives[0], "objective"
        )
        _parse_entry(datasets[0], "dataset")
        self.extra["dataset"] = datasets
        defaults = load_benchmark_module("objective.py").Objective.parameters
        unknown = sorted(set(self.objective_params) - set(defaults))
        if unknown:
            raise SweepError(
                f"objective {objectives[0]!r}: unknown parameter(s) "
                f"{', '.join(unknown)}; its parameters are: "
                f"{', '.join(sorted(defaults))}"
            )
        settings = {k: v[0] for k, v in defaults.items()} | self.objective_params
        for key in ("batch_tokens", "max_steps"):
            value = settings[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SweepError(f"objective {key}={value!r}: a positive integer")
        return settings

    def _fix_parameters(self, config, declared, set_specs):
        """The solver parameters fixed for every point: the config's entry for
        the solver, then --set, less the grid's. Returns notes."""
        solver = self.solver
        entries = [
            values
            for base, values in (
                _parse_entry(e, "solver") for e in _entries(config, "solver")
            )
            if base == solver
        ]
        if len(entries) > 1:
            raise SweepError(
                f"--config {self.config_path.name} lists {solver} {len(entries)} "
                "times: keep one entry, or fix parameters with --set"
            )
        self.fixed = typed(solver, declared, entries[0]) if entries else {}
        self.fixed_source = dict.fromkeys(self.fixed, "config")
        for spec in set_specs:
            key, values = parse_assignment(spec, "--set")
            if len(values) != 1:
                raise SweepError(f"--set {spec!r}: one value (a list goes in --grid)")
            if key in self.grid:
                raise SweepError(f"{key}: given with both --grid and --set")
            self.fixed |= typed(solver, declared, {key: values[0]})
            self.fixed_source[key] = "--set"
        return [
            f"the grid replaces the config's {solver} {key}={self.fixed.pop(key)}"
            for key in sorted(set(self.grid) & set(self.fixed))
        ]

    def _set_steps(self, settings, declared, fraction, train_steps):
        """N (the objective's train_steps, which overrides every solver's, else
        the solver's) and the sweep's step count, within max_steps."""
        self.n_on_objective = settings["train_steps"] is not None
        origin = self.fixed_source.get("train_steps")
        if self.n_on_objective:
            n, source = settings["train_steps"], "the config's objective train_steps"
        else:
            n = self.fixed.get(
                "train_steps", (declared.get("train_steps") or [None])[0]
            )
            source = f"{self.solver}'s " + (
                f"train_steps (from {origin})" if origin else "default train_steps"
            )
        if not isinstance(n, (int, float)) or n < 1:
            raise SweepError(
                f"the full run's step count N={n!r} ({source}): set "
                "train_steps=N (at least 1) on the config's objective"
            )
        self.full_steps, self.full_steps_source = int(n), source

        if train_steps is None:
            fraction = DEFAULT_FRACTION if fraction is None else fraction
            if not 0 < fraction <= 1:
                raise SweepError(f"--fraction {fraction}: in (0, 1]")
            train_steps = max(1, round(fraction * self.full_steps))
        elif train_steps < 1:
            raise SweepError(f"--train-steps {train_steps}: at least 1")
        self.sweep_steps = int(train_steps)
        max_steps = settings["max_steps"]
        for what, steps in (("the sweep's runs", train_steps), ("N", self.full_steps)):
            if steps > max_steps:
                raise SweepError(
                    f"{what} train {steps} steps but the objective's data budget "
                    f"is max_steps={max_steps}: raise max_steps in the config's "
                    "objective"
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


# -- configs and benchopt --------------------------------------------------


def run_config(plan, points, seeds, objective_params, train_steps=None):
    """A benchopt run config of the plan's problem, one solver entry per
    point (with ``train_steps`` on the solver when given)."""
    fixed = {k: v for k, v in plan.fixed.items() if k != "train_steps"}
    steps = {} if train_steps is None else {"train_steps": train_steps}
    return {
        "objective": [format_name(plan.objective_base, objective_params)],
        "dataset": plan.extra["dataset"],
        "solver": [format_name(plan.solver, fixed | p | steps) for p in points],
        "n-repetitions": int(seeds),
        **plan.extra,
    }


def sweep_config(plan):
    """Every grid point at the sweep's step count, set on the objective (it
    overrides every solver's N), with stop_at_target off."""
    objective = dict(plan.objective_params, train_steps=plan.sweep_steps)
    if "stop_at_target" in objective:
        objective["stop_at_target"] = False
    return run_config(plan, plan.points, plan.seeds, objective)


def final_config(plan, point, seeds=DEFAULT_FINAL_SEEDS):
    """The full-length multi-seed run of ``point``, N where the config had it
    (the objective), else on the solver."""
    n = None if plan.n_on_objective else plan.full_steps
    return run_config(plan, [point], seeds, plan.objective_params, n)


def config_text(config, header=()):
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)
    return "".join(f"# {line}".rstrip() + "\n" for line in header) + body


def clear_results(results):
    """Remove a previous sweep's results and run statuses from a reused work
    folder: benchopt would write ``results_1.parquet`` beside the old file
    and the ranking would read stale rows (finished runs stay in its cache)."""
    Path(results).unlink(missing_ok=True)
    shutil.rmtree(ledger_folder(results), ignore_errors=True)


def benchopt_command(config_path, output, no_cache=False):
    """``benchopt run`` as a subprocess: the very command a user re-runs with
    the written config, and a crashed run cannot take the sweep down."""
    command = [sys.executable, "-m", "benchopt", "run", str(ROOT)]
    command += ["--config", str(config_path), "--no-plot", "--no-display"]
    return command + ["--output", str(output)] + (["--no-cache"] if no_cache else [])


def run_benchopt(command):
    """Run ``command`` in the benchmark folder; its exit status. Its stderr is
    passed on without the trainer's note on full-size defaults: a grid point
    may equal a solver's defaults on purpose."""
    with subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, text=True, errors="replace"
    ) as process:
        sys.stderr.writelines(drop_full_size_note(process.stderr))
    return process.returncode


# -- ranking ---------------------------------------------------------------


@dataclass
class Ranked:
    """A grid point's final validation losses (completed runs) and a count
    per failed status ("missing": a seed without a run)."""

    point: dict
    seeds: int
    losses: list
    failures: Counter

    @property
    def ok(self):
        return not self.failures

    @property
    def val_loss_mean(self):
        return statistics.fmean(self.losses) if self.losses else math.nan

    @property
    def val_loss_std(self):
        return statistics.stdev(self.losses) if len(self.losses) > 1 else math.nan


def _matches(solver_name, solver, point):
    """benchopt records each parameter as ``str(value)`` in result names."""
    base, params = split_name(solver_name)
    return base == solver and all(params.get(k) == str(v) for k, v in point.items())


def rank_points(runs, solver, points, seeds, train_steps=None):
    """Rank ``points`` by mean final validation loss over their runs (those
    of N = ``train_steps`` when given). A point with a failed or missing run
    ranks after every complete one: dropping a bad seed would reward a
    fragile configuration."""
    ranked = []
    for point in points:
        mine = [
            run
            for run in runs
            if train_steps in (None, run.train_steps)
            and _matches(run.solver_name, solver, point)
        ]
        failures = Counter(run.status for run in mine if run.failed)
        if len(mine) < seeds:
            failures["missing"] = seeds - len(mine)
        losses = [run.final_val_loss for run in mine if not run.failed]
        ranked.append(Ranked(dict(point), seeds, losses, failures))

    def key(entry):  # complete points first (no failure), then by loss
        mean = entry.val_loss_mean
        return entry.failures.total(), mean if math.isfinite(mean) else math.inf

    return sorted(ranked, key=key)  # stable: ties keep the grid order


def ranking_table(ranked, names):
    def number(x):
        return f"{x:.4f}" if math.isfinite(x) else "-"

    rows = [["rank", *names, "runs ok", "val loss", "std", "status"]]
    for i, entry in enumerate(ranked, 1):
        failures = ", ".join(f"{k} {v}" for k, v in sorted(entry.failures.items()))
        rows.append(
            [str(i), *(str(entry.point.get(name, "")) for name in names)]
            + [f"{len(entry.losses)}/{entry.seeds}", number(entry.val_loss_mean)]
            + [number(entry.val_loss_std), failures or "ok"]
        )
    widths = [max(map(len, column)) for column in zip(*rows)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows
    )


def edge_notes(grid, best):
    """A note for each numeric parameter whose best value is the smallest or
    largest of its grid, with the grid extended one value past that edge (by
    the edge values' ratio when every value is positive, else difference)."""
    notes = []
    for name, values in grid.items():
        numeric = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        ordered = sorted(values) if numeric else []
        if len(ordered) < 2 or best[name] not in (ordered[0], ordered[-1]):
            continue
        largest = best[name] == ordered[-1]
        edge, inner = (ordered[-1], ordered[-2]) if largest else ordered[:2]
        positive = ordered[0] > 0
        beyond = edge * (edge / inner) if positive else 2 * edge - inner
        beyond = round(beyond) if isinstance(edge, int) else float(f"{beyond:.3g}")
        note = (
            f"the best {name}={best[name]} is the "
            f"{'largest' if largest else 'smallest'} value of its grid: the "
            "optimum may lie beyond it"
        )
        # none below a zero or negative edge, nor where an int grid rounds
        # back to its edge or to 0
        if beyond != edge and (beyond > 0 if positive else largest):
            extended = [*ordered, beyond] if largest else [beyond, *ordered]
            text = ",".join(map(str, extended))
            note += f"; sweep the extended grid --grid {name}={text}"
        notes.append(note)
    return notes


def _display_path(path):
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


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
    add("--grid", action="append", default=[], metavar="NAME=V1,V2,...")
    add("--set", action="append", default=[], metavar="NAME=VALUE")
    add("--config", required=True, type=Path, help="benchopt run config: the problem")
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument("--fraction", type=float, help="fraction of N (default 0.5)")
    steps.add_argument("--train-steps", type=int, help="steps of each sweep run")
    add("--seeds", type=int, default=1, help="seeds per grid point (default 1)")
    add("--max-runs", type=int, default=DEFAULT_MAX_RUNS, help="budget (default 20)")
    add(
        "--max-tokens-per-run",
        type=int,
        default=DEFAULT_MAX_TOKENS_PER_RUN,
        help=f"budget: steps x batch_tokens (default {DEFAULT_MAX_TOKENS_PER_RUN:,})",
    )
    add(
        "--out",
        type=Path,
        help="the best run config (default <work-dir>/best_<solver>.yml)",
    )
    add(
        "--final-seeds",
        type=int,
        default=DEFAULT_FINAL_SEEDS,
        help="n-repetitions of the written config (default %(default)s)",
    )
    add("--work-dir", type=Path, help="default outputs/sweeps/<solver>-<time>")
    add("--no-cache", action="store_true", help="passed to benchopt run")
    add("--dry-run", action="store_true", help="print the budget, command, config")
    return parser


def run_sweep(args):
    """Plan, budget, benchopt, ranking, and the best point's run config."""
    if args.final_seeds < 1:
        raise SweepError(f"--final-seeds {args.final_seeds}: at least 1")
    plan = Plan(
        args.solver,
        args.grid,
        args.config,
        set_specs=args.set,
        fraction=args.fraction,
        train_steps=args.train_steps,
        seeds=args.seeds,
    )
    config = sweep_config(plan)
    summary = budget_lines(plan, args.max_runs, args.max_tokens_per_run)
    print("\n".join(summary))
    check_budget(plan, args.max_runs, args.max_tokens_per_run)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = args.work_dir or ROOT / "outputs" / "sweeps" / f"{args.solver}-{stamp}"
    work = Path(work).resolve()
    config_path, results = work / "sweep.yml", work / "results.parquet"
    out = (args.out or work / f"best_{args.solver}.yml").resolve()
    command = benchopt_command(config_path, results, args.no_cache)
    source = f"from {_display_path(plan.config_path)}."
    header = [f"Sweep of {plan.solver} by python -m benchmark_tools.sweep", source]
    text = config_text(config, header)
    where = "not written: dry run" if args.dry_run else str(config_path)
    print(f"\nbenchopt run config ({where}):\n{text}")
    print(f"command (in {ROOT}):\n  {' '.join(command)}\n")
    if args.dry_run:
        print(f"dry run: nothing ran; the best configuration would go to {out}")
        return

    work.mkdir(parents=True, exist_ok=True)
    config_path.write_text(text)
    clear_results(results)
    returncode = run_benchopt(command)
    if returncode != 0:
        raise RunError(f"benchopt run exited with status {returncode}")
    try:
        runs = load_runs([results])
    except ResultsError as error:
        raise RunError(f"no sweep results: {error}") from error
    ranked = rank_points(runs, plan.solver, plan.points, plan.seeds, plan.sweep_steps)
    table = ranking_table(ranked, list(plan.grid))
    print(
        f"\nRanked by final validation loss at step {plan.sweep_steps} (mean over "
        f"{plan.seeds} seed(s); a failed run loses): {results}\n\n{table}\n\n"
        f"Full table: python -m benchmark_tools.results {results}"
    )
    best = ranked[0]
    if not best.ok:
        raise RunError("no grid point completed all its runs: nothing written")
    notes = edge_notes(plan.grid, best.point)
    for note in notes:
        print(f"\nnote: {note}")
    rerun = f"  benchopt run . --config {_display_path(out)}"
    header = [
        f"Full-length run of the best {plan.solver} configuration of a sweep",
        f"(python -m benchmark_tools.sweep) {source}",
        *summary,
        f"Best: {point_label(best.point)}, final val loss {best.val_loss_mean:.4f} "
        f"(mean of {len(best.losses)} seed(s)); results {_display_path(results)}",
        *(f"Note: {note}" for note in notes),
        "Ranked (final validation loss at the sweep's step count):",
        *(f"  {line}" for line in table.split("\n")),
        f"This config: N={plan.full_steps}, {args.final_seeds} seeds. Track 3: "
        "re-tune lr and weight decay at full length (--fraction 1) before "
        "claiming a result.",
        rerun,
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        config_text(final_config(plan, best.point, args.final_seeds), header)
    )
    print(f"\nBest: {point_label(best.point)}. Wrote {out}:\n{rerun}")


def main(argv=None):
    """Run the sweep; the exit status: 0 done, 1 the runs failed, 2 bad input
    or over budget."""
    args = build_parser().parse_args(argv)
    try:
        run_sweep(args)
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    return 0


if __name__ == "__main__":
    sys.exit(main())
