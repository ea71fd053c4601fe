"""Where datasets keep their files."""

import os
from pathlib import Path

DATA_ENV = "NANOGPT_BENCH_DATA"


def data_dir(name):
    """Folder for dataset ``name``: ``$NANOGPT_BENCH_DATA/name`` when set,
    else benchopt's data path (``data_home`` in the benchmark's config.yml,
    default ``<benchmark>/data``), else ``./data/name``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser() / name
    try:
        from benchopt.config import get_data_path

        return Path(get_data_path(name))
    except Exception:  # not inside a benchopt run (scripts, tests)
        return Path("data") / name
