"""The package's one noise rule (hrkd_lite.noise): hand values, seeds, one-seed labelling, bad input."""

from __future__ import annotations

import math

import pytest

from hrkd_lite.errors import HrkdError
from hrkd_lite.noise import binomial_se, compare, format_accuracy


def test_binomial_se_hand_values():
    assert binomial_se(0.8, 100) == pytest.approx(0.04)  # sqrt(.16/100)
    # average of two domains of 100 and 400 examples: sqrt(.16/100 + .16/400) / 2
    assert binomial_se(0.8, [100, 400]) == pytest.approx(math.sqrt(0.0016 + 0.0004) / 2)


def test_one_seed_uses_test_noise_and_says_one_seed():
    c = compare(0.8, 0.6, 100)
    assert c.se_test == pytest.approx(math.sqrt(0.16 / 100 + 0.24 / 100))
    assert math.isnan(c.se_seeds) and c.noise == c.se_test and c.seeds == 1
    assert c.beyond and c.verdict == "one seed: better"
    assert compare(0.62, 0.6, 100).verdict == "one seed: within noise"
    assert compare(0.5, 0.8, 100).verdict == "one seed: worse"
    assert "1 seed" in c.sentence("kd", "no kd")


def test_seed_noise_dominates_when_seeds_disagree():
    # paired diffs +0.10, -0.06, +0.02: mean 0.02, sd 0.08 -> se_seeds 0.08/sqrt(3) = 0.0462 > test noise
    c = compare([0.80, 0.70, 0.75], [0.70, 0.76, 0.73], 10_000)
    assert c.se_seeds == pytest.approx(0.08 / math.sqrt(3), rel=1e-6)
    assert c.noise == pytest.approx(c.se_seeds) and c.noise > c.se_test
    assert c.diff == pytest.approx(0.02) and c.verdict == "within noise" and not c.beyond


def test_consistent_gain_over_seeds_is_beyond_noise():
    c = compare([0.80, 0.81, 0.80], [0.60, 0.61, 0.60], 2000)
    assert c.beyond and c.verdict == "better" and c.diff == pytest.approx(0.2)


def test_unpaired_uses_both_variances():
    c = compare([0.8, 0.7], [0.6, 0.6, 0.6], 10_000, paired=False)
    assert c.se_seeds == pytest.approx(math.sqrt(0.005 / 2 + 0.0 / 3))


def test_bad_input_is_one_clear_error():
    with pytest.raises(HrkdError, match="fractions, not percent"):
        compare(81.0, 0.7, 100)
    with pytest.raises(HrkdError, match="as many seeds"):
        compare([0.8, 0.7], [0.6], 100)
    with pytest.raises(HrkdError, match="test sizes"):
        compare(0.8, 0.7, 0)
    with pytest.raises(HrkdError, match="z must be"):
        compare(0.8, 0.7, 10, z=float("inf"))


def test_format_accuracy():
    assert format_accuracy(0.81) == "81.0 (1 seed)"
    assert format_accuracy([0.80, 0.82]) == f"81.0 ± {100 * math.sqrt(0.0002):.1f} (2 seeds)"


def test_notebook04_compare_runs_pairs_seeds_in_run_order():
    from hrkd_lite.experiments.nb04 import compare_runs

    def runs(*avgs):
        return [{"accuracy": {"test": {"a": x, "b": x, "average": x}}} for x in avgs]

    res = {"hrkd": runs(0.80, 0.81, 0.80), "tinybert": runs(0.60, 0.61, 0.60), "ablation": runs(0.79)}
    c = compare_runs(res, "hrkd", "tinybert", [2000, 2000])
    assert c.seeds == 3 and c.verdict == "better" and c.diff == pytest.approx(0.2)
    one = compare_runs(res, "ablation", "hrkd", [100, 100])  # pairs with hrkd's first seed only
    assert one.seeds == 1 and one.diff == pytest.approx(-0.01) and one.verdict.startswith("one seed")
