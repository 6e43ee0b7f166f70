"""Customer value and voice: CLV (historical and formula), RFM segments, NPS and CSAT."""

from __future__ import annotations

import math

from .engine import quote_ident
from .errors import InvalidParameterError, JourneyError
from .lazy import pandas as pd
from .log import ORDER_KEY, EventLog
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
    return (f"SELECT user_id, {ORDER_KEY} AS oid, min(ts) AS ts, "
            f"coalesce(sum(revenue), 0) AS revenue FROM {rel} WHERE {cond} GROUP BY ALL", {**params, **fparams})


def customer_value(log: EventLog, *, by: str | None = None, segments: pd.DataFrame | None = None,
                   stage_map: StageMap | None = None) -> pd.DataFrame:
    """Historical CLV: revenue per customer to date, with orders and dates.

    ``by`` adds the customer's value of a column on their first event (channel, device…), or their
    ``cohort`` (month of the first event); ``segments`` (columns user_id, group: churn clusters, RFM
    segments…) groups customers by a segment instead.

    Returns
    -------
    DataFrame: user_id, group (with ``by``), orders, revenue (historical CLV), first_order, last_order,
    average_order_value. Customers are users with at least one order.
    """
    sql, params = _orders_sql(log, stage_map)
    rel, _ = log.source()
    if segments is not None:
        per = customer_value(log, stage_map=stage_map)
        groups = segments[["user_id", "group"]].drop_duplicates("user_id")
        per = per.merge(groups, on="user_id", how="left")
        per["group"] = per["group"].fillna("(none)").astype(str)
        return per[["user_id", "group", *[c for c in per.columns if c not in ("user_id", "group")]]]
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


def clv(log: EventLog, *, by: str | None = None, segments: pd.DataFrame | None = None, margin: float | None = None,
        lifespan_years: float | None = None, acquisition_cost: dict[str, float] | None = None,
        stage_map: StageMap | None = None) -> pd.DataFrame:
    """Customer lifetime value per segment, historical and by formula, showing every term.

    formula CLV = average order value × purchase frequency (orders per customer per year) × expected
    lifespan (years) [× margin], per group of ``by`` or ``segments`` (see :func:`customer_value`). The
    expected lifespan is ``lifespan_years`` when given, else the mean
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
    per = customer_value(log, by=by, segments=segments, stage_map=stage_map)
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


ADVOCACY_KINDS = {"review": r".*(review_?(written|submitted|posted)|write_?review|rating|rated).*",
                  "referral": r".*(referral|refer|referred|invite).*",
                  "share": r".*(share|shared).*"}


def advocacy(log: EventLog) -> pd.DataFrame:
    """Reviews, referrals and shares per customer (the advocacy stage's acts), for customers with any.

    Returns
    -------
    DataFrame: user_id, reviews, referrals, shares, total; most active first.
    """
    norm = normalised_event_sql("event")
    params = {f"k_{k}": p for k, p in ADVOCACY_KINDS.items()}
    return log.run(
        f"""
        SELECT user_id,
               count(*) FILTER (WHERE regexp_full_match({norm}, $k_review)) AS reviews,
               count(*) FILTER (WHERE regexp_full_match({norm}, $k_referral)) AS referrals,
               count(*) FILTER (WHERE regexp_full_match({norm}, $k_share)) AS shares
        FROM {{events}} GROUP BY user_id
        HAVING reviews + referrals + shares > 0
        ORDER BY reviews + referrals + shares DESC, user_id
        """,
        params,
    ).assign(total=lambda d: d["reviews"] + d["referrals"] + d["shares"])


def survey_scores(log: EventLog, source, *, user: str | None = None, score: str | None = None,
                  by: str = "stage", stage_map: StageMap | None = None) -> dict:
    """NPS (0–10 answers) or CSAT (1–5 answers) from a separate survey file, joined to the log on user id.

    The survey needs a user column and a score column (detected by name, or given). Answers are broken
    down by the customer's furthest journey stage (``by="stage"``) or by a column's value on their first
    event (channel, device…).

    Returns
    -------
    dict: rows_read, answers (rows with a user and a numeric score), matched (answers whose user is in the
    log), scale (10 or 5), summary (DataFrame, one row: answers, nps or csat…), by (DataFrame per group:
    group, answers, and nps — % 9–10 − % 0–6 — on a 10-point scale, or csat — share of 4–5 — on 5 points).
    """
    from .schema import detect_mapping
    from .staging import stage
    from .stages import STAGES, user_stages_sql

    staged = stage(source, name="survey")
    try:
        columns = staged.columns
        found = detect_mapping(columns)
        user = user or found.user
        score = score or found.score
        if not user or not score or user not in columns or score not in columns:
            raise JourneyError(
                f"The survey needs a user column and a score column; its columns are: {', '.join(columns)}. "
                "Name them (user=…, score=…)."
            )
        answers = staged.db.run(
            f"""SELECT nullif(trim(CAST({quote_ident(user)} AS VARCHAR)), '') AS user_id,
                       try_cast(regexp_replace(trim(CAST({quote_ident(score)} AS VARCHAR)), '[^0-9.+-]', '', 'g')
                                AS DOUBLE) AS score
                FROM raw"""
        )
        rows_read = len(answers)
    finally:
        staged.db.close()
    answers = answers.dropna()
    if answers.empty:
        raise JourneyError("No survey row has both a user and a numeric score.")
    ten = float(answers["score"].max()) > 5
    log.db.register("survey_answers", answers)
    if by == "stage":
        users_sql, params = user_stages_sql(log, stage_map)
        stage_names = "[" + ", ".join(f"'{s}'" for s in STAGES) + "]"
        grp = f"{stage_names}[u.stage_no]"
    else:
        if by not in log.columns:
            raise InvalidParameterError("by", by, ["stage", *log.columns])
        rel, params = log.source()
        users_sql = (f"SELECT user_id, arg_min(CAST({quote_ident(by)} AS VARCHAR), (ts, row_no)) AS grp "
                     f"FROM {rel} GROUP BY user_id")
        grp = "u.grp"
    measure = ("(count(*) FILTER (WHERE s.score >= 9) - count(*) FILTER (WHERE s.score <= 6)) * 100.0 / count(*) AS nps"
               if ten else "count(*) FILTER (WHERE s.score >= 4) / count(*) AS csat")
    per = log.db.run(
        f"""SELECT coalesce({grp}, '(not in the log)') AS "group", count(*) AS answers, {measure}
            FROM survey_answers s LEFT JOIN ({users_sql}) u USING (user_id)
            GROUP BY 1 ORDER BY answers DESC, 1""",
        params,
    )
    summary = log.db.run(f"SELECT count(*) AS answers, {measure} FROM survey_answers s")
    matched = int(log.db.scalar(
        f"SELECT count(*) FROM survey_answers WHERE user_id IN (SELECT user_id FROM {log.source()[0]})",
        log.source()[1]))
    log.db.execute("DROP TABLE IF EXISTS survey_answers")
    return {"rows_read": rows_read, "answers": len(answers), "matched": matched, "scale": 10 if ten else 5,
            "summary": summary, "by": per}
