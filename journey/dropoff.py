"""Drop-off points: where people leave a funnel, what they did instead, and what sets converters apart.

Also the seed articles' page metrics: cart abandonment, bounce rate and time on page.
"""

from __future__ import annotations

import math

from .engine import quote_ident
from .errors import InvalidParameterError
from .funnel import funnel_units
from .lazy import pandas as pd
from .log import ORDER_KEY, EventLog
from .stages import normalised_event_sql, purchase_pattern
from .stats import benjamini_hochberg, two_proportion_p, wilson_interval

CART_PATTERN = r"^(add_?to_?cart|added_?to_?cart|product_?added|cart_?add|add_?item_?to_?cart)$"
LEFT = "(left)"


def _dropped_sql(log, steps, step_no, window, order, exclude, unit) -> tuple[str, dict, str]:
    """Units that reached step ``step_no − 1`` but not ``step_no``, with the anchor (time, row) of that step,
    and the SQL of an event's unit key (to join events back to the units)."""
    if not 2 <= step_no <= len(steps):
        raise InvalidParameterError("step_no", step_no, list(range(2, len(steps) + 1)))
    units, params = funnel_units(log, steps, window=window, order=order, exclude=exclude, unit=unit)
    prev = step_no - 1
    key = "e.user_id" if unit == "users" else "e.user_id || chr(31) || e.session_id"
    return f"SELECT k, at_{prev} AS at, coalesce(ar_{prev}, -1) AS ar FROM ({units}) u WHERE level = {prev}", params, key


def dropoff_paths(
    log: EventLog,
    steps: list[str],
    step_no: int,
    *,
    window: str | float = "7d",
    order: str = "ordered",
    exclude: list[str] | None = None,
    unit: str = "users",
    top: int = 10,
) -> dict[str, pd.DataFrame]:
    """What the units that dropped at step ``step_no`` did after reaching the step before it.

    Returns
    -------
    dict of DataFrames, each with columns value, users, share (of the dropped units, 0–1):
        ``next``: the event right after the previous step (``(left)`` when there was none);
        ``last``: their last event from that step on (the step itself when nothing followed);
        ``exit_pages``: the page of that last event (only when a page column is mapped).
    """
    sql, params, key = _dropped_sql(log, steps, step_no, window, order, exclude or [], unit)
    rel, fparams = log.source()
    params = {**params, **fparams, "top": int(top)}
    after = f"""
        WITH d AS ({sql}),
        from_anchor AS (
            SELECT d.k, e.event, e.page, e.ts, e.row_no,
                   e.ts > d.at OR (e.ts = d.at AND e.row_no > d.ar) AS after
            FROM d JOIN {rel} e ON {key} = d.k
            WHERE e.ts > d.at OR (e.ts = d.at AND e.row_no >= d.ar)
        ),
        firsts AS (SELECT k, arg_min(event, (ts, row_no)) AS nxt FROM from_anchor WHERE after GROUP BY k),
        lasts AS (
            SELECT k, arg_max(event, (ts, row_no)) AS lst, arg_max(page, (ts, row_no)) AS pg FROM from_anchor GROUP BY k
        ),
        joined AS MATERIALIZED (
            SELECT d.k, coalesce(f.nxt, '{LEFT}') AS nxt, coalesce(l.lst, '{LEFT}') AS lst, l.pg
            FROM d LEFT JOIN firsts f USING (k) LEFT JOIN lasts l USING (k)
        )
    """
    wanted = [("next", "nxt"), ("last", "lst")]
    if log.mapping.to_dict().get("page"):
        wanted.append(("exit_pages", "pg"))
    # the three counts from one pass over the dropped units (each its own query read every event again)
    counted = " UNION ALL ".join(
        f"SELECT '{name}' AS which, coalesce({col}, '(no page)') AS value, count(*) AS users FROM joined GROUP BY 2"
        for name, col in wanted)
    df = log.db.run(
        f"""{after}
        SELECT which, value, users, users / sum(users) OVER (PARTITION BY which) AS share
        FROM ({counted})
        QUALIFY row_number() OVER (PARTITION BY which ORDER BY users DESC, value) <= $top
        ORDER BY which, users DESC, value
        """,
        params,
    )
    return {name: df[df["which"] == name].drop(columns="which").reset_index(drop=True) for name, _ in wanted}


