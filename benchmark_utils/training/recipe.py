"""The training recipe: Track 3's parameter groups and aux AdamW presets, the
learning-rate schedules, and the solver contract.

A solver receives the model's :class:`~benchmark_utils.models.ParameterGroups`
(hidden_matrices, embedding, head, scalars: the grouping of every published
Track 3 script) and must give every tensor to exactly one optimizer
(:func:`check_optimizers`). The classic GPT-2 ties the token embedding to the
output head: its ``head`` is empty, and the tied tensor, in ``embedding``,
takes the head's options (Track 3's embedding learning rates, 0.3 to 0.7,
are far too large for an output layer).
"""

import math
import sys

import torch

from ..errors import UserError
from ..settings import check_parameter_types

ROLES = ("hidden_matrices", "embedding", "head", "scalars")


def role_groups(groups, **options):
    """Param-group dicts, one per role named in ``options`` (a dict of group
    options such as ``lr``) that has tensors, in the order of ``ROLES``."""
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
    """Track 3's auxiliary AdamW with a solver's ``AUX_ADAMW_*`` parameters:
    over ``embedding``, ``head`` and ``scalars`` (every tensor with fewer than
    two dimensions), one learning rate per role, the same betas, eps and
    weight decay for all, as in the published scripts (fused on CUDA)."""
    return torch.optim.AdamW(
        role_groups(
            groups,
            embedding=dict(lr=solver.embedding_lr),
            head=dict(lr=solver.head_lr),
            scalars=dict(lr=solver.scalar_lr),
        ),
        lr=solver.head_lr,  # every group sets its own
        betas=solver.adam_betas,
        eps=solver.adam_eps,
        weight_decay=solver.adam_weight_decay,
        fused=torch.device(solver.device).type == "cuda",
    )


# -- learning-rate schedules: the trainer multiplies each group's base
# learning rate by lr_multiplier(step, ...).

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

    ``constant``: 1 after a linear warmup; ``cosine`` and ``linear``: from 1
    to ``min_ratio`` between the warmup and the end. ``wsd``, Track 3's
    schedule as its scripts compute it: 1 while ``step / N < 1 -
    decay_fraction``, then ``(1 - step / N) / decay_fraction``, mapped to
    ``[min_ratio, 1]``, times AdamW #2's warmup ``min(1, (step + 1) /
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
    names = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for opt in optimizers:
        if not hasattr(opt, "step") or not hasattr(opt, "param_groups"):
            raise SolverContractError(
                f"solver {solver_name!r}: {type(opt).__name__} is not an "
                "optimizer (no step() / param_groups)"
            )
        for p in (p for group in opt.param_groups for p in group["params"]):
            if id(p) in seen:
                raise SolverContractError(
                    f"solver {solver_name!r}: parameter "
                    f"{names.get(id(p), '?')} is given to two optimizers"
                )
            seen.add(id(p))
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


def set_parameters(solver, parameters, model_config):
    """Check the ``parameters`` benchopt set on ``solver`` and set them,
    converted, as attributes; a recipe setting the solver does not declare
    gets its default."""
    declared = {k: [v] for k, v in RECIPE_DEFAULTS.items() if v is not None}
    declared.update(type(solver).parameters)
    checked = check_parameter_types(solver.name, declared, parameters)
    for name, value in checked.items():
        setattr(solver, name, value)
    for name, default in RECIPE_DEFAULTS.items():
        solver.__dict__.setdefault(name, default)
    note_full_size_defaults(
        solver.name, type(solver).parameters, parameters, model_config
    )


def note_full_size_defaults(solver_name, declared, parameters, model_config):
    """A solver's defaults are tuned for the 768-wide Track 3 model: on a
    small model with every default (e.g. ``-s muon`` with a CPU config, which
    drops the config's tuned settings), say so."""
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
