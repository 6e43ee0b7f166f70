"""Customer value and voice: CLV (historical and formula), RFM segments, NPS and CSAT."""

from __future__ import annotations

import math

import pandas as pd

from .engine import quote_ident
from .errors import InvalidParameterError, JourneyError
from .log import EventLog
from .stages import NPS_PATTERN, StageMap, normalised_event_sql

CSAT_PATTERN = r"^(csat|csat_?answer(ed)?|csat_?response|satisfaction|satisfaction_?survey|survey_?csat)$"

RFM_SEGMENTS = [  # (name, rule on r, f, m scores 1-5), first match wins
    ("Champions", lambda r, f, m: r >= 4 and f >= 4 and m >= 4),
    ("Can't lose them", lambda r, f, m: r <= 2 and f >= 4 and m >= 4),
    ("At risk", lambda r, f, m: r <= 2 and f >= 3),
    ("Loyal", lambda r, f, m: f >= 4),
    ("New customers", lambda r, f, m: r >= 4 and f == 1),
    ("Potential loyalists", lambda r, f, m: r >= 4 and f in (2, 3)),
    ("About to sleep", lambda r, f, m: r == 3 and f <= 2),
    ("Hibernating", lambda r, f, m: r <= 2 and f <= 2),
    ("Need attention", lambda r, f, m: True),
]


def _orders_sql(log: EventLog, stage_map: StageMap | None) -> tuple[str, dict]:
    cond, params = (stage_map or StageMap()).validate().condition("purchase")
    rel, fparams = log.source()
    return (f"SELECT user_id, coalesce(order_id, '#' || row_no::VARCHAR) AS oid, min(ts) AS ts, "
            f"coalesce(sum(revenue), 0) AS revenue FROM {rel} WHERE {cond} GROUP BY ALL", {**params, **fparams})


def customer_value(log: EventLog, *, by: str | None = None, stage_map: StageMap | None = None) -> pd.DataFrame:
    """Historical CLV: revenue per customer to date, with orders and dates.

    ``by`` adds the customer's value of a column on their first event (channel, device…), or their
    ``cohort`` (month of the first event).

    Returns
    -------
    DataFrame: user_id, group (with ``by``), orders, revenue (historical CLV), first_order, last_order,
    average_order_value. Customers are users with at least one order.
    """
    sql, params = _orders_sql(log, stage_map)
    rel, _ = log.source()
    if by == "cohort":
        grp = "strftime(date_trunc('month', min(ts)), '%Y-%m')"
    elif by:
        if by not in log.columns:
            raise InvalidParameterError("by", by, ["cohort", *log.columns])
        grp = f"arg_min(CAST({quote_ident(by)} AS VARCHAR), (ts, row_no))"
    else:
        grp = "NULL"
    return log.db.run(
        f"""
        WITH o AS ({sql}), g AS (SELECT user_id, {grp} AS grp FROM {rel} GROUP BY user_id)
        SELECT o.user_id, {'coalesce(any_value(g.grp), ' + "'(none)') AS " + '"group",' if by else ''}
               count(*) AS orders, sum(o.revenue) AS revenue, min(o.ts) AS first_order, max(o.ts) AS last_order,
               sum(o.revenue) / count(*) AS average_order_value
        FROM o LEFT JOIN g USING (user_id) GROUP BY o.user_id ORDER BY revenue DESC, o.user_id
        """,
        params,
    )


