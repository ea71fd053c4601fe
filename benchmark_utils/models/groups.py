"""The model's trainable tensors by role, for declarative hybrid optimizers."""

from dataclasses import dataclass


@dataclass
class ParameterGroups:
    """With tied weights (classic GPT-2) the token embedding is also the
    output head: it is in ``embedding`` and ``head`` is empty."""

    hidden_matrices: list  # 2-D weights inside the transformer blocks
    embedding: list  # token (and position) embeddings
    head: list  # output projection, when not tied
    scalars: list  # norm gains and biases (all tensors with fewer than 2 dims)

    def all(self):
        return self.hidden_matrices + self.embedding + self.head + self.scalars
