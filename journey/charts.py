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


def _rate_bars(df: pd.DataFrame, label: str, by_group: bool, height: int | None) -> alt.Chart:
    data = df.copy()
    data["label"] = [f"{u:,} · {r * 100:.1f} %" if pd.notna(r) else f"{u:,}"
                     for u, r in zip(data["users"], data["conversion_from_start"])]
    order = list(dict.fromkeys(data[label]))
    y = alt.Y(f"{label}:N", sort=order, title=None, axis=alt.Axis(labelLimit=200))
    x = alt.X("conversion_from_start:Q", title="conversion from the first step", axis=alt.Axis(format="%"),
              scale=alt.Scale(domain=[0, 1]))
    tooltip = [alt.Tooltip(f"{label}:N"), alt.Tooltip("users:Q", format=","),
               alt.Tooltip("conversion_from_start:Q", format=".1%", title="from start"),
               alt.Tooltip("conversion_from_previous:Q", format=".1%", title="from previous"),
               alt.Tooltip("ci_low:Q", format=".1%", title="95 % CI low"),
               alt.Tooltip("ci_high:Q", format=".1%", title="95 % CI high"),
               alt.Tooltip("dropped:Q", format=",")]
    if by_group:
        tooltip.insert(0, alt.Tooltip("group:N"))
        base = alt.Chart(data).encode(y=y, yOffset=alt.YOffset("group:N"), color=alt.Color("group:N", title=None))
        bars = base.mark_bar().encode(x=x, tooltip=tooltip)
        errors = base.mark_rule(color="#333").encode(x="ci_low:Q", x2="ci_high:Q")
        rows = len(order) * max(1, data["group"].nunique())
        return alt.layer(bars, errors).properties(height=height or max(160, 22 * rows))
    base = alt.Chart(data).encode(y=y)
    bars = base.mark_bar(color="#4c78a8").encode(x=x, tooltip=tooltip)
    errors = base.mark_rule(color="#333").encode(x="ci_low:Q", x2="ci_high:Q")
    text = base.mark_text(align="left", dx=6, color="#333").encode(x="ci_high:Q", text="label:N")
    return alt.layer(bars, errors, text).properties(height=height or max(160, 46 * len(order)))


def stage_funnel_chart(df: pd.DataFrame, height: int | None = None) -> alt.Chart:
    """Bars of users at or beyond each stage (share of all users), Wilson 95 % whiskers; grouped with ``group``."""
    return _rate_bars(df, "stage", "group" in df.columns, height)


def funnel_chart(df: pd.DataFrame, height: int | None = None) -> alt.Chart:
    """Bars of units reaching each step (share of step 1), Wilson 95 % whiskers; grouped with ``group``."""
    data = df.copy()
    data["step"] = [f"{n}. {s}" for n, s in zip(data["step_no"], data["step"])]
    return _rate_bars(data, "step", "group" in data.columns, height)


def trend_chart(df: pd.DataFrame, height: int = 260) -> alt.Chart:
    """Conversion per period with its Wilson 95 % band, from :func:`journey.funnel_trend`."""
    base = alt.Chart(df).encode(x=alt.X("period:T", title=None, axis=alt.Axis(format="%d %b")))
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("ci_low:Q", axis=alt.Axis(format="%"), title="conversion"),
                                              y2="ci_high:Q")
    line = base.mark_line(point=True).encode(
        y="conversion:Q",
        tooltip=[alt.Tooltip("period:T"), alt.Tooltip("users:Q", format=","), alt.Tooltip("converted:Q", format=","),
                 alt.Tooltip("conversion:Q", format=".1%")],
    )
    return alt.layer(band, line).properties(height=height)