def clv(log: EventLog, *, by: str | None = None, margin: float | None = None, lifespan_years: float | None = None,
        acquisition_cost: dict[str, float] | None = None, stage_map: StageMap | None = None) -> pd.DataFrame:
    """Customer lifetime value per segment, historical and by formula, showing every term.

    formula CLV = average order value × purchase frequency (orders per customer per year) × expected
    lifespan (years) [× margin]. The expected lifespan is ``lifespan_years`` when given, else the mean
    time from first to last order of customers with two or more orders (at least one month).

    Returns
    -------
    DataFrame, one row per group (one row "all" without ``by``): group, customers, orders, revenue,
    historical_clv (revenue / customers), average_order_value, purchase_frequency (orders / customer /
    year, over the data's span), lifespan_years, margin, formula_clv, acquisition_cost and clv_to_cac
    (when costs per group are given).
    """
    if margin is not None and not 0 < margin <= 1:
        raise JourneyError(f"margin must be a fraction between 0 and 1 (e.g. 0.3 for 30 %); got {margin}.")
    per = customer_value(log, by=by, stage_map=stage_map)
    if per.empty:
        raise JourneyError("No orders in the data: customer value needs purchase events.")
    span = log.run("SELECT (epoch(max(ts)) - epoch(min(ts))) / 86400 AS d FROM {events}")["d"][0]
    years = max(float(span or 0), 1.0) / 365.25
    if "group" not in per:
        per["group"] = "all"
    rows = []
    for group, part in per.groupby("group", sort=False):
        customers, orders, revenue = len(part), int(part["orders"].sum()), float(part["revenue"].sum())
        aov = revenue / orders if orders else math.nan
        freq = orders / customers / years
        repeat = part[part["orders"] >= 2]
        observed = ((repeat["last_order"] - repeat["first_order"]).dt.total_seconds() / 86400 / 365.25).mean()
        life = lifespan_years if lifespan_years is not None else max(
            observed if not pd.isna(observed) else 0.0, 30 / 365.25)
        formula = aov * freq * life * (margin if margin is not None else 1.0)
        cost = (acquisition_cost or {}).get(group)
        rows.append({"group": group, "customers": customers, "orders": orders, "revenue": revenue,
                     "historical_clv": revenue / customers, "average_order_value": aov,
                     "purchase_frequency": freq, "lifespan_years": life, "margin": margin,
                     "formula_clv": formula, "acquisition_cost": cost,
                     "clv_to_cac": formula / cost if cost else math.nan})
    return pd.DataFrame(rows).sort_values("customers", ascending=False, kind="stable").reset_index(drop=True)


def rfm(log: EventLog, *, stage_map: StageMap | None = None) -> pd.DataFrame:
    """RFM scores (quintiles, 5 best) and the usual named segments, per customer.

    Recency: days from the last order to the end of the data (fewer is better); frequency: orders;
    monetary: revenue. Ties share the lower quintile (``ntile`` over a stable order).

    Returns
    -------
    DataFrame: user_id, recency_days, frequency, monetary, r, f, m (1–5), rfm ("545"), segment.
    """
    sql, params = _orders_sql(log, stage_map)
    df = log.db.run(
        f"""
        WITH o AS ({sql}), endt AS (SELECT max(ts) AS t FROM {log.source()[0]}),
        c AS (
            SELECT user_id, (epoch(any_value(endt.t)) - epoch(max(ts))) / 86400 AS recency_days,
                   count(*) AS frequency, sum(revenue) AS monetary
            FROM o CROSS JOIN endt GROUP BY user_id
        )
        SELECT *, ntile(5) OVER (ORDER BY recency_days DESC, user_id) AS r,
               ntile(5) OVER (ORDER BY frequency, user_id) AS f,
               ntile(5) OVER (ORDER BY monetary, user_id) AS m
        FROM c ORDER BY user_id
        """,
        params,
    )
    # equal values get equal scores: each value takes the lowest quintile any of its customers got
    for col, score in (("recency_days", "r"), ("frequency", "f"), ("monetary", "m")):
        df[score] = df.groupby(col)[score].transform("min").astype(int)
    df["rfm"] = df["r"].astype(str) + df["f"].astype(str) + df["m"].astype(str)
    df["segment"] = [next(n for n, rule in RFM_SEGMENTS if rule(r, f, m)) for r, f, m in zip(df["r"], df["f"], df["m"])]
    return df


