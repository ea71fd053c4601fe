"""The command-line tools work from any directory once the benchmark is
installed (``pip install -e .``, the README's install step)."""

import importlib.metadata
import subprocess
import sys

import pytest

TOOLS = ["results", "report", "sweep", "tokenizer", "inspect_shards", "download",
         "leaderboard", "hellaswag_fetch"]  # fmt: skip


def installed():
    try:
        importlib.metadata.distribution("benchmark-nanogpt")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(
    not installed(),
    reason="the benchmark is not installed (pip install -e . installs it and "
    "its tools; the README's test command does)",
)
@pytest.mark.parametrize("tool", TOOLS)
def test_tool_runs_from_another_directory(tool, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", f"benchmark_tools.{tool}", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "usage" in run.stdout.lower()


def test_results_of_an_unrelated_folder_is_one_message(tmp_path):
    """Pointed at a folder that holds no result, the tool says so in one line
    (no traceback, no older unrelated result)."""
    run = subprocess.run(
        [sys.executable, "-m", "benchmark_tools.results", str(tmp_path)],
        cwd=tmp_path.parent if not installed() else tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=None,
    )
    assert run.returncode != 0
    assert "Traceback" not in run.stderr and "error" in run.stderr.lower()
