"""How each run ended, written beside benchopt's results.

benchopt keeps no row of a run that raised, so a crashed solver would simply
vanish from the results and could not make its solver look worse. Every run
therefore leaves ``run_status.json`` beside the results, in
``outputs/<result stem>/runs/<key>/`` (``key``: a hash of the run's dataset,
objective, solver and repetition; benchopt's own per-run folder is named by
those full strings, which exceed the 255-byte file-name limit), which
``python -m benchmark_utils.results`` reads with the parquet.
"""

import atexit
import hashlib
import json
import os
import sys
from pathlib import Path

STATUS_FILE = "run_status.json"
STATUSES = ("done", "diverged", "error")
_FAILED_RUNS = []


def exit_nonzero_at_the_end(run):
    """Make this ``benchopt run`` exit with status 1 once it has finished:
    benchopt reports a crashed run, keeps the others and exits 0, so a
    script or CI would not notice. The hook runs after benchopt has saved its
    results (they are written before the interpreter exits); a diverged run
    is a result and does not count. In a sequential run only: with
    ``--parallel-config`` the runs crash in worker processes."""
    if not _FAILED_RUNS:
        atexit.register(_exit_if_a_run_failed)
    _FAILED_RUNS.append(run)


def _exit_if_a_run_failed():
    print(
        f"\n{len(_FAILED_RUNS)} run(s) failed: {', '.join(_FAILED_RUNS)}; "
        "the other results are saved. Exit status 1 "
        "(python -m benchmark_utils.results lists them).",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os._exit(1)


def run_status_folder(context):
    """The run's status folder, or None outside ``benchopt run``."""
    base = getattr(context, "run_output_base", None)
    if base is None:
        return None
    names = [
        str(getattr(context, attr, ""))
        for attr in ("dataset_name", "objective_name", "solver_name", "repetition")
    ]
    key = hashlib.sha1("\n".join(names).encode()).hexdigest()[:16]
    return Path(base) / "runs" / key


def write_run_status(folder, status, step, train_steps, message="", context=None):
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    record = dict(
        status=status,
        step=int(step),
        train_steps=int(train_steps),
        message=str(message)[:2000],
        solver_name=getattr(context, "solver_name", None),
        objective_name=getattr(context, "objective_name", None),
        dataset_name=getattr(context, "dataset_name", None),
        idx_rep=getattr(context, "repetition", None),
    )
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / STATUS_FILE
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)
    return path
