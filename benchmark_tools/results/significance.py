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


def rule_margin(mean, n, target=TARGET):
    """``(target - mean) * sqrt(n)``: the z-test statistic times sigma.

    The mean of n runs has standard deviation sigma / sqrt(n), so the
    distance to the target is scaled by sqrt(n) before comparing it with
    THRESHOLD. NaN when there is no run or no finite mean.
    """
    if n is None or n < 1 or mean is None or not math.isfinite(mean):
        return math.nan
    return (target - mean) * math.sqrt(n)


def passes_rule(mean, n, target=TARGET, threshold=THRESHOLD):
    """Track 3 rule 3: the mean of n runs is significantly below the target.

    One run needs a loss below 3.276, four runs a mean below 3.278.
    """
    margin = rule_margin(mean, n, target)
    return math.isfinite(margin) and margin >= threshold


def pairwise_lhs(
    steps_a, mean_a, n_a, steps_b, mean_b, n_b, loss_per_100=LOSS_PER_100_STEPS
):
    """Left-hand side of Track 3 rule 5 for "A is better than B".

    The loss difference ``mean_b - mean_a`` plus the loss that A's fewer steps
    are worth, ``(steps_b - steps_a) / 100 * 0.0045``, divided by the
    standard deviation of a difference of two means, in units of sigma:
    ``sqrt(1/n_a + 1/n_b)``. NaN when a side has no run or no finite mean.
    """
    if not (n_a and n_b and n_a >= 1 and n_b >= 1):
        return math.nan
    values = (steps_a, mean_a, steps_b, mean_b)
    if any(v is None or not math.isfinite(v) for v in values):
        return math.nan
    loss_diff = mean_b - mean_a
    step_diff = (steps_b - steps_a) / 100 * loss_per_100
    return (loss_diff + step_diff) / math.sqrt(1 / n_a + 1 / n_b)


def pairwise_significant(
    steps_a, mean_a, n_a, steps_b, mean_b, n_b, threshold=THRESHOLD
):
    """Track 3 rule 5: A is significantly better than B (not symmetric: swap
    the arguments to ask whether B is better than A)."""
    lhs = pairwise_lhs(steps_a, mean_a, n_a, steps_b, mean_b, n_b)
    return math.isfinite(lhs) and lhs >= threshold
