"""The training recipe: Track 3's parameter groups, the aux AdamW presets, the
learning-rate schedules and the solver contract.


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

import math
import sys

import torch

from ..errors import UserError

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


# -- learning-rate schedules ---------------------------------------------------
# Learning-rate multipliers as a function of the step.
#
# The trainer multiplies each parameter group's base learning rate by the value
# returned. ``wsd`` is Track 3's "stable then decay" schedule, computed exactly
# as its scripts do (``progress = step / N``), with AdamW #2's warmup
# ``min(1, (step + 1) / warmup)`` as a factor; the GPT-2 recipes (``cosine``,
# ``linear``) warm up linearly, then decay from the end of the warmup.

SCHEDULES = ("constant", "cosine", "linear", "wsd")


def lr_multiplier(
    step,
    total_steps,
    schedule="constant",
    warmup_steps=0,
    decay_fraction=0.2,
    min_ratio=0.0,
):
    """Multiplier in [min_ratio, 1] for optimizer step ``step`` (0-based).

    - ``constant``: 1 after warmup.
    - ``cosine``: cosine from 1 to ``min_ratio`` between warmup and the end.
    - ``linear``: linear from 1 to ``min_ratio`` between warmup and the end.
    - ``wsd`` (Track 3): 1 while ``step / total_steps < 1 - decay_fraction``,
      then ``(1 - step / total_steps) / decay_fraction`` (linear to 0 at the
      end), mapped to ``[min_ratio, 1]``; times ``min(1, (step + 1) /
      warmup_steps)``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: choose one of {SCHEDULES}")
    if schedule == "wsd":
        progress = step / total_steps
        if progress < 1 - decay_fraction:
            eta = 1.0
        else:
            eta = max(0.0, (1 - progress) / decay_fraction)
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
        return warm * (min_ratio + (1.0 - min_ratio) * eta)
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    else:
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "cosine":
        shape = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        shape = 1.0 - progress
    return min_ratio + (1.0 - min_ratio) * shape


# Track 3's schedule: LR constant, then linear to 0 over the last 70% of the
# N steps; no warmup, no clipping (the baseline #36).
TRACK3_SCHEDULE = {
    "schedule": ["wsd"],
    "decay_fraction": [0.7],
    "min_lr_ratio": [0.0],
    "warmup": [0],
    "grad_clip": [0.0],
}


class SolverContractError(UserError, TypeError):
    """A solver's ``build_optimizers`` does not train the model properly."""


def check_optimizers(optimizers, model, solver_name):
    """Every trainable parameter must be in exactly one optimizer."""
    if isinstance(optimizers, torch.optim.Optimizer):
        optimizers = [optimizers]
    optimizers = list(optimizers or [])
    if not optimizers:
        raise SolverContractError(
            f"solver {solver_name!r}: build_optimizers returned no optimizer; "
            "it must return a list of torch.optim.Optimizer covering every "
            "parameter group"
        )
    for opt in optimizers:
        if not hasattr(opt, "step") or not hasattr(opt, "param_groups"):
            raise SolverContractError(
                f"solver {solver_name!r}: {type(opt).__name__} is not an "
                "optimizer (no step() / param_groups)"
            )
    names = {id(p): n for n, p in model.named_parameters()}
    seen = {}
    for opt in optimizers:
        for group in opt.param_groups:
            for p in group["params"]:
                if id(p) in seen:
                    raise SolverContractError(
                        f"solver {solver_name!r}: parameter "
                        f"{names.get(id(p), '?')} is given to two optimizers"
                    )
                seen[id(p)] = p
    missing = [
        n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen
    ]
    if missing:
        raise SolverContractError(
            f"solver {solver_name!r}: {len(missing)} parameter(s) are in no "
            f"optimizer and would never train: {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}. Give every group of "
            "ParameterGroups (hidden_matrices, embedding, head, scalars) to "
            "an optimizer."
        )
    return optimizers


# Recipe settings a solver may expose (and sweep) through ``parameters``, with
# the defaults a solver that does not declare them gets. They are not class
# attributes: benchopt does not set a parameter whose name is already one.
RECIPE_DEFAULTS = dict(
    train_steps=None,  # N: the step count a result claims (required)
    init="baseline",  # Track 3 init scheme (models.INIT_SCHEMES)
    schedule="constant",  # see SCHEDULES
    warmup=0.0,  # >= 1: steps; < 1: fraction of N
    decay_fraction=0.2,  # the decay part of the "wsd" schedule
    min_lr_ratio=0.0,  # final LR / base LR for decaying schedules
    grad_clip=0.0,  # max global gradient norm; 0 disables clipping
)


def note_full_size_defaults(solver_name, declared, parameters, model_config):
    """A solver's defaults are tuned for the 768-wide Track 3 model: on a
    small model with every default (e.g. ``-s adamw -s muon`` with a CPU
    config, which drops the config's tuned settings), say so rather than
    compare silently."""
    if model_config.n_embd >= 768 or not declared:
        return
    defaults = {name: values[0] for name, values in declared.items()}
    if all(parameters.get(name, value) == value for name, value in defaults.items()):
        print(
            f"\n[{solver_name}] note: running its full-size defaults (tuned "
            f"for the 768-wide Track 3 model) on a {model_config.n_embd}-wide "
            "model. For a fair small-problem comparison use the tuned "
            "settings of configs/cpu_compare.yml or tune with "
            "python -m benchmark_tools.sweep.",
            file=sys.stderr,
            flush=True,
        )
