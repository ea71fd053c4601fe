"""Optional Weights & Biases tracking: off costs nothing (wandb is not even
imported); offline runs (no network) write the logged values, checked by
reading the run's transaction log back."""

import json
import math
import pickle
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark_utils import tracking
from benchmark_utils.errors import UserError
from benchmark_utils.tracking import (
    EvaluationTracker,
    TrackingError,
    resolve_mode,
    run_config,
    run_group,
    run_name,
    split_name,
)

ROOT = Path(__file__).resolve().parents[1]

SOLVER = (
    "adamw[betas=(0.9, 0.95),eps=1e-08,grad_clip=1.0,lr=0.003,"
    "min_lr_ratio=0.1,schedule=cosine,warmup=0.05,weight_decay=0.1]"
)
DATASET = (
    "simulated[concentration=1.0,n_successors=4,seed=0,target_margin=0.1,"
    "vocab_size=128]"
)
OBJECTIVE = (
    "nanoGPT validation loss[batch_tokens=4096,bos_aligned=False,compile=True,"
    "device=cpu,eval_every=25,max_steps=600,micro_batch_size=32,"
    "model=gpt2-tiny,seq_len=128,target=None,val_tokens=16384]"
)


# -- modes and names -------------------------------------------------------------


def test_mode_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv(tracking.MODE_ENV, raising=False)
    assert resolve_mode() == "off"
    monkeypatch.setenv(tracking.MODE_ENV, "offline")
    assert resolve_mode() == "offline"
    assert resolve_mode("off") == "off"  # an explicit mode wins
    for alias, mode in [("1", "online"), ("TRUE", "online"), ("0", "off"), ("", "off")]:
        monkeypatch.setenv(tracking.MODE_ENV, alias)
        assert resolve_mode() == mode
    monkeypatch.setenv(tracking.MODE_ENV, "sometimes")
    with pytest.raises(UserError, match="NANOGPT_BENCH_WANDB='sometimes'.*off"):
        resolve_mode()


def test_split_name_keeps_commas_inside_parentheses():
    base, params = split_name(SOLVER)
    assert base == "adamw"
    assert params["betas"] == "(0.9, 0.95)" and params["lr"] == "0.003"
    assert len(params) == 8
    assert split_name("simulated") == ("simulated", {})
    # Brackets inside a value: the name ends at the last "]" only.
    assert split_name("sgd[milestones=[1, 2]]") == ("sgd", {"milestones": "[1, 2]"})


def test_run_names_are_short_readable_and_unique():
    name = run_name(SOLVER, DATASET, OBJECTIVE, 0)
    assert name.startswith("adamw-simulated-") and name.endswith("-rep0")
    assert len(name) <= 40
    assert name == run_name(SOLVER, DATASET, OBJECTIVE, 0)  # stable
    others = {
        run_name(SOLVER.replace("lr=0.003", "lr=0.001"), DATASET, OBJECTIVE, 0),
        run_name(SOLVER, DATASET.replace("seed=0", "seed=1"), OBJECTIVE, 0),
        run_name(
            SOLVER, DATASET, OBJECTIVE.replace("eval_every=25", "eval_every=5"), 0
        ),
        run_name(SOLVER, DATASET, OBJECTIVE, 1),
    }
    assert name not in others and len(others) == 4
    # Repetitions of one setting share a group.
    assert run_name(SOLVER, DATASET, OBJECTIVE, 1) == (
        run_group(SOLVER, DATASET, OBJECTIVE) + "-rep1"
    )


def test_run_config_parses_the_parameters():
    config = run_config(SOLVER, DATASET, OBJECTIVE, 2, extra={"n_params": 123})
    assert config["solver"]["name"] == "adamw"
    assert config["solver"]["lr"] == 0.003
    assert config["solver"]["betas"] == (0.9, 0.95)
    assert config["solver"]["schedule"] == "cosine"
    assert config["dataset"]["vocab_size"] == 128
    assert config["objective"]["target"] is None
    assert config["objective"]["full_name"] == OBJECTIVE
    assert config["repetition"] == 2 and config["n_params"] == 123


# -- off ---------------------------------------------------------------------------


def test_off_does_not_import_wandb():
    code = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
os.environ.pop("NANOGPT_BENCH_WANDB", None)
from types import SimpleNamespace
from benchmark_utils import tracking, hellaswag
ctx = SimpleNamespace(solver_name="s", dataset_name="d", objective_name="o",
                      repetition=0)
for e in (tracking.EvaluationTracker(),  # off by default
          tracking.EvaluationTracker("online", rank=1)):  # not rank 0
    e.log({{"val_loss": 1.0}}, 0, ctx)
    e.finish()
    assert not e.enabled
