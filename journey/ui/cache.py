"""Cached analysis calls, keyed by the dataset's content fingerprint and the parameters.

The log itself is passed as ``_log`` so Streamlit does not hash it; the key is its content
fingerprint, so two sessions share a cached result only when they hold the very same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from journey.log import EventLog


@st.cache_data(max_entries=256, ttl=3600, show_spinner=False)
def _cached(name: str, fingerprint: str, params: tuple, _fn: Callable, _log: EventLog) -> Any:
    return _fn(_log, **dict(params))


def _key(fn: Callable, log: EventLog, params: dict) -> tuple[str, str, tuple]:
    return f"{fn.__module__}.{fn.__qualname__}", log.fingerprint(), tuple(sorted(params.items()))


def compute(fn: Callable, log: EventLog, **params: Any) -> Any:
    """``fn(log, **params)``, cached by (function, content fingerprint, parameters)."""
    return _cached(*_key(fn, log, params), fn, log)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _csv(name: str, fingerprint: str, params: tuple, _fn: Callable, _log: EventLog) -> bytes:
    from journey.export import csv_bytes

    return csv_bytes(compute(_fn, _log, **dict(params)))


def compute_csv(fn: Callable, log: EventLog, **params: Any) -> bytes:
    """The CSV download of ``compute(fn, log, **params)``, cached the same way: a list of a million people
    is written once, not at every rerun of the page."""
    return _csv(*_key(fn, log, params), fn, log)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _picture(spec: str, kind: str) -> bytes:
    from journey.charts import render

    return render(spec, kind)


def picture(chart: Any, kind: str = "png") -> bytes:
    """An Altair chart rendered on the server as PNG or SVG bytes, cached by its spec."""
    from journey.charts import spec_json

    return _picture(spec_json(chart), kind)
