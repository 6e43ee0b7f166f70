"""Step funnels of any 2–20 events: ordered, strict or any order, with windows, exclusions and trends.

Semantics (DESIGN.md, "Step funnels"):

- ordered: step k is reached when distinct events e1 … ek exist, in event order (ts, then row_no),
  e_i being step i, with ts(ek) − ts(e1) ≤ window. Any occurrence of step 1 may start a chain; other events
  may come between. From each start the earliest next events are taken, which is optimal for that start;
  a unit's level is the best over its starts.
- strict: as ordered, but e1 … ek are consecutive events of the unit's whole stream.
- any: the first k steps all occur, in any order, within one window.
- exclusions: a chain with an excluded event between its first and its last step does not count.
- unit: users, or sessions (a chain stays inside one session).
"""

from __future__ import annotations

import math
import re

from .chains import chain_starts, chain_units, in_one_pass
from .engine import quote_ident
from .errors import InvalidParameterError, JourneyError
from .lazy import pandas as pd
from .log import EventLog
from .stats import quantiles_cont, wilson_interval

ORDERS = ("ordered", "strict", "any")
UNITS = ("users", "sessions")
PERIODS = ("day", "week", "month")
MAX_STEPS = 20
WINDOW_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
NO_POSITION = 9223372036854775807  # an ASOF key no event has: a chain that stopped stays stopped


def parse_window(text: str | int | float) -> float:
    """Seconds in a window written as ``30m``, ``12h``, ``7d``, ``2w`` (or a number of seconds)."""
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*", str(text).lower())
    if not m:
        raise InvalidParameterError("window", text, ["30m", "12h", "7d", "2w"])
    return float(m.group(1)) * WINDOW_UNITS[m.group(2) or "s"]


def _check(log: EventLog, steps: list[str], order: str, unit: str, exclude: list[str], by: str | None,
           trend: str | None) -> None:
    if not 2 <= len(steps) <= MAX_STEPS:
        raise JourneyError(f"A funnel needs 2 to {MAX_STEPS} steps; got {len(steps)}.")
    if order not in ORDERS:
        raise InvalidParameterError("order", order, ORDERS)
    if unit not in UNITS:
        raise InvalidParameterError("unit", unit, UNITS)
    if trend is not None and trend not in PERIODS:
        raise InvalidParameterError("trend", trend, PERIODS)
    if not in_one_pass(log, order):  # chains.py checks the events as it reads them: no extra pass
        check_known_events(log, steps, exclude)
    clash = set(steps) & set(exclude)
    if clash:
        raise JourneyError(f"{sorted(clash)[0]!r} is both a step and an exclusion; it can only be one.")
    if order == "any" and len(set(steps)) != len(steps):
        raise JourneyError("An any-order funnel cannot repeat a step; use the ordered funnel for repeats.")
    if by is not None and by not in log.columns:
        raise InvalidParameterError("by", by, [c for c in log.columns if c not in ("ts", "row_no")])


def check_known_events(log: EventLog, steps: list[str], exclude: list[str]) -> None:
    """Raise InvalidParameterError naming the first step or exclusion that is not an event of the log
    (JourneyError when the log has no events at all: every row was rejected)."""
    known = log.distinct_values("event", limit=100_000)
    if not known:
        r = log.report
        why = ", ".join(f"{n:,} {reason}" for reason, n in r.reject_reasons.items()) or "none"
        raise JourneyError(f"No events were loaded, so there is nothing to count: all {r.rows_read:,} rows were "
                           f"rejected ({why}). The load report lists the rejected rows with their reasons "
                           "(python -m journey load FILE --rejects out.csv, or log.rejects()).")
    for name in [*steps, *exclude]:
        if name not in known:
            raise InvalidParameterError("steps" if name in steps else "exclude", name, known)