def correlation(
    log: EventLog,
    steps: list[str],
    *,
    window: str | float = "7d",
    order: str = "ordered",
    exclude: list[str] | None = None,
    properties: tuple[str, ...] = ("channel", "device"),
    min_units: int = 5,
) -> pd.DataFrame:
    """Events and property values over- or under-represented among converters (PostHog-style).

    Units are the users who did step 1. An event counts for a user when they did it at or after their
    first chain start (funnel steps themselves are left out); a property counts when it is the value on
    that start event.

    Returns
    -------
    DataFrame sorted by q_value: kind (event or the property name), value, converters, droppers (units
    with it), converter_share, dropper_share (0–1), odds_ratio (with 0.5 added to each cell),
    p_value (two-proportion z-test), q_value (Benjamini–Hochberg), significant (q < 0.05), direction
    ("success" when more common among converters, else "drop-off").
    """
    exclude = list(exclude or [])
    units, params = funnel_units(log, steps, window=window, order=order, exclude=exclude)
    rel, fparams = log.source()
    n = len(steps)
    params = {**params, **fparams, "funnel_steps": list(steps), "min_units": int(min_units)}
    props = [p for p in properties if log.mapping.to_dict().get(p)]
    prop_sql = "".join(
        f" UNION ALL SELECT u.k, '{p}' AS kind, coalesce(CAST(e.{quote_ident(p)} AS VARCHAR), '(none)') AS value "
        f"FROM u JOIN {rel} e ON e.user_id = u.k AND e.row_no = u.ar_1"
        for p in props
    )
    df = log.db.run(
        f"""
        WITH u AS (SELECT k, level >= {n} AS converted, at_1, ar_1 FROM ({units}) x),
        totals AS (SELECT count(*) FILTER (WHERE converted) AS conv, count(*) FILTER (WHERE NOT converted) AS drop FROM u),
        facts AS (
            SELECT DISTINCT u.k, 'event' AS kind, e.event AS value
            FROM u JOIN {rel} e ON e.user_id = u.k AND e.ts >= u.at_1
            WHERE NOT list_contains($funnel_steps, e.event)
            {prop_sql}
        )
        SELECT kind, value,
               count(*) FILTER (WHERE u.converted) AS converters,
               count(*) FILTER (WHERE NOT u.converted) AS droppers,
               any_value(totals.conv) AS total_converters, any_value(totals.drop) AS total_droppers
        FROM facts JOIN u USING (k) CROSS JOIN totals
        GROUP BY kind, value
        HAVING count(*) >= $min_units
        """,
        params,
    )
    if df.empty:
        return pd.DataFrame(columns=["kind", "value", "converters", "droppers", "converter_share", "dropper_share",
                                     "odds_ratio", "p_value", "q_value", "significant", "direction"])
    tc, td = df["total_converters"], df["total_droppers"]
    a, b = df["converters"], df["droppers"]
    df["converter_share"] = a / tc.where(tc > 0)
    df["dropper_share"] = b / td.where(td > 0)
    df["odds_ratio"] = ((a + 0.5) * (td - b + 0.5)) / ((b + 0.5) * (tc - a + 0.5))
    df["p_value"] = [two_proportion_p(int(x), int(n1), int(y), int(n2)) for x, n1, y, n2 in zip(a, tc, b, td)]
    df["q_value"] = benjamini_hochberg(df["p_value"].tolist())
    df["significant"] = df["q_value"] < 0.05
    df["direction"] = ["success" if o > 1 else "drop-off" for o in df["odds_ratio"]]
    df = df.drop(columns=["total_converters", "total_droppers"])
    return df.sort_values(["q_value", "odds_ratio"], ascending=[True, False], kind="stable").reset_index(drop=True)


def average_order_value(log: EventLog) -> float:
    """Revenue on purchase events ÷ orders (distinct order ids; an event without one counts once).

    Returns
    -------
    float: the average order value, NaN when there are no orders.
    """
    v = log.run(
        f"""
        SELECT sum(revenue) / nullif(count(DISTINCT {ORDER_KEY}), 0) AS aov
        FROM {{events}} WHERE regexp_full_match({normalised_event_sql('event')}, $purchase)
        """,
        {"purchase": purchase_pattern()},
    )["aov"][0]
    return math.nan if v is None or pd.isna(v) else float(v)


def opportunities(funnel_df: pd.DataFrame, aov: float) -> pd.DataFrame:
    """Funnel steps ranked by revenue at risk (units lost at the step × average order value).

    Returns
    -------
    DataFrame: step_no, step, users_lost, revenue_at_risk, share_of_lost (0–1), rank (1 = largest).
    """
    df = funnel_df[funnel_df["step_no"] > 1][["step_no", "step", "dropped"]].rename(columns={"dropped": "users_lost"})
    df = df.copy()
    df["revenue_at_risk"] = df["users_lost"] * (aov if not math.isnan(aov) else 0.0)
    total = df["users_lost"].sum()
    df["share_of_lost"] = df["users_lost"] / total if total else math.nan
    df = df.sort_values(["users_lost", "step_no"], ascending=[False, True]).reset_index(drop=True)
    df["rank"] = range(1, len(df) + 1)
    return df


