"""Solver names as benchopt records them: ``base[key=value,...]``.

The splitter is the run path's (:func:`benchmark_utils.tracking.split_name`,
which names the tracker's runs): one parser for both.
"""

from benchmark_utils.tracking import split_name


def join_name(base, params):
    """The inverse of ``split_name``."""
    if not params:
        return base
    return base + "[" + ",".join(f"{k}={v}" for k, v in params.items()) + "]"


def drop_parameters(full, keys):
    """``full`` without the parameters named in ``keys``."""
    base, params = split_name(full)
    return join_name(base, {k: v for k, v in params.items() if k not in keys})


def short_names(full_names):
    """The solver's base name, plus the parameters that distinguish it from
    other variants of the same solver in the file."""
    parsed = {n: split_name(n) for n in full_names}
    short = {}
    for name, (base, params) in parsed.items():
        variants = [p for b, p in parsed.values() if b == base]
        differing = [k for k in params if len({v.get(k) for v in variants}) > 1]
        short[name] = join_name(base, {k: params[k] for k in differing})
    return short
