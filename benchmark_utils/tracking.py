"""Optional Weights & Biases tracking of a run's evaluations and configuration.

Off unless asked, with ``NANOGPT_BENCH_WANDB`` (``off``, ``online`` or
``offline``) or explicitly: off, wandb is not even imported. Only rank 0
(``$RANK``, default 0) logs::

    NANOGPT_BENCH_WANDB=offline benchopt run . --config configs/cpu_demo.yml
    wandb sync wandb/offline-run-*      # later, from a machine with network

Project ``$NANOGPT_BENCH_WANDB_PROJECT`` (default ``benchmark-nanogpt``); run
name ``{solver}-{dataset}-{digest}-rep{i}``, the digest telling parameter
settings apart, the repetitions of a setting in one group; config: the
parameters parsed from the benchopt names, plus what the caller adds.
wandb writes into ``$WANDB_DIR`` (default: the current folder).
"""

import ast
import hashlib
import os

from .errors import UserError

MODE_ENV = "NANOGPT_BENCH_WANDB"
PROJECT_ENV = "NANOGPT_BENCH_WANDB_PROJECT"
DEFAULT_PROJECT = "benchmark-nanogpt"
MODES = ("off", "online", "offline")
OFF = ("", "0", "false", "no", "none", "disabled")
ON = ("1", "true", "yes", "on")


class TrackingError(UserError, RuntimeError):
    """Tracking was asked for but cannot be done."""


def resolve_mode(mode=None):
    """``mode`` if given, else ``$NANOGPT_BENCH_WANDB``, else ``"off"``;
    one of :data:`MODES` (``1``/``true`` mean online, ``0``/``false`` off)."""
    source = "mode"
    if mode is None:
        mode, source = os.environ.get(MODE_ENV, "off"), MODE_ENV
    value = str(mode).strip().lower()
    value = "off" if value in OFF else "online" if value in ON else value
    if value not in MODES:
        raise TrackingError(
            f"{source}={mode!r}: tracking mode must be one of {', '.join(MODES)}"
        )
    return value


def split_name(name):
    """``("adamw", {"lr": "0.003", "betas": "(0.9, 0.95)"})`` from a benchopt
    name such as ``adamw[betas=(0.9, 0.95),lr=0.003]`` (commas inside
    brackets or parentheses do not split). The one parser of benchopt names
    into text values: the results tools use it too."""
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


def run_group(solver_name, dataset_name, objective_name):
    """``{solver}-{dataset}-{digest}``, shared by the repetitions of one
    setting; the digest covers the full names (every parameter value)."""
    full = "\n".join(map(str, (solver_name, dataset_name, objective_name)))
    digest = hashlib.sha1(full.encode()).hexdigest()[:8]
    return f"{split_name(solver_name)[0]}-{split_name(dataset_name)[0]}-{digest}"


def run_name(solver_name, dataset_name, objective_name, repetition):
    """A short name, unique per run, e.g. ``adamw-fineweb-1c0e2f3a-rep0``."""
    group = run_group(solver_name, dataset_name, objective_name)
    return f"{group}-rep{int(repetition)}"


def run_config(solver_name, dataset_name, objective_name, repetition, extra=None):
    """Each component's base name, full name and parameters (values
    parsed), the repetition, then ``extra``."""
    config = {}
    names = dict(solver=solver_name, dataset=dataset_name, objective=objective_name)
    for key, name in names.items():
        base, params = split_name(name)
        config[key] = dict(name=base, full_name=str(name))
        config[key].update({k: _value(v) for k, v in params.items()})
    config["repetition"] = int(repetition)
    return config | (extra or {})


def import_wandb():
    try:
        import wandb
    except ImportError as error:
        raise TrackingError(
            f"Weights & Biases tracking is on ({MODE_ENV}="
            f"{os.environ.get(MODE_ENV, '')!r} or an explicit mode) but wandb "
            f"is not installed: pip install wandb (or set {MODE_ENV}=off)"
        ) from error
    return wandb


class EvaluationTracker:
    """One wandb run per benchopt run, from the objective.

    ``log(metrics, step, context)``, ``context`` benchopt's run context (with
    ``solver_name``, ``dataset_name``, ``objective_name`` and
    ``repetition``), starts a wandb run when the context changes (finishing
    the previous one) and logs at ``step``; a None context (``benchopt
    test``) is not tracked, nor a step that does not increase (benchopt may
    evaluate the last step twice). Off or on a rank other than 0, nothing is
    imported; on, a missing wandb is an error at construction, before any
    training. Pickles without its live run (benchopt sends the objective to
    worker processes).
    """

    def __init__(self, mode=None, project=None, rank=None, directory=None):
        self.mode = resolve_mode(mode)
        self.project, self.directory = project, directory
        rank = int(os.environ.get("RANK", "0") if rank is None else rank)
        self.enabled = self.mode != "off" and rank == 0
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
