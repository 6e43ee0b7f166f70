"""CSV downloads: cells a spreadsheet would run as formulas are neutralised, worked out by hand."""

import numpy as np
import pandas as pd

from journey.export import csv_bytes, neutralise_formulas


def test_text_starting_like_a_formula_gets_a_quote():
    df = pd.DataFrame({"user_id": ["=1+1", "+x", "-2", "@sum", "\tt", "\rr", "ok", None, "", "a=b"]})
    assert neutralise_formulas(df)["user_id"].tolist() == [
        "'=1+1", "'+x", "'-2", "'@sum", "'\tt", "'\rr", "ok", None, "", "a=b"]
    assert df["user_id"][0] == "=1+1"  # a copy: the caller's frame is unchanged


def test_numbers_and_mixed_columns():
    df = pd.DataFrame({"revenue": [-2.5, 3.0],  # a number column: a negative amount stays a number
                       "mixed": ["=y", -3]})  # text and a number in one column: only the text is changed
    out = neutralise_formulas(df)
    assert out["revenue"].tolist() == [-2.5, 3.0]
    assert out["mixed"].tolist() == ["'=y", -3]


def test_missing_values_and_string_dtype_kept():
    df = pd.DataFrame({"a": [np.nan, "=x", "y"], "b": pd.array(["-h", None, "g"], dtype="string")})
    out = neutralise_formulas(df)
    assert out["a"].isna().tolist() == [True, False, False] and out["a"].tolist()[1:] == ["'=x", "y"]
    assert out["b"].dtype == df["b"].dtype and out["b"].tolist()[::2] == ["'-h", "g"] and out["b"].isna()[1]


def test_csv_bytes():
    df = pd.DataFrame({"user_id": ["u1", "=cmd|' /C calc'!A0", "a,b"], "n": [1, -2, 3]})
    # the quote added is text, not CSV quoting; only the comma needs quotes
    assert csv_bytes(df) == b"user_id,n\nu1,1\n'=cmd|' /C calc'!A0,-2\n\"a,b\",3\n"