def _starts_sql(log: EventLog, steps: list[str], window: float, order: str, unit: str, exclude: list[str],
                by: str | None) -> tuple[str, dict]:
    """SQL with one row per possible chain start: unit key, group, start time, level, step times t_1…t_n."""
    rel, params = log.source()
    params = {**params, "steps": list(dict.fromkeys(steps)), "exclude": list(exclude), "window": float(window)}
    n = len(steps)
    key = "user_id" if unit == "users" else "user_id || chr(31) || session_id"
    grp = f"CAST({quote_ident(by)} AS VARCHAR)" if by else "NULL::VARCHAR"
    for i, step in enumerate(steps, start=1):
        params[f"s{i}"] = step
    if order == "strict":
        leads = ", ".join(
            f"lead(event, {j}) OVER w AS ev_{j + 1}, lead(ts, {j}) OVER w AS t_{j + 1}, "
            f"lead(row_no, {j}) OVER w AS r_{j + 1}"
            for j in range(1, n)
        )
        level = "1" + "".join(
            " + (CASE WHEN " + " AND ".join(
                f"ev_{j} = $s{j} AND epoch(t_{j}) - epoch(t_1) <= $window" for j in range(2, i + 1)
            ) + " THEN 1 ELSE 0 END)"
            for i in range(2, n + 1)
        )
        sql = f"""
            WITH ev AS (
                SELECT {key} AS k, {grp} AS grp, ts AS t_1, row_no, row_no AS r_1, event {',' if leads else ''} {leads}
                FROM {rel} WINDOW w AS (PARTITION BY {key} ORDER BY ts, row_no)
            )
            SELECT k, grp, t_1 AS t_start, row_no AS start_no, {level} AS level,
                   {', '.join(f't_{i}, r_{i}' for i in range(1, n + 1))}
            FROM ev WHERE event = $s1
        """
        return sql, params
    if order == "any":
        nexts = ",\n".join(
            f"min(CASE WHEN event = $s{j} THEN ts END) OVER following AS t_{j}, "
            f"min(CASE WHEN event = $s{j} THEN seq END) OVER following AS q_{j}"
            for j in range(1, n + 1)
        )
        # greatest() skips NULLs: a set is complete only when every one of its steps occurs
        def complete(cols: list[str]) -> str:
            return f"CASE WHEN {' AND '.join(c + ' IS NOT NULL' for c in cols)} THEN greatest({', '.join(cols)}) END"

        done = [complete([f"t_{j}" for j in range(1, i + 1)]) for i in range(1, n + 1)]
        last_seq = [complete([f"q_{j}" for j in range(1, i + 1)]) for i in range(1, n + 1)]
        level = "0" + "".join(
            f" + (CASE WHEN {done[i - 1]} IS NOT NULL AND epoch({done[i - 1]}) - epoch(ts) <= $window "
            f"AND coalesce(next_x, {NO_POSITION}) > {last_seq[i - 1]} THEN 1 ELSE 0 END)"
            for i in range(1, n + 1)
        )
        sql = f"""
            WITH ev AS (
                SELECT {key} AS k, {grp} AS grp, ts, row_no, event,
                       row_number() OVER (PARTITION BY {key} ORDER BY ts, row_no) AS seq
                FROM {rel} WHERE list_contains($steps, event) OR list_contains($exclude, event)
            ), nexts AS (
                SELECT *, {nexts},
                       min(CASE WHEN list_contains($exclude, event) THEN seq END) OVER following AS next_x
                FROM ev
                WINDOW following AS (PARTITION BY k ORDER BY seq ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
            )
            SELECT k, grp, ts AS t_start, row_no AS start_no, {level} AS level,
                   {', '.join(f'{done[i - 1]} AS t_{i}, NULL::BIGINT AS r_{i}' for i in range(1, n + 1))}
            FROM nexts WHERE list_contains($steps, event)
        """
        return sql, params
    # ordered: from every step-1 event, the earliest next event of each following step (one ASOF join a step)
    chain = (
        "(SELECT k, grp, seq AS q_1, ts AS t_1, x AS x_1, row_no AS r_1, row_no AS start_no FROM ev WHERE event = $s1)"
    )
    for i in range(2, n + 1):
        chain = (
            f"(SELECT c.*, s.q_{i}, s.t_{i}, s.x_{i}, s.r_{i} FROM {chain} c "
            f"ASOF LEFT JOIN (SELECT k, seq AS q_{i}, ts AS t_{i}, x AS x_{i}, row_no AS r_{i} FROM ev "
            f"WHERE event = $s{i}) s "
            f"ON s.k = c.k AND coalesce(c.q_{i - 1}, {NO_POSITION}) < s.q_{i})"
        )
    # a step counts only when every step before it does too (levels are prefix lengths)
    level = "1" + "".join(
        " + (CASE WHEN " + " AND ".join(
            f"t_{j} IS NOT NULL AND epoch(t_{j}) - epoch(t_1) <= $window AND x_{j} = x_1" for j in range(2, i + 1)
        ) + " THEN 1 ELSE 0 END)"
        for i in range(2, n + 1)
    )
    sql = f"""
        WITH ev AS (
            SELECT {key} AS k, {grp} AS grp, ts, row_no, event,
                   row_number() OVER w AS seq,
                   sum(CASE WHEN list_contains($exclude, event) THEN 1 ELSE 0 END) OVER w AS x
            FROM {rel} WHERE list_contains($steps, event) OR list_contains($exclude, event)
            WINDOW w AS (PARTITION BY {key} ORDER BY ts, row_no ROWS UNBOUNDED PRECEDING)
        )
        SELECT k, grp, t_1 AS t_start, start_no, {level} AS level,
               {', '.join(f't_{i}, r_{i}' for i in range(1, n + 1))}
        FROM {chain} chain
    """
    return sql, params


