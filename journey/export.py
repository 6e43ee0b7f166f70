"""Safe exports: CSVs that a spreadsheet will not run as formulas."""

from __future__ import annotations

from .lazy import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy in which text cells starting with = + - @ (or tab, CR) are prefixed with ``'``.

    Numbers are left alone, so a negative amount stays a number.

    Returns
    -------
    DataFrame of the same shape.
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith("string"):
            out[col] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_START) else v for v in out[col]]
    return out