print("wandb" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False", out.stderr


def test_rank_other_than_zero_never_tracks(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import would fail
    context = SimpleNamespace(
        solver_name="s", dataset_name="d", objective_name="o", repetition=0
    )
    tracker = EvaluationTracker("online", rank=3)
    tracker.log({"val_loss": 1.0}, 0, context)
    assert not tracker.enabled and tracker.run is None
    monkeypatch.setenv("RANK", "1")
    assert not EvaluationTracker("offline").enabled


def test_missing_wandb_is_a_clear_error_before_any_run(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(TrackingError, match="pip install wandb") as error:
        EvaluationTracker("offline")  # at construction, before training
    assert isinstance(error.value, UserError)


# -- offline runs, read back -----------------------------------------------------


def read_records(run_dir):
    """The protobuf records of an offline run's ``run-*.wandb`` file: a
    7-byte header (":W&B", magic, version) then LevelDB-log records in
    32 KiB blocks (7-byte record header: crc, length, type)."""
    wandb_internal_pb2 = pytest.importorskip(
        "wandb.proto.wandb_internal_pb2", reason="wandb is not installed"
    )
    (path,) = Path(run_dir).glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer
            pos += block - pos % block
            continue
        length = int.from_bytes(data[pos + 4 : pos + 6], "little")
        kind, chunk = data[pos + 6], data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:  # full
            records.append(chunk)
        elif kind == 2:  # first
            pending = chunk
        elif kind == 3:  # middle
            pending += chunk
        elif kind == 4:  # last
            records.append(pending + chunk)
    parsed = []
    for raw in records:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        parsed.append(record)
    return parsed


def read_run(run_dir):
    """(run record, config dict, history rows) of an offline run."""
    run, config, history = None, {}, []
    for record in read_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            for item in record.run.config.update:
                config[item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                config[item.key] = json.loads(item.value_json)
        elif kind == "history":
            row = {}
            for item in record.history.item:
                key = item.key or ".".join(item.nested_key)
                row[key] = json.loads(item.value_json)
            history.append(row)
    return run, config, history


def read_complete_run(run_dir, n_rows, timeout=20.0):
    """``read_run`` once wandb's service process has written the run record
    and ``n_rows`` history rows (it writes the offline log asynchronously:
    under load, right after ``finish()`` the file can still be incomplete)."""
    deadline = time.time() + timeout
    while True:
        run, config, history = read_run(run_dir)
        if (run is not None and len(history) >= n_rows) or time.time() > deadline:
            return run, config, history
        time.sleep(0.2)


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """wandb in offline mode, writing only under tmp_path."""
    pytest.importorskip("wandb", reason="wandb is not installed")
    for name, sub in [
        ("WANDB_DIR", ""),
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_DATA_DIR", "data"),
    ]:
        (tmp_path / sub).mkdir(exist_ok=True)
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv(tracking.MODE_ENV, raising=False)
    return tmp_path


def run_dirs(root):
    return sorted((root / "wandb").glob("offline-run-*"))


def test_offline_run_records_config_and_every_evaluation(offline_wandb):
    tracker = EvaluationTracker("offline", project="nanogpt-test")
    assert tracker.enabled
    context = SimpleNamespace(
        solver_name=SOLVER, dataset_name=DATASET, objective_name=OBJECTIVE, repetition=0
    )
    extra = {"model": "gpt2-tiny"}
    tracker.log({"val_loss": 4.875, "train_loss": math.nan}, 0, context, extra)
    tracker.log({"val_loss": 3.25, "train_loss": 3.5}, 25, context, extra)
    tracker.log({"val_loss": 3.25, "train_loss": 3.5}, 25, context, extra)  # once
    tracker.log({"val_loss": 9.0, "train_loss": 9.0}, 10, context, extra)  # earlier
    tracker.log({"val_loss": 1.125, "train_loss": 1.25}, 50, context, extra)
    tracker.finish()
    tracker.finish()  # idempotent
    (run_dir,) = run_dirs(offline_wandb)
    run, config, history = read_complete_run(run_dir, n_rows=3)
    assert run.display_name == run_name(SOLVER, DATASET, OBJECTIVE, 0)
    assert run.project == "nanogpt-test"
    assert run.run_group == run_group(SOLVER, DATASET, OBJECTIVE)
    assert config["solver"]["lr"] == 0.003 and config["model"] == "gpt2-tiny"
    rows = {row["_step"]: row for row in history}
    assert sorted(rows) == [0, 25, 50]
    assert rows[0]["val_loss"] == 4.875
    assert rows[25]["val_loss"] == 3.25 and rows[25]["train_loss"] == 3.5
    assert rows[50]["val_loss"] == 1.125


def test_evaluation_tracker_one_run_per_benchopt_run(offline_wandb, monkeypatch):
    monkeypatch.setenv(tracking.MODE_ENV, "offline")
    monkeypatch.setenv(tracking.PROJECT_ENV, "nanogpt-bench-test")
    tracker = EvaluationTracker()
    assert tracker.enabled
    tracker.log({"val_loss": 9.0}, 0, None)  # benchopt test: no context
    assert run_dirs(offline_wandb) == []
    first = SimpleNamespace(
        solver_name=SOLVER, dataset_name=DATASET, objective_name=OBJECTIVE, repetition=0
    )
    second = SimpleNamespace(**{**vars(first), "repetition": 1})
    extra = {"n_params": 1234}
    for context in (first, second):
        for step, loss in [(0, 4.5), (25, 3.0)]:
            tracker.log({"val_loss": loss + context.repetition}, step, context, extra)
    # Pickled (sent to a worker) without its live run.
    clone = pickle.loads(pickle.dumps(tracker))
    assert clone.enabled and clone.key is None and clone.run is None
    tracker.finish()
    dirs = run_dirs(offline_wandb)
    assert len(dirs) == 2
    runs = [read_complete_run(d, n_rows=2) for d in dirs]
    names = sorted(run.display_name for run, _, _ in runs)
    assert names == [run_name(SOLVER, DATASET, OBJECTIVE, r) for r in (0, 1)]
    for run, config, history in runs:
        rep = config["repetition"]
        assert run.project == "nanogpt-bench-test"
        assert run.run_group == run_group(SOLVER, DATASET, OBJECTIVE)
        assert config["solver"]["lr"] == 0.003 and config["n_params"] == 1234
        assert config["objective"]["full_name"] == OBJECTIVE
        assert [(row["_step"], row["val_loss"]) for row in history] == [
            (0, 4.5 + rep),
            (25, 3.0 + rep),
        ]
