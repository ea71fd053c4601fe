"""Track 3 parameter grouping shared by the optimizer solvers.

A solver receives the model's :class:`~benchmark_utils.models.ParameterGroups`
(hidden_matrices, embedding, head, scalars: Track 3's grouping, the one every
published Track 3 script uses) and must give every tensor to exactly one
optimizer (``trainer.check_optimizers`` enforces it). Two helpers:

- :func:`role_groups`: param-group dicts with options per role, for an
  optimizer that takes several roles with different settings.
- :func:`aux_adamw` (and :func:`solver_aux_adamw`, which reads the settings
  of :data:`AUX_ADAMW_36` / :data:`AUX_ADAMW_2` from a solver): Track 3's
  auxiliary AdamW over everything but the hidden matrices (the embedding,
  the head, and every tensor with fewer than two dimensions: norm gains and
  all biases), one learning rate per role. The
  weight decay applies to all three groups, as in the published scripts
  (``AdamW([...], weight_decay=...)``).

The classic GPT-2 model ties the token embedding to the output head: its
``head`` is empty and the tied tensor is in ``embedding``. It then takes the
head's options, the conservative ones (Track 3's embedding learning rates,
0.3 to 0.7, are far too large for an output layer).
"""

import torch

ROLES = ("hidden_matrices", "embedding", "head", "scalars")


def role_groups(groups, **options):
    """Param-group dicts, one per role named in ``options`` (a dict of group
    options such as ``lr``) that has tensors, in the order of ``ROLES``. A
    tied embedding (empty ``head``) takes the ``head`` options when given."""
    unknown = set(options) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}: choose from {ROLES}")
    param_groups = []
    for role in ROLES:
        if role not in options:
            continue
        params = list(getattr(groups, role))
        if not params:
            continue
        role_options = options[role]
        if role == "embedding" and not groups.head and "head" in options:
            role_options = options["head"]
        param_groups.append(dict(params=params, **role_options))
    return param_groups


def aux_adamw(
    groups, *, embedding_lr, head_lr, scalar_lr, betas, eps, weight_decay, device
):
    """AdamW over ``embedding``, ``head`` and ``scalars`` with one learning
    rate per role and the same betas, eps and weight decay for all (fused on
    CUDA, as in the published scripts). The trainer's schedule scales each
    group's learning rate by the same multiplier."""
    return torch.optim.AdamW(
        role_groups(
            groups,
            embedding=dict(lr=embedding_lr),
            head=dict(lr=head_lr),
            scalars=dict(lr=scalar_lr),
        ),
        lr=head_lr,  # every group sets its own
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        fused=torch.device(device).type == "cuda",
    )


# The aux AdamW settings of the published Track 3 entries, as solver
# ``parameters`` (sweepable): the tuned baseline #36 and the older scripts
# (AdamW #2, Shampoo #21).
AUX_ADAMW_36 = {
    "embedding_lr": [0.7],
    "head_lr": [0.004],  # also a tied embedding's (classic GPT-2)
    "scalar_lr": [0.015],
    "adam_betas": [(0.8, 0.95)],
    "adam_eps": [1e-10],
    "adam_weight_decay": [0.001],
}
AUX_ADAMW_2 = {
    "embedding_lr": [0.3],
    "head_lr": [1 / 320],  # also a tied embedding's (classic GPT-2)
    "scalar_lr": [0.01],
    "adam_betas": [(0.8, 0.95)],
    "adam_eps": [1e-10],
    "adam_weight_decay": [0.0],
}


def solver_aux_adamw(solver, groups):
    """:func:`aux_adamw` with a solver's ``AUX_ADAMW_*`` parameters."""
    return aux_adamw(
        groups,
        embedding_lr=solver.embedding_lr,
        head_lr=solver.head_lr,
        scalar_lr=solver.scalar_lr,
        betas=solver.adam_betas,
        eps=solver.adam_eps,
        weight_decay=solver.adam_weight_decay,
        device=solver.device,
    )
