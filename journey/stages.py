"""The stage map (which events mean awareness, consideration, purchase, retention, advocacy) and the
five-stage journey funnel.

Events are matched case-insensitively on their name with separators normalised (``Order Completed`` and
``order-completed`` both read as ``order_completed``), by a regular expression per stage plus any event
names the analyst adds. The map is saved and loaded as TOML.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field

from .engine import quote_ident
from .errors import InvalidParameterError, JourneyError
from .lazy import pandas as pd
from .log import ORDER_KEY, EventLog
from .stats import wilson_interval

STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")
THREE_STAGES = ("awareness", "consideration", "decision")
PATTERN_STAGES = ("consideration", "purchase", "advocacy")

DEFAULT_PATTERNS: dict[str, str] = {
    "consideration": (
        r"^(product_?view(ed)?|view_?item|item_?view|view|product|product_?detail|pdp|search|searched|"
        r"products_?searched|site_?search|catalog|category|category_?view(ed)?|view_?item_?list|browse|filter|"
        r"compare|wishlist|add_?to_?wishlist|read_?reviews?|review_?read|add_?to_?cart|added_?to_?cart|"
        r"product_?added|cart|view_?cart|cart_?viewed|checkout|begin_?checkout|checkout_?started|"
        r"add_?shipping_?info|add_?payment_?info|payment_?info_?entered|checkout_?step.*)$"
    ),
    "purchase": (
        r"^(purchase|purchased|order|order_?completed|order_?placed|order_?created|transaction|"
        r"checkout_?completed|completed_?order|ecommerce_?purchase|buy)$"
    ),
    "advocacy": (
        r"^(review|review_?written|write_?review|review_?submitted|rating|rate|rated|referral|refer|"
        r"referred|invite|invite_?sent|share|shared|social_?share)$"
    ),
}
NPS_PATTERN = r"^(nps|nps_?answer(ed)?|nps_?response|nps_?survey|survey_?nps)$"
# breakdowns that are not columns: the signup cohort (period of the user's first event)
COHORT_BREAKDOWNS = {"first_touch_week": "week", "first_touch_month": "month"}


def normalised_event_sql(event_sql: str) -> str:
    """SQL for an event name as patterns see it: lower case, runs of non-alphanumerics as ``_``."""
    return f"trim(regexp_replace(lower({event_sql}), '[^0-9a-z\u0e00-\u0e7f]+', '_', 'g'), '_')"


def purchase_pattern() -> str:
    """The default regular expression (on normalised names) for purchase events."""
    return DEFAULT_PATTERNS["purchase"]


@dataclass
class StageMap:
    """Which events reach which stage, and the rules for retention and advocacy.

    Parameters
    ----------
    patterns : stage → regular expression on normalised event names (consideration, purchase, advocacy).
    events : stage → exact event names added by the analyst (matched as well as the pattern).
    retention_orders : the order that counts as "came back" (2: a second order).
    retention_within_days : the second order must come within this many days of the first (None: any time).
    nps_pattern : regular expression for events that carry an NPS answer in ``score``.
    nps_promoter_min : an NPS answer at or above this after the first purchase is advocacy (None: off).
    cleaning_rules : (regular expression, new name) pairs that merge event names on the path views.
    """

    patterns: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PATTERNS))
    events: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in PATTERN_STAGES})
    retention_orders: int = 2
    retention_within_days: float | None = None
    nps_pattern: str = NPS_PATTERN
    nps_promoter_min: int | None = 9
    cleaning_rules: list[tuple[str, str]] = field(default_factory=list)

    def validate(self) -> "StageMap":
        rules = {f"cleaning rule {i + 1}": p for i, (p, _) in enumerate(self.cleaning_rules)}
        for stage, pattern in {**self.patterns, "nps": self.nps_pattern, **rules}.items():
            try:
                re.compile(pattern)
            except re.error as e:
                raise JourneyError(f"The {stage} pattern {pattern!r} is not a valid regular expression: {e}.") from e
        for stage in self.patterns:
            if stage not in PATTERN_STAGES:
                raise InvalidParameterError("patterns", stage, PATTERN_STAGES)
        if self.retention_orders < 2:
            raise JourneyError("retention_orders must be 2 or more (retention means another order).")
        return self

    def condition(self, stage: str, event_sql: str = "event") -> tuple[str, dict]:
        """SQL condition (and parameters) true for events of ``stage`` (consideration, purchase, advocacy)."""
        p = f"p_{stage}"
        e = f"e_{stage}"
        sql = (
            f"(regexp_full_match({normalised_event_sql(event_sql)}, ${p}) "
            f"OR list_contains(${e}, {event_sql}))"
        )
        return sql, {p: self.patterns.get(stage, "$^"), e: list(self.events.get(stage, []))}

    # --- TOML -----------------------------------------------------------------------------------
    def to_toml(self) -> str:
        def s(text: str) -> str:
            return "'''" + text + "'''" if "'''" not in text else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = ["# Journey stage map", "", "[patterns]"]
        lines += [f"{stage} = {s(self.patterns[stage])}" for stage in PATTERN_STAGES if stage in self.patterns]
        lines += ["", "[events]"]
        lines += [
            f"{stage} = [{', '.join(_toml_str(x) for x in self.events.get(stage, []))}]" for stage in PATTERN_STAGES
        ]
        lines += ["", "[retention]", f"orders = {self.retention_orders}"]
        if self.retention_within_days is not None:
            lines.append(f"within_days = {self.retention_within_days}")
        lines += ["", "[advocacy]", f"nps_pattern = {s(self.nps_pattern)}",
                  f"nps_promoters = {'true' if self.nps_promoter_min is not None else 'false'}",
                  f"nps_promoter_min = {self.nps_promoter_min if self.nps_promoter_min is not None else 9}"]
        lines += ["", "# path cleaning: [regular expression, new name], the first match wins", "[cleaning]",
                  "rules = [" + ", ".join(f"[{_toml_str(p)}, {_toml_str(r)}]" for p, r in self.cleaning_rules) + "]"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> "StageMap":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise JourneyError(f"The stage map is not valid TOML: {e}.") from e
        base = cls()
        patterns = {**base.patterns, **data.get("patterns", {})}
        events = {s: list(data.get("events", {}).get(s, [])) for s in PATTERN_STAGES}
        retention = data.get("retention", {})
        advocacy = data.get("advocacy", {})
        return cls(
            patterns=patterns,
            events=events,
            retention_orders=int(retention.get("orders", 2)),
            retention_within_days=retention.get("within_days"),
            nps_pattern=advocacy.get("nps_pattern", NPS_PATTERN),
            nps_promoter_min=int(advocacy.get("nps_promoter_min", 9)) if advocacy.get("nps_promoters", True) else None,
            cleaning_rules=[(str(p), str(r)) for p, r in data.get("cleaning", {}).get("rules", [])],
        ).validate()

    @classmethod
    def load(cls, path: str) -> "StageMap":
        try:
            with open(path, encoding="utf-8") as f:
                return cls.from_toml(f.read())
        except OSError as e:
            raise JourneyError(f"Could not read the stage map {path}: {e.strerror}.") from e

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_toml())


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def event_stages(log: EventLog, stage_map: StageMap | None = None) -> pd.DataFrame:
    """Each event name with the stage its events reach (or none).

    Returns
    -------
    DataFrame: event, events (occurrences), users, stage (consideration, purchase, advocacy, nps, or
    None for events that only count as awareness).
    """
    sm = (stage_map or StageMap()).validate()
    conds, params = [], {}
    for stage in ("purchase", "advocacy", "consideration"):
        sql, p = sm.condition(stage)
        conds.append(f"WHEN {sql} THEN '{stage}'")
        params.update(p)
    params["nps"] = sm.nps_pattern
    stage_sql = (f"CASE {' '.join(conds)} "
                 f"WHEN regexp_full_match({normalised_event_sql('event')}, $nps) THEN 'nps' END AS stage")
    counted = _held_event_counts(log)
    if counted is not None:  # counted in numpy; the stages of the names alone in SQL
        from .resident import of_names

        names, events, users = counted
        seen = events > 0
        present = [n for n, s in zip(names, seen) if s]
        stages = of_names(log, stage_sql, present, params)["stage"]
        df = pd.DataFrame({"event": pd.Series(present, dtype=object),
                           "events": events[seen], "users": users[seen], "stage": stages.astype(object).values})
        return df.sort_values(["events", "event"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return log.run(
        f"""
        SELECT event, count(*) AS events, count(DISTINCT user_id) AS users, {stage_sql}
        FROM {{events}} GROUP BY event ORDER BY events DESC, event
        """,
        params,
        sessions=False,
    )


# a user × event table of this many cells is the most :func:`_held_event_counts` builds (one byte each)
_SEEN_CELLS_UP_TO = 200_000_000


def _held_event_counts(log: EventLog):
    """From the log's events held in memory (``journey.resident``): the event names, and for each its
    events and distinct users under the log's filters; None when the events are not held."""
    import numpy as np

    from .resident import filtered, held

    events_held = held(log)
    if events_held is None or len(events_held.user_ids) * max(1, len(events_held.names)) > _SEEN_CELLS_UP_TO:
        return None
    e, user = filtered(log, events_held, "e", "user")
    n = len(events_held.names)
    events = np.bincount(e, minlength=n).astype(np.int64)
    seen = np.zeros(len(events_held.user_ids) * n, dtype=bool)
    seen[user.astype(np.int64) * n + e] = True
    users = seen.reshape(-1, n).sum(axis=0, dtype=np.int64) if n else events
    return events_held.names, events, users


