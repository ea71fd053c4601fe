"""Track 3's protocol: when a run is evaluated, when it stops, how it ended.

- Evaluation: at step 0, every ``every`` steps while step / N < 0.9, every
  ``every_final`` steps after, and at N (the Track 3 README's rule).
- Stopping: a run trains to its N. benchopt's defaults do not fit (its
  plateau criterion cuts noisy curves, ``--max-runs`` caps evaluations, a
  NaN value drops the run's rows): here a diverged run stops and keeps its
  rows, and stopping at the target (``stop_at_target``) is a demo option.
- Run status: ``run_status.json`` says how each run ended: "done" only at
  its N; "unfinished" if stopped earlier (``--timeout``, Ctrl-C, a stopping
  criterion); "error" if it raised (benchopt keeps no row of such a run);
  "running" if it was killed.
"""

import hashlib
import json
import math
import os
import sys
from pathlib import Path

from benchopt.stopping_criterion import StoppingCriterion

from .. import benchopt_compat as compat
from ..errors import INTERRUPTED

FINAL_PHASE = 0.9
STATUS_FILE = "run_status.json"
STATUSES = ("running", "done", "unfinished", "diverged", "error")
STOP_REASONS = {
    "timeout": "benchopt's --timeout (or the config's timeout) ran out",
    "max_runs": "benchopt's --max-runs was reached",
    "done": "the stopping criterion ended it (stop_at_target)",
    "interrupted": "interrupted (Ctrl-C)",
}


def evaluates_at(step, n_steps, every, every_final):
    """True if Track 3's schedule evaluates after ``step`` training steps."""
    if step == n_steps:
        return True
    interval = every if step / n_steps < FINAL_PHASE else every_final
    return step % interval == 0


def next_evaluation(step, n_steps, every, every_final):
    """The first step after ``step`` at which Track 3 evaluates (at most N)."""
    nxt = step + 1
    while nxt < n_steps and not evaluates_at(nxt, n_steps, every, every_final):
        nxt += 1
    return min(nxt, n_steps) if step < n_steps else step + 1


class ProtocolCriterion(StoppingCriterion):
    """Stop at N (the solver returns there), at divergence, or at the target
    when the objective asks for it."""

    def __init__(self, strategy="callback", key_to_monitor="value", minimize=True):
        super().__init__(
            strategy=strategy, key_to_monitor=key_to_monitor, minimize=minimize
        )

    def get_runner_instance(self, max_runs=1, **kwargs):
        # The step count bounds every run, not the number of evaluations.
        return super().get_runner_instance(max_runs=10**12, **kwargs)

    def should_stop(self, stop_val, objective_list):
        last = objective_list[-1]
        value = last.get(self.key_to_monitor_, 0.0)
        if last.get("objective_diverged", 0.0) >= 1.0 or math.isnan(value):
            return True, "done", stop_val  # keep the run's rows
        return super().should_stop(stop_val, objective_list)

    def check_convergence(self, objective_list):
        last = objective_list[-1]
        problem = getattr(getattr(self, "solver", None), "problem", None)
        if (
            getattr(problem, "stop_at_target", False)
            and last.get("objective_reached_target", 0.0) >= 1.0
        ):
            return True, 1.0
        # The solver itself returns at its step count N.
        return False, float(last.get("objective_budget_used", 0.0))


def final_status(step, n_steps, diverged, stop_reason=None):
    """``(status, message)`` of a run that returned at ``step`` of N."""
    if diverged:
        return "diverged", f"diverged at step {step} of {n_steps}"
    if step >= n_steps:
        return "done", ""
    why = STOP_REASONS.get(stop_reason, stop_reason or "stopped before N")
    return "unfinished", f"stopped at step {step} of {n_steps}: {why}"


def write_run_status(folder, status, step, train_steps, message="", names=None):
    """Write ``folder/run_status.json`` atomically; ``names``: solver_name,
    objective_name, dataset_name, idx_rep."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    record = dict(
        status=status,
        step=int(step),
        train_steps=int(train_steps),
        message=str(message)[:2000],
        **(names or {}),
    )
    path = Path(folder) / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{STATUS_FILE}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)
    return path


def record_status(solver, status, message=""):
    """The status of ``solver``'s run, beside benchopt's results
    (``outputs/<result stem>/runs/<key>``, the key a hash of the run's names:
    benchopt's own per-run folder name can exceed the 255-byte file-name
    limit). Written by rank 0 under ``benchopt run`` only."""
    context = compat.run_context(solver)
    base = compat.run_output_base(context)
    if base is None or not solver.dist.is_leader:
        return
    names = compat.run_names(context)
    key = "\n".join(map(str, names.values()))
    folder = Path(base) / "runs" / hashlib.sha1(key.encode()).hexdigest()[:16]
    write_run_status(folder, status, solver.step, solver.n_steps, message, names)


def record_end(solver, stop_reason=None):
    """Record how ``solver``'s run ended (``stop_reason``: benchopt's callback
    status, or "interrupted"), and say so when it stopped before N."""
    interrupted = stop_reason == "interrupted"
    diverged = solver.diverged and not interrupted
    status, message = final_status(solver.step, solver.n_steps, diverged, stop_reason)
    record_status(solver, status, message)
    if not solver.dist.is_leader:
        return
    if interrupted:
        print(f"\n[{solver.name}] {INTERRUPTED}", file=sys.stderr, flush=True)
    elif status == "unfinished":
        print(
            f"\n[{solver.name}] UNFINISHED: {message}. It counts as a failed "
            "run (never a result for N).",
            file=sys.stderr,
            flush=True,
        )
