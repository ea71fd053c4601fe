"""The Track 3 leaderboard table: well-formed rows, the facts of the Track 3
README (github KellerJordan/modded-nanogpt, records/track_3_optimization/
README.md), and its worked examples of the pairwise rule recomputed from the
table."""

import json
import math
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from benchmark_tools import leaderboard
from benchmark_tools.leaderboard import ENTRIES, entry, record_chain, select
from benchmark_utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_rows_are_well_formed():
    assert [e.number for e in ENTRIES] == list(range(1, 47))
    for e in ENTRIES:
        assert isinstance(e.train_steps, int) and 2000 < e.train_steps < 10000, e
        assert 3.27 < e.val_loss < 3.28, e
        assert isinstance(e.n, int) and e.n >= 1, e
        assert date(2026, 4, 26) <= date.fromisoformat(e.date) <= date(2026, 8, 1)
        assert e.name and e.hardware, e
        assert re.fullmatch(r"(\d+x[A-Z][\w\- ]+(, )?)+|not stated", e.hardware), e
        assert e.source.startswith("records/track_3_optimization/results/"), e
        assert e.log.endswith((".txt", ".md")), e
        # Evidence the README accepts (its check mark) is evidence that passes
        # rule 3 as the README states it: (3.28 - mean) * sqrt(n) >= 0.004.
        assert e.evidence == ((3.28 - e.val_loss) * math.sqrt(e.n) >= 0.004), e


def test_known_entries():
    tuned = entry(36)
    assert (tuned.train_steps, tuned.val_loss, tuned.n) == (3250, 3.2787, 10)
    assert tuned.hardware == "8xH100 80GB HBM3"
    assert tuned.source.endswith("results/20260610_tuned_baseline_3250/")
    record = entry("#46")
    assert (record.train_steps, record.val_loss, record.n) == (2690, 3.2783, 8)
    assert record.hardware == "2xA40" and record.record
    assert (entry(2).train_steps, entry(2).n, entry(2).evidence) == (5625, 1, False)
    assert (entry(21).train_steps, entry(21).val_loss, entry(21).n) == (4100, 3.2776, 4)
    for bad in (0, 47, "x"):
        with pytest.raises(UserError, match="entries 1 to 46"):
            entry(bad)


def test_world_record_chain():
    chain = record_chain()
    assert [e.train_steps for e in chain] == [
        3600, 3500, 3325, 3250, 3225, 3210, 3150, 3125, 3030, 2990,
        2930, 2925, 2900, 2890, 2875, 2860, 2850, 2750, 2720, 2690,
    ]  # fmt: skip
    assert chain[-1] is entry(46)
    assert select("records") == chain and select("all") == list(ENTRIES)
    assert select("36, 46") == [entry(36), entry(46)]


def lhs(a, b):
    """Track 3 rule 5, written from the README: A better than B when
    ((mean_B - mean_A) + (N_B - N_A) / 100 * 0.0045) / sqrt(1/n_A + 1/n_B)
    >= 0.004."""
    diff = b.val_loss - a.val_loss + (b.train_steps - a.train_steps) / 100 * 0.0045
    return diff / math.sqrt(1 / a.n + 1 / b.n)


def test_the_readme_worked_examples_from_the_table():
    from benchmark_tools.results import pairwise_lhs

    def package(a, b):
        return pairwise_lhs(
            a.train_steps, a.val_loss, a.n, b.train_steps, b.val_loss, b.n
        )

    # #13 vs #11: 0.00167, not significant; #12 vs #6: 0.00648, significant.
    for a, b, expected in [(13, 11, 0.00167), (12, 6, 0.00648)]:
        assert lhs(entry(a), entry(b)) == pytest.approx(expected, abs=5e-6)
        assert package(entry(a), entry(b)) == pytest.approx(expected, abs=5e-6)
    # #13 vs #8 with #8's n=10 from the table (the README used n=16: 0.0027).
    assert package(entry(13), entry(8)) == pytest.approx(0.00246, abs=5e-6)


def test_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "benchmark_tools.leaderboard", "--records"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["number", "name", "N"]
    assert len(lines) == 2 + 20 and lines[-1].startswith("#46 (!)")
    rows = json.loads(leaderboard.render(list(ENTRIES), "json"))
    assert rows[35]["number"] == 36 and rows[35]["source"] == entry(36).source
    assert (
        leaderboard.render(ENTRIES[:2], "csv")
        .splitlines()[0]
        .startswith(
            "number,name,train_steps,val_loss,n,hardware,date,log,record,evidence"
        )
    )
