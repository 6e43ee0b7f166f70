"""Overview: what is in the log, and how many visitors went on to buy."""

import streamlit as st

import journey
from journey import charts
from journey import format as fmt
from journey.ui import shell, state, widgets
from journey.ui.cache import compute

log = shell.page("Overview")

widgets.load_summary(log.report)
head = compute(journey.overview, log).iloc[0]
if head["events"] == 0:
    st.info("No events match the filters. Widen the date range or clear the channel and device filters.")
    st.stop()

cols = st.columns(6)
cols[0].metric("Users", fmt.count(head["users"]))
cols[1].metric("Events", fmt.count(head["events"]))
cols[2].metric("Sessions", fmt.count(head["sessions"]))
cols[3].metric("Orders", fmt.count(head["orders"]))
cols[4].metric("Revenue", fmt.count(head["revenue"]), help=f"Sum of revenue on purchase events: {fmt.money(head['revenue'])}")
cols[5].metric(
    "Visit → purchase", fmt.percent(head["conversion_rate"]),
    help="Users with at least one purchase event ÷ all users (first visit to purchase).",
)
st.caption(
    f"{head['first_ts']:%d %b %Y %H:%M} – {head['last_ts']:%d %b %Y %H:%M} · "
    f"{fmt.count(head['buyers'])} of {fmt.count(head['users'])} users bought"
    + (" · filtered" if log.filters.active() else "")
)

left, right = st.columns([3, 2])
with left:
    st.subheader("Events per day")
    st.altair_chart(charts.events_per_day_chart(compute(journey.events_per_day, log)), use_container_width=True)
with right:
    st.subheader("Top events")
    top = compute(journey.top_events, log, n=10)
    st.altair_chart(charts.top_events_chart(top), use_container_width=True)

with st.expander("Load report"):
    widgets.load_report(state.current_log(), key="overview")
