"""The report's figures, per problem, with matplotlib's object API (no pyplot,
no display: Agg for PNG, the vector backends for PDF and SVG).

Every figure is sized for a paper column (4 in wide, 8-9 pt text) and keeps
its colours across figures: one colour (and line style, past the palette)
per solver configuration at its step count N.
"""

import io
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)

from ..results import THRESHOLD
from ..results.runs import UNFINISHED

WIDTH = 3.5  # inches: about one paper column (3.25-3.5 in)
HEIGHT = 2.6
DPI = 200
FORMATS = ("png", "pdf", "svg")

#: Okabe-Ito (colour-blind safe, without its yellow), then a few more.
COLOURS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#8C564B",
    "#7F7F7F",
    "#BCBD22",
)
LINESTYLES = ("-", "--", "-.", ":")

STYLE = {
    "font.size": 8.5,
    "axes.labelsize": 8.5,
    "axes.titlesize": 8.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7,
    "legend.handlelength": 2.2,
    "legend.borderaxespad": 0.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.5,
    "lines.linewidth": 1.3,
    "axes.linewidth": 0.6,
    "pdf.fonttype": 42,  # TrueType in PDF: text stays text in papers
    "svg.fonttype": "none",
    "svg.hashsalt": "benchmark-nanogpt-report",
    "figure.dpi": 100,
    "savefig.dpi": DPI,
}

#: Axes: quantity -> axis label.
X_LABELS = {
    "step": "optimizer steps",
    "tokens": "training tokens",
    "time": "training time (s)",
    "flops": "training FLOPs",
}
Y_LABELS = {
    "val_loss": "validation loss",
    "train_loss": "training loss",
    "excess_loss": "validation loss - entropy floor",
}
#: A legend goes below the axes beyond this many entries or this label length.
INSIDE_ENTRIES = 5
INSIDE_LABEL_CHARS = 30
LABEL_WIDTH = 34  # legend labels are wrapped at this many characters
#: Zoom near the target: the y range spans at least this much loss, and the
#: worst final loss it tries to show lies at most this far above the target.
ZOOM_MIN_SPAN = 0.03
ZOOM_MAX_ABOVE = 0.1
BAND = "min-max over seeds"
#: Tick spacings (times a power of 10) for linear axes.
ROUND_STEPS = (1, 2, 2.5, 5, 10)


@dataclass
class FigureFile:
    """One written figure: its files by format and its PNG bytes (for the
    self-contained HTML page)."""

    stem: str
    title: str
    caption: str
    files: dict = field(default_factory=dict)  # format -> Path
    png: bytes = b""
    size: tuple = (0, 0)  # PNG pixels (width, height)


