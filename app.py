"""Journey: routes the pages and draws the shared sidebar (data source, filters)."""

from pathlib import Path

import streamlit as st

from journey.ui import auth, links, widgets

HERE = Path(__file__).parent

st.set_page_config(page_title="Journey", page_icon=":material/route:", layout="wide")

pages = st.navigation(
    [
        st.Page(HERE / "pages" / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(HERE / "pages" / "funnels.py", title="Funnels", icon=":material/filter_alt:"),
        st.Page(HERE / "pages" / "journey_map.py", title="Journey map", icon=":material/route:"),
        st.Page(HERE / "pages" / "dropoff.py", title="Drop-off", icon=":material/trending_down:"),
        st.Page(HERE / "pages" / "retention.py", title="Retention & churn", icon=":material/autorenew:"),
        st.Page(HERE / "pages" / "customers.py", title="Customers", icon=":material/groups:"),
        st.Page(HERE / "pages" / "customer.py", title="Customer timeline", icon=":material/person_search:"),
        st.Page(HERE / "pages" / "data.py", title="Data & mapping", icon=":material/table_view:"),
    ],
    position="sidebar" if auth.signed_in() else "hidden",  # no page list before sign-in
)
auth.gate()  # off unless JOURNEY_AUTH is set (ADR 0011): stops here until the visitor signs in
widgets.sidebar()
pages.run()
with st.sidebar:
    links.copy_link()
    widgets.report_button()
    auth.sign_out_button()
