"""Statistics checked against worked examples."""

import math

import pytest

from journey.stats import benjamini_hochberg, two_proportion_p, wilson_interval


def test_wilson_interval_worked_example():
    # p = 0.5, n = 100: centre 0.5, half-width 1.96 * sqrt(0.0025 + 0.000096) / 1.0384 = 0.0962
    low, high = wilson_interval(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)


def test_wilson_interval_edges():
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_two_proportion_p():
    # 60/100 vs 40/100: pooled 0.5, se = sqrt(0.25 * 0.02) = 0.0707, z = 2.828, p = 0.00468
    assert two_proportion_p(60, 100, 40, 100) == pytest.approx(0.004678, abs=1e-5)
    assert two_proportion_p(5, 10, 5, 10) == 1.0


def test_benjamini_hochberg():
    # p = 0.01, 0.04, 0.03 -> sorted 0.01, 0.03, 0.04 -> 0.03, 0.045, 0.04 -> monotone: 0.03, 0.04, 0.04
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert math.isnan(benjamini_hochberg([float("nan"), 0.5])[0])
