"""Learning-rate multipliers as a function of the step.

The trainer multiplies each parameter group's base learning rate by the value
returned. ``wsd`` is Track 3's "stable then decay" schedule, computed exactly
as its scripts do (``progress = step / N``), with AdamW #2's warmup
``min(1, (step + 1) / warmup)`` as a factor; the GPT-2 recipes (``cosine``,
``linear``) warm up linearly, then decay from the end of the warmup.
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
