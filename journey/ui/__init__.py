"""Streamlit glue only: session state, cached wrappers, shared widgets. The analysis lives in journey/."""
