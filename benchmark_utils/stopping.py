"""Stop a run when it reaches the target validation loss.

benchopt's default criterion stops on a plateau, which cuts noisy training
curves. Here a run stops when the objective reports ``reached_target`` or when
the solver has spent the objective's step budget (the solver then returns).
"""

from benchopt.stopping_criterion import StoppingCriterion

# The step budget bounds every run; benchopt's --max-runs (default 10
# evaluations) would otherwise cut a training run after 10 evaluations.
UNBOUNDED_EVALUATIONS = 10**12


class TargetLossCriterion(StoppingCriterion):
    def __init__(self, strategy="callback", key_to_monitor="value", minimize=True):
        super().__init__(
            strategy=strategy, key_to_monitor=key_to_monitor, minimize=minimize
        )

    def get_runner_instance(
        self, max_runs=1, timeout=None, terminal=None, solver=None, run_key=None
    ):
        return super().get_runner_instance(
            max_runs=UNBOUNDED_EVALUATIONS,
            timeout=timeout,
            terminal=terminal,
            solver=solver,
            run_key=run_key,
        )

    def check_convergence(self, objective_list):
        last = objective_list[-1]
        if last.get("objective_reached_target", 0.0) >= 1.0:
            return True, 1.0
        return False, float(last.get("objective_budget_used", 0.0))
