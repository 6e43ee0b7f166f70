"""Keep every page behind app.py, even when a link opens a page directly.

DESIGN.md keeps the page files in ``pages/``, the folder Streamlit's older multipage mode discovers on its
own. Until app.py has called ``st.navigation`` once in a server's life, Streamlit runs a directly opened
page (``/funnels``) by itself, without the sidebar. A page that finds itself run that way switches the
server to app.py's navigation and reruns, so the same link shows the full app.
"""

from __future__ import annotations

import streamlit as st


def route_through_app() -> None:
    from streamlit.runtime.pages_manager import PagesManager  # Streamlit internals: checked by tests

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page(title: str):
    """Start a page: route it through app.py, draw its title, and return the filtered log.

    Stops the page with a hint when no dataset is selected yet.
    """
    from . import state, widgets

    route_through_app()
    st.title(title)
    log = state.filtered_log()
    if log is None:
        widgets.no_data()
        st.stop()
    return log
