"""The report's figures, per problem, with matplotlib's object API (no pyplot,
no display), sized for a paper column: 3.5 in wide, 7-8.5 pt text.

A solver configuration has one colour in every figure and problem; its step
counts N differ by line style. Failed runs are dotted and end in an x, or, when
they stopped before N, in a bar labelled with the step they reached.
"""

import io
import math
import textwrap
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from PIL import Image

from ..results import THRESHOLD
from ..results.runs import UNFINISHED

WIDTH = 3.5  # inches: about one paper column (3.25-3.5 in)
HEIGHT = 2.6
DPI = 200
FORMATS = ("png", "pdf", "svg")
#: Okabe-Ito (colour-blind safe, without its yellow), then a few more.
COLOURS = (
    "#0072B2 #D55E00 #009E73 #CC79A7 #E69F00 #56B4E9 #000000 #8C564B #7F7F7F #BCBD22"
).split()
LINESTYLES = ("-", "--", "-.", ":")
STYLE = {
    "font.size": 8.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7,
    "legend.handlelength": 2.2,
    "legend.borderaxespad": 0.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.5,
    "lines.linewidth": 1.3,
    "pdf.fonttype": 42,  # TrueType in PDF: text stays text in papers
    "svg.fonttype": "none",
    "svg.hashsalt": "benchmark-nanogpt-report",  # the same SVG for the same data
    "text.parse_math": False,  # labels shown as written: a "$" starts no math
}
#: x quantity -> (axis label, what captions call it).
X_AXES = {
    "step": ("optimizer steps", "optimizer steps"),
    "tokens": ("training tokens", "training tokens (steps x global batch)"),
    "time": ("training time (s)", "training time (seconds, evaluation excluded)"),
    "flops": ("training FLOPs", "cumulative training FLOPs"),
}
Y_LABELS = {
    "val_loss": "validation loss",
    "train_loss": "training loss",
    "excess_loss": "validation loss - entropy floor",
}
BAND = "min-max over seeds"
#: Zoom near the target: the y range spans at least this much loss, and shows
#: the final losses at most this far above the target.
ZOOM_MIN_SPAN = 0.03
ZOOM_MAX_ABOVE = 0.1
ROUND_STEPS = (1, 2, 2.5, 5, 10)  # tick spacings (times a power of 10)
NICE = (1, 1.2, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8)  # log-axis tick mantissas
TARGET_STYLE = dict(color="0.15", ls="--", lw=0.9)
#: The rule's pass levels for 1, 2 and 3 values of n seeds (zoom figure).
LEVEL_STYLES = ((0, (1, 1.5)), (0, (3, 1, 1, 1)), (0, (1, 3)))
LEVEL_STYLE = dict(color="0.35", ls=(0, (1, 1.2)), lw=1.2)
PUBLISHED_STYLE = dict(color="0.4", ls=(0, (4, 2)), lw=0.8)
DIAMOND = dict(marker="D", ms=5, mec="black", mew=0.8, ls="none")
BAND_STYLE = dict(alpha=0.2, lw=0, zorder=2)
BAR = dict(height=0.6, lw=1.0, zorder=3)
UNFINISHED_NOTE = dict(
    xytext=(-3, 5), textcoords="offset points", ha="right", fontsize=6, zorder=5
)
VERDICT_NOTE = dict(
    xytext=(7, 0),
    textcoords="offset points",
    va="center",
    fontsize=6.5,
    linespacing=1.1,
)
PUBLISHED_NOTE = dict(
    xycoords=("data", "axes fraction"),
    textcoords="offset points",
    fontsize=6,
    color="0.3",
    ha="center",
    va="bottom",
)
#: The end of a failed run: cut short (unfinished) or not.
RUN_END = {
    True: dict(marker="|", ms=9, mew=1.6),
    False: dict(marker="x", ms=5, mew=1.2),
}


@dataclass
class FigureFile:
    """One written figure: its files by format and its PNG (for the HTML)."""

    stem: str
    title: str
    caption: str
    files: dict  # format -> Path
    png: bytes
    size: tuple  # PNG pixels (width, height)


