"""Ctrl-C during a benchmark keeps every finished run: benchopt caches each
run as it finishes (the README therefore never recommends ``--no-cache``),
and ``--collect`` (or running the same command again) returns them."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PARTS = [
    "objective.py",
    "config.yml",
    "benchmark_utils",
    "datasets",
    "solvers",
    "plots",
]
OBJECTIVE = (
    "nanoGPT validation loss[model=track3-tiny,seq_len=64,batch_tokens=1024,"
    "micro_batch_size=16,val_tokens=4096,max_steps=5000,eval_every=2,"
    "eval_every_final=2,device=cpu]"
)
FIRST, SECOND = "adamw[lr=0.001,train_steps=4]", "muon[lr=0.1,train_steps=5000]"


def command(bench, output, *extra):
    return [
        sys.executable, "-m", "benchopt", "run", str(bench), "-d", "simulated",
        "-o", OBJECTIVE, "-s", FIRST, "-s", SECOND, "--no-plot",
        "--output", str(output), *extra,
    ]  # fmt: skip


def default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finished_statuses(output):
    for path in output.with_suffix("").glob("runs/*/run_status.json"):
        yield json.loads(path.read_text())


def test_ctrl_c_keeps_the_finished_runs(tmp_path):
    bench = tmp_path / "benchmark"  # a copy: its cache is its own
    bench.mkdir()
    for part in PARTS:
        source = ROOT / part
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, bench / part)
    env = dict(
        os.environ, NANOGPT_BENCH_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1"
    )
    output = tmp_path / "interrupted.parquet"
    process = subprocess.Popen(
        command(bench, output),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that runs the tests in the background (CI) ignores SIGINT
        # and children inherit that: give benchopt a terminal's Ctrl-C.
        preexec_fn=default_sigint,
    )
    deadline = time.time() + 300
    while not any(
        s["status"] == "done" and s["solver_name"].startswith("adamw")
        for s in finished_statuses(output)
    ):
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.time() < deadline, "the first run did not finish"
        time.sleep(0.5)
    time.sleep(3)  # well into the second, long run
    assert process.poll() is None, "the second run ended before the interrupt"
    process.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0, err[-3000:]  # interrupted, not a success
    # The interrupted run is recorded as unfinished, and the command says
    # what is kept.
    assert "Runs that finished before are kept in benchopt's cache" in err, err
    assert any(
        s["status"] == "unfinished" and "interrupted" in s["message"]
        for s in finished_statuses(output)
    ), list(finished_statuses(output))
    assert not output.exists()  # benchopt writes its parquet only at the end

    collected = tmp_path / "collected.parquet"
    result = subprocess.run(
        command(bench, collected, "--collect"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    df = pd.read_parquet(collected)
    assert set(df["solver_name"].str.split("[").str[0]) == {"adamw"}
    assert df["objective_step"].max() == 4  # the finished run, whole
