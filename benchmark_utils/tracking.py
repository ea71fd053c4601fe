"""Optional Weights & Biases tracking of a run's evaluations and configuration.

Off by default: nothing is imported and nothing is done unless a mode is
chosen, with the ``NANOGPT_BENCH_WANDB`` environment variable (``off``,
``online`` or ``offline``) or explicitly. Only rank 0 (``$RANK``, default 0)
logs. Runs are named from the benchmark's own names, so they can be found::

    NANOGPT_BENCH_WANDB=offline benchopt run . --config configs/cpu_demo.yml
    wandb sync wandb/offline-run-*      # later, from a machine with network

- project: ``$NANOGPT_BENCH_WANDB_PROJECT``, default ``benchmark-nanogpt``;
- run name: ``{solver}-{dataset}-{digest}-rep{i}`` (see :func:`run_name`),
  the digest telling apart parameter settings; repetitions of a setting
  share a group (the name without ``-rep{i}``);
- config: the solver, dataset and objective parameters parsed from their
  benchopt names (see :func:`run_config`), plus what the caller adds.

``wandb`` writes into ``$WANDB_DIR`` (default: the current folder).
"""

import ast
import hashlib
import os

from .errors import UserError

MODE_ENV = "NANOGPT_BENCH_WANDB"
PROJECT_ENV = "NANOGPT_BENCH_WANDB_PROJECT"
DEFAULT_PROJECT = "benchmark-nanogpt"
MODES = ("off", "online", "offline")
_ALIASES = {
    "": "off",
    "0": "off",
    "false": "off",
    "no": "off",
    "none": "off",
    "disabled": "off",
    "1": "online",
    "true": "online",
    "yes": "online",
    "on": "online",
}


class TrackingError(UserError, RuntimeError):
    """Tracking was asked for but cannot be done."""


def resolve_mode(mode=None):
    """``mode`` if given, else ``$NANOGPT_BENCH_WANDB``, else ``"off"``;
    one of :data:`MODES` (``1``/``true`` mean online, ``0``/``false`` off)."""
    source = "mode"
    if mode is None:
        mode, source = os.environ.get(MODE_ENV, "off"), MODE_ENV
    value = str(mode).strip().lower()
    value = _ALIASES.get(value, value)
    if value not in MODES:
        raise TrackingError(
            f"{source}={mode!r}: tracking mode must be one of {', '.join(MODES)}"
        )
    return value


def _rank(rank=None):
    return int(os.environ.get("RANK", "0")) if rank is None else int(rank)


# -- names -----------------------------------------------------------------------


def split_name(name):
    """``("adamw", {"lr": "0.003", "betas": "(0.9, 0.95)"})`` from a benchopt
    name such as ``adamw[betas=(0.9, 0.95),lr=0.003]`` (commas inside
    brackets or parentheses do not split; a name without ``[...]`` at its end
    has no parameters). The one parser of benchopt names: the results tools
    use it too."""
    name = str(name)
    if not name.endswith("]") or "[" not in name:
        return name, {}
    base, inner = name[: name.index("[")], name[name.index("[") + 1 : -1]
    params, depth, item = {}, 0, ""
    for char in inner + ",":
        if char == "," and depth == 0:
            if "=" in item:
                key, value = item.split("=", 1)
                params[key.strip()] = value.strip()
            elif item.strip():
                params[item.strip()] = ""
            item = ""
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        item += char
    return base, params


