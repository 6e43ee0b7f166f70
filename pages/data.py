"""Data & mapping: which column became what, the load report, the rejected rows, a preview."""

import streamlit as st

from journey.schema import ROLES
from journey.ui import shell, state, widgets

shell.route_through_app()
st.title("Data & mapping")
pending = state.pending()
log = state.current_log()
if pending is None and log is None:
    widgets.no_data()
    st.stop()

if pending is not None:
    st.warning(
        f"**{pending.name}** was read, but Journey could not tell which column is which. "
        "Pick at least the user and time columns below (and the event column, unless it is an orders export)."
    )
    st.dataframe(pending.preview(), hide_index=True)
    columns, current, date_order_now = pending.columns, {}, "auto"
else:
    columns = log.source_columns()
    current = log.report.mapping
    date_order_now = state.settings_for(state.current_key()).date_order

st.subheader("Column mapping")
st.caption(
    "Journey needs a user and a time column; without an event column every row is a purchase (an orders "
    "export). Other columns are kept under their own names. Your choice sticks for this dataset."
)


def apply_mapping():
    """Runs before the next script run, so every widget draws with the new mapping."""
    overrides = {role: st.session_state[f"map_{role}"] for role in ROLES}
    overrides = {role: (None if col == "(none)" else col) for role, col in overrides.items()}
    apply = state.build_pending if state.pending() is not None else state.apply_settings
    apply(overrides, st.session_state["map_date_order"])


with st.form("mapping_form"):
    grid = st.columns(4)
    for i, role in enumerate(ROLES):
        options = ["(none)", *columns]
        value = current.get(role)
        grid[i % 4].selectbox(
            f"{role} → {ROLES[role]}", options, index=options.index(value) if value in options else 0,
            key=f"map_{role}",
        )
    st.radio(
        "Dates like 01/02/2024", ["auto", "dmy", "mdy"], horizontal=True,
        index=["auto", "dmy", "mdy"].index(date_order_now), key="map_date_order",
        format_func={"auto": "decide from the data", "dmy": "day first (1 Feb)", "mdy": "month first (Jan 2)"}.get,
    )
    st.form_submit_button("Apply mapping", type="primary", on_click=apply_mapping)
error = state.mapping_error()
if error:
    st.error(error)
if pending is not None:
    st.stop()

st.subheader("Load report")
widgets.load_report(log, key="data")

st.subheader("First events")
st.dataframe(state.filtered_log().head(100), hide_index=True)
