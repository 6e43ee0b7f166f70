"""Altair chart builders: a DataFrame of aggregates in, a chart out. Display parameters only."""

from __future__ import annotations

import altair as alt
import pandas as pd


def events_per_day_chart(df: pd.DataFrame, height: int = 260) -> alt.Chart:
    """Events (bars) and active users (line) per day, from :func:`journey.events_per_day`."""
    base = alt.Chart(df).encode(x=alt.X("day:T", title=None))
    bars = base.mark_bar(opacity=0.55).encode(
        y=alt.Y("events:Q", title="events"),
        tooltip=[alt.Tooltip("day:T"), alt.Tooltip("events:Q", format=","), alt.Tooltip("users:Q", format=",")],
    )
    line = base.mark_line(color="#e4572e").encode(y=alt.Y("users:Q", title="active users"))
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=height)


def top_events_chart(df: pd.DataFrame, height: int | None = None) -> alt.Chart:
    """Horizontal bars of events by occurrences, from :func:`journey.top_events`."""
    height = height or max(120, 26 * len(df))
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("events:Q", title="events"),
            y=alt.Y("event:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=180)),
            tooltip=[
                alt.Tooltip("event:N"),
                alt.Tooltip("events:Q", format=","),
                alt.Tooltip("users:Q", format=","),
                alt.Tooltip("user_share:Q", format=".1%", title="share of users"),
            ],
        )
        .properties(height=height)
    )
