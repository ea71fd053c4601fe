"""Every use of benchopt's private attributes and internals, in one place.

benchopt (1.10) has no public API for some things the benchmark needs; each
function below says what it reaches into and why, and
``tests/test_benchopt_compat.py`` fails if a benchopt upgrade changes it.
Known to work with the benchopt versions pinned in ``requirements.txt``.
"""
