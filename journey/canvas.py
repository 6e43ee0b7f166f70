"""The journey-map canvas: the five stages as columns, filled from the data.

Each event belongs to the stage its user is in when doing it: the furthest stage whose condition the user
has met by then (DESIGN.md's stages). So a payment error before the first purchase is a consideration
pain point, and a page view after it belongs to the purchase stage.
"""

from __future__ import annotations

import html
import math

from . import format as fmt
from .dropoff import average_order_value
from .lazy import pandas as pd
from .log import EventLog
from .stages import STAGES, StageMap, normalised_event_sql, stage_funnel, user_stages_sql

ROWS = ("touchpoints", "behaviours", "time in stage", "conversion to next", "pain points", "opportunities",
        "emotions", "personas")
ERROR_PATTERN = r".*(error|fail|failed|failure|exception|timeout|declined|invalid|not_?found|404|500).*"
SUPPORT_PATTERN = r".*(support|help|contact|ticket|chat|complain|complaint|return_?request|refund).*"
NO_PERSONAS = "Open Retention & churn to compute the churn clusters; they appear here as personas."


def events_by_stage_sql(log: EventLog, stage_map: StageMap | None = None) -> tuple[str, dict]:
    """SQL of the (filtered) events, each with ``stage``: the stage its user is in at that moment, and
    ``stage_before``: the stage just before it (an NPS answer of 10 makes its user an advocate, but was
    given by a customer in the purchase or retention stage)."""
    users, params = user_stages_sql(log, stage_map)
    rel, _ = log.source()
    return f"""
        SELECT e.*, CASE WHEN e.ts >= u.t_advocacy THEN 'advocacy' WHEN e.ts >= u.t_retention THEN 'retention'
                         WHEN e.ts >= u.t_purchase THEN 'purchase' WHEN e.ts >= u.t_consideration THEN 'consideration'
                         ELSE 'awareness' END AS stage,
               CASE WHEN e.ts > u.t_advocacy THEN 'advocacy' WHEN e.ts > u.t_retention THEN 'retention'
                    WHEN e.ts > u.t_purchase THEN 'purchase' WHEN e.ts > u.t_consideration THEN 'consideration'
                    ELSE 'awareness' END AS stage_before
        FROM {rel} e JOIN ({users}) u USING (user_id)
    """, params


def stage_activity(log: EventLog, stage_map: StageMap | None = None, top: int = 3) -> dict[str, pd.DataFrame]:
    """What happens in each stage, as tables.

    Returns
    -------
    dict of DataFrames, each with a ``stage`` column: ``events`` (stage, event, events, users, rank),
    ``channels`` and ``pages`` (stage, value, events, share), ``pain`` (stage, kind: error or support,
    event, events, users), ``scores`` (stage: the one the answer was given in, answers, mean_score,
    promoters, detractors, nps).
    """
    sql, params = events_by_stage_sql(log, stage_map)
    params = {**params, "top": int(top), "err": ERROR_PATTERN, "sup": SUPPORT_PATTERN}
    norm = normalised_event_sql("event")
    out = {
        "events": log.db.run(
            f"""WITH s AS ({sql})
            SELECT * FROM (
                SELECT stage, event, count(*) AS events, count(DISTINCT user_id) AS users,
                       row_number() OVER (PARTITION BY stage ORDER BY count(DISTINCT user_id) DESC, event) AS rank
                FROM s GROUP BY stage, event) WHERE rank <= $top ORDER BY stage, rank""",
            params,
        ),
        "pain": log.db.run(
            f"""WITH s AS ({sql})
            SELECT stage, CASE WHEN regexp_full_match({norm}, $err) THEN 'error' ELSE 'support' END AS kind,
                   event, count(*) AS events, count(DISTINCT user_id) AS users
            FROM s WHERE regexp_full_match({norm}, $err) OR regexp_full_match({norm}, $sup)
            GROUP BY ALL ORDER BY stage, events DESC, event""",
            params,
        ),
        "scores": log.db.run(
            f"""WITH s AS ({sql})
            SELECT stage_before AS stage, count(score) AS answers, avg(score) AS mean_score,
                   count(*) FILTER (WHERE score >= 9) AS promoters, count(*) FILTER (WHERE score <= 6) AS detractors,
                   (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) * 100.0
                       / nullif(count(score), 0) AS nps
            FROM s WHERE score IS NOT NULL GROUP BY 1 ORDER BY 1""",
            params,
        ),
    }
    for name in ("channel", "page"):
        if log.mapping.to_dict().get(name):
            out[f"{name}s"] = log.db.run(
                f"""WITH s AS ({sql})
                SELECT * FROM (
                    SELECT stage, coalesce(CAST({name} AS VARCHAR), '(none)') AS value, count(*) AS events,
                           count(*) / sum(count(*)) OVER (PARTITION BY stage) AS share,
                           row_number() OVER (PARTITION BY stage ORDER BY count(*) DESC, 2) AS rank
                    FROM s GROUP BY stage, value) WHERE rank <= $top ORDER BY stage, rank""",
                params,
            )
    return out