def cart_abandonment(log: EventLog, *, by: str | None = None, cart_pattern: str = CART_PATTERN) -> pd.DataFrame:
    """(users who added to cart − those who then purchased) ÷ users who added to cart.

    A purchase counts when it comes after the user's first add-to-cart. With ``by``, a user is grouped
    by the column's value on that first add-to-cart.

    Returns
    -------
    DataFrame: group (with ``by``), carted, purchased, abandoned, abandonment_rate (0–1), ci_low, ci_high.
    """
    grp = f"arg_min(CAST({quote_ident(by)} AS VARCHAR), (ts, row_no)) FILTER (WHERE is_cart)" if by else "'all'"
    df = log.run(
        f"""
        WITH e AS (
            SELECT *, regexp_full_match({normalised_event_sql('event')}, $cart) AS is_cart,
                      regexp_full_match({normalised_event_sql('event')}, $purchase) AS is_buy
            FROM {{events}}
        ), u AS (
            SELECT user_id, {grp} AS grp, min(ts) FILTER (WHERE is_cart) AS first_cart,
                   max(ts) FILTER (WHERE is_buy) AS last_buy
            FROM e GROUP BY user_id
        )
        SELECT coalesce(grp, '(none)') AS "group", count(*) AS carted,
               count(*) FILTER (WHERE last_buy >= first_cart) AS purchased
        FROM u WHERE first_cart IS NOT NULL GROUP BY 1 ORDER BY carted DESC, 1
        """,
        {"cart": cart_pattern, "purchase": purchase_pattern()},
    )
    df["abandoned"] = df["carted"] - df["purchased"]
    df["abandonment_rate"] = df["abandoned"] / df["carted"]
    ci = [wilson_interval(a, c) for a, c in zip(df["abandoned"], df["carted"])]
    df["ci_low"], df["ci_high"] = [c[0] for c in ci], [c[1] for c in ci]
    return df if by else df.drop(columns="group")


def bounce_rate(log: EventLog, *, by: str | None = None) -> pd.DataFrame:
    """Sessions with exactly one event ÷ sessions; with ``by``, grouped by the session's first event.

    Returns
    -------
    DataFrame: group (with ``by``), sessions, bounced, bounce_rate (0–1).
    """
    grp = f"arg_min(CAST({quote_ident(by)} AS VARCHAR), (ts, row_no))" if by else "'all'"
    df = log.run(
        f"""
        WITH s AS (SELECT user_id, session_id, {grp} AS grp, count(*) AS n FROM {{events}} GROUP BY user_id, session_id)
        SELECT coalesce(grp, '(none)') AS "group", count(*) AS sessions, count(*) FILTER (WHERE n = 1) AS bounced
        FROM s GROUP BY 1 ORDER BY sessions DESC, 1
        """
    )
    df["bounce_rate"] = df["bounced"] / df["sessions"]
    return df if by else df.drop(columns="group")


def time_on_page(log: EventLog, *, top: int = 20) -> pd.DataFrame:
    """Time on each page (or event, without a page column): the time to the next event in the session.

    The last event of a session has no next event and is left out of the times (as analytics tools do).

    Returns
    -------
    DataFrame: page, views, timed_views, mean_seconds, median_seconds, exits (views that ended a session),
    exit_rate (exits ÷ views, 0–1); the ``top`` pages by views.
    """
    page = "page" if log.mapping.to_dict().get("page") else "event"
    return log.run(
        f"""
        WITH t AS (
            SELECT coalesce(CAST({page} AS VARCHAR), '(none)') AS page,
                   epoch(lead(ts) OVER w) - epoch(ts) AS seconds
            FROM {{events}} WINDOW w AS (PARTITION BY user_id, session_id ORDER BY ts, row_no)
        )
        SELECT page, count(*) AS views, count(seconds) AS timed_views, avg(seconds) AS mean_seconds,
               median(seconds) AS median_seconds, count(*) - count(seconds) AS exits,
               (count(*) - count(seconds)) / count(*) AS exit_rate
        FROM t GROUP BY page ORDER BY views DESC, page LIMIT $top
        """,
        {"top": int(top)},
    )


def compare_groups(df: pd.DataFrame, a: str, b: str, *, rate: str = "conversion_from_start") -> pd.DataFrame:
    """Compare two groups of a broken-down funnel step by step (two-proportion z-test, BH across steps).

    ``df`` is the output of :func:`journey.funnel` or :func:`journey.stage_funnel` with ``by``.

    Returns
    -------
    DataFrame: step (or stage), users_a, users_b, rate_a, rate_b, difference (a − b), p_value, q_value,
    significant (q < 0.05). Step 1 is left out (both rates are 1).
    """
    name = "step" if "step" in df.columns else "stage"
    no = "step_no" if "step_no" in df.columns else "stage_no"
    groups = set(df["group"])
    for g in (a, b):
        if g not in groups:
            raise InvalidParameterError("group", g, sorted(groups))
    left = df[df["group"] == a].set_index(no)
    right = df[df["group"] == b].set_index(no)
    rows = []
    for i in left.index:
        if i == 1:
            continue
        start_a, start_b = int(left.loc[1, "users"]), int(right.loc[1, "users"])
        xa, xb = int(left.loc[i, "users"]), int(right.loc[i, "users"])
        rows.append({
            name: left.loc[i, name], "users_a": xa, "users_b": xb,
            "rate_a": xa / start_a if start_a else math.nan, "rate_b": xb / start_b if start_b else math.nan,
            "p_value": two_proportion_p(xa, start_a, xb, start_b),
        })
    out = pd.DataFrame(rows)
    out["difference"] = out["rate_a"] - out["rate_b"]
    out["q_value"] = benjamini_hochberg(out["p_value"].tolist())
    out["significant"] = out["q_value"] < 0.05
    return out[[name, "users_a", "users_b", "rate_a", "rate_b", "difference", "p_value", "q_value", "significant"]]
