"""What the benchmark's ``benchopt plot`` kinds draw (``plots/*.py``).

benchopt 1.10's ``objective_curve`` takes y from the rows where a metric is
set (``pivot_table`` drops NaN) but x from every row, so ``--no-html`` crashes
and the HTML page shifts the curve; and ``--no-html`` names figures with
``Path.with_suffix``, which cuts at the dots of parameter values, so they
overwrite each other. Here x and y come from the same rows, and keys are short
labels without dots. ``python -m benchmark_tools.plotting`` makes the HTML
page work offline.
"""

import hashlib
import math
import re

from .tracking import split_name

# Metrics drawn first, in this order; other numeric objective columns follow
# unless they are bookkeeping or throughput (the report plots throughput).
PREFERRED_METRICS = ("val_loss", "train_loss", "excess_loss", "hellaswag")
SKIPPED_METRICS = set(
    "value step tokens reached_target budget_used train_steps target diverged "
    "tokens_per_second train_flops mfu peak_memory_gib world_size peak_tflops "
    "flops_per_token micro_batch_size train_time".split()
)
METRIC_LABELS = {
    "val_loss": "Validation loss",
    "train_loss": "Training loss",
    "excess_loss": "Validation loss - floor",
    "hellaswag": "HellaSwag accuracy",
}
X_AXES = ("time", "step")
X_LABELS = {"time": "Time [s]", "step": "Step"}
MAX_LABEL = 60


def _safe(text):
    """No dots (``Path.with_suffix`` cuts there), spaces or path separators."""
    return re.sub(r'[/\\:*?"<>|\s]', "_", text.replace(".", "p"))


def short_labels(names, safe=True):
    """``{name: label}``: each benchopt name's base name, with only the
    parameters that differ between names of the same base; unique, at most
    MAX_LABEL characters (else base and a digest). ``safe``: fit for file
    names (a dot becomes ``p``: ``lr=0p003``; spaces become ``_``)."""
    clean = _safe if safe else str
    parsed = {name: split_name(name) for name in map(str, names)}
    labels = {}
    for name, (base, params) in parsed.items():
        group = [other for other_base, other in parsed.values() if other_base == base]
        label = base
        if len(group) > 1:
            differing = [k for k in params if len({p.get(k) for p in group}) > 1]
            label += "[" + ",".join(f"{k}={params[k]}" for k in differing) + "]"
        label = clean(label)
        if len(label) > MAX_LABEL or label in labels.values():
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            label = f"{clean(base)[: MAX_LABEL - 9]}-{digest}"
        labels[name] = label
    return labels


def dataset_labels(df):
    return list(short_labels(df["dataset_name"].unique()).values())


def objective_labels(df):
    return list(short_labels(df["objective_name"].unique()).values())


def _name(df, column, label):
    """The name in ``column`` whose label is ``label``."""
    labels = short_labels(df[column].unique())
    return {lab: name for name, lab in labels.items()}[label]


def solvers(df, dataset_label, objective_label):
    """``(legend label, rows)`` of each solver on the dataset and objective
    that carry these labels."""
    dataset = _name(df, "dataset_name", dataset_label)
    objective = _name(df, "objective_name", objective_label)
    df = df[(df["dataset_name"] == dataset) & (df["objective_name"] == objective)]
    legend = short_labels(df["solver_name"].unique(), safe=False)
    return [(legend[name], rows) for name, rows in df.groupby("solver_name")]


def title(df, dataset_label, objective_label):
    """The figure title: dataset and objective labels, readable (with dots)."""
    wanted = {"dataset_name": dataset_label, "objective_name": objective_label}
    lines = []
    for column, label in wanted.items():
        readable = short_labels(df[column].unique(), safe=False)
        lines.append(readable[_name(df, column, label)])
    return "\n".join(lines)


def metric_columns(df):
    """Metric names (objective columns without the ``objective_`` prefix) worth
    drawing: numeric, with at least one finite value; the preferred first."""
    numeric = df.select_dtypes(["number", "bool"]).filter(regex="^objective_")
    found = numeric.columns[numeric.notna().any()].str.removeprefix("objective_")
    order = {metric: i for i, metric in enumerate(PREFERRED_METRICS)}
    found = [metric for metric in found if metric not in SKIPPED_METRICS]
    return sorted(found, key=lambda metric: order.get(metric, len(order)))


def _x_values(df, x_axis):
    if x_axis == "time":
        return df["time"]
    if x_axis == "step":
        return df["objective_step"] if "objective_step" in df else df["stop_val"]
    raise ValueError(f"unknown x axis {x_axis!r}: one of {', '.join(X_AXES)}")


def curve(df, metric, x_axis):
    """One solver's curve: ``{"x", "y"}`` (and ``x_low``/``x_high``, the 20% and
    80% quantiles of time over repetitions) from the rows where ``metric``
    is finite, each point the median over the repetitions that have it.
    ``None`` when no row has a value."""
    column = f"objective_{metric}"
    if column not in df:
        return None
    rows = df[df[column].notna() & (df[column].abs() != math.inf)].copy()
    if rows.empty:
        return None
    rows["_x"] = _x_values(rows, x_axis).astype(float)
    grouped = rows.groupby("stop_val")
    points = {
        "x": grouped["_x"].median().tolist(),
        "y": grouped[column].median().tolist(),
    }
    if x_axis == "time" and rows["idx_rep"].nunique() > 1:
        points["x_low"] = grouped["_x"].quantile(0.2).tolist()
        points["x_high"] = grouped["_x"].quantile(0.8).tolist()
    return points


def time_to_target(df, measure="time"):
    """``(values, n_reached, n_runs)``: for each repetition of one solver that
    reached the target (``objective_reached_target``), the time (or step) of
    its first evaluation at the target."""
    n_runs = df["idx_rep"].nunique()
    if "objective_reached_target" not in df:
        return [], 0, n_runs
    values = []
    for _, run in df.sort_values("stop_val").groupby("idx_rep"):
        hit = run[run["objective_reached_target"] >= 1]
        if not hit.empty:
            values.append(float(_x_values(hit, measure).iloc[0]))
    return values, len(values), n_runs