def stage_durations(log: EventLog, stage_map: StageMap | None = None) -> pd.DataFrame:
    """Median time from first reaching a stage to first reaching the next one.

    Returns
    -------
    DataFrame: stage, users (who reached both), median_seconds.
    """
    sql, params = user_stages_sql(log, stage_map)
    cols = ["t_awareness", "t_consideration", "t_purchase", "t_retention", "t_advocacy"]
    parts = " UNION ALL ".join(
        f"SELECT '{STAGES[i]}' AS stage, {i} AS i, count(*) AS users, median(epoch({cols[i + 1]}) - epoch({cols[i]})) "
        f"AS median_seconds FROM u WHERE {cols[i]} IS NOT NULL AND {cols[i + 1]} IS NOT NULL "
        f"AND {cols[i + 1]} >= {cols[i]}"
        for i in range(len(cols) - 1)
    )
    return log.db.run(f"WITH u AS ({sql}) SELECT stage, users, median_seconds FROM ({parts}) ORDER BY i", params)


def journey_canvas(log: EventLog, stage_map: StageMap | None = None, personas: dict[str, str] | None = None
                   ) -> pd.DataFrame:
    """The journey map: one column per stage, one row per aspect, each cell a short text from the data.

    Rows: touchpoints (channels and pages of the stage's events), behaviours (its top events),
    time in stage (median time to the next stage), conversion to next, pain points (users lost before the
    next stage, error-like events, support contacts, low scores), opportunities (revenue at risk from
    those lost), emotions (NPS or mean score of the answers given in the stage), personas (from the churn
    clusters, when given).

    Returns
    -------
    DataFrame indexed by ``ROWS`` with one column per stage.
    """
    funnel = stage_funnel(log, stage_map).set_index("stage")
    activity = stage_activity(log, stage_map)
    durations = stage_durations(log, stage_map).set_index("stage")
    aov = average_order_value(log)
    cells: dict[str, dict[str, str]] = {s: {} for s in STAGES}

    def rows_for(table: str, stage: str) -> pd.DataFrame:
        df = activity.get(table)
        return df[df["stage"] == stage] if df is not None and not df.empty else pd.DataFrame()

    for i, stage in enumerate(STAGES):
        nxt = STAGES[i + 1] if i + 1 < len(STAGES) else None
        touch = []
        for table, label in (("channels", "channels"), ("pages", "pages")):
            part = rows_for(table, stage)
            if not part.empty:
                touch.append(f"{label}: " + ", ".join(f"{v} {fmt.percent(s, 0)}" for v, s in zip(part["value"], part["share"])))
        cells[stage]["touchpoints"] = "; ".join(touch) or "–"
        ev = rows_for("events", stage)
        cells[stage]["behaviours"] = ", ".join(
            f"{e} ({fmt.count(u)} users)" for e, u in zip(ev["event"], ev["users"])) or "no events in this stage"
        if nxt and stage in durations.index and durations.loc[stage, "users"]:
            cells[stage]["time in stage"] = (f"median {fmt.duration(durations.loc[stage, 'median_seconds'])} "
                                             f"to {nxt}")
        else:
            cells[stage]["time in stage"] = "–"
        users = int(funnel.loc[stage, "users"])
        if nxt:
            lost = users - int(funnel.loc[nxt, "users"])
            cells[stage]["conversion to next"] = (f"{fmt.percent(funnel.loc[nxt, 'conversion_from_previous'])} "
                                                  f"reach {nxt}")
        else:
            lost = 0
            cells[stage]["conversion to next"] = f"{fmt.count(users)} users are advocates"
        pain = [f"{fmt.count(lost)} users go no further"] if nxt else []
        for kind, label in (("error", "errors"), ("support", "support")):
            part = rows_for("pain", stage)
            part = part[part["kind"] == kind] if not part.empty else part
            if not part.empty:
                pain.append(f"{label}: " + ", ".join(f"{e} ×{fmt.count(n)}" for e, n in zip(part["event"], part["events"])))
        sc = rows_for("scores", stage)
        if not sc.empty and int(sc.iloc[0]["detractors"]):
            pain.append(f"{fmt.count(sc.iloc[0]['detractors'])} low scores (0–6)")
        cells[stage]["pain points"] = "; ".join(pain) or "–"
        if nxt and lost and not math.isnan(aov):
            cells[stage]["opportunities"] = (f"{fmt.money(lost * aov)} at risk "
                                             f"({fmt.count(lost)} × average order {fmt.money(aov)})")
        else:
            cells[stage]["opportunities"] = "–"
        if not sc.empty and sc.iloc[0]["answers"]:
            r = sc.iloc[0]
            cells[stage]["emotions"] = (f"NPS {r['nps']:+.0f}, mean score {r['mean_score']:.1f} "
                                        f"({fmt.count(r['answers'])} answers)")
        else:
            cells[stage]["emotions"] = "no scores in this stage"
        cells[stage]["personas"] = (personas or {}).get(stage, NO_PERSONAS)
    return pd.DataFrame(cells).reindex(list(ROWS))


