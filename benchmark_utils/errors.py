"""The one error type for a user's mistake, and the entry points' boundary.

Every problem with the user's input or set-up raises a :class:`UserError`
whose message says what is wrong and what to do; entry points show it as one
``error: ...`` line and exit non-zero. Anything else is a bug and keeps its
traceback.
"""

import atexit
import os
import sys
from pathlib import Path


class UserError(Exception):
    """A bad input or setting; the message is complete advice for the user."""


class FatalError(Exception):
    """The process cannot go on (e.g. distributed ranks out of step)."""


class Boundary:
    """The error boundary of an entry point (``objective.py`` for ``benchopt
    run``, the command-line tools), installed once, never by library code.

    A :class:`UserError` prints ``error: <message>`` without a traceback, and
    inside one benchopt run the other runs go on; when every run has ended, a
    run that failed or did not train to its N makes the command exit 1 (after
    benchopt wrote the results) with the command that lists them; Ctrl-C says
    what is kept.
    """

    def __init__(self):
        self.failed = []  # one line per failed or unfinished run
        self.output_base = None
        self.installed = False

    def install(self):
        from . import benchopt_compat

        if self.installed:
            return self
        self.installed = True
        previous = sys.excepthook

        def excepthook(kind, value, traceback):
            if isinstance(value, UserError):
                print(f"\nerror: {value}", file=sys.stderr, flush=True)
            elif isinstance(value, KeyboardInterrupt):
                print(f"\n{INTERRUPTED}", file=sys.stderr, flush=True)
            else:
                previous(kind, value, traceback)

        sys.excepthook = excepthook
        benchopt_compat.report_run_errors(
            is_quiet=lambda error: isinstance(error, UserError),
            on_error=self._run_error,
        )
        atexit.register(self._exit_status)
        return self

    def _run_error(self, error):
        if isinstance(error, FatalError):
            print(f"\nerror: {error}", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(1)
        run = getattr(error, "run_name", "a run")
        self.run_failed(f"{run}: {type(error).__name__}: {error}")

    def run_failed(self, description, output_base=None):
        """Record a run that failed or stopped before its N (one line each)."""
        line = " ".join(str(description).split())
        line = line if len(line) <= 240 else line[:239] + "…"
        if line not in self.failed:  # benchopt asks once per solver
            self.failed.append(line)
        self.output_base = output_base or self.output_base

    def _exit_status(self):
        if not self.failed or self.output_base is None:
            return  # nothing failed, or not in `benchopt run` (benchopt test)
        base = Path(self.output_base)
        if base.exists() or base.with_suffix(".parquet").exists():
            saved = (
                "The other results are saved. List them all: python -m "
                f"benchmark_tools.results {base}"
            )
        else:
            saved = "No result was written."
        print(
            f"\n{len(self.failed)} run(s) failed or did not train to their N:\n  "
            + "\n  ".join(self.failed)
            + f"\n{saved}\nExit status 1.",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(1)


INTERRUPTED = (
    "interrupted: the run in progress is recorded as 'unfinished'. Runs that "
    "finished before are kept in benchopt's cache: run the same command again "
    "to get them without training (with --no-cache they are discarded)."
)
