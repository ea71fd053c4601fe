"""Every use of benchopt's private attributes and internals, in one place.

benchopt (1.10, pinned in ``requirements.txt``) has no public API for these;
each function says what it reaches into and why, and
``tests/test_benchopt_compat.py`` fails if a benchopt upgrade changes it.
"""

import contextlib
import sys

from benchopt.utils.parametrized_name_mixin import (
    _extract_options,
    _extract_parameters,
)


def run_context(component):
    """The ``RunContext`` benchopt attaches to a run's objective, dataset and
    solver (``_run_context``: the output folder and the run's names, which
    locate ``run_status.json``); None outside ``benchopt run``."""
    return getattr(component, "_run_context", None)


def run_names(context):
    """The names that identify a run, as the results tools read them."""
    return dict(
        dataset_name=getattr(context, "dataset_name", None),
        objective_name=getattr(context, "objective_name", None),
        solver_name=getattr(context, "solver_name", None),
        idx_rep=getattr(context, "repetition", None),
    )


def run_output_base(context):
    """``outputs/<result stem>``: where this invocation's per-run files go."""
    return getattr(context, "run_output_base", None)


def solver_parameters(solver):
    """The parameters benchopt set on a solver (``_parameters``: defaults
    merged with the command line), to check their types and ranges."""
    return dict(getattr(solver, "_parameters", {}))


def solver_objective(solver):
    """The objective benchopt gave the solver (``_objective``): ranks > 0 of a
    distributed run evaluate through the same objective as rank 0."""
    return getattr(solver, "_objective", None)


def set_solver_objective(solver, objective):
    """Give a solver rebuilt on a rank > 0 its objective (see above)."""
    solver._objective = objective


def objective_dataset(objective):
    """The objective's dataset (``_dataset``), sent to the launcher's ranks
    > 0 so that they prepare the same data."""
    return getattr(objective, "_dataset", None)


def set_dataset(objective, dataset):
    """``objective._set_dataset``: benchopt calls it on rank 0 only."""
    objective._set_dataset(dataset)


def evaluates_next(callback):
    """Whether the next ``callback()`` evaluates (``it == next_stopval``): the
    callback never synchronises the GPU, so the trainer does before an
    evaluation, or queued GPU work would be timed as evaluation."""
    next_stop = getattr(callback, "next_stopval", None)
    return next_stop is None or getattr(callback, "it", None) == next_stop


def callback_status(callback):
    """Why benchopt's callback stopped the run ('timeout', 'max_runs', 'done')."""
    return getattr(callback, "status", None)


def settle_callback(callback, result):
    """Ranks > 0 of a SLURM job run benchopt's loop with their own callback,
    which rank 0's decisions replace: mark it finished with ``result`` so that
    benchopt does not evaluate again after ``run`` (writes ``status``,
    ``_last_result``, ``_last_it_log``)."""
    if hasattr(callback, "status"):
        callback.status = "done"
        callback._last_result = result
        callback._last_it_log = getattr(callback, "it", 0) - 1


def report_run_errors(is_quiet, on_error):
    """Make benchopt's per-run error handler print a user error as one line.

    benchopt runs each run inside ``benchopt.runner.exception_handler`` (a
    module attribute, looked up at each run), which prints any exception's
    traceback and offers no hook. This wraps it: an error for which
    ``is_quiet(error)`` is true prints as ``error: <message>``, and
    ``on_error(error)`` sees every failed run. The run still ends as 'error'
    and the other runs go on. Idempotent; called by entry points only.
    """
    from benchopt import runner

    original = runner.exception_handler
    if getattr(original, "nanogpt_wrapped", False):
        return

    @contextlib.contextmanager
    def exception_handler(terminal, pdb=False):
        with original(terminal, pdb=pdb) as ctx:
            try:
                yield ctx
            except KeyboardInterrupt:
                raise
            except BaseException as error:
                on_error(error)
                if not is_quiet(error) or pdb:
                    raise
                print(f"\nerror: {error}", file=sys.stderr, flush=True)
                ctx.status = "error"

    exception_handler.nanogpt_wrapped = True
    exception_handler.nanogpt_original = original
    runner.exception_handler = exception_handler


class ContentKeyedDataset:
    """Mixin for a ``BaseDataset`` whose files can change under the same
    parameters (a folder of shards): ``content_fingerprint()`` joins the key
    of benchopt's result cache, so changed data is trained again.

    benchopt caches ``run_one_to_cvg`` with joblib, which hashes the dataset
    by pickling it; ``ParametrizedNameMixin.__reduce__`` pickles the class,
    its parameters and ``self._get_state()`` (``{}`` by default). Returning
    the fingerprint there is the only way into the key without a parameter
    the user would have to set.
    """

    def content_fingerprint(self):
        raise NotImplementedError

    def _get_state(self):
        return {"content_fingerprint": self.content_fingerprint()}

    def __setstate__(self, state):
        pass  # the fingerprint only served the cache key


def parse_values(text):
    """``"0.01,1e-3,cosine"`` -> ``[0.01, 0.001, "cosine"]``, as benchopt reads
    ``-s "adamw[lr=[...]]"`` (``_extract_parameters``; the sweep's
    ``--grid``). :class:`ValueError` if unreadable."""
    return list(_extract_parameters(text))


def parse_name(name):
    """``"adamw[lr=0.01]"`` -> ``("adamw", [], {"lr": 0.01})``, as ``benchopt
    run`` reads a solver, dataset or objective name (``_extract_options``;
    the sweep reads config entries with it). :class:`ValueError` if
    unreadable."""
    return _extract_options(name)
