"""What the benchmark's ``benchopt plot`` kinds draw (``plots/*.py``).

benchopt 1.10's own ``objective_curve`` cannot draw this benchmark's results:

- it pivots each metric with ``pivot_table``, which drops the rows where the
  metric is NaN (the training loss at step 0, ``excess_loss`` on data without
  a floor, any metric evaluated less often), but takes x from *every* row, so
  ``--no-html`` crashes with ``x and y must have same first dimension`` and
  the HTML page silently shifts the curve;
- ``--no-html`` saves each figure as ``outputs/<key>.pdf`` with
  ``Path.with_suffix``, and a key holds the dataset and objective names, whose
  parameter values have dots (``concentration=1.0``): everything after the
  last dot is replaced, so every figure gets the same truncated name and
  overwrites the previous one.

The ``training_curves`` and ``time_to_target`` kinds avoid both: x and y come
from the same rows (NaN values are left out), and the keys use short labels
without dots (:func:`short_labels`). This module is imported by ``benchopt
plot`` (through ``plots/``), so it lives with the run path; the fix-up that
makes the HTML page work offline is ``python -m benchmark_tools.plotting``.
"""

import hashlib
import math
import re

from .tracking import split_name

# Metrics drawn first, in this order; other numeric objective columns follow
# unless they are bookkeeping (SKIPPED_METRICS).
PREFERRED_METRICS = ("val_loss", "train_loss", "excess_loss", "hellaswag")
# Bookkeeping and throughput columns: not training curves (the report plots
# throughput).
SKIPPED_METRICS = (
    "value",
    "step",
    "tokens",
    "reached_target",
    "budget_used",
    "train_steps",
    "target",
    "diverged",
    "tokens_per_second",
    "train_flops",
    "mfu",
    "peak_memory_gib",
    "world_size",
    "peak_tflops",
    "flops_per_token",
    "micro_batch_size",
    "train_time",
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


# -- labels ------------------------------------------------------------------------


def _safe(text):
    """No dots (``Path.with_suffix`` would cut there), spaces or path
    separators."""
    return re.sub(r'[/\\:*?"<>|\s]', "_", text.replace(".", "p"))


def short_labels(names, safe=True):
    """``{name: label}``: each benchopt name's base name, with only the
    parameters that differ between names of the same base; unique, at most
    MAX_LABEL characters (else base and a digest). ``safe``: fit for file
    names (a dot becomes ``p``: ``lr=0p003``; spaces become ``_``)."""
    clean = _safe if safe else str
    names = list(dict.fromkeys(map(str, names)))  # in order of appearance
    parsed = {name: split_name(name) for name in names}
    by_base = {}
    for name, (base, _) in parsed.items():
        by_base.setdefault(base, []).append(name)
    labels = {}
    for base, group in by_base.items():
        for name in group:
            params = parsed[name][1]
            differing = [
                key
                for key in params
                if len({parsed[other][1].get(key) for other in group}) > 1
            ]
            label = base
            if len(group) > 1:
                label += "[" + ",".join(f"{k}={params[k]}" for k in differing) + "]"
            labels[name] = clean(label)
    seen = {}
    for name in names:
        label = labels[name]
        if len(label) > MAX_LABEL or label in seen:
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            label = f"{clean(parsed[name][0])[: MAX_LABEL - 9]}-{digest}"
        seen[label] = name
        labels[name] = label
    return labels


def names_by_label(names):
    """``{label: name}``, the inverse of :func:`short_labels`."""
    return {label: name for name, label in short_labels(names).items()}


def select(df, dataset_label, objective_label):
    """The rows of the dataset and objective that carry these labels."""
    dataset = names_by_label(df["dataset_name"].unique())[dataset_label]
    objective = names_by_label(df["objective_name"].unique())[objective_label]
    return df[(df["dataset_name"] == dataset) & (df["objective_name"] == objective)]


def title(df, dataset_label, objective_label):
    """The figure title: dataset and objective labels, readable (with dots)."""
    parts = []
    for column, label in (
        ("dataset_name", dataset_label),
        ("objective_name", objective_label),
    ):
        names = df[column].unique()
        parts.append(short_labels(names, safe=False)[names_by_label(names)[label]])
    return "\n".join(parts)


# -- curves ------------------------------------------------------------------------


def metric_columns(df):
    """Metric names (objective columns without the ``objective_`` prefix) worth
    drawing: numeric, with at least one finite value; the preferred ones
    first."""
    found = []
    for column in df.columns:
        if not column.startswith("objective_") or column == "objective_name":
            continue
        metric = column[len("objective_") :]
        if metric in SKIPPED_METRICS:
            continue
        values = df[column]
        if values.dtype.kind not in "biuf" or not values.notna().any():
            continue
        found.append(metric)
    order = {m: i for i, m in enumerate(PREFERRED_METRICS)}
    return sorted(found, key=lambda m: (order.get(m, len(order)), found.index(m)))


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
    points = {"x": grouped["_x"].median().tolist(), "y": grouped[column].median()}
    points["y"] = points["y"].tolist()
    if x_axis == "time" and rows["idx_rep"].nunique() > 1:
        points["x_low"] = grouped["_x"].quantile(0.2).tolist()
        points["x_high"] = grouped["_x"].quantile(0.8).tolist()
    return points


def time_to_target(df, measure="time"):
    """``(values, n_reached, n_runs)``: for each repetition of one solver that
    reached the target (``objective_reached_target``), the time (or step) of
    its first evaluation at the target."""
    if "objective_reached_target" not in df:
        return [], 0, df["idx_rep"].nunique()
    values = []
    for _, run in df.sort_values("stop_val").groupby("idx_rep"):
        hit = run[run["objective_reached_target"] >= 1]
        if not hit.empty:
            values.append(float(_x_values(hit, measure).iloc[0]))
    return values, len(values), df["idx_rep"].nunique()
