"""The GPU self-check (benchmarks/gpu_check.py) in its tiny CPU mode: every
part reports its figures, a part that cannot run says why, and a part over
its time limit is stopped and reported."""

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def gpu_check(*args, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load_module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_tiny_mode_reports_every_part(tmp_path):
    out = tmp_path / "check.json"
    proc = gpu_check("--cpu-tiny", "--in-process", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    parts = report["parts"]
    module = load_module()
    assert list(parts) == module.PARTS
    assert all(p["status"] == "ok" for p in parts.values()), parts
    f = {name: p["figures"] for name, p in parts.items()}
    assert f["versions"]["torch"] == torch.__version__
    for name in ("project_muon", "project_adamw", "bare"):
        row = f[name]
        assert row["ms_step"] > 0 and row["tokens_s"] > 0, name
        assert row["fwd_bwd"] > 0 and row["optim"] > 0, name
        assert row["data"] >= 0 and row["reduce"] == 0.0, name  # one process
        assert math.isnan(row["mfu"]) and row["micro_batch"] == 8  # CPU
    assert f["project_muon"]["solver"] == "muon"
    assert report["project_over_bare"] == pytest.approx(
        f["project_muon"]["ms_step"] / f["bare"]["ms_step"]
    )
    # The tiny vocabulary (256) pads to 256: uniform start at ln 256.
    assert f["smoke"]["loss_step0"] == pytest.approx(math.log(256), abs=1e-3)
    assert f["smoke"]["loss_last"] < f["smoke"]["loss_step0"] - 0.5
    assert len(f["smoke"]["losses"]) == 21
    assert f["auto"]["chosen"] == f["auto"]["sequences_per_gpu"] == 4
    assert f["validation"]["val_loss"] == pytest.approx(math.log(256), abs=1e-3)
    assert f["validation"]["tokens"] == 4096
    summary = proc.stdout
    for name in module.PARTS:
        assert f"[{name}] ok" in summary
    assert "project (muon) / bare loop" in summary


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_without_a_gpu_each_part_says_why():
    proc = gpu_check("--parts", "versions", "smoke")
    assert proc.returncode == 1
    assert "[versions] failed" in proc.stdout and "no GPU visible" in proc.stdout
    assert "[smoke] failed" in proc.stdout and "torch sees no GPU" in proc.stdout
    assert "parts without figures: versions, smoke" in proc.stderr


def test_a_part_over_its_limit_is_stopped_and_reported(tmp_path):
    module = load_module()
    args = argparse.Namespace(cpu_tiny=True)
    entry = module.spawn("versions", args, tmp_path / "none.bin", limit=0.05)
    assert entry["status"] == "timeout"
    assert "no result within its limit of 0 s" in entry["reason"]
    summary = module.summarise(
        dict(parts={"versions": entry}), module.TINY
    )  # the report says it
    assert summary.startswith("[versions] timeout in 0 s: no result within")
