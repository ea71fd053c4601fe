"""Time (or steps) for each solver to reach the objective's target
validation loss, one bar per solver (the median over repetitions)."""

from benchopt import BasePlot

from benchmark_utils.plotting import select, short_labels, time_to_target, title


def dataset_labels(df):
    return list(short_labels(df["dataset_name"].unique()).values())


def objective_labels(df):
    return list(short_labels(df["objective_name"].unique()).values())


class Plot(BasePlot):
    name = "time_to_target"
    type = "bar_chart"
    options = {
        "dataset": dataset_labels,
        "objective": objective_labels,
        "measure": ["time", "step"],
    }

    def plot(self, df, dataset, objective, measure):
        df = select(df, dataset, objective)
        legend = short_labels(df["solver_name"].unique(), safe=False)
        bars = []
        for name, rows in df.groupby("solver_name"):
            solver = legend[name]
            values, n_reached, n_runs = time_to_target(rows, measure)
            color = self.get_style(solver)["color"]
            if n_reached == 0:
                # Drawn grey at the longest run (as benchopt does), and
                # named so in the label, which the PDF shows too.
                longest = rows["time"] if measure == "time" else rows["stop_val"]
                bars.append(
                    {
                        "y": [float(longest.max())],
                        "text": "target not reached",
                        "label": f"{solver} (not reached)",
                        "color": color,
                    }
                )
                continue
            text = "" if n_reached == n_runs else f"{n_reached}/{n_runs} runs"
            bars.append({"y": values, "text": text, "label": solver, "color": color})
        return bars

    def get_metadata(self, df, dataset, objective, measure):
        return {
            "title": title(df, dataset, objective),
            "ylabel": "Time to target [s]" if measure == "time" else "Steps to target",
        }
