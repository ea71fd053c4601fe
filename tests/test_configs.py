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
