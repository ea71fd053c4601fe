"""Learning-rate multipliers as a function of the step.

All schedules start with a linear warmup over ``warmup_steps``; the trainer
multiplies each parameter group's base learning rate by the value returned.
"""

import math

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
    - ``wsd`` (warmup-stable-decay): 1, then linear to ``min_ratio`` over the
      last ``decay_fraction`` of the steps.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: choose one of {SCHEDULES}")
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "wsd":
        decay_start = total_steps - decay_fraction * total_steps
        if step < decay_start:
            return 1.0
        progress = (step - decay_start) / max(1.0, total_steps - decay_start)
    else:
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "cosine":
        shape = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        shape = 1.0 - progress
    return min_ratio + (1.0 - min_ratio) * shape