def _key(ax, label, **style):
    """A legend entry drawn with ``style``, without data."""
    ax.plot([], [], label=label, **style)


def _style(colours, curve):
    """The colour of the curve's configuration and the line style of its N
    (past the palette, the colours repeat with the next style)."""
    index = colours.get(curve.colour_key, 0)
    style = (index // len(COLOURS) + curve.style_index) % len(LINESTYLES)
    return COLOURS[index % len(COLOURS)], LINESTYLES[style]


def _si(value, _pos=None):
    """1500000000 -> '1.5B' (tokens)."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


def log_ticks(lo, hi, max_ticks=6):
    """Round tick values between ``lo`` and ``hi``, about evenly spread on a
    log axis."""
    exponents = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
    candidates = sorted(m * 10.0**e for e in exponents for m in NICE)
    gap = 0.75 * math.log(hi / lo) / max_ticks
    ticks = []
    for value in (v for v in candidates if lo <= v <= hi):
        if not ticks or math.log(value / ticks[-1]) >= gap:
            ticks.append(value)
    if len(ticks) < 3:  # a narrow range: plain round values
        ticks = [t for t in MaxNLocator(5).tick_values(lo, hi) if lo <= t <= hi]
    return ticks


def _new_axes(height=HEIGHT):
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    return fig, fig.add_subplot()


def _format_x(ax, x):
    if x == "tokens":
        ax.xaxis.set_major_formatter(FuncFormatter(_si))
    elif x == "flops":
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    integer = x in ("step", "tokens")
    ax.xaxis.set_major_locator(MaxNLocator(7, steps=ROUND_STEPS, integer=integer))
    ax.set_xlabel(X_AXES[x][0])


def _legend(fig, ax, first=(), inside=True):
    """The axes' labelled artists, after ``first``: inside the axes when
    short, else below them in as many columns as fit; the figure grows by
    the legend's height, so that the axes keep theirs."""
    handles = [*first, *ax.get_legend_handles_labels()[0]]
    labels = [handle.get_label() for handle in handles]
    if inside and len(labels) <= 5 and max(map(len, labels), default=0) <= 30:
        ax.legend(handles=handles, framealpha=0.9, edgecolor="0.8")
        return
    for handle, label in zip(handles, labels):
        handle.set_label(textwrap.fill(label, 34, break_on_hyphens=False))
    for ncol in (3, 2, 1):
        legend = fig.legend(
            handles=handles, loc="outside lower center", ncol=ncol, frameon=False
        )
        if ncol == 1 or legend.get_window_extent().width <= fig.bbox.width:
            break
        legend.remove()
    fig.set_figheight(fig.get_figheight() + legend.get_window_extent().height / fig.dpi)


def unfinished_note(curve):
    """`` (1 run unfinished at step 180 of N=200)`` for a row with runs that
    stopped before N, else ``""``."""
    cut = [run for run, _ in curve.failed if run.status == UNFINISHED]
    if not cut:
        return ""
    steps = ", ".join(sorted({f"{run.last_step:.0f}" for run in cut}, key=float))
    runs = f"{len(cut)} run{'s' if len(cut) > 1 else ''}"
    return f" ({runs} unfinished at step {steps} of N={curve.row.train_steps or '?'})"


def _plot_curves(ax, problem, colours, x, y):
    """Each row's mean over its completed seeds with the band, and its failed
    runs. Returns the rows' lines, their means, and the points of the failed
    runs drawn: (x, y, unfinished) arrays."""
    lines, means, failed = [], [], []
    for curve in problem.curves:
        colour, style = _style(colours, curve)
        mean = curve.mean(x, y)
        label = curve.label
        if not curve.completed:
            label += " (no completed run)"
        elif mean.empty:
            label += " (not recorded)"
        label += unfinished_note(curve)
        marker = "o" if 0 < len(mean) <= 12 else ""
        (line,) = ax.plot(mean["x"], mean["y"], color=colour, ls=style, label=label)
        line.set(marker=marker, markersize=2.5, zorder=3)
        if (mean["n"] > 1).any():
            ax.fill_between(
                mean["x"], mean["lo"], mean["hi"], color=colour, **BAND_STYLE
            )
        lines.append(line)
        means.append(mean)
        for run, frame in curve.failed:
            if frame is None or x not in frame or y not in frame:
                continue
            points = frame[np.isfinite(frame[x]) & np.isfinite(frame[y])]
            if points.empty:
                continue
            cut = run.status == UNFINISHED
            failed.append((points[x].to_numpy(), points[y].to_numpy(), cut))
            ax.plot(points[x], points[y], color=colour, ls=":", lw=0.9, zorder=2)
            end = (points[x].iloc[-1], points[y].iloc[-1])
            ax.plot(*end, color=colour, ls="none", zorder=4, **RUN_END[cut])
            if cut:
                text = f"unfinished at step {run.last_step:.0f}"
                ax.annotate(text, end, color=colour, **UNFINISHED_NOTE)
    return lines, means, failed


def zoom_limits(problem, means):
    """y range of the zoom near the target: from a little below the lowest of
    the target and the mean curves to some way above the target and the final
    mean losses, leaving out those more than :data:`ZOOM_MAX_ABOVE` above the
    target (or, without one, the best final loss)."""
    finals = [m["y"].iloc[-1] for m in means if len(m)]
    lows = [m["y"].min() for m in means if len(m)]
    anchor = problem.target_line
    if anchor is None and not finals:
        return None
    anchor = min(finals) if anchor is None else anchor
    lo = min([anchor, *lows])
    hi = max([anchor, *(f for f in finals if f <= anchor + ZOOM_MAX_ABOVE)])
    span = max(hi - lo, ZOOM_MIN_SPAN)
    return lo - 0.15 * span, hi + 0.6 * span


def _zoom(ax, problem, lines, means):
    """Limits near the target; a row never inside them says so."""
    ax.yaxis.set_major_locator(MaxNLocator(6))
    limits = zoom_limits(problem, means)
    if limits is None:
        return
    ax.set_ylim(*limits)
    inside = [m[m["y"] <= limits[1]] for m in means]
    starts = [m["x"].min() for m in inside if len(m)]
    ends = [m["x"].max() for m in means if len(m)]
    if starts:
        pad = 0.04 * (max(ends) - min(starts)) or 1
        ax.set_xlim(max(0.0, min(starts) - pad), max(ends) + pad)
    for line, mean, shown in zip(lines, means, inside):
        if len(mean) and shown.empty:
            line.set_label(line.get_label() + " (above the range)")


def curve_figure(problem, colours, x, y, zoom=False):
    """``y`` (a loss) against ``x`` (steps, tokens, time or FLOPs): the mean
    over seeds with a min-max band, log y axis when the range is wide. With
    ``zoom``: the validation loss near the target, with the rule's pass levels
    and each row's earliest passing step."""
    fig, ax = _new_axes()
    lines, means, failed = _plot_curves(ax, problem, colours, x, y)
    target = problem.target_line if y == "val_loss" else None
    # The y range leaves out step 0, whose loss dwarfs the rest.
    shown = [m[m["step"] > 0] for m in means if (m["step"] > 0).any()]
    passed = False
    if zoom:
        _zoom(ax, problem, lines, means)
        for curve, mean, line in zip(problem.curves, means, lines):
            at = mean[mean["step"] == curve.row.earliest_pass_step]
            ax.plot(at["x"], at["y"], color=line.get_color(), zorder=5, **DIAMOND)
            passed = passed or len(at) > 0
    elif shown:
        lo = min(m["lo"].min() for m in shown)
        hi = max(m["y"].max() for m in shown)
        lo = lo if target is None else min(lo, target)
        if lo > 0 and hi / lo > 1.5:
            lo, hi = lo * 0.98, hi * 1.04
            ax.set_yscale("log")
            ax.set_ylim(lo, hi)
            ax.yaxis.set_major_locator(FixedLocator(log_ticks(lo, hi)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_locator(NullLocator())
        else:
            pad = 0.05 * (hi - lo) or 0.01 * abs(hi) or 0.01
            ax.set_ylim(lo - pad, hi + pad)
    if target is not None:
        ax.axhline(target, label=f"target {target:g}", **TARGET_STYLE)
        seeds = problem.seeds if zoom and len(problem.seeds) <= 3 else []
        for n, style in zip(seeds, LEVEL_STYLES):
            level = target - THRESHOLD / math.sqrt(n)
            label = f"pass if mean < {level:.4f} (n={n})"
            ax.axhline(level, color="0.45", ls=style, lw=0.9, label=label)
    if passed:
        _key(ax, "earliest passing step", color="white", **DIAMOND)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    visible = [
        cut
        for xs, ys, cut in failed
        if any((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1))
    ]
    if visible:  # failed runs in view: unfinished ones (cut) or not
        what = "x: last value, |: stopped" if any(visible) else "x: last value"
        style = dict(marker="|" if any(visible) else "x", ms=5)
        _key(ax, f"failed run ({what})", color="0.35", ls=":", lw=0.9, **style)
    ax.set_ylabel(Y_LABELS[y])
    _format_x(ax, x)
    _legend(fig, ax)
    return fig


def _row_axis(ax, curves):
    """One labelled row per configuration, top down, no y grid."""
    labels = ["\n".join(textwrap.wrap(c.label, 22)) for c in curves]
    ax.set_yticks(range(len(curves)), labels)
    ax.set_ylim(len(curves) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)


def _verdict_text(row, baseline):
    if row.n_failed:
        failures = ", ".join(f"{n} {status}" for status, n in row.failures.items())
        text = f"{row.verdict}: {failures}"
    elif math.isfinite(row.rule_margin):
        text = f"{row.verdict}, margin {row.rule_margin:.4f}"
    else:
        text = row.verdict
    text += f" (n={row.n_runs})"
    if row.train_steps is None:
        text = "N unknown; " + text
    if baseline is None:
        return text
    if row.pairwise_verdict == "baseline":
        return text + "\nbaseline"
    return text + f"\nvs baseline: {row.pairwise_verdict}"


def _fit_notes(fig, ax, notes, minimum):
    """The x limit at which every note (text starting just after its bar's
    end x) ends inside the axes: with limit R and axes width W pixels, a note
    of width w at x and offset o ends at x W / R + o + w <= W."""
    fig.draw_without_rendering()  # lays the text out
    width = ax.get_window_extent().width
    needed = minimum
    for note in notes:
        x, box = note.xy[0], note.get_window_extent()
        room = width - (box.x1 - ax.transData.transform((x, 0))[0])
        if x > 0 and room > 0:
            # 5% slack: the legend added later may narrow the axes a little.
            needed = max(needed, 1.05 * x * width / room)
    return needed


def steps_figure(problem, colours):
    """One bar per row: its step count N (solid: the rule passes; hatched: it
    fails), a diamond at the earliest passing step, the verdict, and the N of
    the published entries."""
    curves, baseline = problem.curves, problem.table.baseline
    per_row = 0.42 if baseline is not None else 0.32
    fig, ax = _new_axes(max(1.6, 0.75 + per_row * len(curves)))
    notes = []
    for i, curve in enumerate(curves):
        row, (colour, _) = curve.row, _style(colours, curve)
        ok = row.verdict == "PASS"
        fill = (
            dict(color=colour, hatch=None) if ok else dict(color="white", hatch="////")
        )
        if row.train_steps is not None:
            ax.barh(i, row.train_steps, edgecolor=colour, **fill, **BAR)
        if row.earliest_pass_step is not None:
            ax.plot(row.earliest_pass_step, i, color="white", zorder=4, **DIAMOND)
        text = _verdict_text(row, baseline)
        notes.append(ax.annotate(text, (row.train_steps or 0, i), **VERDICT_NOTE))
    _row_axis(ax, curves)
    published = sorted(problem.published, key=lambda r: r.train_steps)
    for k, row in enumerate(published):
        ax.axvline(row.train_steps, zorder=2, **PUBLISHED_STYLE)
        # Close N values: the labels alternate in height.
        at = dict(xy=(row.train_steps, 1), xytext=(0, 2 + 7 * (k % 2)))
        ax.annotate(f"#{row.published.number}", **at, **PUBLISHED_NOTE)
    longest = max(r.train_steps or 1 for r in [c.row for c in curves] + published)
    ax.set_xlim(0, _fit_notes(fig, ax, notes, longest * 1.75))
    ax.xaxis.set_major_locator(MaxNLocator(4, steps=ROUND_STEPS))
    ax.set_xlabel("optimizer steps N (bar)")
    if any(c.row.earliest_pass_step is not None for c in curves):
        _key(ax, "earliest passing step", color="white", **DIAMOND)
    if published:
        _key(ax, "published N (#K)", **PUBLISHED_STYLE)
    verdicts = [
        Patch(facecolor="0.5", edgecolor="0.5", label="PASS"),
        Patch(facecolor="white", edgecolor="0.5", hatch="////", label="FAIL"),
    ]
    _legend(fig, ax, verdicts, inside=False)
    return fig


def final_loss_figure(problem, colours):
    """The final validation loss of every seed (dots), the mean of the
    completed seeds (bar), failed seeds (x at the right), the target and the
    rule's pass level of each row."""
    curves, target = problem.curves, problem.target_line
    done = [[r.final_val_loss for r in c.row.runs if not r.failed] for c in curves]
    done = [[v for v in seeds if math.isfinite(v)] for seeds in done]
    reference = sum(done, []) + ([target] if target is not None else [])
    if not reference:
        return None
    lo, hi = min(reference), max(reference)
    if target is not None:
        lo = min(lo, target - THRESHOLD * 1.05)
    span = (hi - lo) or 0.01
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    failed_x = hi + 0.06 * span
    fig, ax = _new_axes(max(1.6, 0.85 + 0.3 * len(curves)))
    _key(ax, "seed", color="0.3", marker="o", ls="none", ms=3.5)
    _key(ax, "mean of completed seeds", color="black", lw=1.6)
    if target is not None:
        ax.axvline(target, label=f"target {target:g}", **TARGET_STYLE)
        if any(c.row.n_completed for c in curves):
            _key(ax, f"pass level: target - {THRESHOLD}/sqrt(n)", **LEVEL_STYLE)
    if any(c.row.n_failed for c in curves):
        _key(ax, "failed", color="0.3", marker="x", ls="none", ms=5)
        hi = failed_x + 0.06 * span
    rng = np.random.default_rng(0)
    for i, (curve, seeds) in enumerate(zip(curves, done)):
        row, (colour, _) = curve.row, _style(colours, curve)
        jitter = rng.uniform(-0.13, 0.13, len(seeds))
        ax.plot(seeds, i + jitter, "o", color=colour, ms=3.5, alpha=0.85, zorder=3)
        if seeds:
            ax.plot([np.mean(seeds)] * 2, [i - 0.3, i + 0.3], "k", lw=1.6, zorder=4)
        if target is not None and row.n_completed:
            level = target - THRESHOLD / math.sqrt(row.n_completed)
            ax.plot([level] * 2, [i - 0.42, i + 0.42], zorder=2, **LEVEL_STYLE)
        if row.n_failed:
            ax.plot(failed_x, i, "x", color=colour, ms=6, mew=1.5, zorder=3)
            failures = ", ".join(f"{n} {why}" for why, n in row.failures.items())
            ax.text(failed_x, i - 0.32, failures, fontsize=6, ha="center", va="bottom")
    ax.set_xlim(lo, hi)
    _row_axis(ax, curves)
    ax.xaxis.set_major_locator(MaxNLocator(5, steps=ROUND_STEPS))
    ax.set_xlabel("final validation loss (at N)")
    _legend(fig, ax, inside=False)
    return fig


def save_figure(fig, folder, formats, stem, title, caption):
    """Write ``fig`` in each format (PNG at :data:`DPI`, no date in any
    file) and return its :class:`FigureFile`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    files = {fmt: Path(folder) / f"{stem}.{fmt}" for fmt in formats}
    for fmt, path in files.items():
        if fmt == "png":
            path.write_bytes(buffer.getvalue())
        else:
            dateless = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}[fmt]
            fig.savefig(path, metadata=dateless)
    png = buffer.getvalue()
    return FigureFile(stem, title, caption, files, png, Image.open(buffer).size)


#: Other losses against steps: quantity -> (title, what the caption says).
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


def _steps_caption(problem):
    caption = (
        "Step count N of each configuration (bar; solid: the Track 3 rule "
        f"passes, (target - mean) x sqrt(n) >= {THRESHOLD} with no failed run; "
        "hatched: it fails), the earliest passing step (diamond), the rule "
        "margin and the number of runs n"
    )
    if problem.table.baseline is not None:
        caption += (
            ", and Track 3's pairwise test against the baseline "
            f"{problem.table.baseline} (better / worse / n.s.: not significant; "
            "incomplete: a side has failed runs)"
        )
    caption += "."
    if problem.published:
        numbers = ", #".join(str(r.published.number) for r in problem.published)
        caption += (
            " Dashed vertical lines: the N of the published Track 3 entries "
            f"#{numbers} (their rows in the table)."
        )
    return caption


def _figure_specs(problem, colours):
    """(stem suffix, title, caption, build) of every figure of a problem."""
    band = f"Lines: mean over the completed seeds; shaded: {BAND}"
    if any(frame is not None for c in problem.curves for _, frame in c.failed):
        band += (
            "; dotted: failed runs, ending in an x at their last value, or in a "
            "bar labelled with the step they reached when they stopped before "
            "N (unfinished)"
        )
    target = (
        "; no target line (none recorded)"
        if problem.target_line is None
        else f"; dashed: the target {problem.target_line:g}"
    )
    plot = partial(curve_figure, problem, colours)
    for x, (label, what) in X_AXES.items():
        if not (problem.has(x) and problem.has("val_loss")):
            continue
        title = f"Validation loss against {label}"
        caption = (
            f"Validation loss against {what}. {band}{target}. Log y axis when "
            "the range is wide; the loss at step 0 is left out of the y range."
        )
        yield f"val_loss_{x}", title, caption, partial(plot, x, "val_loss")
        if x == "step":
            caption = (
                "Validation loss against optimizer steps, zoomed near the target. "
                f"{band}{target}; dotted grey: the Track 3 rule's pass level for "
                f"the mean of n seeds, target - {THRESHOLD}/sqrt(n); diamonds: "
                "the earliest step evaluated in every seed at which the mean "
                "passes."
            )
            zoom = partial(plot, "step", "val_loss", zoom=True)
            yield "val_loss_zoom", "Validation loss near the target", caption, zoom
    steps = partial(steps_figure, problem, colours)
    title = "Steps to target and significance"
    yield "steps_to_target", title, _steps_caption(problem), steps
    caption = (
        "Final validation loss (at N) of every seed (dots, jittered vertically), "
        "the mean of the completed seeds (black bar), failed seeds (x at the "
        "right), the target (dashed) and, per row, the level its mean must beat "
        "for the rule to pass with its n completed seeds, target - "
        f"{THRESHOLD}/sqrt(n) (dotted)."
    )
    final_loss = partial(final_loss_figure, problem, colours)
    yield "final_loss", "Final validation loss per seed", caption, final_loss
    for y, (title, what) in STEP_CURVES.items():
        if problem.has(y):
            caption = f"{what} against optimizer steps. {band}."
            yield f"{y}_step", title, caption, partial(plot, "step", y)


def all_figures(data, folder, formats, errors=None):
    """Every figure of every problem: {problem index: [FigureFile, ...]}. A
    figure that raises is left out and (stem, message) appended to
    ``errors``; without ``errors`` the exception propagates."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = {}
    with matplotlib.rc_context(STYLE):
        for problem in data.problems:
            done = out[problem.index] = []
            for name, title, caption, build in _figure_specs(problem, data.colours):
                stem = f"{problem.slug}_{name}"
                try:
                    fig = build()
                    if fig is not None:
                        done.append(
                            save_figure(fig, folder, formats, stem, title, caption)
                        )
                except Exception as error:
                    if errors is None:
                        raise
                    errors.append((stem, f"{type(error).__name__}: {error}"))
    return out
