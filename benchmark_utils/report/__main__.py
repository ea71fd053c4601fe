"""``python -m benchmark_utils.report``: see :mod:`benchmark_utils.report`."""

import sys

from .cli import main

sys.exit(main(prog="python -m benchmark_utils.report"))
