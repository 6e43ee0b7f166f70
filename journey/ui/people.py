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



def _filter_to(df, label: str) -> None:
    use_as_filter(sorted(set(df["user_id"])), label)


def actions(df, *, label: str, file_name: str, key: str, pick_key: str, csv: bytes | None = None) -> None:
    """Under a list of people: download it as CSV, filter every page to it, open one customer's timeline.

    ``csv``: the download, when the caller has it cached (``cache.compute_csv``); otherwise written here.
    The user filter is made only when the button is pressed.
    """
    from journey import format as fmt
    from journey.export import csv_bytes

    from .timeline import pick_from

    if csv is None:
        csv = csv_bytes(df)
    c1, c2 = st.columns(2)
    c1.download_button(f"Download {fmt.count(len(df))} (CSV)", csv,
                       file_name=file_name, mime="text/csv", key=f"{key}_download", icon=":material/download:")
    c2.button("Filter every page to them", key=f"{key}_filter", icon=":material/filter_alt:", disabled=df.empty,
              on_click=_filter_to, args=(df, label))
    pick_from(df, key=pick_key)