def canvas_markdown(canvas: pd.DataFrame, notes: dict[tuple[str, str], str] | None = None, title: str = "") -> str:
    """The canvas as a Markdown table; notes (row, stage) → text are appended to their cells."""
    notes = notes or {}

    def cell(row: str, stage: str) -> str:
        text = str(canvas.loc[row, stage])
        note = notes.get((row, stage))
        text = f"{text} — *{note}*" if note else text
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"# {title or 'Customer journey map'}", "", "| | " + " | ".join(canvas.columns) + " |",
             "|---" * (len(canvas.columns) + 1) + "|"]
    for row in canvas.index:
        lines.append(f"| **{row}** | " + " | ".join(cell(row, s) for s in canvas.columns) + " |")
    return "\n".join(lines) + "\n"


CANVAS_CSS = """
table.journey-canvas { border-collapse: collapse; width: 100%; table-layout: fixed; font-family: system-ui, sans-serif; }
table.journey-canvas th, table.journey-canvas td { border: 1px solid #ddd; padding: 8px; vertical-align: top;
  font-size: 13px; line-height: 1.35; color: #222; }
table.journey-canvas thead th { background: #4c78a8; color: white; text-transform: capitalize; }
table.journey-canvas th.row { background: #f3f5f8; text-align: left; width: 12%; text-transform: capitalize; }
table.journey-canvas .note { margin-top: 6px; padding: 4px 6px; background: #fff7d6; border-radius: 4px;
  font-style: italic; }
"""


def canvas_table_html(canvas: pd.DataFrame, notes: dict[tuple[str, str], str] | None = None) -> str:
    """The canvas as an HTML table (with its style), notes shown under their cells."""
    notes = notes or {}
    head = "".join(f"<th>{html.escape(s)}</th>" for s in canvas.columns)
    body = []
    for row in canvas.index:
        tds = []
        for s in canvas.columns:
            note = notes.get((row, s))
            extra = f"<div class='note'>{html.escape(note)}</div>" if note else ""
            tds.append(f"<td>{html.escape(str(canvas.loc[row, s]))}{extra}</td>")
        body.append(f"<tr><th class='row'>{html.escape(row)}</th>{''.join(tds)}</tr>")
    return (f"<style>{CANVAS_CSS}</style><table class='journey-canvas'><thead><tr><th class='row'></th>{head}</tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table>")


