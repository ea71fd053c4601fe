"""When a run stops: at its step count N (Track 3), or at the target when the
objective asks for it (``stop_at_target``, a demo convenience that Track 3
forbids: no per-run decision may depend on the validation loss).

benchopt's defaults do not fit: its plateau criterion cuts noisy training
curves, ``--max-runs`` (10 evaluations by default) would cut a run short, and
a NaN value makes it drop the whole run from the results. Here a diverged run
stops and keeps its rows (NaN loss, ``diverged=1``): divergence is a result.
"""

import math

from benchopt.stopping_criterion import StoppingCriterion

# The step count bounds every run, not the number of evaluations.
UNBOUNDED_EVALUATIONS = 10**12


class ProtocolCriterion(StoppingCriterion):
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

    def should_stop(self, stop_val, objective_list):
        last = objective_list[-1]
        value = last.get(self.key_to_monitor_, 0.0)
        if last.get("objective_diverged", 0.0) >= 1.0 or math.isnan(value):
            return True, "done", stop_val  # keep the run's rows
        return super().should_stop(stop_val, objective_list)

    def check_convergence(self, objective_list):
        last = objective_list[-1]
        problem = getattr(getattr(self, "solver", None), "problem", None)
        if (
            getattr(problem, "stop_at_target", False)
            and last.get("objective_reached_target", 0.0) >= 1.0
        ):
            return True, 1.0
        # The solver itself returns at its step count N.
        return False, float(last.get("objective_budget_used", 0.0))