def funnel_units(
    log: EventLog,
    steps: list[str],
    *,
    window: str | float = "7d",
    order: str = "ordered",
    exclude: list[str] | None = None,
    unit: str = "users",
    by: str | None = None,
) -> tuple[str, dict]:
    """SQL (and parameters) with one row per unit that did step 1: k, grp, level, d_2 … d_n.

    ``level`` is the furthest step reached (1…n); ``d_i`` the seconds from step i−1 to step i in the
    earliest chain that reaches step i (NULL when step i is not reached); ``at_i``/``ar_i`` the time and
    row number of step i in that chain (row number NULL for any-order funnels).
    """
    sql, params, _ = _units(log, steps, window, order, exclude, unit, by)
    return sql, params


def _units(log: EventLog, steps: list[str], window: str | float, order: str, exclude: list[str] | None, unit: str,
           by: str | None) -> tuple[str, dict, object]:
    """:func:`funnel_units`' SQL and parameters, and the units as an Arrow table when they were followed
    in one pass (chains.py), None when they come from SQL."""
    exclude = list(exclude or [])
    window_s = parse_window(window)
    _check(log, steps, order, unit, exclude, by, None)
    if in_one_pass(log, order):  # one pass in chains.py (ADR 0010)
        name = chain_units(log, steps, window_s, exclude, unit, by, order)
        return f"SELECT * FROM {quote_ident(name)}", {}, log.db.frame(name)
    return (*_units_sql(log, steps, window_s, order, unit, exclude, by), None)