def _value(text):
    """A number, bool, None or tuple for a parameter's text, else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _digest(*parts, n=8):
    return hashlib.sha1("\n".join(map(str, parts)).encode()).hexdigest()[:n]


def run_group(solver_name, dataset_name, objective_name):
    """``{solver}-{dataset}-{digest}``: shared by the repetitions of one
    setting; the digest covers the full names (every parameter value)."""
    solver, _ = split_name(solver_name)
    dataset, _ = split_name(dataset_name)
    digest = _digest(solver_name, dataset_name, objective_name)
    return f"{solver}-{dataset}-{digest}"


def run_name(solver_name, dataset_name, objective_name, repetition):
    """A short, readable name, unique per (solver, dataset, objective,
    repetition), e.g. ``adamw-fineweb-1c0e2f3a-rep0``."""
    group = run_group(solver_name, dataset_name, objective_name)
    return f"{group}-rep{int(repetition)}"


def run_config(solver_name, dataset_name, objective_name, repetition, extra=None):
    """The run's configuration for the tracker: each component's base name
    and parameters (numbers parsed), its full benchopt name, the repetition,
    then ``extra`` (e.g. the model's configuration)."""
    config = {}
    for key, name in (
        ("solver", solver_name),
        ("dataset", dataset_name),
        ("objective", objective_name),
    ):
        base, params = split_name(name)
        config[key] = {
            "name": base,
            "full_name": str(name),
            **{k: _value(v) for k, v in params.items()},
        }
    config["repetition"] = int(repetition)
    config.update(extra or {})
    return config


# -- the tracker ------------------------------------------------------------------


def import_wandb():
    try:
        import wandb
    except ImportError as error:
        raise TrackingError(
            f"Weights & Biases tracking is on ({MODE_ENV}="
            f"{os.environ.get(MODE_ENV, '')!r} or an explicit mode) but wandb "
            "is not installed: pip install wandb (or set "
            f"{MODE_ENV}=off)"
        ) from error
    return wandb


class EvaluationTracker:
    """Tracking from the objective: one wandb run per benchopt run.

    ``log(metrics, step, context)`` with benchopt's run context (anything
    with ``solver_name``, ``dataset_name``, ``objective_name`` and
    ``repetition``; the objective's ``self._run_context`` in benchopt 1.10)
    starts a wandb run when the context changes, finishing the previous one,
    and logs the metrics at ``step``; ``finish()`` ends the current run. A
    None context (``benchopt test``, ``get_one_result``) is not tracked.

    ``mode``: "off", "online", "offline", or None for
    ``$NANOGPT_BENCH_WANDB`` (default off). Off, or on a rank other than 0
    (``rank``, default ``$RANK``), both calls cost a comparison and wandb is
    not imported; on, a missing wandb is an error at construction, before
    any training. ``project`` None: ``$NANOGPT_BENCH_WANDB_PROJECT`` or
    ``benchmark-nanogpt``; ``directory``: where wandb writes (default
    ``$WANDB_DIR`` or the current folder). Steps must increase: a repeated
    or earlier step (benchopt may evaluate the last step twice) is not
    logged again. Pickles without its live run (benchopt sends the objective
    to worker processes).
    """

    def __init__(self, mode=None, project=None, rank=None, directory=None):
        self.mode = resolve_mode(mode)
        self.project, self.directory = project, directory
        self.enabled = self.mode != "off" and _rank(rank) == 0
        if self.enabled:
            import_wandb()
        self.run = self.key = self.last_step = None

    def log(self, metrics, step, context, config=None):
        if not self.enabled or context is None:
            return
        key = (
            str(context.solver_name),
            str(context.dataset_name),
            str(context.objective_name),
            int(context.repetition or 0),
        )
        if key != self.key:
            self.finish()
            wandb = import_wandb()
            self.run = wandb.init(
                project=self.project or os.environ.get(PROJECT_ENV) or DEFAULT_PROJECT,
                name=run_name(*key),
                group=run_group(*key[:3]),
                config=run_config(*key, extra=config),
                mode=self.mode,
                # Read here, not once per process by wandb's cached settings.
                dir=str(self.directory or os.environ.get("WANDB_DIR") or "."),
                reinit="finish_previous",
                # No console capture: benchopt's progress display stays as is.
                settings=wandb.Settings(console="off"),
            )
            self.key = key
        step = int(step)
        if self.last_step is None or step > self.last_step:
            self.run.log(dict(metrics), step=step)
            self.last_step = step

    def finish(self):
        run, self.run, self.key, self.last_step = self.run, None, None, None
        if run is not None:
            run.finish()

    def __getstate__(self):
        return self.__dict__ | dict(run=None, key=None, last_step=None)
