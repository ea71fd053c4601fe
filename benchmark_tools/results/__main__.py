"""``python -m benchmark_tools.results [PARQUET ...]``: see cli.py."""

import sys

from .cli import main

sys.exit(main(prog="python -m benchmark_tools.results"))