def style_of(colours, curve):
    """A curve's colour (its configuration's, the same in every figure and
    problem) and line style (its N's rank among the configuration's step
    counts in the problem; past the palette, the colours repeat with the
    next style)."""
    index = colours.get(curve.colour_key, 0)
    return (
        COLOURS[index % len(COLOURS)],
        LINESTYLES[(index // len(COLOURS) + curve.style_index) % len(LINESTYLES)],
    )


def _wrap(label, width=LABEL_WIDTH):
    return "\n".join(textwrap.wrap(label, width, break_on_hyphens=False)) or label


def _plain(text):
    """``text`` shown as is by matplotlib (a ``$`` would start math)."""
    return str(text).replace("$", r"\$")


def _si(value, _pos=None):
    """1500000000 -> '1.5B' (tokens)."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


NICE = (1, 1.2, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8)


def log_ticks(lo, hi, max_ticks=6):
    """Round tick values between lo and hi, evenly spread on a log axis."""
    if not (lo > 0 and hi > lo):
        return []
    low, high = math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1
    candidates = [
        m * 10.0**e
        for e in range(low, high + 1)
        for m in NICE
        if lo <= m * 10.0**e <= hi
    ]
    gap = (math.log(hi) - math.log(lo)) / max_ticks
    ticks = []
    for value in candidates:
        if not ticks or math.log(value) - math.log(ticks[-1]) >= 0.75 * gap:
            ticks.append(value)
    if len(ticks) < 3:  # a narrow range: plain round values
        ticks = [t for t in MaxNLocator(5).tick_values(lo, hi) if lo <= t <= hi]
    return ticks


def _set_log_y(ax, lo, hi):
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ax.yaxis.set_major_locator(FixedLocator(log_ticks(lo, hi)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _format_x(ax, x):
    if x == "tokens":
        ax.xaxis.set_major_formatter(FuncFormatter(_si))
    elif x == "flops":
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0), useMathText=True)
    ax.xaxis.set_major_locator(
        MaxNLocator(7, steps=ROUND_STEPS, integer=x in ("step", "tokens"))
    )
    ax.set_xlabel(X_LABELS[x])


def _new_figure(height=HEIGHT):
    return Figure(figsize=(WIDTH, height), layout="constrained")


def _legend(fig, ax, handles, loc="best"):
    """Inside the axes when short, else below them (the figure grows)."""
    if not handles:
        return
    labels = [h.get_label() for h in handles]
    longest = max(len(label) for label in labels)
    if len(handles) <= INSIDE_ENTRIES and longest <= INSIDE_LABEL_CHARS:
        ax.legend(handles=handles, loc=loc, framealpha=0.9, edgecolor="0.8")
        return
    ncol = 2 if longest <= 30 else 1
    wrapped = [_wrap(label, 44 if ncol == 1 else 30) for label in labels]
    lines = sum(
        max(wrapped[i].count("\n") + 1 for i in range(j, min(j + ncol, len(wrapped))))
        for j in range(0, len(wrapped), ncol)
    )
    fig.set_figheight(fig.get_figheight() + 0.15 * lines + 0.15)
    for handle, label in zip(handles, wrapped):
        handle.set_label(label)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=ncol,
        frameon=False,
    )


def _target_handles(ax, problem, with_thresholds):
    """Target line and, near it, the rule's pass threshold for each n."""
    handles = []
    target = problem.target_line
    if target is None:
        return handles
    handles.append(
        ax.axhline(target, color="0.15", ls="--", lw=0.9, label=f"target {target:g}")
    )
    seeds = problem.seeds
    if with_thresholds and 0 < len(seeds) <= 3:
        for n, style in zip(seeds, ((0, (1, 1.5)), (0, (3, 1, 1, 1)), (0, (1, 3)))):
            level = target - THRESHOLD / math.sqrt(n)
            handles.append(
                ax.axhline(
                    level,
                    color="0.45",
                    ls=style,
                    lw=0.9,
                    label=f"pass if mean < {level:.4f} (n={n})",
                )
            )
    return handles


def _key(label, **style):
    """A legend entry drawn with ``style`` (no data)."""
    return Line2D([], [], label=label, **style)


#: The earliest passing step: a white diamond (its row's colour on curves).
DIAMOND = dict(marker="D", ms=5, mec="black", mew=0.8, ls="none")


def _failed_handle(failed):
    """Legend entry of the failed runs drawn, ``failed`` as
    :func:`_plot_curves` returns them."""
    cut = any(unfinished for *_, unfinished in failed)
    what = "x: last value, |: stopped" if cut else "x: last value"
    marker = "|" if cut else "x"
    style = dict(color="0.35", ls=":", lw=0.9, marker=marker, ms=5)
    return _key(f"failed run ({what})", **style)


def unfinished_note(curve):
    """`` (1 run unfinished at step 180 of N=200)`` for a row with runs
    that stopped before N (the steps they reached), else ``""``."""
    cut = [run for run, _ in curve.failed if run.status == UNFINISHED]
    if not cut:
        return ""
    steps = ", ".join(sorted({f"{run.last_step:.0f}" for run in cut}, key=float))
    n = curve.row.train_steps
    runs = f"{len(cut)} run{'s' if len(cut) > 1 else ''}"
    return f" ({runs} unfinished at step {steps} of N={n if n else '?'})"


def _plot_curves(ax, problem, colours, x, y):
    """Mean curves with their band, and failed runs dotted. Returns the
    legend handles, the y values of the means (after step 0) and the points
    (x, y arrays, unfinished or not) of the failed runs drawn."""
    handles, values, failed = [], [], []
    for curve in problem.curves:
        colour, style = style_of(colours, curve)
        mean = curve.mean(x, y)
        label = _plain(curve.label)
        if not curve.completed:
            label += " (no completed run)"
        elif mean.empty:
            label += " (not recorded)"
        label += unfinished_note(curve)
        marker = "o" if 0 < len(mean) <= 12 else None
        (line,) = ax.plot(
            mean["x"],
            mean["y"],
            color=colour,
            ls=style,
            marker=marker,
            ms=2.5,
            label=label,
            zorder=3,
        )
        handles.append(line)
        if (mean["n"] > 1).any():
            ax.fill_between(
                mean["x"],
                mean["lo"],
                mean["hi"],
                color=colour,
                alpha=0.2,
                lw=0,
                zorder=2,
            )
        values += list(mean.loc[mean["step"] > 0, "y"])
        values += list(mean.loc[mean["step"] > 0, "lo"].dropna())
        for run, frame in curve.failed:
            if frame is None or x not in frame or y not in frame:
                continue
            ok = np.isfinite(frame[x]) & np.isfinite(frame[y])
            points = frame[ok]
            if points.empty:
                continue
            cut = run.status == UNFINISHED
            failed.append((points[x].to_numpy(), points[y].to_numpy(), cut))
            ax.plot(points[x], points[y], color=colour, ls=":", lw=0.9, zorder=2)
            end = (points[x].iloc[-1], points[y].iloc[-1])
            ax.plot(
                *end,
                color=colour,
                marker="|" if cut else "x",
                ms=9 if cut else 5,
                mew=1.6 if cut else 1.2,
                ls="none",
                zorder=4,
            )
            if cut:
                ax.annotate(
                    f"unfinished at step {run.last_step:.0f}",
                    end,
                    xytext=(-3, 5),
                    textcoords="offset points",
                    ha="right",
                    fontsize=6,
                    color=colour,
                    zorder=5,
                )
    return handles, values, failed


def curve_figure(problem, colours, x, y):
    """``y`` (a loss) against ``x`` (steps, tokens, time or FLOPs): the mean
    over seeds with a min-max band; log y axis when the range is wide."""
    fig = _new_figure()
    ax = fig.add_subplot()
    handles, values, failed = _plot_curves(ax, problem, colours, x, y)
    if y == "val_loss":
        handles += _target_handles(ax, problem, with_thresholds=False)
    if failed:
        handles.append(_failed_handle(failed))
    values = [v for v in values if math.isfinite(v)]
    if values:
        lo, hi = min(values), max(values)
        if y == "val_loss" and problem.target_line is not None:
            lo = min(lo, problem.target_line)
        if lo > 0 and hi / lo > 1.5:
            _set_log_y(ax, lo * 0.98, hi * 1.04)
        else:
            pad = 0.05 * (hi - lo) or 0.01 * abs(hi) or 0.01
            ax.set_ylim(lo - pad, hi + pad)
    ax.set_ylabel(Y_LABELS[y])
    _format_x(ax, x)
    _legend(fig, ax, handles)
    return fig


def zoom_limits(problem, means):
    """y range of the zoom near the target: from a little below the lowest
    of the target and the mean curves to some way above the target and the
    final mean losses, leaving out those more than
    :data:`ZOOM_MAX_ABOVE` above the target (or the best final loss)."""
    finals = [m["y"].iloc[-1] for m in means if len(m)]
    lows = [m["y"].min() for m in means if len(m)]
    target = problem.target_line
    anchor = target if target is not None else (min(finals) if finals else None)
    if anchor is None:
        return None
    lo = min([anchor, *lows])
    hi = max([anchor, *(f for f in finals if f <= anchor + ZOOM_MAX_ABOVE)])
    span = max(hi - lo, ZOOM_MIN_SPAN)
    return lo - 0.15 * span, hi + 0.6 * span


def zoom_figure(problem, colours):
    """Validation loss against steps, zoomed near the target, with the rule's
    pass thresholds and each row's earliest passing step."""
    fig = _new_figure()
    ax = fig.add_subplot()
    handles, _values, failed = _plot_curves(ax, problem, colours, "step", "val_loss")
    means = [curve.mean("step", "val_loss") for curve in problem.curves]
    limits = zoom_limits(problem, means)
    handles += _target_handles(ax, problem, with_thresholds=True)
    passed = False
    for curve, mean in zip(problem.curves, means):
        step = curve.row.earliest_pass_step
        at = mean[mean["step"] == step] if step is not None else mean.iloc[:0]
        if len(at):
            colour, _ = style_of(colours, curve)
            ax.plot(at["x"], at["y"], color=colour, zorder=5, **DIAMOND)
            passed = True
    if passed:
        handles.append(_earliest_pass_handle())
    if limits is not None:
        ax.set_ylim(*limits)
        top = limits[1]
        starts = [m.loc[m["y"] <= top, "x"].min() for m in means if len(m)]
        starts = [s for s in starts if math.isfinite(s)]
        ends = [m["x"].max() for m in means if len(m)]
        if starts and ends:
            left, right = min(starts), max(ends)
            pad = 0.04 * (right - left) or 1
            ax.set_xlim(max(0.0, left - pad), right + pad)
        for handle, mean in zip(handles, means):
            if len(mean) and not (mean["y"] <= top).any():
                handle.set_label(handle.get_label() + " (above the range)")
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    shown = [
        item
        for item in failed
        if ((item[0] >= x0) & (item[0] <= x1) & (item[1] >= y0) & (item[1] <= y1)).any()
    ]
    if shown:
        handles.append(_failed_handle(shown))
    ax.set_ylabel(Y_LABELS["val_loss"])
    ax.yaxis.set_major_locator(MaxNLocator(6))
    _format_x(ax, "step")
    _legend(fig, ax, handles, loc="best")
    return fig


def _row_axis(ax, curves):
    """One labelled row per configuration, top down, no y grid."""
    ax.set_yticks(range(len(curves)), [_wrap(_plain(c.label), 22) for c in curves])
    ax.set_ylim(len(curves) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)


def _legend_below(fig, handles, ncol, grow):
    """A small-print legend below the axes; the figure grows by ``grow``
    inches to make room."""
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=ncol,
        frameon=False,
        fontsize=6.5,
    )
    fig.set_figheight(fig.get_figheight() + grow)


def _verdict_text(row, baseline):
    if row.n_failed:
        failures = ", ".join(f"{n} {status}" for status, n in row.failures.items())
        first = f"{row.verdict}: {failures}"
    elif math.isfinite(row.rule_margin):
        first = f"{row.verdict}, margin {row.rule_margin:.4f}"
    else:
        first = row.verdict
    first += f" (n={row.n_runs})"
    if baseline is None:
        return first
    if row.pairwise_verdict == "baseline":
        return first + "\nbaseline"
    return first + f"\nvs baseline: {row.pairwise_verdict}"


def steps_figure(problem, colours):
    """One bar per row: its step count N (solid: the rule passes; hatched:
    it fails), a diamond at the earliest passing step, and the verdict."""
    curves = problem.curves
    baseline = problem.table.baseline
    per_row = 0.42 if baseline is not None else 0.32
    fig = _new_figure(max(1.6, 0.75 + per_row * len(curves)))
    ax = fig.add_subplot()
    steps = [c.row.train_steps for c in curves if c.row.train_steps is not None]
    longest = max(steps, default=1)
    any_pass_marker = False
    notes = []
    for i, curve in enumerate(curves):
        row = curve.row
        colour, _ = style_of(colours, curve)
        n_steps = row.train_steps
        ok = row.verdict == "PASS"
        if n_steps is not None:
            ax.barh(
                i,
                n_steps,
                height=0.6,
                color=colour if ok else "white",
                edgecolor=colour,
                hatch=None if ok else "////",
                lw=1.0,
                zorder=3,
            )
        if row.earliest_pass_step is not None:
            ax.plot(row.earliest_pass_step, i, color="white", zorder=4, **DIAMOND)
            any_pass_marker = True
        text = _verdict_text(row, baseline)
        if n_steps is None:
            text = "N unknown; " + text
        notes.append(
            ax.annotate(
                text,
                xy=(n_steps or 0, i),
                xytext=(7, 0),
                textcoords="offset points",
                va="center",
                ha="left",
                fontsize=6.5,
                linespacing=1.1,
                zorder=5,
            )
        )
    _row_axis(ax, curves)
    published = problem.published
    for k, row in enumerate(sorted(published, key=lambda r: r.train_steps)):
        ax.axvline(row.train_steps, color="0.4", ls=(0, (4, 2)), lw=0.8, zorder=2)
        ax.annotate(
            f"#{row.published.number}",
            xy=(row.train_steps, 1),
            xycoords=("data", "axes fraction"),
            xytext=(0, 2 + 7 * (k % 2)),  # close N values: labels alternate
            textcoords="offset points",
            fontsize=6,
            color="0.3",
            ha="center",
            va="bottom",
        )
    longest = max([longest, *(row.train_steps for row in published)])
    ax.set_xlim(0, _right_limit_for_notes(fig, ax, notes, longest * 1.75))
    ax.xaxis.set_major_locator(MaxNLocator(4, steps=ROUND_STEPS))
    ax.set_xlabel("optimizer steps N (bar)")
    handles = [
        Patch(facecolor="0.5", edgecolor="0.5", label="PASS"),
        Patch(facecolor="white", edgecolor="0.5", hatch="////", label="FAIL"),
    ]
    if any_pass_marker:
        handles.append(_earliest_pass_handle())
    if published:
        handles.append(_key("published N (#K)", color="0.4", ls=(0, (4, 2)), lw=0.8))
    ncol = 3 if len(handles) > 3 else len(handles)
    _legend_below(fig, handles, ncol=ncol, grow=0.2 * math.ceil(len(handles) / ncol))
    return fig


def final_loss_figure(problem, colours):
    """The final validation loss of every seed (dots), the mean of the
    completed seeds (bar), failed seeds (x at the right edge), the target
    and the rule's pass threshold for each n."""
    curves = problem.curves
    fig = _new_figure(max(1.6, 0.85 + 0.3 * len(curves)))
    ax = fig.add_subplot()
    done = [
        [
            r.final_val_loss
            for r in c.row.runs
            if not r.failed and math.isfinite(r.final_val_loss)
        ]
        for c in curves
    ]
    target = problem.target_line
    reference = sum(done, []) + ([target] if target is not None else [])
    if not reference:
        return None
    lo, hi = min(reference), max(reference)
    if target is not None:
        lo = min(lo, target - THRESHOLD * 1.05)
    span = (hi - lo) or 0.01
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    failed_x = hi + 0.06 * span
    any_failed = False
    rng = np.random.default_rng(0)
    level_style = dict(color="0.35", ls=(0, (1, 1.2)), lw=1.2)
    for i, (curve, seeds) in enumerate(zip(curves, done)):
        colour, _ = style_of(colours, curve)
        jitter = rng.uniform(-0.13, 0.13, len(seeds))
        ax.plot(seeds, i + jitter, "o", color=colour, ms=3.5, alpha=0.85, zorder=3)
        if seeds:
            ax.plot([np.mean(seeds)] * 2, [i - 0.3, i + 0.3], "k", lw=1.6, zorder=4)
        n = curve.row.n_completed
        if target is not None and n:
            level = target - THRESHOLD / math.sqrt(n)
            ax.plot([level] * 2, [i - 0.42, i + 0.42], zorder=2, **level_style)
        if curve.row.n_failed:
            any_failed = True
            ax.plot(failed_x, i, "x", color=colour, ms=6, mew=1.5, zorder=3)
            ax.text(
                failed_x,
                i - 0.32,
                ", ".join(f"{n} {why}" for why, n in curve.row.failures.items()),
                fontsize=6,
                ha="center",
                va="bottom",
            )
    handles = [
        _key("seed", color="0.3", marker="o", ls="none", ms=3.5),
        _key("mean of completed seeds", color="black", lw=1.6),
    ]
    if target is not None:
        style = dict(color="0.15", ls="--", lw=0.9)
        handles.append(ax.axvline(target, label=f"target {target:g}", **style))
        if any(curve.row.n_completed for curve in curves):
            label = f"pass level: target - {THRESHOLD}/sqrt(n)"
            handles.append(_key(label, **level_style))
    if any_failed:
        handles.append(_key("failed", color="0.3", marker="x", ls="none", ms=5))
    ax.set_xlim(lo, failed_x + 0.06 * span if any_failed else hi)
    _row_axis(ax, curves)
    ax.xaxis.set_major_locator(MaxNLocator(5, steps=ROUND_STEPS))
    ax.set_xlabel("final validation loss (at N)")
    _legend_below(fig, handles, ncol=2, grow=0.15 * math.ceil(len(handles) / 2) + 0.1)
    return fig


def save_figure(fig, folder, stem, formats):
    """Write ``fig`` in each format (PNG at :data:`DPI`); return the files
    by format, the PNG bytes and the PNG size in pixels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    png = buffer.getvalue()
    width, height = fig.get_size_inches()
    size = (round(width * DPI), round(height * DPI))
    files = {}
    for fmt in formats:
        path = folder / f"{stem}.{fmt}"
        if fmt == "png":
            path.write_bytes(png)
        else:
            metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}
            fig.savefig(path, format=fmt, metadata=metadata.get(fmt))
        files[fmt] = path
    return files, png, size


#: Curve figures' x axes, as their captions name them.
X_CAPTIONS = {
    "step": "optimizer steps",
    "tokens": "training tokens (steps x global batch)",
    "time": "training time (seconds, evaluation excluded)",
    "flops": "cumulative training FLOPs",
}
#: Other losses against steps: (stem, title, what the caption says).
STEP_CURVES = {
    "train_loss": (
        "Training loss",
        "Training loss (as the trainer reports it at each evaluation)",
    ),
    "excess_loss": (
        "Excess loss over the entropy floor",
        "Validation loss minus the data's entropy rate (synthetic data with a "
        "known floor)",
    ),
}


def _figure_specs(problem, colours):
    """(stem suffix, title, caption, build) of every figure of a problem."""
    specs = []

    def add(name, title, caption, build):
        specs.append((name, title, caption, build))

    band = f"Lines: mean over the completed seeds; shaded: {BAND}"
    if any(f is not None for c in problem.curves for _, f in c.failed):
        band += (
            "; dotted: failed runs, ending in an x at their last value, or in a "
            "bar labelled with the step they reached when they stopped before "
            "N (unfinished)"
        )
    target_line = (
        f"; dashed: the target {problem.target_line:g}"
        if problem.target_line is not None
        else "; no target line (none recorded)"
    )
    for x, what in X_CAPTIONS.items():
        if not (problem.has(x) and problem.has("val_loss")):
            continue
        add(
            f"val_loss_{x}",
            f"Validation loss against {X_LABELS[x]}",
            f"Validation loss against {what}. {band}{target_line}. Log y axis "
            "when the range is wide; the loss at step 0 is left out of the y "
            "range.",
            lambda x=x: curve_figure(problem, colours, x, "val_loss"),
        )
        if x == "step":
            add(
                "val_loss_zoom",
                "Validation loss near the target",
                "Validation loss against optimizer steps, zoomed near the "
                f"target. {band}{target_line}; dotted grey: the Track 3 rule's "
                f"pass level for the mean of n seeds, target - {THRESHOLD}/"
                "sqrt(n); diamonds: the earliest step evaluated in every seed "
                "at which the mean passes.",
                lambda: zoom_figure(problem, colours),
            )
    caption = (
        "Step count N of each configuration (bar; solid: the Track 3 rule "
        f"passes, (target - mean) x sqrt(n) >= {THRESHOLD} with no failed run; "
        "hatched: it fails), the earliest passing step (diamond), the rule "
        "margin and the number of runs n"
    )
    baseline = problem.table.baseline
    if baseline is not None:
        caption += (
            f", and Track 3's pairwise test against the baseline {baseline} "
            "(better / worse / n.s.: not significant; incomplete: a side has "
            "failed runs)"
        )
    caption += "."
    if problem.published:
        numbers = ", #".join(str(r.published.number) for r in problem.published)
        caption += (
            f" Dashed vertical lines: the N of the published Track 3 entries "
            f"#{numbers} (their rows in the table)."
        )
    add(
        "steps_to_target",
        "Steps to target and significance",
        caption,
        lambda: steps_figure(problem, colours),
    )
    add(
        "final_loss",
        "Final validation loss per seed",
        "Final validation loss (at N) of every seed (dots, jittered "
        "vertically), the mean of the completed seeds (black bar), failed "
        "seeds (x at the right), the target (dashed) and, per row, the level "
        "its mean must beat for the rule to pass with its n completed seeds, "
        f"target - {THRESHOLD}/sqrt(n) (dotted).",
        lambda: final_loss_figure(problem, colours),
    )
    for y, (title, what) in STEP_CURVES.items():
        if problem.has(y):
            add(
                f"{y}_step",
                title,
                f"{what} against optimizer steps. {band}.",
                lambda y=y: curve_figure(problem, colours, "step", y),
            )
    return specs


def problem_figures(problem, colours, folder, formats, errors=None):
    """Every figure of one problem: a list of :class:`FigureFile`. A figure
    that raises is left out and its error appended to ``errors`` (a list of
    (stem, message)); without ``errors`` the exception propagates."""
    out = []
    for name, title, caption, build in _figure_specs(problem, colours):
        stem = f"{problem.slug}_{name}"
        try:
            fig = build()
            if fig is None:
                continue
            files, png, size = save_figure(fig, folder, stem, formats)
        except Exception as error:
            if errors is None:
                raise
            errors.append((stem, f"{type(error).__name__}: {error}"))
            continue
        out.append(FigureFile(stem, title, caption, files, png, size))
    return out


def all_figures(data, folder, formats, errors=None):
    """Figures of every problem: {problem index: [FigureFile, ...]}; see
    :func:`problem_figures` for ``errors``."""
    with matplotlib.rc_context(STYLE):
        return {
            problem.index: problem_figures(
                problem, data.colours, folder, formats, errors
            )
            for problem in data.problems
        }


def _right_limit_for_notes(fig, ax, notes, minimum):
    """The x limit at which every annotation (text of a fixed width in
    points, starting just after its bar's end in data units) ends inside the
    axes: with limit R and axes width W pixels, a note of width w starting
    at bar end x plus an offset o ends at x W / R + o + w <= W."""
    canvas = FigureCanvasAgg(fig)  # measuring text needs a renderer
    canvas.draw()
    renderer = canvas.get_renderer()
    width = ax.get_window_extent(renderer).width
    needed = minimum
    for note in notes:
        x = note.xy[0]
        offset = note.get_window_extent(renderer).x0 - ax.transData.transform((x, 0))[0]
        room = width - offset - note.get_window_extent(renderer).width
        if x > 0 and room > 0:
            # 5% slack: the legend added later may narrow the axes a little.
            needed = max(needed, 1.05 * x * width / room)
    return needed


def _earliest_pass_handle():
    return _key("earliest passing step", color="white", **DIAMOND)
