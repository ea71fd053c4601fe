"""The significance rules of modded-nanogpt Track 3 (its README, rules 3 and 5).

A result claims a step count N and reports the mean final validation loss
over n runs (seeds, not cherry-picked). Run-to-run noise of the final loss is
about sigma = 0.0013, so a one-sided z-test at p < 0.001 (z = 3.09) needs the
mean to beat the target by 3.09 * 0.0013 / sqrt(n) ~ 0.004 / sqrt(n).
"""

import math

#: The target validation loss of the Track 3 problem.
TARGET = 3.28
#: z * sigma of the one-sided test: 3.09 * 0.0013 ~ 0.004.
THRESHOLD = 0.004
#: Near the target, 100 more steps are worth this much validation loss: the
#: exchange rate that makes results at different step counts comparable.
LOSS_PER_100_STEPS = 0.0045


def _finite(*values):
    return all(v is not None and math.isfinite(v) for v in values)


def rule_margin(mean, n, target=TARGET):
    """``(target - mean) * sqrt(n)``, to compare with THRESHOLD (the mean of n
    runs has standard deviation sigma / sqrt(n)); NaN without a run or a mean."""
    if not (n and n >= 1 and _finite(mean)):
        return math.nan
    return (target - mean) * math.sqrt(n)


def passes_rule(mean, n, target=TARGET):
    """Track 3 rule 3: the mean of n runs is significantly below the target
    (one run needs a loss below 3.276, four runs a mean below 3.278)."""
    return rule_margin(mean, n, target) >= THRESHOLD


def pairwise_lhs(steps_a, mean_a, n_a, steps_b, mean_b, n_b):
    """Left-hand side of Track 3 rule 5, "A is better than B": the loss
    difference ``mean_b - mean_a`` plus what A's fewer steps are worth, over
    the standard deviation of a difference of two means in units of sigma,
    ``sqrt(1/n_a + 1/n_b)``. NaN when a side has no run or no finite mean."""
    if not (n_a and n_b and n_a >= 1 and n_b >= 1):
        return math.nan
    if not _finite(steps_a, mean_a, steps_b, mean_b):
        return math.nan
    step_diff = (steps_b - steps_a) / 100 * LOSS_PER_100_STEPS
    return (mean_b - mean_a + step_diff) / math.sqrt(1 / n_a + 1 / n_b)


def pairwise_significant(steps_a, mean_a, n_a, steps_b, mean_b, n_b):
    """Track 3 rule 5: A is significantly better than B (swap the arguments
    to ask whether B is better than A)."""
    return pairwise_lhs(steps_a, mean_a, n_a, steps_b, mean_b, n_b) >= THRESHOLD
