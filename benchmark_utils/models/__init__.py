"""The benchmark's models: Track 3 (default) and classic GPT-2."""

import torch

from ..settings import SettingsError
from .config import MODEL_SIZES, ModelConfig, make_config
from .gpt2 import GPT
from .groups import ParameterGroups
from .track3 import INIT_SCHEMES, Track3GPT

__all__ = [
    "GPT",
    "INIT_SCHEMES",
    "MODEL_SIZES",
    "ModelConfig",
    "ParameterGroups",
    "Track3GPT",
    "build_model",
    "make_config",
]


def build_model(config, seed, init=None):
    """A freshly initialised model, identical for a given (config, seed,
    init) whatever the solver or the global random state. ``init``: a Track 3
    init scheme (None: the baseline). The classic GPT-2 problem fixes its own
    init (llm.c's), so a solver's Track 3 init choice does not apply to it."""
    if init not in (None, *INIT_SCHEMES):
        raise SettingsError(
            f"unknown init {init!r}: choose one of {', '.join(INIT_SCHEMES)}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if config.family != "track3":
            return GPT(config)
        model = Track3GPT(config)
        if init not in (None, "baseline"):
            model.init_weights(init)
        return model