def stage_trend_chart(df: pd.DataFrame, height: int = 260) -> alt.Chart:
    """Share of each first-touch cohort reaching each stage, from :func:`journey.stage_trend`."""
    return (
        alt.Chart(df[df["stage"] != "awareness"])
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title="first touch", axis=alt.Axis(format="%d %b")),
            y=alt.Y("conversion_from_start:Q", axis=alt.Axis(format="%"), title="reached the stage"),
            color=alt.Color("stage:N", sort=["consideration", "purchase", "retention", "advocacy"], title=None),
            tooltip=[alt.Tooltip("period:T"), "stage:N", alt.Tooltip("users:Q", format=","),
                     alt.Tooltip("conversion_from_start:Q", format=".1%")],
        )
        .properties(height=height)
    )


def histogram_chart(df: pd.DataFrame, height: int = 220) -> alt.Chart:
    """Bars of units per time bin, from :func:`journey.time_to_convert`."""
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("label:N", sort=list(df["label"]), title="time from the previous step",
                    axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("units:Q", title="units"),
            tooltip=["label:N", alt.Tooltip("units:Q", format=",")],
        )
        .properties(height=height)
    )


def share_bars_chart(df: pd.DataFrame, height: int | None = None) -> alt.Chart:
    """Horizontal bars of ``users`` per ``value`` with their share, for drop-off lists."""
    return (
        alt.Chart(df)
        .mark_bar(color="#e4572e")
        .encode(
            x=alt.X("users:Q", title="units"),
            y=alt.Y("value:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
            tooltip=["value:N", alt.Tooltip("users:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(height=height or alt.Step(24))
    )


def rate_by_group_chart(df: pd.DataFrame, rate: str, height: int | None = None) -> alt.Chart:
    """Bars of a 0–1 ``rate`` per ``group`` (cart abandonment, bounce rate by channel or device)."""
    enc = [alt.Tooltip("group:N"), alt.Tooltip(f"{rate}:Q", format=".1%")]
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X(f"{rate}:Q", axis=alt.Axis(format="%"), title=rate.replace("_", " ")),
            y=alt.Y("group:N", sort="-x", title=None),
            tooltip=enc,
        )
        .properties(height=height or alt.Step(26))
    )


STAGE_COLORS = {"awareness": "#9ecae9", "consideration": "#4c78a8", "purchase": "#54a24b", "retention": "#f58518",
                "advocacy": "#e45756"}


def sankey_chart(nodes: pd.DataFrame, links: pd.DataFrame, height: int = 480):
    """A plotly Sankey of :func:`journey.paths` (the one chart Altair cannot draw; see ADR 0008).

    Node labels give the users at the node and, where paths stop there, how many end.
    """
    import plotly.graph_objects as go

    labels, colors, index, custom = [], [], {}, []
    for row in nodes.itertuples():
        index[(row.step, row.event)] = len(labels)
        ends = f" · {row.ends:,} end" if row.ends and row.step < nodes["step"].max() else ""
        labels.append(f"{row.event} · {row.users:,}{ends}")
        colors.append(STAGE_COLORS.get(row.event, "#4c78a8"))
        custom.append([int(row.step), str(row.event), int(row.ends)])
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        textfont=dict(color="#262730", size=12, shadow="none"),
        node=dict(label=labels, color=colors, pad=14, thickness=14, customdata=custom,
                  line=dict(width=0),
                  hovertemplate="step %{customdata[0]}: %{customdata[1]}<br>%{value:,} users, "
                                "%{customdata[2]:,} end here<extra></extra>"),
        link=dict(source=[index[(r.step, r.source)] for r in links.itertuples()],
                  target=[index[(r.step + 1, r.target)] for r in links.itertuples()],
                  value=[int(r.users) for r in links.itertuples()],
                  color="rgba(76,120,168,0.22)",
                  hovertemplate="%{source.customdata[1]} → %{target.customdata[1]}<br>%{value:,} users<extra></extra>"),
    ))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def transitions_chart(df: pd.DataFrame, value: str = "share_of_source", height: int | None = None) -> alt.Chart:
    """A source × target heatmap of :func:`journey.transitions` (or of a comparison's ``difference``)."""
    diverging = value == "difference"
    color = alt.Color(f"{value}:Q", title=value.replace("_", " "), legend=alt.Legend(format="%"),
                      scale=alt.Scale(scheme="redblue", domainMid=0) if diverging else alt.Scale(scheme="blues"))
    sources = list(dict.fromkeys(df["source"]))
    return (
        alt.Chart(df)
        .mark_rect()
        .encode(
            x=alt.X("target:N", title="next event", axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("source:N", title="event", sort=sources),
            color=color,
            tooltip=[c for c in ["source", "target", "transitions", "users", "share_of_source", "share_a", "share_b",
                                 "difference", "median_seconds"] if c in df.columns],
        )
        .properties(height=height or max(200, 22 * len(sources)))
    )


def step_matrix_chart(df: pd.DataFrame, height: int | None = None) -> alt.Chart:
    """The step matrix of :func:`journey.step_matrix` as a heatmap with the shares written in."""
    base = alt.Chart(df).encode(
        x=alt.X("step:O", title="step"),
        y=alt.Y("event:N", title=None, sort=alt.EncodingSortField("units", op="sum", order="descending")),
    )
    rect = base.mark_rect().encode(color=alt.Color("share:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                   tooltip=["step", "event", alt.Tooltip("units:Q", format=","),
                                            alt.Tooltip("share:Q", format=".1%")])
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("share:Q", format=".0%"),
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#222")),
    )
    return alt.layer(rect, text).properties(height=height or max(200, 24 * df["event"].nunique()))


