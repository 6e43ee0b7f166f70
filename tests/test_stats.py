"""Statistics checked against worked examples."""

import math

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from journey.stats import benjamini_hochberg, quantiles_cont, two_proportion_p, wilson_interval


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


def test_quantiles_cont_worked_example():
    # 1 2 3 4 (the NaN left out): the median halfway between 2 and 3; the 90th percentile at 2.7 of 0…3
    assert quantiles_cont([4.0, 1.0, float("nan"), 2.0, 3.0], [0.5, 0.9]) == pytest.approx([2.5, 3.7])
    assert quantiles_cont([7.0], [0.5, 0.9]) == [7.0, 7.0]
    assert all(math.isnan(x) for x in quantiles_cont([float("nan")], [0.5]))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.floats(-1e9, 1e9, allow_nan=False), st.integers(0, 5).map(float),
                                 st.just(float("nan"))), min_size=1, max_size=30),
       q=st.sampled_from([0.5, 0.9, 0.25, 0.1]))
def test_quantiles_cont_is_duckdbs_to_the_last_bit(values, q):
    import duckdb

    want = duckdb.execute("SELECT quantile_cont(v, $q) FROM (SELECT unnest($x) AS v) WHERE NOT isnan(v)",
                          {"q": q, "x": values}).fetchone()[0]
    (got,) = quantiles_cont(values, [q])
    assert (want is None and math.isnan(got)) or got == want
