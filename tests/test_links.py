"""Shareable links: widget values to and from the query string."""

import datetime as dt

from journey.ui.links import _decode, _encode


def test_round_trips():
    for value in ("device", ["a", "b|c"][:1], [], True, False, 7, 2.5, (dt.date(2024, 1, 1), dt.date(2024, 2, 1))):
        assert _decode(_encode(value) or "", value) == (list(value) if isinstance(value, list) else value)


def test_bad_numbers_raise_value_error():
    import pytest

    with pytest.raises(ValueError):
        _decode("seven", 7)