def _units_sql(log: EventLog, steps: list[str], window_s: float, order: str, unit: str, exclude: list[str],
               by: str | None) -> tuple[str, dict]:
    """funnel_units in SQL alone, for every order: the cross-check of chains.py (tests/test_funnel.py)."""
    n = len(steps)
    starts, params = _starts_sql(log, steps, window_s, order, unit, exclude, by)
    earliest = "(t_start, start_no)"  # chains ordered by their start event: time, then row
    durations = ",\n".join(
        f"arg_min(epoch(t_{i}) - epoch(t_{i - 1}), {earliest}) FILTER (WHERE level >= {i}) AS d_{i}"
        for i in range(2, n + 1)
    )
    # where the earliest chain reaching each step reached it: the anchor of drop-off analyses
    anchors = ",\n".join(
        f"arg_min(t_{i}, {earliest}) FILTER (WHERE level >= {i}) AS at_{i}, "
        f"arg_min(r_{i}, {earliest}) FILTER (WHERE level >= {i}) AS ar_{i}"
        for i in range(1, n + 1)
    )
    sql = f"""
        SELECT k, arg_max(grp, {{'l': level, 't': -epoch_us(t_start), 's': -start_no}}) AS grp,
               max(level) AS level, min(t_start) AS first_start, {anchors}
               {',' if durations else ''} {durations}
        FROM ({starts}) s
        WHERE level >= 1
        GROUP BY k
    """
    return sql, params


def funnel(
    log: EventLog,
    steps: list[str],
    *,
    window: str | float = "7d",
    order: str = "ordered",
    exclude: list[str] | None = None,
    unit: str = "users",
    by: str | None = None,
) -> pd.DataFrame:
    """Conversion through ``steps`` (event names, 2–20).

    Parameters
    ----------
    window : "7d", "12h", "30m", "2w" or seconds
        Longest time from the first to the last step of a chain.
    order : {"ordered", "strict", "any"}
    exclude : list of event names that break a chain when they come between its steps.
    unit : {"users", "sessions"}
    by : column to break down by (its value on the start event of the unit's best chain).

    Returns
    -------
    DataFrame, one row per step (and group when ``by`` is given):
        group (with ``by``), step_no (1…n), step (event name), users (units that reached the step),
        conversion_from_previous, conversion_from_start (0–1), ci_low, ci_high (Wilson 95 % on
        conversion_from_start), dropped (units that reached the previous step but not this one),
        median_seconds_to_convert, p90_seconds_to_convert (from the previous step, in the earliest chain
        reaching this step; NaN for step 1).

    Example
    -------
    >>> journey.funnel(log, ["product_view", "add_to_cart", "purchase"], window="7d")   # doctest: +SKIP
    """
    n = len(steps)
    units_sql, params, table = _units(log, steps, window, order, exclude, unit, by)
    if table is not None and not by:
        records = _summary(table, n)
    else:
        counts = ", ".join(f"count(*) FILTER (WHERE level >= {i}) AS n_{i}" for i in range(1, n + 1))
        medians = ", ".join(
            f"median(d_{i}) AS med_{i}, quantile_cont(d_{i}, 0.9) AS p90_{i}" for i in range(2, n + 1)
        )
        group_sel = "coalesce(grp, '(none)') AS grp" if by else "'all' AS grp"
        records = log.db.run(
            f"""
            SELECT {group_sel}, {counts} {',' if medians else ''} {medians}
            FROM ({units_sql}) u GROUP BY ALL ORDER BY n_1 DESC, grp
            """,
            params,
        ).to_dict("records")
    rows = []
    for rec in records:
        start = rec["n_1"]
        for i, step in enumerate(steps, start=1):
            users = int(rec[f"n_{i}"])
            prev = int(rec[f"n_{i - 1}"]) if i > 1 else users
            low, high = wilson_interval(users, start)
            rows.append({
                "group": rec["grp"],
                "step_no": i,
                "step": step,
                "users": users,
                "conversion_from_previous": users / prev if prev else math.nan,
                "conversion_from_start": users / start if start else math.nan,
                "ci_low": low,
                "ci_high": high,
                "dropped": prev - users,
                "median_seconds_to_convert": _num(rec.get(f"med_{i}")),
                "p90_seconds_to_convert": _num(rec.get(f"p90_{i}")),
            })
    columns = ["group", "step_no", "step", "users", "conversion_from_previous", "conversion_from_start",
               "ci_low", "ci_high", "dropped", "median_seconds_to_convert", "p90_seconds_to_convert"]
    df = pd.DataFrame(rows, columns=columns)
    if not by:
        df = df.drop(columns="group")
        if df.empty:  # nobody did step 1
            df = pd.DataFrame({
                "step_no": range(1, n + 1), "step": steps, "users": 0, "conversion_from_previous": math.nan,
                "conversion_from_start": math.nan, "ci_low": math.nan, "ci_high": math.nan, "dropped": 0,
                "median_seconds_to_convert": math.nan, "p90_seconds_to_convert": math.nan,
            })
    return df


