"""Run benchopt once across all the ranks that torchrun starts.

    torchrun --standalone --nproc-per-node 8 -m benchmark_utils.launch -- \
        benchopt run . --config configs/track3_8gpu.yml

Rank 0 runs the command in-process (one benchopt run: one parquet, one
cache); ranks > 0 receive each run rank 0 starts and train their share of
every step with the same ``TrainerSolver`` loop. Without torchrun it simply
runs the command, which may also be ``python SCRIPT [ARGS]`` or ``python -m
MODULE [ARGS]``. An entry point: a failed rank ends the whole job.
"""

import os
import runpy
import sys
import traceback

from benchmark_utils import benchopt_compat as compat
from benchmark_utils import distributed


def _run_command(argv):
    if not argv:
        raise SystemExit("usage: python -m benchmark_utils.launch -- benchopt run ...")
    if os.path.basename(argv[0]) == "benchopt":
        from benchopt.cli import benchopt

        sys.argv = ["benchopt", *argv[1:]]
        return benchopt.main(args=argv[1:], prog_name="benchopt", standalone_mode=False)
    if os.path.basename(argv[0]).startswith("python"):
        argv = argv[1:]
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        runpy.run_path(argv[0], run_name="__main__")
    return 0


def worker_loop():
    """Ranks > 0: run what rank 0 runs, until told to stop."""
    while True:
        command, payload = distributed.receive_command()
        if command == "stop":
            return
        objective, dataset = payload["objective"], payload["dataset"]
        if objective is not None and dataset is not None:
            compat.set_dataset(objective, dataset)  # benchopt does it on rank 0
        solver = payload["solver"]
        compat.set_solver_objective(solver, objective)
        solver.set_objective(payload["problem"])
        solver.run(None)  # rank 0's callback decides for everyone


def fatal(job, where, error):
    """End this rank, and so the job, after a failure."""
    message = (
        str(error)
        if isinstance(error, distributed.RankFailure)
        else distributed.explain_failure(job, error)
    )
    print(
        f"\n{where} failed: {message}\nThe distributed run cannot continue "
        "without this rank: all ranks stop. Runs that finished are in "
        "benchopt's cache; the failed run's status is in outputs/ (python -m "
        "benchmark_tools.results lists it).",
        file=sys.stderr,
        flush=True,
    )
    if not isinstance(error, distributed.RankFailure):
        traceback.print_exc()
    sys.stdout.flush()
    os._exit(1)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    os.environ[distributed.ENV_LAUNCHER] = "1"
    job = distributed.init_job()
    if not job.is_leader:
        try:
            worker_loop()
        except BaseException as error:  # noqa: BLE001 - any failure ends the job
            fatal(job, f"rank {job.rank}", error)
        distributed.shutdown()
        return 0
    try:
        code = _run_command(argv)
    except SystemExit as exit_:
        code = exit_.code
    except BaseException as error:  # noqa: BLE001
        if job.active:
            fatal(job, "the launched command", error)
        raise
    finally:
        if job.active:
            distributed.send_command("stop")
            distributed.shutdown()
    if code is None or isinstance(code, int):
        return code or 0
    return 1  # SystemExit("message")


if __name__ == "__main__":
    sys.exit(main())