def rfm_segments(rfm_df: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue per RFM segment, from :func:`rfm`.

    Returns
    -------
    DataFrame: segment, customers, share (0–1), revenue, revenue_share (0–1), mean_recency_days.
    """
    g = rfm_df.groupby("segment").agg(customers=("user_id", "count"), revenue=("monetary", "sum"),
                                      mean_recency_days=("recency_days", "mean")).reset_index()
    g["share"] = g["customers"] / g["customers"].sum()
    g["revenue_share"] = g["revenue"] / g["revenue"].sum() if g["revenue"].sum() else math.nan
    order = [n for n, _ in RFM_SEGMENTS]
    g["o"] = g["segment"].map(order.index)
    return g.sort_values("o").drop(columns="o").reset_index(drop=True)[
        ["segment", "customers", "share", "revenue", "revenue_share", "mean_recency_days"]]


def nps(log: EventLog, *, period: str | None = None, by: str | None = None, pattern: str = NPS_PATTERN
        ) -> pd.DataFrame:
    """Net Promoter Score from answers (0–10) in ``score`` on NPS events.

    NPS = % promoters (9–10) − % detractors (0–6), from −100 to +100. Each answer counts (a customer who
    answered twice counts twice).

    Returns
    -------
    DataFrame: (period or group when asked,) answers, promoters, passives, detractors, nps.
    """
    return _score_table(log, "nps", pattern, period, by)


def csat(log: EventLog, *, period: str | None = None, by: str | None = None, pattern: str = CSAT_PATTERN
         ) -> pd.DataFrame:
    """Customer satisfaction: the share of answers of 4–5 on a 5-point scale (9–10 on a 10-point one).

    The scale is 10 points when any answer is above 5.

    Returns
    -------
    DataFrame: (period or group when asked,) answers, satisfied, csat (0–1), scale.
    """
    return _score_table(log, "csat", pattern, period, by)


def _score_table(log, kind, pattern, period, by):
    if period is not None and period not in ("day", "week", "month"):
        raise InvalidParameterError("period", period, ["day", "week", "month"])
    if by is not None and by not in log.columns:
        raise InvalidParameterError("by", by, log.columns)
    key = (f"CAST(date_trunc('{period}', ts) AS DATE) AS period," if period
           else f"coalesce(CAST({quote_ident(by)} AS VARCHAR), '(none)') AS \"group\"," if by else "")
    group = "GROUP BY 1 ORDER BY 1" if (period or by) else ""
    params = {"pat": pattern}
    where = f"regexp_full_match({normalised_event_sql('event')}, $pat) AND score IS NOT NULL"
    if kind == "nps":
        return log.run(
            f"""SELECT {key} count(*) AS answers, count(*) FILTER (WHERE score >= 9) AS promoters,
                       count(*) FILTER (WHERE score BETWEEN 7 AND 8.999) AS passives,
                       count(*) FILTER (WHERE score <= 6) AS detractors,
                       (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) * 100.0 / count(*) AS nps
                FROM {{events}} WHERE {where} {group}""",
            params,
        )
    scale = log.run(f"SELECT max(score) AS mx FROM {{events}} WHERE {where}", params)["mx"][0]
    ten = scale is not None and not pd.isna(scale) and scale > 5
    params["ok"] = 9.0 if ten else 4.0
    df = log.run(
        f"""SELECT {key} count(*) AS answers, count(*) FILTER (WHERE score >= $ok) AS satisfied,
                   count(*) FILTER (WHERE score >= $ok) / count(*) AS csat
            FROM {{events}} WHERE {where} {group}""",
        params,
    )
    df["scale"] = 10 if ten else 5
    return df


def nps_distribution(log: EventLog, *, pattern: str = NPS_PATTERN) -> pd.DataFrame:
    """Answers per score 0–10 (for a bar chart), with the NPS group of each score.

    Returns
    -------
    DataFrame: score, answers, group (detractor, passive, promoter).
    """
    df = log.run(
        f"""SELECT CAST(round(score) AS INT) AS score, count(*) AS answers FROM {{events}}
            WHERE regexp_full_match({normalised_event_sql('event')}, $pat) AND score IS NOT NULL
            GROUP BY 1 ORDER BY 1""",
        {"pat": pattern},
    )
    df["group"] = ["promoter" if s >= 9 else "passive" if s >= 7 else "detractor" for s in df["score"]]
    return df
