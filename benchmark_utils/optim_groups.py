"""Parameter grouping shared by the optimizer solvers.

A solver receives the model's :class:`~benchmark_utils.models.ParameterGroups`
(hidden_matrices, embedding, head, scalars) and must give every tensor to
exactly one optimizer (``trainer.check_optimizers`` enforces it). The two
groupings that several solvers need live here, once:

- :func:`decay_groups`: one optimizer for everything, weight decay on the
  matrices only (GPT-2 / llm.c recipe: no decay on norm gains and biases).
- :func:`adamw_for_non_hidden`: the AdamW half of a hybrid optimizer such as
  Muon ("hidden matrices to X, the rest to AdamW"), with one learning rate per
  role. With the classic tied model the embedding *is* the output head, so
  the ``embedding`` group gets ``embedding_lr`` and ``head`` is empty.
"""

import torch


def _non_empty(param_groups):
    return [group for group in param_groups if group["params"]]


def decay_groups(groups, weight_decay, **options):
    """Param-group dicts covering every parameter: the 2-D tensors (hidden
    matrices, embeddings, untied head) with ``weight_decay``, the scalars
    (norm gains, biases) without. ``options`` are added to both groups."""
    matrices = groups.hidden_matrices + groups.embedding + groups.head
    return _non_empty(
        [
            dict(params=matrices, weight_decay=weight_decay, **options),
            dict(params=groups.scalars, weight_decay=0.0, **options),
        ]
    )


def adamw_for_non_hidden(
    groups, *, embedding_lr, head_lr, scalar_lr, betas, eps, weight_decay, device
):
    """AdamW over ``embedding``, ``head`` and ``scalars`` (everything but the
    hidden matrices), one param group and learning rate per role. The
    trainer's schedule scales each group's LR by the same multiplier."""
    return torch.optim.AdamW(
        _non_empty(
            [
                dict(params=groups.embedding, lr=embedding_lr),
                dict(params=groups.head, lr=head_lr),
                dict(params=groups.scalars, lr=scalar_lr),
            ]
        ),
        lr=embedding_lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        fused=torch.device(device).type == "cuda",
    )