def timeline_chart(df: pd.DataFrame, height: int = 260) -> alt.Chart:
    """One customer's events on a time axis, coloured by stage; orders sized by revenue."""
    data = df.copy()
    data["revenue"] = data["revenue"].fillna(0)
    points = (
        alt.Chart(data)
        .mark_circle(opacity=0.85)
        .encode(
            x=alt.X("ts:T", title=None),
            y=alt.Y("event:N", title=None, sort=alt.EncodingSortField("ts", op="min")),
            color=alt.Color("stage:N", scale=alt.Scale(domain=list(STAGE_COLORS), range=list(STAGE_COLORS.values()))),
            size=alt.Size("revenue:Q", scale=alt.Scale(range=[60, 600]), legend=None),
            tooltip=["ts:T", "event", "stage", "session_no", "page", "order_id", alt.Tooltip("revenue:Q", format=",.2f")],
        )
    )
    starts = data.groupby("session_no", as_index=False)["ts"].min()
    rules = alt.Chart(starts).mark_rule(strokeDash=[3, 3], color="#999").encode(
        x="ts:T", tooltip=[alt.Tooltip("session_no:Q", title="session"), "ts:T"])
    return alt.layer(rules, points).properties(height=height)


def retention_heatmap(df: pd.DataFrame, height: int | None = None) -> alt.Chart:
    """Cohort × period heatmap with the retention written in each cell, from :func:`journey.retention_matrix`."""
    labels = list(dict.fromkeys(df["cohort_label"]))
    base = alt.Chart(df).encode(
        x=alt.X("period:O", title="periods since the cohort's start"),
        y=alt.Y("cohort_label:N", title="cohort", sort=labels),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("retention:Q", scale=alt.Scale(scheme="greens", domain=[0, 0.5], clamp=True), legend=None),
        tooltip=["cohort_label", "period", alt.Tooltip("size:Q", format=","), alt.Tooltip("users:Q", format=","),
                 alt.Tooltip("retention:Q", format=".1%")],
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("retention:Q", format=".1%"),
        color=alt.condition("datum.retention > 0.35", alt.value("white"), alt.value("#222")),
    )
    return alt.layer(rect, text).properties(height=height or alt.Step(28))


