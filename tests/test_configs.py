"""The run configurations of configs/: none can cut a run before its N."""

from pathlib import Path

import pytest
import yaml

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yml"))
RUN_CONFIGS = [c for c in CONFIGS if not c.name.startswith("slurm")]


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_no_config_can_cut_a_run(path):
    """benchopt stops a run at its --timeout (100 s when none is given): a
    run cut before N is a failure, so every config turns the timeout off."""
    config = yaml.safe_load(path.read_text())
    assert config.get("no-timeout") is True, path.name
    assert "timeout" not in config, path.name
    assert "max-runs" not in config, path.name


def objective_settings(path):
    from benchmark_utils.benchopt_compat import parse_name

    config = yaml.safe_load(path.read_text())
    (objective,) = config["objective"]
    name, _, settings = parse_name(objective)
    assert name == "nanoGPT validation loss"
    return config, settings


def test_gpt2_on_fineweb_edu_one_pass_is_the_published_problem():
    """build-nanogpt / llm.c's GPT-2 (124M) on FineWeb-Edu 10B: one pass of
    19,073 steps of 524,288 tokens, the published AdamW recipe, HellaSwag at
    N, a model of at most ~124M parameters."""
    import torch

    from benchmark_utils.benchopt_compat import parse_name
    from benchmark_utils.models import build_model, make_config

    path = CONFIGS[0].parent / "gpt2_fineweb_edu.yml"
    config, objective = objective_settings(path)
    assert config["dataset"] == ["fineweb_edu"]
    assert objective["model"] == "gpt2-124m" and objective["seq_len"] == 1024
    assert objective["batch_tokens"] == 524_288
    assert objective["train_steps"] == objective["max_steps"] == 19_073
    # One pass: the budget is at most the 10B tokens of FineWeb-Edu 10B.
    assert 19_073 * 524_288 <= 10_000_000_000
    assert objective["hellaswag"] == -1 and objective["data_order"] == "contiguous"
    ((solver,),) = [config["solver"]]
    name, _, adamw = parse_name(solver)
    assert name == "adamw"
    assert adamw["lr"] == 6e-4 and adamw["min_lr_ratio"] == 0.1  # 6e-5 at the end
    assert adamw["warmup"] == 715 and adamw["schedule"] == "cosine"
    assert adamw["weight_decay"] == 0.1 and adamw["grad_clip"] == 1.0
    assert adamw["adam_betas"] == [(0.9, 0.95)] and adamw["eps"] == 1e-8
    with torch.device("meta"):
        model = build_model(make_config("gpt2-124m", 50257, 1024), seed=0)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params <= 124.5e6, n_params  # GPT-2 "124M" (tied embedding)


def test_single_gpu_track_is_its_published_problem():
    """The single-GPU track (BottleCap AI's modded-nanogpt fork): the first
    1,048,576 validation tokens, target 3.3821, global batch 524,288 tokens,
    one GPU (no launcher in its command), FineWeb 10B."""
    from benchmark_utils.benchopt_compat import parse_name

    path = CONFIGS[0].parent / "single_gpu.yml"
    config, objective = objective_settings(path)
    ((dataset,),) = [config["dataset"]]
    name, _, data = parse_name(dataset)
    assert name == "fineweb" and data["target"] == 3.3821
    assert objective["val_tokens"] == 1_048_576 == 2**20
    assert objective["batch_tokens"] == 524_288 and objective["seq_len"] == 1024
    assert objective["device"] == "cuda" and objective["model"] == "track3"
    assert "torchrun" not in path.read_text()  # one process, one GPU
