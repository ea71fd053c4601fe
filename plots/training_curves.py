"""Training curves: a metric (validation loss first) against time or step,
one curve per solver, NaN values left out (see benchmark_utils.plotting). A
solver whose runs stopped before their N (a timeout, a kill) is labelled
"unfinished at step k of N=n": its curve is truncated, not converged."""

from benchopt import BasePlot

from benchmark_utils import plotting


def unfinished(rows):
    """`` (1 run unfinished at step 180 of N=200)`` when a run of ``rows``
    (one solver) ended before its N, else ``""``."""
    if "objective_train_steps" not in rows:
        return ""
    ends = rows.groupby("idx_rep")[["objective_step", "objective_train_steps"]].max()
    cut = ends[ends["objective_step"] < ends["objective_train_steps"]]
    if cut.empty:
        return ""
    steps = ", ".join(f"{s:.0f}" for s in sorted(set(cut["objective_step"])))
    n_steps = ", ".join(f"{n:.0f}" for n in sorted(set(cut["objective_train_steps"])))
    runs = f"{len(cut)} run{'s' if len(cut) > 1 else ''}"
    return f" ({runs} unfinished at step {steps} of N={n_steps})"


class Plot(BasePlot):
    name = "training_curves"
    type = "scatter"
    options = {
        "dataset": plotting.dataset_labels,
        "objective": plotting.objective_labels,
        "metric": plotting.metric_columns,
        "x_axis": list(plotting.X_AXES),
    }

    def plot(self, df, dataset, objective, metric, x_axis):
        curves = []
        for solver, rows in plotting.solvers(df, dataset, objective):
            points = plotting.curve(rows, metric, x_axis)
            if points is not None:
                style = self.get_style(solver)  # by solver: the same colour
                curves.append({**points, "label": solver + unfinished(rows), **style})
        return curves

    def get_metadata(self, df, dataset, objective, metric, x_axis):
        return {
            "title": plotting.title(df, dataset, objective),
            "xlabel": plotting.X_LABELS[x_axis],
            "ylabel": plotting.METRIC_LABELS.get(metric, metric),
            "scale": "linear",
        }
