"""Summarise a benchopt result file: time and steps to the target, per solver.

For every solver (its name with parameters, as benchopt records it) and every
repetition, the run reaches the target at its first evaluation with
``objective_reached_target == 1``. The table gives, per solver: repetitions
that reached the target, steps and training time (benchopt's ``time``
column: evaluation excluded) to the target as mean +- standard deviation
over those repetitions, and the final validation loss over all repetitions.

    python benchmarks/summarize_results.py                 # newest outputs/*.parquet
    python benchmarks/summarize_results.py outputs/benchopt_run_X.parquet --format rst
"""

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def mean_std(values, digits):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def split_name(full):
    """``"adamw[lr=0.1,betas=(0.9, 0.95)]"`` -> ``("adamw", {...})``."""
    base, _, rest = full.partition("[")
    params, depth, item = {}, 0, ""
    for char in rest.rstrip("]") + ",":
        if char == "," and depth == 0:
            if item:
                key, _, value = item.partition("=")
                params[key.strip()] = value.strip()
            item = ""
            continue
        depth += (char in "([{") - (char in ")]}")
        item += char
    return base, params


def short_names(full_names):
    """The solver's base name, plus the parameters that distinguish it from
    other variants of the same solver in the file."""
    parsed = {n: split_name(n) for n in full_names}
    short = {}
    for name, (base, params) in parsed.items():
        variants = [p for b, p in parsed.values() if b == base]
        differing = [k for k in params if len({v.get(k) for v in variants}) > 1]
        short[name] = base + (
            "[" + ",".join(f"{k}={params[k]}" for k in differing) + "]"
            if differing
            else ""
        )
    return short


def summarize(df, full_names=False):
    """One row per solver."""
    df = df.sort_values(["solver_name", "idx_rep", "objective_step"])
    names = short_names(df["solver_name"].unique())
    rows = []
    for solver, runs in df.groupby("solver_name", sort=False):
        steps, times, finals = [], [], []
        n_reps = runs["idx_rep"].nunique()
        for _, run in runs.groupby("idx_rep"):
            reached = run[run["objective_reached_target"] >= 1.0]
            if len(reached):
                steps.append(float(reached["objective_step"].iloc[0]))
                times.append(float(reached["time"].iloc[0]))
            finals.append(float(run["objective_val_loss"].iloc[-1]))
        rows.append(
            dict(
                solver=solver if full_names else names[solver],
                reached=f"{len(steps)}/{n_reps}",
                steps=mean_std(steps, 0),
                time=mean_std(times, 1),
                final=mean_std(finals, 3),
                _sort=(
                    -len(steps) / n_reps,
                    sum(times) / len(times) if times else math.inf,
                ),
            )
        )
    rows.sort(key=lambda r: r["_sort"])
    return rows


COLUMNS = [
    ("solver", "solver"),
    ("reached", "reps at target"),
    ("steps", "steps to target"),
    ("time", "time to target (s)"),
    ("final", "final val loss"),
]


def render(rows, fmt):
    header = [title for _, title in COLUMNS]
    table = [[str(r[key]) for key, _ in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
        ]
        lines += ["| " + " | ".join(t) + " |" for t in table]
        return "\n".join(lines)
    if fmt == "rst":
        rule = "  ".join("=" * w for w in widths)

        def fmt_row(cells):
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

        return "\n".join(
            [rule, fmt_row(header), rule, *(fmt_row(t) for t in table), rule]
        )

    def fmt_row(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join(
        [
            fmt_row(header),
            fmt_row(["-" * w for w in widths]),
            *(fmt_row(t) for t in table),
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "parquet",
        nargs="?",
        type=Path,
        help="benchopt result file (default: the newest outputs/*.parquet)",
    )
    parser.add_argument("--format", choices=["text", "rst", "markdown"], default="text")
    parser.add_argument(
        "--full-names",
        action="store_true",
        help="solver names with all their parameters",
    )
    args = parser.parse_args(argv)
    path = args.parquet
    if path is None:
        files = sorted(
            (ROOT / "outputs").glob("*.parquet"), key=lambda p: p.stat().st_mtime
        )
        if not files:
            sys.exit("no outputs/*.parquet: run benchopt first")
        path = files[-1]
    df = pd.read_parquet(path)
    print(
        f"{path.name}: {df['solver_name'].nunique()} solver(s), "
        f"{df['idx_rep'].nunique()} repetition(s)"
    )
    for (objective, dataset), part in df.groupby(
        ["objective_name", "dataset_name"], sort=False
    ):
        print(f"\nobjective: {objective}\ndataset: {dataset}\n")
        print(render(summarize(part, args.full_names), args.format))


if __name__ == "__main__":
    main()
