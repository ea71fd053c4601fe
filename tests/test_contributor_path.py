"""The contributor's path, as the README describes it: its example solver,
dropped into a copy of the benchmark, passes ``benchopt test -k`` and the
training test; every solver is documented and in the CPU comparison."""

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from test_solvers_train import aux_only_loss, copy_task, train_copy_task  # noqa: F401

from benchmark_tools.components import solver_names
from benchmark_utils.tracking import split_name

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.rst").read_text()
EXAMPLE_MARKER = "A complete solver, ``solvers/nadamw.py``::\n"
BENCHMARK_PARTS = [
    "objective.py",
    "config.yml",
    "test_config.py",
    "benchmark_utils",
    "datasets",
    "solvers",
    "plots",
]


def readme_example():
    """The code block that follows the README's example marker."""
    assert EXAMPLE_MARKER in README, "the README lost its example solver"
    lines = README.split(EXAMPLE_MARKER, 1)[1].splitlines()[1:]
    block = []
    for line in lines:
        if line and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


@pytest.fixture(scope="module")
def benchmark_with_example(tmp_path_factory):
    copy = tmp_path_factory.mktemp("bench") / "benchmark"
    copy.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in BENCHMARK_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, copy / part, ignore=ignore)
        else:
            shutil.copy(source, copy / part)
    (copy / "solvers" / "nadamw.py").write_text(readme_example())
    return copy


def test_the_example_passes_benchopts_checks(benchmark_with_example, tmp_path):
    env = dict(
        os.environ, NANOGPT_BENCH_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1"
    )
    result = subprocess.run(
        [sys.executable, "-m", "benchopt", "test", str(benchmark_with_example)]
        + ["--skip-install", "-k", "nadamw", "-v"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # -v lists the tests run: benchopt's solver checks, on the example.
    assert "PASSED" in output and "nadamw" in output, output[-4000:]
    assert "FAILED" not in output


def test_the_example_trains(benchmark_with_example, make_problem, copy_task):  # noqa: F811
    path = benchmark_with_example / "solvers" / "nadamw.py"
    spec = importlib.util.spec_from_file_location("readme_nadamw", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    solver = module.Solver.get_instance(lr=1e-2)
    records = train_copy_task(solver, make_problem, copy_task)
    control = aux_only_loss(make_problem, copy_task)
    assert records[-1]["val_loss"] < control - 0.5, (records, control)


def test_the_example_declares_what_a_listed_solver_needs():
    """The README's example has what ``test_solver_declares_its_hyperparameters``
    asks of a solver listed there (``train_steps``, ``init``), and shows how a
    library optimizer declares its package."""
    example = readme_example()
    namespace = {}
    exec(compile(example, "nadamw.py", "exec"), namespace)
    parameters = namespace["Solver"].parameters
    assert "train_steps" in parameters and "init" in parameters
    assert all(len(values) == 1 for values in parameters.values())
    assert 'requirements = ["pip::' in example


def test_every_solver_is_documented_and_compared():
    compared = {
        split_name(entry)[0]
        for entry in yaml.safe_load((ROOT / "configs" / "cpu_compare.yml").read_text())[
            "solver"
        ]
    }
    for name in solver_names():
        assert f"   * - ``{name}``" in README, f"{name} is not in the Solvers table"
        assert name in compared, f"{name} is not in configs/cpu_compare.yml"
