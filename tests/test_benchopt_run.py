"""End to end: the CPU demo through benchopt's own runner."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
METRICS = [
    "value",
    "val_loss",
    "train_loss",
    "step",
    "tokens",
    "excess_loss",
    "reached_target",
    "budget_used",
]


def test_cpu_demo_reaches_its_target_and_writes_float_results(tmp_path):
    output = tmp_path / "demo.parquet"
    env = dict(os.environ, NANOGPT_BENCH_DATA=str(tmp_path / "data"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchopt",
            "run",
            str(ROOT),
            "--config",
            str(ROOT / "configs" / "cpu_demo.yml"),
            "--no-plot",
            "--no-cache",
            "--output",
            str(output),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    df = pd.read_parquet(output)
    for metric in METRICS:
        assert df[f"objective_{metric}"].dtype == "float64", metric
    assert df["objective_step"].iloc[0] == 0
    assert df["objective_step"].is_monotonic_increasing
    assert df["time"].is_monotonic_increasing
    # Stopped at the first evaluation at or below the target, not before.
    reached = df["objective_reached_target"].to_numpy()
    assert reached[-1] == 1 and not reached[:-1].any()
    assert df["objective_val_loss"].iloc[-1] < df["objective_val_loss"].iloc[0]
    excess = df["objective_excess_loss"].iloc[-1]
    assert 0 < excess <= 0.1 + 1e-9  # the simulated target: floor + 0.1
