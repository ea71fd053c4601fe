"""The model part of a problem: which architecture, at which size.

Two families share one config type so the objective, the trainer and the
solvers never branch on the model:

- ``track3``: the modded-nanogpt Track 3 model (``train_gpt_simple.py``),
  the benchmark's default problem. Its gradient is that of the **summed**
  loss over the global batch.
- ``gpt2``: classic GPT-2 (nanoGPT / llm.c), the llm.c problem. Its gradient
  is that of the **mean** loss over the global batch.

Both models return the summed cross-entropy of a micro-batch; the trainer
scales it by ``grad_scale(batch_tokens)`` so each family gets its reference
gradient scale.
"""

import math
from dataclasses import dataclass

from ..errors import UserError


@dataclass(frozen=True)
class ModelConfig:
    family: str  # "track3" or "gpt2"
    vocab_size: int
    n_layer: int
    n_embd: int
    n_head: int
    block_size: int
    # Storage dtype of the Track 3 embedding, hence of every activation
    # (the reference stores it in bf16 and uses no autocast). The classic
    # model keeps fp32 weights and uses bf16 autocast on CUDA.
    dtype: str = "float32"

    @property
    def padded_vocab_size(self):
        """Vocabulary rounded up to a multiple of 64 (50257 -> 50304), which
        keeps the output matmul on fast kernel shapes."""
        return 64 * math.ceil(self.vocab_size / 64)

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def grad_scale(self, batch_tokens):
        """Factor on each micro-batch's summed loss before ``backward``."""
        return 1.0 if self.family == "track3" else 1.0 / batch_tokens


# name -> (family, n_layer, n_embd, n_head). Track 3 fixes head_dim = 128 at
# full size; the small sizes keep its architecture with smaller heads.
MODEL_SIZES = {
    "track3": ("track3", 12, 768, 6),
    "track3-mini": ("track3", 4, 256, 4),
    "track3-tiny": ("track3", 2, 64, 2),
    "gpt2-124m": ("gpt2", 12, 768, 12),
    "gpt2-350m": ("gpt2", 24, 1024, 16),
    "gpt2-mini": ("gpt2", 4, 256, 4),
    "gpt2-tiny": ("gpt2", 2, 64, 2),
}


def make_config(size, vocab_size, block_size, dtype="float32"):
    if size not in MODEL_SIZES:
        raise UserError(
            f"unknown model {size!r}: choose one of {', '.join(MODEL_SIZES)}"
        )
    family, n_layer, n_embd, n_head = MODEL_SIZES[size]
    return ModelConfig(
        family=family,
        vocab_size=vocab_size,
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        block_size=block_size,
        dtype=dtype,
    )
