"""Throughput metrics: the FLOPs formula, the peak table, the columns."""

import math

import pytest
import torch

from benchmark_tools.components import make_solver
from benchmark_utils.models import build_model, make_config
from benchmark_utils.training import metrics


def test_track3_flops_per_token():
    config = make_config("track3", 50257, 1024)
    with torch.device("meta"):
        model = build_model(config, seed=0)
    assert model.num_parameters() == 162_354_816
    n_matmul = 162_354_816 - 50_304 * 768  # the embedding is a lookup
    assert metrics.matmul_parameters(model) == n_matmul
    expected = 6 * n_matmul + 12 * 12 * 768 * 1024
    assert metrics.flops_per_token(model, config, 1024) == expected
    assert expected == pytest.approx(855.6e6, rel=1e-3)


def test_gpt2_counts_its_tied_head_not_its_position_table():
    config = make_config("gpt2-124m", 50257, 1024)
    with torch.device("meta"):
        model = build_model(config, seed=0)
    assert metrics.matmul_parameters(model) == model.num_parameters() - 1024 * 768


def test_peaks(monkeypatch):
    monkeypatch.delenv(metrics.ENV_PEAK, raising=False)
    assert math.isnan(metrics.peak_tflops(torch.device("cpu")))
    assert math.isnan(metrics.peak_memory_gib(torch.device("cpu")))
    table = dict(metrics.PEAK_BF16_TFLOPS)
    assert table["H100"] == table["H200"] == 989.0
    assert table["A100"] == 312.0 and table["RTX 4090"] == 165.2
    monkeypatch.setenv(metrics.ENV_PEAK, "100")
    assert metrics.peak_tflops(torch.device("cpu")) == 100.0


def test_throughput_formula():
    row = metrics.throughput(10, 1000, 2.0, 1e6, 100.0, world_size=2)
    assert row["tokens_per_second"] == 5000.0
    assert row["train_flops"] == 1e10
    assert row["mfu"] == pytest.approx(5e9 / (2 * 100e12))
    assert math.isnan(metrics.throughput(1, 1, 1.0, 1.0, math.nan, 1)["mfu"])


def test_trainer_reports_float_metrics(make_problem, train, monkeypatch):
    monkeypatch.delenv(metrics.ENV_PEAK, raising=False)
    solver = make_solver("adamw")
    train(solver, make_problem(max_steps=2))
    values = solver.get_result()["metrics"]
    assert set(values) >= {
        "train_time",
        "tokens_per_second",
        "train_flops",
        "flops_per_token",
        "mfu",
        "peak_memory_gib",
        "world_size",
        "micro_batch_size",
    }
    assert all(isinstance(v, float) for v in values.values())
    assert values["world_size"] == 1.0 and values["micro_batch_size"] == 16.0
    assert values["train_flops"] == 2 * 512 * values["flops_per_token"]
    assert values["tokens_per_second"] > 0 and values["train_time"] > 0
    assert math.isnan(values["mfu"]) and math.isnan(values["peak_memory_gib"])