def retention_curves_chart(df: pd.DataFrame, average: pd.DataFrame, height: int = 280) -> alt.Chart:
    """One retention curve per cohort (thin) and the weighted average (thick), periods 1+."""
    lines = alt.Chart(df[df["period"] > 0]).mark_line(opacity=0.35).encode(
        x=alt.X("period:Q", title="periods since start", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("retention:Q", axis=alt.Axis(format="%"), title="retained"),
        color=alt.Color("cohort_label:N", legend=None),
        tooltip=["cohort_label", "period", alt.Tooltip("retention:Q", format=".1%")],
    )
    avg = alt.Chart(average[average["period"] > 0]).mark_line(color="#222", strokeWidth=3, point=True).encode(
        x="period:Q", y="retention:Q", tooltip=["period", alt.Tooltip("retention:Q", format=".1%", title="average")])
    return alt.layer(lines, avg).properties(height=height)


def lifecycle_chart(df: pd.DataFrame, height: int = 280) -> alt.Chart:
    """Stacked bars of new, returning, resurrecting (up) and dormant (down) users per period."""
    order = ["new", "returning", "resurrecting", "dormant"]
    data = df.assign(label=pd.to_datetime(df["period"]).dt.strftime("%d %b %Y"))
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("label:O", title=None, sort=list(dict.fromkeys(data["label"])), axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("users:Q", title="users"),
        color=alt.Color("status:N", sort=order, scale=alt.Scale(domain=order, range=["#54a24b", "#4c78a8", "#f58518",
                                                                                   "#e45756"])),
        order=alt.Order("status:N"),
        tooltip=["period:T", "status", alt.Tooltip("users:Q", format=",")],
    ).properties(height=height)


def bars_chart(df: pd.DataFrame, x: str, y: str, *, x_title: str | None = None, y_title: str | None = None,
               color: str | None = None, height: int = 240, x_type: str = "O") -> alt.Chart:
    """Plain vertical bars of an aggregate (order gaps, NPS answers per score…)."""
    enc = dict(x=alt.X(f"{x}:{x_type}", title=x_title or x), y=alt.Y(f"{y}:Q", title=y_title or y),
               tooltip=[x, alt.Tooltip(f"{y}:Q", format=",")])
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=None)
    return alt.Chart(df).mark_bar().encode(**enc).properties(height=height)


def line_chart(df: pd.DataFrame, x: str, y: str, *, y_format: str = "%", y_title: str | None = None,
               height: int = 240) -> alt.Chart:
    """A line over time of one measure (churn rate, NPS…)."""
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X(f"{x}:T", title=None, axis=alt.Axis(format="%d %b")),
        y=alt.Y(f"{y}:Q", axis=alt.Axis(format=y_format) if y_format else alt.Axis(), title=y_title or y),
        tooltip=[alt.Tooltip(f"{x}:T"), alt.Tooltip(f"{y}:Q", format=".1%" if y_format == "%" else ".1f")],
    ).properties(height=height)


def clusters_chart(points: pd.DataFrame, height: int = 360) -> alt.Chart:
    """Customers in the first two principal components, coloured by cluster (a sample of at most 5,000)."""
    return alt.Chart(points).mark_circle(size=18, opacity=0.6).encode(
        x=alt.X("pc1:Q", title="component 1"), y=alt.Y("pc2:Q", title="component 2"),
        color=alt.Color("name:N", title="cluster"), tooltip=["user_id", "name"],
    ).properties(height=height)


def calibration_chart(df: pd.DataFrame, height: int = 260) -> alt.Chart:
    """Predicted against observed churn per probability bin, with the diagonal."""
    diag = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(strokeDash=[4, 4], color="#999").encode(
        x="x:Q", y="y:Q")
    pts = alt.Chart(df).mark_circle().encode(
        x=alt.X("predicted:Q", title="predicted churn", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("observed:Q", title="observed churn", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        size=alt.Size("customers:Q", legend=None), tooltip=["bin", "customers", alt.Tooltip("observed:Q", format=".1%")])
    return alt.layer(diag, pts).properties(height=height)