def _summary(table, n: int) -> list[dict]:
    """The funnel's one row (as the SQL in :func:`funnel` gives it) from units followed in one pass, in
    numpy: the units reaching each step, and the median and 90th percentile of each step's seconds from
    the previous one, as DuckDB's ``median`` and ``quantile_cont`` give them (stats.quantiles_cont). No
    row when no unit did step 1. (10M events: 0.09 s in SQL over the kept frame, 0.03 s here.)"""
    import numpy as np

    if not table.num_rows:
        return []
    level = table.column("level").to_numpy()
    rec: dict = {"grp": "all"}
    reached = np.bincount(level, minlength=n + 1)[::-1].cumsum()[::-1]  # units at or beyond each level
    for i in range(1, n + 1):
        rec[f"n_{i}"] = int(reached[i])
    for i in range(2, n + 1):
        rec[f"med_{i}"], rec[f"p90_{i}"] = quantiles_cont(table.column(f"d_{i}").to_numpy(zero_copy_only=False),
                                                          [0.5, 0.9])
    return [rec]


def _num(v) -> float:
    return math.nan if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def funnel_trend(
    log: EventLog,
    steps: list[str],
    *,
    period: str = "week",
    window: str | float = "7d",
    order: str = "ordered",
    exclude: list[str] | None = None,
    unit: str = "users",
) -> pd.DataFrame:
    """Conversion through all ``steps`` per period of the chain's start (weeks start on Monday).

    A unit counts in each period in which it did step 1, and converted in that period when a chain
    starting there completes.

    Returns
    -------
    DataFrame: period (start date), users (units that did step 1 in the period), converted,
    conversion (converted / users, 0–1), ci_low, ci_high (Wilson 95 %).
    """
    exclude = list(exclude or [])
    window_s = parse_window(window)
    _check(log, steps, order, unit, exclude, None, period)
    if period not in PERIODS:
        raise InvalidParameterError("period", period, PERIODS)
    n = len(steps)
    if in_one_pass(log, order):
        starts, params = f"SELECT * FROM {chain_starts(log, steps, window_s, exclude, unit, order)}", {}
    else:
        starts, params = _starts_sql(log, steps, window_s, order, unit, exclude, None)
    df = log.db.run(
        f"""
        WITH per AS (
            SELECT k, CAST(date_trunc('{period}', t_start) AS DATE) AS period, max(level) AS level
            FROM ({starts}) s
            WHERE level >= 1
            GROUP BY ALL
        )
        SELECT period, count(*) AS users, count(*) FILTER (WHERE level >= {n}) AS converted
        FROM per GROUP BY period ORDER BY period
        """,
        params,
    )
    df["period"] = pd.to_datetime(df["period"]).dt.date
    df["conversion"] = df["converted"] / df["users"]
    ci = [wilson_interval(c, u) for c, u in zip(df["converted"], df["users"])]
    df["ci_low"] = [c[0] for c in ci]
    df["ci_high"] = [c[1] for c in ci]
    return df


