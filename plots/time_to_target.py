"""Time (or steps) for each solver to reach the objective's target
validation loss, one bar per solver (the median over repetitions)."""

from benchopt import BasePlot

from benchmark_utils import plotting


class Plot(BasePlot):
    name = "time_to_target"
    type = "bar_chart"
    options = {
        "dataset": plotting.dataset_labels,
        "objective": plotting.objective_labels,
        "measure": ["time", "step"],
    }

    def plot(self, df, dataset, objective, measure):
        bars = []
        for solver, rows in plotting.solvers(df, dataset, objective):
            values, n_reached, n_runs = plotting.time_to_target(rows, measure)
            bar = {
                "y": values,
                "label": solver,
                "color": self.get_style(solver)["color"],
            }
            bar["text"] = "" if n_reached == n_runs else f"{n_reached}/{n_runs} runs"
            if n_reached == 0:
                # Drawn grey at the longest run (as benchopt does), and
                # named so in the label, which the PDF shows too.
                longest = rows["time"] if measure == "time" else rows["stop_val"]
                bar.update(
                    y=[float(longest.max())],
                    text="target not reached",
                    label=f"{solver} (not reached)",
                )
            bars.append(bar)
        return bars

    def get_metadata(self, df, dataset, objective, measure):
        return {
            "title": plotting.title(df, dataset, objective),
            "ylabel": "Time to target [s]" if measure == "time" else "Steps to target",
        }
