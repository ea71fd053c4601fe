"""The benchopt internals the benchmark relies on
(``benchmark_utils/benchopt_compat.py``) still behave as it expects: each
test fails if a benchopt upgrade changes one of them."""

import pytest

from benchmark_utils import benchopt_compat as compat


def test_parse_values_reads_benchopts_value_syntax():
    assert compat.parse_values("0.01,1e-3,3") == [0.01, 0.001, 3]
    assert compat.parse_values("cosine,'wsd',True,None") == [
        "cosine",
        "wsd",
        True,
        None,
    ]
    assert compat.parse_values("(0.9,0.95),(0.8,0.95)") == [(0.9, 0.95), (0.8, 0.95)]


def test_parse_values_rejects_unreadable_text():
    with pytest.raises(ValueError):
        compat.parse_values("(0.9,")


def test_parse_name_reads_a_name_as_benchopt_run_does():
    base, args, kwargs = compat.parse_name(
        'adamw[lr=0.01,schedule="cosine",betas=[(0.9, 0.95)],warmup=0]'
    )
    assert (base, args) == ("adamw", [])
    assert kwargs == dict(lr=0.01, schedule="cosine", betas=[(0.9, 0.95)], warmup=0)
    assert compat.parse_name("simulated") == ("simulated", [], {})
    # A bare list is one configuration per item, as on the command line.
    assert compat.parse_name("adamw[lr=[0.01,0.02]]")[2] == {"lr": [0.01, 0.02]}
