"""``python -m benchmark_tools.report``: see :mod:`benchmark_tools.report`."""

import sys

from .cli import main

sys.exit(main(prog="python -m benchmark_tools.report"))
