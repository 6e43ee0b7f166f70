"""One customer's timeline, shared by the Customer page and any drill-down list that opens it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import journey
from journey import charts
from journey import format as fmt
from journey.log import EventLog
from journey.stages import STAGES

from .cache import compute

PENDING = "timeline_open_user"


def open_customer(user_id: str) -> None:
    """Show this customer on the Customer page (call from a button, then switch page)."""
    st.session_state[PENDING] = str(user_id)


def pick_from(df: pd.DataFrame, key: str) -> None:
    """Under a list of users: pick one and open their timeline."""
    if df.empty:
        return
    c1, c2 = st.columns([3, 1])
    uid = c1.selectbox("Open a customer's timeline", df["user_id"].astype(str).head(1000).tolist(), key=f"{key}_pick")
    if c2.button("Open timeline", key=f"{key}_open", icon=":material/person_search:"):
        open_customer(uid)
        st.switch_page("pages/customer.py")


def customer_timeline(log: EventLog, stage_map, key: str) -> None:
    """Search a customer by id and draw their timeline and events."""
    pending = st.session_state.pop(PENDING, None)
    if pending is not None:
        st.session_state[f"{key}_query"] = pending
    query = st.text_input("Find a customer by id", key=f"{key}_query", placeholder="part of a user id")
    found = journey.find_users(log, query or "", limit=50)
    if not found:
        st.info("No user id contains that text.")
        return
    uid = st.selectbox("Customer", found, key=f"{key}_user")
    tl = compute(journey.customer_timeline, log, user_id=uid, stage_map=stage_map)
    orders = tl[tl["order_id"].notna()]
    st.caption(f"{fmt.count(len(tl))} events in {fmt.count(tl['session_no'].max())} sessions, "
               f"{fmt.count(orders['order_id'].nunique())} orders worth {fmt.money(orders['revenue'].sum())}, "
               f"furthest stage: {max(tl['stage'], key=STAGES.index) if not tl.empty else '–'}.")
    st.altair_chart(charts.timeline_chart(tl), use_container_width=True)
    st.dataframe(tl, hide_index=True)
