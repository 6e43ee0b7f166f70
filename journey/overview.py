"""The overview: headline counts, events per day, top events, first visit → purchase conversion."""

from __future__ import annotations

from .lazy import pandas as pd
from .log import ORDER_KEY, EventLog
from .stages import normalised_event_sql, purchase_pattern

IS_PURCHASE = f"regexp_matches({normalised_event_sql('event')}, $purchase)"


def overview(log: EventLog) -> pd.DataFrame:
    """Headline numbers of the (filtered) log, one row.

    Returns
    -------
    DataFrame with one row:
        users, events, sessions: distinct users, events, distinct (user, session) pairs;
        orders: distinct order ids on purchase events (each purchase event without an id counts once);
        revenue: sum of revenue on purchase events; buyers: users with a purchase event;
        conversion_rate: buyers / users (first visit → purchase), 0–1; first_ts, last_ts: time range.
    """
    return log.run(
        f"""
        SELECT
            count(DISTINCT user_id) AS users,
            count(*) AS events,
            count(DISTINCT (user_id, session_id)) AS sessions,
            count(DISTINCT {ORDER_KEY}) FILTER (WHERE {IS_PURCHASE}) AS orders,
            coalesce(sum(revenue) FILTER (WHERE {IS_PURCHASE}), 0) AS revenue,
            count(DISTINCT user_id) FILTER (WHERE {IS_PURCHASE}) AS buyers,
            coalesce(count(DISTINCT user_id) FILTER (WHERE {IS_PURCHASE}) / nullif(count(DISTINCT user_id), 0), 0)
                AS conversion_rate,
            min(ts) AS first_ts,
            max(ts) AS last_ts
        FROM {{events}}
        """,
        {"purchase": purchase_pattern()},
    )


def events_per_day(log: EventLog) -> pd.DataFrame:
    """Events and active users per calendar day.

    Returns
    -------
    DataFrame: day (date), events, users.
    """
    df = log.run(
        "SELECT CAST(ts AS DATE) AS day, count(*) AS events, count(DISTINCT user_id) AS users "
        "FROM {events} GROUP BY day ORDER BY day"
    )
    df["day"] = pd.to_datetime(df["day"]).dt.date
    return df


def top_events(log: EventLog, n: int = 10) -> pd.DataFrame:
    """The ``n`` most frequent events.

    Returns
    -------
    DataFrame: event, events (occurrences), users (distinct users who did it),
    user_share (users / all users in the filtered log, 0–1). Ties are broken by name.
    """
    return log.run(
        """
        WITH e AS (SELECT * FROM {events})
        SELECT event, count(*) AS events, count(DISTINCT user_id) AS users,
               count(DISTINCT user_id) / (SELECT nullif(count(DISTINCT user_id), 0) FROM e) AS user_share
        FROM e GROUP BY event ORDER BY events DESC, event LIMIT $n
        """,
        {"n": int(n)},
    )
