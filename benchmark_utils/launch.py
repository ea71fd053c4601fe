"""Run benchopt once across all the ranks that torchrun starts.

    torchrun --standalone --nproc-per-node 8 -m benchmark_utils.launch -- \
        benchopt run . --config configs/track3_8gpu.yml

(from the benchmark folder). Rank 0 runs the command in-process (benchopt
runs once: one parquet, one cache); ranks > 0 wait for each run rank 0
starts, build the same solver and train their share of every step with the
same ``TrainerSolver`` loop (see ``benchmark_utils/distributed.py``). Without
torchrun (WORLD_SIZE unset or 1) it simply runs the command. The command may
also be ``python SCRIPT [ARGS]`` or ``python -m MODULE [ARGS]``.
"""

import os
import runpy
import sys

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


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    os.environ[distributed.ENV_LAUNCHER] = "1"
    ctx = distributed.init("launcher")
    if not ctx.is_leader:
        try:
            distributed.worker_loop(ctx)
        except BaseException as error:  # noqa: BLE001 - any failure ends the job
            distributed.fatal(ctx, "worker", error)
        distributed.shutdown()
        return 0
    code = 1
    try:
        code = _run_command(argv)
    except SystemExit as exit_:
        code = exit_.code
    except BaseException as error:  # noqa: BLE001
        if ctx.active:
            distributed.fatal(ctx, "the launched command", error)
        raise
    finally:
        if ctx.active:
            distributed.send_command(ctx, "stop")
            distributed.shutdown()
    if code not in (0, None):
        return code if isinstance(code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
