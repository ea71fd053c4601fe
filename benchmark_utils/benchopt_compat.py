"""Every use of benchopt's private attributes and internals, in one place.

benchopt (1.10) has no public API for some things the benchmark needs; each
function below says what it reaches into and why, and
``tests/test_benchopt_compat.py`` fails if a benchopt upgrade changes it.
Known to work with the benchopt versions pinned in ``requirements.txt``.
"""

from benchopt.utils.parametrized_name_mixin import (
    _extract_options,
    _extract_parameters,
)


def parse_values(text):
    """The values of benchopt's parameter syntax, ``"0.01,1e-3,cosine"`` ->
    ``[0.01, 0.001, "cosine"]``: the sweep reads ``--grid`` values exactly as
    benchopt reads ``-s "adamw[lr=[...]]"``. benchopt has no public parser
    (``_extract_parameters``, private); :class:`ValueError` if unreadable."""
    return list(_extract_parameters(text))


def parse_name(name):
    """``"adamw[lr=0.01,betas=[(0.9,0.95)]]"`` -> ``("adamw", args, kwargs)``
    exactly as ``benchopt run`` reads a solver, dataset or objective name:
    the sweep reads config entries and checks the names it writes with it.
    benchopt has no public parser (``_extract_options``, private);
    :class:`ValueError` if unreadable."""
    return _extract_options(name)