def canvas_html(canvas: pd.DataFrame, notes: dict[tuple[str, str], str] | None = None, title: str = "") -> str:
    """The canvas as a self-contained HTML page (a picture to share or print)."""
    title = html.escape(title or "Customer journey map")
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body style='margin: 24px; font-family: system-ui, sans-serif'><h1>{title}</h1>"
            f"{canvas_table_html(canvas, notes)}</body></html>\n")


_COL_CHARS = 34  # characters per line in a stage column of the picture
_LINE = 15  # pixels per line


def canvas_chart(canvas: pd.DataFrame, notes: dict[tuple[str, str], str] | None = None, title: str = ""):
    """The canvas as an Altair chart: a grid of stages × rows with the cells' text wrapped, notes in italics.

    Returns
    -------
    altair.LayerChart, ready for :func:`journey.charts.to_png` / :func:`journey.charts.to_svg`.
    """
    import textwrap

    import altair as alt

    notes = notes or {}
    col_w, head_w, head_h = 230, 120, 30
    cells, texts, y = [], [], head_h
    for i, stage in enumerate(canvas.columns):
        cells.append(dict(x=head_w + i * col_w, x2=head_w + (i + 1) * col_w, y=0, y2=head_h, kind="head"))
        texts.append(dict(x=head_w + i * col_w + 8, y=8, text=[str(stage).capitalize()], kind="head"))
    for row in canvas.index:
        wrapped = {}
        for stage in canvas.columns:
            lines = textwrap.wrap(str(canvas.loc[row, stage]), _COL_CHARS) or [""]
            note = notes.get((row, stage))
            wrapped[stage] = (lines, textwrap.wrap(f"Note: {note}", _COL_CHARS) if note else [])
        label = textwrap.wrap(str(row).capitalize(), 14)
        n = max(len(label), *(len(a) + len(b) for a, b in wrapped.values()))
        height = n * _LINE + 16
        cells.append(dict(x=0, x2=head_w, y=y, y2=y + height, kind="row"))
        texts.append(dict(x=8, y=y + 8, text=label, kind="row"))
        for i, stage in enumerate(canvas.columns):
            lines, note_lines = wrapped[stage]
            x0 = head_w + i * col_w
            cells.append(dict(x=x0, x2=x0 + col_w, y=y, y2=y + height, kind="cell"))
            texts.append(dict(x=x0 + 8, y=y + 8, text=lines, kind="cell"))
            if note_lines:
                texts.append(dict(x=x0 + 8, y=y + 8 + len(lines) * _LINE, text=note_lines, kind="note"))
        y += height
    width, total = head_w + col_w * len(canvas.columns), y
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, width], nice=False, zero=True))
    yy = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[0, total], reverse=True, nice=False, zero=True))
    fill = alt.Color("kind:N", legend=None, scale=alt.Scale(domain=["head", "row", "cell"],
                                                            range=["#4c78a8", "#f3f5f8", "#ffffff"]))
    grid = alt.Chart(pd.DataFrame(cells)).mark_rect(stroke="#dddddd", strokeWidth=1).encode(
        x=x, x2="x2:Q", y=yy, y2="y2:Q", color=fill)
    styles = {"head": dict(color="#ffffff", fontWeight="bold"), "row": dict(color="#262730", fontWeight="bold"),
              "cell": dict(color="#262730"), "note": dict(color="#8a6d00", fontStyle="italic")}
    frame = pd.DataFrame(texts)
    words = [alt.Chart(frame[frame["kind"] == kind]).mark_text(align="left", baseline="top", fontSize=12,
                                                                lineHeight=_LINE, **style).encode(x=x, y=yy, text="text")
             for kind, style in styles.items() if (frame["kind"] == kind).any()]
    return (alt.layer(grid, *words)
            .properties(width=width, height=total, title=title or "Customer journey map")
            .configure_view(stroke=None).configure_title(anchor="start", fontSize=16))
