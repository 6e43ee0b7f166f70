"""Shareable links: a page's widget values live in the URL's query string.

``bind(keys)`` (before the widgets are drawn) fills the widgets from the URL the first time a session
sees it; ``publish(keys)`` (after) writes the current values back, so the address bar always reproduces
the view. Values are plain text: lists joined with ``|``, dates as ISO, booleans as 1/0.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

SEP = "|"


def _encode(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return SEP.join(_encode(v) or "" for v in value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _decode(text: str, like: Any) -> Any:
    """Text back into the type of ``like`` (the widget's kind of value)."""
    if isinstance(like, bool):
        return text == "1"
    if isinstance(like, int):
        return int(float(text))
    if isinstance(like, float):
        return float(text)
    if isinstance(like, (list, tuple)):
        parts = [p for p in text.split(SEP) if p != ""]
        if like and isinstance(like[0], dt.date):
            return tuple(dt.date.fromisoformat(p) for p in parts)
        return parts
    return text


def bind(defaults: dict[str, Any], bounds: dict[str, tuple[Any, Any]] | None = None) -> None:
    """Before drawing widgets: take their values from the URL once per session (key → example value).

    ``bounds`` (key → (lowest, highest)) clamps numbers and dates from a link into the widget's range, so a
    hand-edited or outdated link never asks a slider or date picker for a value it cannot show; choice
    widgets check theirs with :func:`keep_valid`.
    """
    seen = st.session_state.setdefault("links_bound", set())
    bounds = bounds or {}
    for key, like in defaults.items():
        if key in seen:
            continue
        seen.add(key)
        text = st.query_params.get(key)
        if text is None:
            continue
        try:
            value = _decode(text, like)
        except ValueError:
            continue  # a hand-edited link with a bad value: keep the default
        if key in bounds:
            value = _clamp(value, *bounds[key])
            if value is None:
                continue
        st.session_state[key] = value


def keep_valid(key: str, options: list, default: Any = None) -> list:
    """Just before a choice widget: forget a value (from a link) the widget does not offer; return options.

    ``default``: the choice the widget starts at when it has none (or its choice is no longer offered),
    set here rather than given to the widget as ``index``: a widget whose value is also saved through
    Session State (a view's kept widget, ``widgets.view_picker``) and that is given an index warns on the
    page ("created with a default value but also had its value set via the Session State API").
    """
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    if default is not None and key not in st.session_state:
        st.session_state[key] = default
    return options


def _clamp(value: Any, low: Any, high: Any) -> Any:
    if isinstance(value, (list, tuple)):
        parts = tuple(min(max(v, low), high) for v in value)
        return parts if len(parts) == 2 and parts[0] <= parts[1] else None
    return type(low)(min(max(value, low), high))


def publish(keys: list[str]) -> None:
    """After drawing widgets: write their current values into the URL."""
    for key in keys:
        text = _encode(st.session_state.get(key))
        if text is None or text == "":
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != text:
            st.query_params[key] = text


def copy_link() -> None:
    """The current view's address, with a copy button (st.code has one)."""
    with st.popover("Copy link", icon=":material/link:"):
        st.caption("This address opens this page with the same settings (on the sample or a shared dataset; "
                   "an upload stays private to your session).")
        st.code(current_url(), language=None)


def current_url() -> str:
    base = st.context.url or ""
    query = "&".join(f"{k}={_quote(v)}" for k, v in st.query_params.items())
    return base.split("?")[0] + (f"?{query}" if query else "")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="|,-.")
