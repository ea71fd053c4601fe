"""Training curves: a metric (validation loss first) against time or step,
one curve per solver, NaN values left out (see benchmark_utils.plotting)."""

from benchopt import BasePlot

from benchmark_utils.plotting import (
    METRIC_LABELS,
    X_AXES,
    X_LABELS,
    curve,
    metric_columns,
    select,
    short_labels,
    title,
)


def dataset_labels(df):
    return list(short_labels(df["dataset_name"].unique()).values())


def objective_labels(df):
    return list(short_labels(df["objective_name"].unique()).values())


class Plot(BasePlot):
    name = "training_curves"
    type = "scatter"
    options = {
        "dataset": dataset_labels,
        "objective": objective_labels,
        "metric": metric_columns,
        "x_axis": list(X_AXES),
    }

    def plot(self, df, dataset, objective, metric, x_axis):
        df = select(df, dataset, objective)
        legend = short_labels(df["solver_name"].unique(), safe=False)
        curves = []
        for name, rows in df.groupby("solver_name"):
            solver = legend[name]
            points = curve(rows, metric, x_axis)
            if points is not None:
                curves.append({**points, "label": solver, **self.get_style(solver)})
        return curves

    def get_metadata(self, df, dataset, objective, metric, x_axis):
        return {
            "title": title(df, dataset, objective),
            "xlabel": X_LABELS[x_axis],
            "ylabel": METRIC_LABELS.get(metric, metric),
            "scale": "linear",
        }
