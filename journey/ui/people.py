"""A list of users usable as a filter on every page (from a funnel step, later from clusters)."""

from __future__ import annotations

import streamlit as st

from journey.log import Filters


def use_as_filter(user_ids: list[str], label: str) -> None:
    """Filter every page to these users (the sidebar shows it, with a button to clear)."""
    current: Filters = st.session_state.get("filters", Filters())
    st.session_state["filters"] = Filters(current.start, current.end, current.channels, current.devices,
                                          tuple(user_ids))
    st.session_state["people_filter_label"] = label


def clear() -> None:
    current: Filters = st.session_state.get("filters", Filters())
    st.session_state["filters"] = Filters(current.start, current.end, current.channels, current.devices, ())
    st.session_state.pop("people_filter_label", None)


def sidebar_note() -> None:
    """In the sidebar: which user list filters the pages, and a button to clear it."""
    current: Filters = st.session_state.get("filters", Filters())
    if current.users:
        st.info(f"Filtered to {len(current.users):,} users: {st.session_state.get('people_filter_label', '')}")
        st.button("Clear the user filter", on_click=clear, key="people_clear")