def user_stages_sql(log: EventLog, stage_map: StageMap | None = None, by: str | None = None) -> tuple[str, dict]:
    """SQL with one row per user: the first time each stage's own condition was met, and the furthest stage.

    Columns: user_id, grp (``by`` on the user's first event), t_awareness, t_consideration, t_purchase,
    t_retention, t_advocacy, stage_no (1–5: the furthest stage whose condition the user meets).
    """
    sm = (stage_map or StageMap()).validate()
    rel, params = log.source(sessions=False)
    cons, p1 = sm.condition("consideration")
    buy, p2 = sm.condition("purchase")
    adv, p3 = sm.condition("advocacy")
    params = {**params, **p1, **p2, **p3, "nps": sm.nps_pattern}
    nps_ok = "FALSE"
    if sm.nps_promoter_min is not None:
        nps_ok = f"(regexp_full_match({normalised_event_sql('event')}, $nps) AND score >= $nps_min)"
        params["nps_min"] = float(sm.nps_promoter_min)
    params["ret_n"] = int(sm.retention_orders)
    within = ""
    if sm.retention_within_days is not None:
        params["ret_days"] = float(sm.retention_within_days) * 86400
        within = "AND epoch(o.t_order) - epoch(u.t_purchase) <= $ret_days"
    if by in COHORT_BREAKDOWNS:
        grp = f"strftime(date_trunc('{COHORT_BREAKDOWNS[by]}', min(ts)), '%Y-%m-%d')"
    elif by:
        grp = f"arg_min(CAST({quote_ident(by)} AS VARCHAR), (ts, row_no))"
    else:
        grp = "NULL::VARCHAR"
    sql = f"""
        WITH e {log.shared_cte()} (
            SELECT user_id, ts, row_no, event, order_id, score,
                   {'' if not by or by in COHORT_BREAKDOWNS else quote_ident(by) + ','}
                   {cons} AS is_cons, {buy} AS is_buy, {adv} AS is_adv, {nps_ok} AS is_promoter
            FROM {rel}
        ), u AS (
            SELECT user_id, {grp} AS grp, min(ts) AS t_awareness,
                   min(ts) FILTER (WHERE is_cons) AS t_consideration,
                   min(ts) FILTER (WHERE is_buy) AS t_purchase
            FROM e GROUP BY user_id
        ), o AS (
            SELECT user_id, {ORDER_KEY} AS o_id, min(ts) AS t_order
            FROM e WHERE is_buy GROUP BY ALL
        ), ranked AS (
            SELECT o.user_id, o.t_order,
                   row_number() OVER (PARTITION BY o.user_id ORDER BY o.t_order, o.o_id) AS n
            FROM o JOIN u USING (user_id)
            WHERE TRUE {within}
        ), ret AS (
            SELECT user_id, min(t_order) AS t_retention FROM ranked WHERE n = $ret_n GROUP BY user_id
        ), adv AS (
            SELECT e.user_id, min(e.ts) AS t_advocacy
            FROM e JOIN u USING (user_id)
            WHERE (e.is_adv OR e.is_promoter) AND u.t_purchase IS NOT NULL AND e.ts >= u.t_purchase
            GROUP BY e.user_id
        )
        SELECT u.*, ret.t_retention, adv.t_advocacy,
               CASE WHEN adv.t_advocacy IS NOT NULL THEN 5 WHEN ret.t_retention IS NOT NULL THEN 4
                    WHEN u.t_purchase IS NOT NULL THEN 3 WHEN u.t_consideration IS NOT NULL THEN 2 ELSE 1 END
                   AS stage_no
        FROM u LEFT JOIN ret USING (user_id) LEFT JOIN adv USING (user_id)
    """
    return sql, params


