"""Fetch the shards a run needs: ``python -m benchmark_tools.download``.

The validation shard and the training shards that a budget of
``--train-tokens`` (or ``--steps`` of ``--batch-tokens`` in Track 3's order:
whole shards) needs, into the dataset's folder where ``benchopt run`` looks
for them. Each file is validated; files already there are kept, so an
interrupted download resumes.
"""

import argparse
import os
import sys
from pathlib import Path

from benchmark_utils.data.errors import MissingDataError
from benchmark_utils.data.hub import (
    DEFAULT_STEPS,
    DEFAULT_TRAIN_TOKENS,
    HUB_DATASETS,
    TOKENS_PER_SHARD,
    hub_source,
)
from benchmark_utils.data.paths import DATA_ENV
from benchmark_utils.data.shards import HEADER_BYTES
from benchmark_utils.data.track3 import track3_tokens_needed
from benchmark_utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def benchmark_data_dir(name):
    """The folder ``benchopt run`` uses for dataset ``name``: honours
    ``$NANOGPT_BENCH_DATA`` and the benchmark config's ``data_home`` and
    ``data_paths``, else ``<benchmark>/data/<name>``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser() / name
    try:
        from benchopt.benchmark import Benchmark
        from benchopt.config import get_data_path

        Benchmark(ROOT)  # registers the running benchmark for its settings
        return Path(get_data_path(name))
    except Exception:
        return ROOT / "data" / name


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.download",
        description="Download the validation shard and the training shards "
        "that a token budget needs (resumable; each file is validated).",
    )
    parser.add_argument("dataset", choices=sorted(HUB_DATASETS))
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--train-tokens",
        type=int,
        default=DEFAULT_TRAIN_TOKENS,
        help="training tokens the run reads; default "
        f"{DEFAULT_TRAIN_TOKENS:,}: the objective's default data budget "
        f"(max_steps={DEFAULT_STEPS} in Track 3's order, whole shards)",
    )
    budget.add_argument(
        "--steps", type=int, help="the run's max_steps (or train_steps), Track 3 order"
    )
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=524_288,
        help="global batch in tokens, with --steps (default 524288)",
    )
    parser.add_argument(
        "--local-dir",
        type=Path,
        help="destination folder (default: the dataset folder benchopt uses)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the files the budget needs and which are missing; fetch none",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    local_dir = args.local_dir or benchmark_data_dir(args.dataset)
    source = hub_source(args.dataset, local_dir=local_dir)
    n_tokens = args.train_tokens
    if args.steps is not None:
        n_tokens = track3_tokens_needed(
            args.steps, args.batch_tokens, source.shard_tokens
        )
    source.default_train_tokens = n_tokens  # named in the offline message
    try:
        names = source.files_for(n_tokens)
        missing = source.missing(names)
        size_gb = len(missing) * (HEADER_BYTES + 2 * TOKENS_PER_SHARD) / 1e9
        print(
            f"{args.dataset}: {n_tokens:,} training tokens need {len(names) - 1} "
            f"training shard(s) + the validation shard of {source.repo_id}; "
            f"{len(names) - len(missing)} present in {local_dir}, {len(missing)} "
            f"to download (about {size_gb:.1f} GB)"
        )
        if args.dry_run:
            for name in names:
                print(f"  {'missing' if name in missing else 'present'}  {name}")
            return 0
        source.fetch_all(names, n_tokens)
        paths = source.train_files(n_tokens)
    except UserError as error:  # missing (offline): 1; bad data or budget: 2
        print(f"error: {error}", file=sys.stderr)
        return 1 if isinstance(error, MissingDataError) else 2
    print(
        f"{args.dataset}: ready, validation + {len(paths)} training "
        f"shard(s) in {local_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
