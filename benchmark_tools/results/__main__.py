"""``python -m benchmark_tools.results [RESULT ...]``: see cli.py."""

import sys

from .cli import main

sys.exit(main(prog="python -m benchmark_tools.results"))