def stage_funnel(
    log: EventLog,
    stage_map: StageMap | None = None,
    *,
    model: str = "five",
    by: str | None = None,
) -> pd.DataFrame:
    """The journey funnel: users at or beyond each stage.

    Parameters
    ----------
    model : {"five", "three"}
        Five stages (awareness → consideration → purchase → retention → advocacy), or the traditional
        three (awareness → consideration → decision, decision being a purchase).
    by : column to break down by, taken from the user's first event (first touch), or the signup cohort:
        ``first_touch_week`` / ``first_touch_month`` (start date of the period of the first event).

    Returns
    -------
    DataFrame, one row per stage (and group with ``by``):
        group (with ``by``), stage_no, stage, users (at or beyond the stage), own_users (met the stage's
        own condition), conversion_from_previous, conversion_from_start (0–1), ci_low, ci_high (Wilson
        95 % on conversion_from_start), dropped (users at the previous stage who went no further),
        median_seconds_from_start (first touch → first meeting the stage's own condition).
    """
    if model not in ("five", "three"):
        raise InvalidParameterError("model", model, ["five", "three"])
    if by is not None and by not in log.columns and by not in COHORT_BREAKDOWNS:
        raise InvalidParameterError("by", by, [*COHORT_BREAKDOWNS, *(c for c in log.columns if c not in ("ts", "row_no"))])
    names = STAGES if model == "five" else THREE_STAGES
    times = ["t_awareness", "t_consideration", "t_purchase", "t_retention", "t_advocacy"][: len(names)]
    sql, params = user_stages_sql(log, stage_map, by)
    aggs = ",\n".join(
        f"count(*) FILTER (WHERE stage_no >= {i}) AS n_{i}, count({t}) AS own_{i}, "
        f"median(epoch({t}) - epoch(t_awareness)) AS med_{i}"
        for i, t in enumerate(times, start=1)
    )
    group_sel = "coalesce(grp, '(none)') AS grp" if by else "'all' AS grp"
    raw = log.db.run(f"SELECT {group_sel}, {aggs} FROM ({sql}) s GROUP BY ALL ORDER BY n_1 DESC, grp", params)
    rows = []
    for rec in raw.to_dict("records"):
        start = int(rec["n_1"])
        for i, name in enumerate(names, start=1):
            users = int(rec[f"n_{i}"])
            prev = int(rec[f"n_{i - 1}"]) if i > 1 else users
            low, high = wilson_interval(users, start)
            med = rec[f"med_{i}"]
            rows.append({
                "group": rec["grp"], "stage_no": i, "stage": name, "users": users,
                "own_users": int(rec[f"own_{i}"]),
                "conversion_from_previous": users / prev if prev else math.nan,
                "conversion_from_start": users / start if start else math.nan,
                "ci_low": low, "ci_high": high, "dropped": prev - users,
                "median_seconds_from_start": math.nan if med is None or pd.isna(med) else float(med),
            })
    df = pd.DataFrame(rows, columns=["group", "stage_no", "stage", "users", "own_users",
                                     "conversion_from_previous", "conversion_from_start", "ci_low", "ci_high",
                                     "dropped", "median_seconds_from_start"])
    return df if by else df.drop(columns="group")


