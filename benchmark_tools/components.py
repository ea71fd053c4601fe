"""Load the benchmark's own files (solvers, datasets, objective) outside
benchopt, for tests and benchmark scripts. benchopt loads them by path, not
as a package, so scripts do the same."""

import importlib.util
from pathlib import Path

BENCHMARK_DIR = Path(__file__).resolve().parents[1]


def load_benchmark_module(relative_path):
    """The module of ``relative_path`` (e.g. ``"objective.py"``)."""
    path = BENCHMARK_DIR / relative_path
    name = "nanogpt_bench_" + "_".join(Path(relative_path).with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_solver_class(name):
    """The ``Solver`` class of ``solvers/<name>.py``."""
    return load_benchmark_module(f"solvers/{name}.py").Solver


def make_solver(name, **params):
    """A solver with its default parameters, overridden by ``params``."""
    return load_solver_class(name).get_instance(**params)


def solver_names():
    """Every solver of the benchmark: the files of ``solvers/``."""
    return sorted(p.stem for p in (BENCHMARK_DIR / "solvers").glob("*.py"))


#: The start of the trainer's note on a solver's full-size defaults run on a
#: small model (benchmark_utils/trainer.py). Tools that run defaults or a
#: grid on purpose (the sweep, benchmarks/optimizer_step_time.py) drop it;
#: tests/test_sweep.py fails if the trainer's wording changes.
FULL_SIZE_NOTE = "note: running its full-size defaults"


def drop_full_size_note(lines):
    """``lines`` (strings, e.g. a process's stderr as it comes) without the
    trainer's note on full-size defaults and the blank line printed before it."""
    blank = None
    for line in lines:
        if FULL_SIZE_NOTE in line:
            blank = None
            continue
        if blank is not None:
            yield blank
        blank = None if line.strip() else line
        if line.strip():
            yield line
    if blank is not None:
        yield blank
