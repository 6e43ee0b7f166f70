"""Small statistics used across analyses: Wilson intervals, two-proportion tests, Benjamini–Hochberg,
DuckDB's continuous quantiles in numpy."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (95 % by default); (nan, nan) when trials is 0.

    >>> [round(x, 4) for x in wilson_interval(50, 100)]
    [0.4038, 0.5962]
    """
    if trials <= 0:
        return math.nan, math.nan
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # at 0 and n successes the bounds are exactly 0 and 1 (float rounding would leave 0.9999…)
    return (0.0 if successes == 0 else low), (1.0 if successes == trials else high)


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test; nan when either group is empty."""
    if n1 <= 0 or n2 <= 0:
        return math.nan
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input order; nan stays nan."""
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(indexed)
    out = [math.nan] * len(p_values)
    running = 1.0
    for rank, (p, i) in reversed(list(enumerate(sorted(indexed), start=1))):
        running = min(running, p * m / rank)
        out[i] = running
    return out


def quantiles_cont(values, qs: list[float]) -> list[float]:
    """DuckDB's ``quantile_cont(values, q)`` for each ``q`` (``median`` is q = 0.5), computed in numpy to
    the last bit: NaN values are left out (SQL NULLs); of the ``n`` left, sorted, the values at positions
    ``floor`` and ``ceil`` of ``(n - 1) q`` are mixed as ``lo * (1 - d) + hi * d``, ``d`` the fraction
    (DuckDB's own formula; numpy's ``quantile`` rounds differently). NaN for no values.

    >>> quantiles_cont([4.0, 1.0, float("nan"), 2.0, 3.0], [0.5, 0.9])
    [2.5, 3.7]
    """
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    n = len(v)
    if not n:
        return [math.nan for _ in qs]
    spots = [((n - 1) * q, math.floor((n - 1) * q), math.ceil((n - 1) * q)) for q in qs]
    v = np.partition(v, sorted({k for _, f, c in spots for k in (f, c)}))
    return [float(v[f]) if f == c else float(v[f] * (1.0 - (rn - f)) + v[c] * (rn - f)) for rn, f, c in spots]