def funnel_people(
    log: EventLog,
    steps: list[str],
    step_no: int,
    *,
    outcome: str = "dropped",
    window: str | float = "7d",
    order: str = "ordered",
    exclude: list[str] | None = None,
    unit: str = "users",
    limit: int | None = None,
) -> pd.DataFrame:
    """The units that dropped at, or converted to, step ``step_no`` (2…n).

    ``dropped``: reached step ``step_no − 1`` but not ``step_no``; ``converted``: reached ``step_no``.

    Returns
    -------
    DataFrame: user_id (and session_id for sessions), level (furthest step reached), first_start
    (time of the unit's first chain start).
    """
    if outcome not in ("dropped", "converted"):
        raise InvalidParameterError("outcome", outcome, ["dropped", "converted"])
    if not 2 <= step_no <= len(steps):
        raise InvalidParameterError("step_no", step_no, list(range(2, len(steps) + 1)))
    units_sql, params = funnel_units(log, steps, window=window, order=order, exclude=exclude, unit=unit)
    cond = f"level = {step_no - 1}" if outcome == "dropped" else f"level >= {step_no}"
    ident = (
        "k AS user_id" if unit == "users"
        else "split_part(k, chr(31), 1) AS user_id, split_part(k, chr(31), 2) AS session_id"
    )
    sql = f"SELECT {ident}, level, first_start FROM ({units_sql}) u WHERE {cond} ORDER BY user_id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return log.db.run(sql, params)


TIME_BINS = [0, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400,
             4 * 86400, 7 * 86400, 14 * 86400, 30 * 86400]


def _bin_label(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def time_to_convert(
    log: EventLog,
    steps: list[str],
    step_no: int,
    *,
    window: str | float = "7d",
    order: str = "ordered",
    exclude: list[str] | None = None,
    unit: str = "users",
) -> pd.DataFrame:
    """How long units took from step ``step_no − 1`` to step ``step_no`` (earliest chain), in time bins.

    Returns
    -------
    DataFrame: bin_start, bin_end (seconds; the last bin has no end), label, units.
    """
    if not 2 <= step_no <= len(steps):
        raise InvalidParameterError("step_no", step_no, list(range(2, len(steps) + 1)))
    units_sql, params = funnel_units(log, steps, window=window, order=order, exclude=exclude, unit=unit)
    params = {**params, "edges": [float(x) for x in TIME_BINS]}
    counts = log.db.run(
        f"""
        SELECT len(list_filter($edges, lambda x: x <= d_{step_no})) AS bin, count(*) AS units
        FROM ({units_sql}) u WHERE d_{step_no} IS NOT NULL GROUP BY bin
        """,
        params,
    )
    by_bin = dict(zip(counts["bin"].astype(int), counts["units"].astype(int)))  # bin i: [edge i-1, edge i)
    rows = []
    for i, start in enumerate(TIME_BINS, start=1):
        end = TIME_BINS[i] if i < len(TIME_BINS) else None
        label = f"{_bin_label(start)}–{_bin_label(end)}" if end is not None else f"≥ {_bin_label(start)}"
        rows.append({"bin_start": float(start), "bin_end": float(end) if end is not None else math.nan,
                     "label": label, "units": by_bin.get(i, 0)})
    return pd.DataFrame(rows)


COMMON_STEPS = ["page_view", "session_start", "view_item", "product_view", "add_to_cart", "begin_checkout",
                "checkout", "add_payment_info", "purchase", "order_completed", "transaction"]


def default_steps(log: EventLog, most: int = 4) -> list[str]:
    """A sensible first funnel for a log: its e-commerce events in shop order, else its top events.

    Returns
    -------
    list of event names (2 to ``most``).
    """
    events = log.distinct_values("event", limit=500)
    lowered = {e.lower().replace(" ", "_"): e for e in events}
    picked = [lowered[c] for c in COMMON_STEPS if c in lowered]
    if len(picked) > most:  # keep the first and the last (entry and purchase) and the busiest in between
        picked = [picked[0], *picked[1:-1][: most - 2], picked[-1]]
    if len(picked) >= 2:
        return picked
    return events[: max(2, min(3, len(events)))]
