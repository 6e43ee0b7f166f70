"""How numbers are written on screen: counts in full with thousands separators, rates as percentages."""

from __future__ import annotations

import math


def count(n: float | int | None) -> str:
    """31106 -> '31,106'."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "–"
    return f"{int(round(n)):,}"


def money(x: float | None) -> str:
    """328864.333 -> '328,864.33'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.2f}"


def percent(rate: float | None, digits: int = 1) -> str:
    """0.0623 -> '6.2 %' (rates are fractions 0–1 in data)."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "–"
    return f"{rate * 100:.{digits}f} %"


def duration(seconds: float | None) -> str:
    """Seconds as the largest sensible unit: 45 s, 12 min, 3.5 h, 2.0 d."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 36 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"
