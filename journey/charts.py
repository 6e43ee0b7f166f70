"""Altair chart builders: a DataFrame of aggregates in, a chart out. Display parameters only."""

from __future__ import annotations

import math

import altair as alt

from .lazy import pandas as pd


# Streamlit sizes a chart drawn at the container's width with autosize "fit", which also fits the
# height, axes included: a heatmap sized by its rows was squashed to a few pixels and lost most row
# labels. Fitting only the width keeps the height each row needs.
FIT_WIDTH = {"type": "fit-x", "contains": "padding"}

# ONE_DATASET: every layer of a chart reads the same table. Streamlit 1.50 drew a layered chart whose
# layers had tables of their own with no data at all once a rerun changed them (a filter change left the
# retention curves empty, "Unrecognized data set" in the browser's console; fixed in later Streamlit).


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


NODE_WIDTH = 0.16  # of the distance between two steps
NODE_GAP = 0.02  # of the chart's height, between two nodes of a step
_BAND_POINTS = 17


def sankey_layout(nodes: pd.DataFrame, links: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Where each node and each flow of :func:`journey.paths` is drawn, in a unit square per step.

    Steps are columns (x = step - 1); a node's height is proportional to its users, the same scale for every
    step, biggest node on top and "Other" last; flows leave a node in the order of their targets and enter
    in the order of their sources, so bands never cross inside a node.

    Returns
    -------
    (node_boxes, bands)
        node_boxes: the node columns plus x, x2, y, y2 (y from 0 at the top) and label.
        bands: one row per point of each flow's band: link (its index), step, source, target, users,
        x, y (top edge) and y2 (bottom edge).
    """
    boxes = nodes.copy()
    boxes["rank"] = boxes.apply(lambda r: (r["event"] == "Other", -r["users"], str(r["event"])), axis=1)
    boxes = boxes.sort_values(["step", "rank"]).drop(columns="rank").reset_index(drop=True)
    per_step = boxes.groupby("step").agg(total=("users", "sum"), n=("users", "size"))
    scale = min((1 - NODE_GAP * (r.n - 1)) / r.total for r in per_step.itertuples()) if len(per_step) else 1.0
    ys, y2s, tops = [], [], {}
    for _, group in boxes.groupby("step", sort=True):
        y = 0.0
        for row in group.itertuples():
            tops[(row.step, row.event)] = y
            ys.append(y)
            y += row.users * scale
            y2s.append(y)
            y += NODE_GAP
    boxes["x"] = boxes["step"] - 1.0
    boxes["x2"] = boxes["x"] + NODE_WIDTH
    boxes["y"], boxes["y2"] = ys, y2s
    last = boxes["step"].max() if len(boxes) else 0
    boxes["label"] = [f"{r.event} · {r.users:,}" + (f" ({r.ends:,} end)" if r.ends and r.step < last else "")
                      for r in boxes.itertuples()]
    order = {(r.step, r.event): i for i, r in enumerate(boxes.itertuples())}
    out_offset = dict(tops)
    in_offset = dict(tops)
    flows = links.assign(
        _src=[order[(r.step, r.source)] for r in links.itertuples()],
        _tgt=[order[(r.step + 1, r.target)] for r in links.itertuples()],
    )
    starts, ends = {}, {}
    for row in flows.sort_values(["_src", "_tgt"]).itertuples():
        starts[row.Index] = out_offset[(row.step, row.source)]
        out_offset[(row.step, row.source)] += row.users * scale
    for row in flows.sort_values(["_tgt", "_src"]).itertuples():
        ends[row.Index] = in_offset[(row.step + 1, row.target)]
        in_offset[(row.step + 1, row.target)] += row.users * scale
    t = pd.Series(range(_BAND_POINTS), dtype=float) / (_BAND_POINTS - 1)
    ease = (1 - (t * math.pi).map(math.cos)) / 2
    parts = []
    for i, row in enumerate(flows.itertuples()):
        x0, x1 = row.step - 1 + NODE_WIDTH, float(row.step)
        top = starts[row.Index] + (ends[row.Index] - starts[row.Index]) * ease
        parts.append(pd.DataFrame({"link": i, "step": row.step, "source": row.source, "target": row.target,
                                   "users": row.users, "x": x0 + (x1 - x0) * t, "y": top,
                                   "y2": top + row.users * scale}))
    bands = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["link", "step", "source", "target", "users", "x", "y", "y2"])
    return boxes, bands


def sankey_chart(nodes: pd.DataFrame, links: pd.DataFrame, height: int = 480, unit: str = "users"):
    """A Sankey of :func:`journey.paths` in plotly, drawn from :func:`sankey_layout` (ADR 0008).

    Flows are filled curves, nodes rectangles; each node carries clickable points whose ``customdata`` is
    ``[step, event, users, ends]``, so ``st.plotly_chart(on_select="rerun", selection_mode="points")`` hands
    a clicked node back to the page. Plotly's own Sankey trace reports no selection for its nodes.
    """
    import plotly.graph_objects as go

    boxes, bands = sankey_layout(nodes, links)
    steps = int(boxes["step"].max()) if len(boxes) else 1
    events = list(dict.fromkeys(boxes.sort_values("users", ascending=False)["event"]))
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6",
               "#9d755d", "#bab0ac", "#88d27a", "#83bcb6", "#d67195", "#79706e", "#fabfd2", "#d6a5c9"]
    colour = {e: ("#bab0ac" if e == "Other" else palette[i % len(palette)]) for i, e in enumerate(events)}
    fig = go.Figure()
    fx, fy = [], []
    for _, band in bands.groupby("link", sort=True):
        fx += [*band["x"], *band["x"][::-1], None]
        fy += [*band["y"], *band["y2"][::-1], None]
    fig.add_trace(go.Scatter(x=fx, y=fy, mode="lines", fill="toself", line=dict(width=0),
                             fillcolor="rgba(76,120,168,0.25)", hoverinfo="skip", showlegend=False))
    for row in boxes.itertuples():
        fig.add_shape(type="rect", x0=row.x, x1=row.x2, y0=row.y, y1=row.y2, line=dict(width=0),
                      fillcolor=colour[row.event], layer="above")
    # clickable points down each node, about every 2 % of the height, so a click anywhere on it lands on one
    px, py, custom = [], [], []
    for row in boxes.itertuples():
        count = max(1, int((row.y2 - row.y) / 0.02))
        for i in range(count):
            px.append((row.x + row.x2) / 2)
            py.append(row.y + (row.y2 - row.y) * (i + 0.5) / count)
            custom.append([int(row.step), str(row.event), int(row.users), int(row.ends)])
    fig.add_trace(go.Scatter(
        x=px, y=py, mode="markers", customdata=custom, showlegend=False,
        marker=dict(size=16, symbol="square", color="rgba(0,0,0,0)"),
        hovertemplate=f"step %{{customdata[0]}}: %{{customdata[1]}}<br>%{{customdata[2]:,}} {unit}, "
                      "%{customdata[3]:,} end here<br>click to see who<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=boxes["x2"] + 0.03, y=(boxes["y"] + boxes["y2"]) / 2, mode="text", text=boxes["label"],
        textposition="middle right", textfont=dict(size=12, color="#262730"), hoverinfo="skip", showlegend=False,
        unselected=dict(textfont=dict(color="#262730")),
    ))
    fig.update_xaxes(visible=False, range=[-0.02, steps - 1 + NODE_WIDTH + 0.8], fixedrange=True)
    fig.update_yaxes(visible=False, range=[1.01, -0.01], fixedrange=True)
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=4, b=4), plot_bgcolor="white", dragmode=False,
                      clickmode="event+select", hovermode="closest")
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
            # every target named: Vega drops every other rotated label it thinks overlaps
            x=alt.X("target:N", title="next event", axis=alt.Axis(labelAngle=-40, labelOverlap=False, labelLimit=160)),
            y=alt.Y("source:N", title="event", sort=sources),
            color=color,
            tooltip=[c for c in ["source", "target", "transitions", "users", "share_of_source", "share_a", "share_b",
                                 "difference", "median_seconds"] if c in df.columns],
        )
        .properties(height=height or max(200, 22 * len(sources)), autosize=FIT_WIDTH)
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
    return alt.layer(rect, text).properties(height=height or max(200, 24 * df["event"].nunique()),
                                           autosize=FIT_WIDTH)


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
    return alt.layer(rect, text).properties(height=height or alt.Step(28), autosize=FIT_WIDTH)


def retention_curves_chart(df: pd.DataFrame, average: pd.DataFrame, height: int = 280) -> alt.Chart:
    """One retention curve per cohort (thin) and the weighted average (thick), periods 1+."""
    # the axis marks whole periods only (left to Vega, a short range got a tick at 1.5 labelled "2")
    periods = sorted(int(p) for p in df.loc[df["period"] > 0, "period"].unique())
    x = alt.X("period:Q", title="periods since start", axis=alt.Axis(values=periods, format="d"))
    # both layers read one table (see ONE_DATASET): the cohorts' rows, then the average's
    cohorts = df.loc[df["period"] > 0, ["cohort_label", "period", "retention"]].assign(line="cohort")
    avg_rows = average.loc[average["period"] > 0, ["period", "retention"]].assign(line="average")
    base = alt.Chart(pd.concat([cohorts, avg_rows], ignore_index=True)).encode(x=x)
    lines = base.transform_filter(alt.datum.line == "cohort").mark_line(opacity=0.35).encode(
        y=alt.Y("retention:Q", axis=alt.Axis(format="%"), title="retained"),
        color=alt.Color("cohort_label:N", legend=None),
        tooltip=["cohort_label:N", "period:Q", alt.Tooltip("retention:Q", format=".1%")],
    )
    avg = base.transform_filter(alt.datum.line == "average").mark_line(color="#222", strokeWidth=3, point=True).encode(
        y="retention:Q", tooltip=["period:Q", alt.Tooltip("retention:Q", format=".1%", title="average")])
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
               color: str | None = None, height: int = 240) -> alt.Chart:
    """Plain vertical bars of an aggregate per category (customer segments, NPS answers per score…)."""
    enc = dict(x=alt.X(f"{x}:O", title=x_title or x), y=alt.Y(f"{y}:Q", title=y_title or y),
               tooltip=[x, alt.Tooltip(f"{y}:Q", format=",")])
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=None)
    return alt.Chart(df).mark_bar().encode(**enc).properties(height=height)


def binned_bars_chart(df: pd.DataFrame, start: str, count: str, *, width: float = 1, x_title: str | None = None,
                      y_title: str | None = None, height: int = 240) -> alt.Chart:
    """Bars of an already-binned distribution: each row counts the values in [``start``, ``start`` + ``width``).

    Each bar spans its bin, so the axis starts where the first bin does (bars centred on a quantitative
    value reached below 0: "days between orders" from -4).
    """
    binned = df.assign(bin_end=df[start] + width)
    return alt.Chart(binned).mark_bar().encode(
        x=alt.X(f"{start}:Q", bin="binned", title=x_title or start),
        x2=alt.X2("bin_end"),
        y=alt.Y(f"{count}:Q", title=y_title or count),
        tooltip=[alt.Tooltip(f"{start}:Q", title="from"), alt.Tooltip("bin_end:Q", title="up to"),
                 alt.Tooltip(f"{count}:Q", format=",")],
    ).properties(height=height)


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
    base = alt.Chart(df)  # one table for both layers (see ONE_DATASET): the diagonal is drawn from constants
    diag = base.mark_rule(strokeDash=[4, 4], color="#999").encode(
        x=alt.datum(0), y=alt.datum(0), x2=alt.datum(1), y2=alt.datum(1))
    pts = base.mark_circle().encode(
        x=alt.X("predicted:Q", title="predicted churn", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("observed:Q", title="observed churn", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        size=alt.Size("customers:Q", legend=None), tooltip=["bin", "customers", alt.Tooltip("observed:Q", format=".1%")])
    return alt.layer(diag, pts).properties(height=height)


def to_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """An Altair chart as PNG bytes (rendered by vl-convert, no browser needed).

    Returns
    -------
    bytes of a PNG picture, ``scale`` times the chart's size in pixels.
    """
    return render(spec_json(chart), "png", scale)


def to_svg(chart: alt.TopLevelMixin) -> bytes:
    """An Altair chart as SVG (rendered by vl-convert).

    Returns
    -------
    bytes of an SVG document (UTF-8).
    """
    return render(spec_json(chart), "svg")


def spec_json(chart: alt.TopLevelMixin) -> str:
    """The chart's Vega-Lite spec as JSON text; dates in the data become ISO strings."""
    import json

    return json.dumps(chart.to_dict(), default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


def render(spec: str, kind: str = "png", scale: float = 2.0) -> bytes:
    """A Vega-Lite spec (JSON text) drawn by vl-convert, as PNG bytes or SVG text encoded in UTF-8.

    Returns
    -------
    bytes of the picture.
    """
    import vl_convert

    if kind == "png":
        return vl_convert.vegalite_to_png(spec, scale=scale)
    return vl_convert.vegalite_to_svg(spec).encode("utf-8")
