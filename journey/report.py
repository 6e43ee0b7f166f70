"""The whole journey as one self-contained HTML file: overview, funnels, drop-off, map canvas, retention, clusters.

Charts are inline SVG drawn on the server (vl-convert), tables are HTML, and nothing is fetched when the
file is opened: it can be mailed, archived or opened offline.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable

from . import format as fmt
from .canvas import CANVAS_CSS, canvas_table_html, journey_canvas
from .churn import clusters
from .dropoff import average_order_value, bounce_rate, cart_abandonment, opportunities
from .funnel import default_steps, funnel
from .lazy import pandas as pd
from .log import EventLog
from .overview import events_per_day, overview, top_events
from .retention import retention_matrix
from .stages import StageMap, stage_funnel

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #262730; margin: 32px auto;
  max-width: 1100px; padding: 0 16px; line-height: 1.45; }
h1 { margin-bottom: 0; } h2 { margin-top: 40px; border-bottom: 2px solid #4c78a8; padding-bottom: 4px; }
.meta { color: #666; margin-top: 4px; }
.metrics { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.metric { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; min-width: 120px; }
.metric .label { font-size: 13px; color: #666; } .metric .value { font-size: 22px; font-weight: 600; }
table.data { border-collapse: collapse; font-size: 13px; margin: 12px 0; }
table.data th, table.data td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
table.data th { background: #f3f5f8; } table.data td:first-child, table.data th:first-child { text-align: left; }
.chart svg { max-width: 100%; height: auto; }
.note { color: #666; font-size: 13px; }
"""


def _shown(col: str, value) -> str:
    """A cell as the app shows it: shares and rates in %, money with two decimals, counts with commas."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or hasattr(value, "isoformat"):
        return str(value)
    name = col.lower()
    if any(w in name for w in ("share", "rate", "conversion")):
        return fmt.percent(value)
    if any(w in name for w in ("revenue", "monetary", "value", "risk")):
        return fmt.money(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return fmt.count(value)
    return f"{value:,.2f}"


def _table(df: pd.DataFrame, formats: dict[str, Callable] | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for col, value in zip(df.columns, rec):
            shown = formats[col](value) if col in formats else _shown(str(col), value)
            cells.append(f"<td>{html.escape('' if shown is None else str(shown))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _chart(chart) -> str:
    from . import charts

    return f"<div class='chart'>{charts.to_svg(chart.properties(width=900)).decode('utf-8')}</div>"


def _metrics(items: list[tuple[str, str]]) -> str:
    return "<div class='metrics'>" + "".join(
        f"<div class='metric'><div class='label'>{html.escape(k)}</div><div class='value'>{html.escape(v)}</div></div>"
        for k, v in items) + "</div>"


def html_report(log: EventLog, stage_map: StageMap | None = None, *, steps: list[str] | None = None,
                window: str = "7d", personas: dict[str, str] | None = None, notes: dict | None = None,
                with_clusters: bool = True) -> str:
    """The journey as one self-contained HTML page.

    Parameters
    ----------
    steps : the step funnel to show (default: :func:`journey.default_steps`).
    personas, notes : shown on the journey-map canvas, as on the Journey map page.
    with_clusters : include the churn clusters (k chosen by silhouette; a few seconds on large logs).

    Returns
    -------
    str: an HTML document with inline SVG charts and no external references.
    """
    from . import charts  # altair costs a quarter of a second to import: only when a report is made

    sm = stage_map or StageMap()
    r = log.report
    parts = [f"<h1>Customer journey: {html.escape(r.source)}</h1>",
             f"<p class='meta'>Made by Journey on {dt.date.today().isoformat()} from {fmt.count(r.rows_read)} rows "
             f"read: {fmt.count(r.rows_loaded)} loaded, {fmt.count(r.rows_rejected)} rejected. "
             f"Events from {html.escape(str(r.first_ts))} to {html.escape(str(r.last_ts))}.</p>"]

    o = overview(log).iloc[0]
    parts += ["<h2>Overview</h2>", _metrics([
        ("Users", fmt.count(o["users"])), ("Events", fmt.count(o["events"])), ("Sessions", fmt.count(o["sessions"])),
        ("Orders", fmt.count(o["orders"])), ("Revenue", fmt.money(o["revenue"])),
        ("Visitors who bought", fmt.percent(o["conversion_rate"])),
    ]), _chart(charts.events_per_day_chart(events_per_day(log))),
        _table(top_events(log, 10))]

    stages = stage_funnel(log, sm)
    parts += ["<h2>The five-stage journey</h2>", _chart(charts.stage_funnel_chart(stages)),
              _table(stages[["stage", "users", "conversion_from_previous", "conversion_from_start"]])]

    steps = steps or default_steps(log)
    if len(steps) >= 2:
        f = funnel(log, steps, window=window)
        parts += [f"<h2>Step funnel: {html.escape(' → '.join(steps))} (window {html.escape(window)})</h2>",
                  _chart(charts.funnel_chart(f)),
                  _table(f[["step", "users", "conversion_from_previous", "conversion_from_start", "dropped",
                            "median_seconds_to_convert"]],
                         {"median_seconds_to_convert": fmt.duration})]
        opp = opportunities(f, average_order_value(log))
        parts += ["<h2>Drop-off</h2>", "<p class='note'>Where people leave the step funnel, and what they are "
                  "worth at the average order value.</p>", _table(opp)]
    cart = cart_abandonment(log)
    bounce = bounce_rate(log)
    items = []
    if len(cart) and "abandonment_rate" in cart.columns:
        items.append(("Cart abandonment", fmt.percent(cart["abandonment_rate"].iloc[0])))
    if len(bounce) and "bounce_rate" in bounce.columns:
        items.append(("Bounce rate", fmt.percent(bounce["bounce_rate"].iloc[0])))
    if items:
        parts.append(_metrics(items))

    canvas = journey_canvas(log, sm, personas=personas)
    parts += ["<h2>Journey map</h2>", f"<style>{CANVAS_CSS}</style>", canvas_table_html(canvas, notes)]

    matrix = retention_matrix(log, period="month", stage_map=sm)
    parts += ["<h2>Retention (monthly cohorts, any event)</h2>", _chart(charts.retention_heatmap(matrix))]

    if with_clusters:
        try:
            res = clusters(log, stage_map=sm)
        except Exception as e:  # noqa: BLE001 - too few customers to cluster: say so, keep the report
            parts += ["<h2>Churn clusters</h2>", f"<p class='note'>Not computed: {html.escape(str(e))}</p>"]
        else:
            profiles = res["profiles"]
            keep = [c for c in ["cluster", "name", "customers", "share", "churn_rate", "revenue_share",
                                "mean_recency_days", "mean_frequency", "mean_monetary", "sets_apart"]
                    if c in profiles.columns]
            parts += [f"<h2>Churn clusters ({res['k']}; churned = no event for {res['churn_days']} days)</h2>",
                      _table(profiles[keep])]
    body = "\n".join(parts)
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>Customer journey: {html.escape(r.source)}</title><style>{CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")