def stage_trend(log: EventLog, stage_map: StageMap | None = None, *, period: str = "week") -> pd.DataFrame:
    """Stage conversion per cohort of first touch (weeks start on Monday).

    Returns
    -------
    DataFrame: period (start date of the users' first touch), stage, users (at or beyond the stage),
    conversion_from_start (0–1).
    """
    if period not in ("day", "week", "month"):
        raise InvalidParameterError("period", period, ["day", "week", "month"])
    sql, params = user_stages_sql(log, stage_map)
    aggs = ", ".join(f"count(*) FILTER (WHERE stage_no >= {i}) AS n_{i}" for i in range(1, 6))
    wide = log.db.run(
        f"SELECT CAST(date_trunc('{period}', t_awareness) AS DATE) AS period, {aggs} "
        f"FROM ({sql}) s GROUP BY ALL ORDER BY period",
        params,
    )
    wide["period"] = pd.to_datetime(wide["period"]).dt.date
    rows = []
    for rec in wide.to_dict("records"):
        for i, stage in enumerate(STAGES, start=1):
            rows.append({"period": rec["period"], "stage": stage, "users": int(rec[f"n_{i}"]),
                         "conversion_from_start": rec[f"n_{i}"] / rec["n_1"] if rec["n_1"] else math.nan})
    return pd.DataFrame(rows, columns=["period", "stage", "users", "conversion_from_start"])
