"""Journey maps: paths (for the Sankey), transitions, the step matrix, top paths and customer timelines.

Every unit (user or session) is a sequence of its events in event order (time, then row number), after
the analyst's cleaning rules (regular expressions that merge event names) and, by default, with
consecutive repeats collapsed into one.
"""

from __future__ import annotations

import re

import pyarrow as pa

from . import sequence
from .chains import _in_threads, frame_name
from .errors import InvalidParameterError, JourneyError
from .lazy import pandas as pd
from .log import ORDER_KEY, EventLog
from .stages import StageMap, normalised_event_sql

OTHER = "Other"
UNITS = ("users", "sessions")
MAX_STEPS = 10


def _check_rules(rules: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    rules = list(rules or [])
    for pattern, _ in rules:
        try:
            re.compile(pattern)
        except re.error as e:
            raise JourneyError(f"The cleaning rule {pattern!r} is not a valid regular expression: {e}.") from e
    return rules


def _clean_event_sql(rules: list[tuple[str, str]], params: dict) -> str:
    """SQL for the event name after cleaning rules: the first rule whose pattern matches the whole name wins."""
    if not rules:
        return "event"
    cases = []
    for i, (pattern, replacement) in enumerate(rules):
        params[f"rule_p{i}"] = pattern
        params[f"rule_r{i}"] = replacement
        cases.append(f"WHEN regexp_full_match(event, $rule_p{i}) THEN $rule_r{i}")
    return f"(CASE {' '.join(cases)} ELSE event END)"


def stage_of_event_sql(stage_map: StageMap | None, params: dict) -> str:
    """SQL naming the journey stage each event belongs to (needs ``order_rank``, the purchase's order number)."""
    sm = (stage_map or StageMap()).validate()
    parts = []
    for stage in ("purchase", "advocacy", "consideration"):
        cond, p = sm.condition(stage)
        params.update(p)
        if stage == "purchase":
            params["ret_n"] = int(sm.retention_orders)
            parts.append(f"WHEN {cond} THEN (CASE WHEN order_rank >= $ret_n THEN 'retention' ELSE 'purchase' END)")
        else:
            parts.append(f"WHEN {cond} THEN '{stage}'")
    if sm.nps_promoter_min is not None:
        params["nps"] = sm.nps_pattern
        params["nps_min"] = float(sm.nps_promoter_min)
        parts.insert(1, f"WHEN regexp_full_match({normalised_event_sql('event')}, $nps) AND score >= $nps_min "
                        "THEN 'advocacy'")
    return f"(CASE {' '.join(parts)} ELSE 'awareness' END)"


def _sequence_sql(
    log: EventLog, *, unit: str, collapse: bool, rules, level: str, stage_map: StageMap | None,
    with_next: bool = False,
) -> tuple[str, dict]:
    """SQL of every unit's sequence: k (unit key), user_id, pos (1…), event, ts, row_no; with ``with_next``
    also next_event and next_ts (the unit's following step, NULL at its last), from the same window."""
    if unit not in UNITS:
        raise InvalidParameterError("unit", unit, UNITS)
    if level not in ("events", "stages"):
        raise InvalidParameterError("level", level, ["events", "stages"])
    rel, params = log.source()
    params = dict(params)
    # windows partition by the unit's columns; its one-text key is built after them, only where it is read
    # (a window over the joined text took 0.4 s longer per window at 10M events)
    part, key = ("user_id", "user_id") if unit == "users" else \
        ("user_id, session_id", "user_id || chr(31) || session_id")
    if level == "stages":
        name = stage_of_event_sql(stage_map, params)
        buy, p = (stage_map or StageMap()).validate().condition("purchase")
        params.update(p)
        buy_e, _ = (stage_map or StageMap()).validate().condition("purchase", "e.event")
        # a purchase's order number (1, 2, …) follows the time of each order's first event
        base = f"""
            SELECT e.*, o.order_rank FROM (SELECT *, {ORDER_KEY} AS oid FROM {rel}) e LEFT JOIN (
                SELECT user_id, oid, row_number() OVER (PARTITION BY user_id ORDER BY first_ts, oid) AS order_rank
                FROM (SELECT user_id, {ORDER_KEY} AS oid, min(ts) AS first_ts
                      FROM {rel} WHERE {buy} GROUP BY ALL)
            ) o ON o.user_id = e.user_id AND o.oid = e.oid AND {buy_e}
        """
    else:
        name = _clean_event_sql(_check_rules(rules), params)
        base = rel
    collapse_sql = "WHERE prev IS DISTINCT FROM name" if collapse else ""
    # over the kept rows (windows come after WHERE): the next step of the collapsed sequence
    following = ", lead(name) OVER w AS next_event, lead(ts) OVER w AS next_ts" if with_next else ""
    sql = f"""
        SELECT {key} AS k, user_id, name AS event, ts, row_no,
               row_number() OVER w AS pos {following}
        FROM (
            SELECT *, lag(name) OVER (PARTITION BY {part} ORDER BY ts, row_no) AS prev
            FROM (SELECT user_id, {'session_id, ' if unit == 'sessions' else ''}{name} AS name, ts, row_no
                  FROM ({base}) b) named
        ) x
        {collapse_sql}
        WINDOW w AS (PARTITION BY {part} ORDER BY ts, row_no)
    """
    return sql, params


def _check_paths(log: EventLog, *, steps, from_event, to_event, unit, rules, level) -> list[tuple[str, str]]:
    """Refuse what :func:`paths` cannot show; the cleaning rules, checked."""
    if not 1 <= steps <= MAX_STEPS:
        raise JourneyError(f"Paths show 1 to {MAX_STEPS} steps; got {steps}.")
    if from_event and to_event:
        raise JourneyError("Choose paths after an event or paths before an event, not both.")
    if unit not in UNITS:
        raise InvalidParameterError("unit", unit, UNITS)
    if level not in ("events", "stages"):
        raise InvalidParameterError("level", level, ["events", "stages"])
    anchor_event = from_event or to_event
    if anchor_event and level == "events" and not rules:
        known = set(log.distinct_values("event", limit=100_000))
        if anchor_event not in known:
            raise InvalidParameterError("from" if from_event else "to", anchor_event, sorted(known))
    return _check_rules(rules)


def _event_steps(log: EventLog, *, steps, from_event, to_event, unit, collapse, rules,
                 level) -> sequence.PathSteps | None:
    """At event level, the steps of every unit's path from one pass in numpy (ADR 0014), checked, and kept
    for the next call with the same log and parameters (the users of a node ask again). None at stage
    level, or where the window SQL is faster (:func:`journey.sequence.one_pass_pays`)."""
    if level != "events":
        return None
    rules = _check_paths(log, steps=steps, from_event=from_event, to_event=to_event, unit=unit, rules=rules,
                         level=level)
    key = ("path_steps", log.fingerprint(), unit, collapse, tuple(rules), steps, from_event, to_event)

    def compute() -> sequence.PathSteps | None:
        parts = sequence.parts(log)
        if not sequence.one_pass_pays(log, unit, parts):
            return None
        return sequence.combined([sequence.path_steps(seq, steps, from_event or to_event, after=bool(from_event))
                                  for seq in sequence.sequences(log, unit, collapse, rules, parts)])

    return log.db.remember(key, compute)


def _paths_sql(log, *, steps, top, from_event, to_event, unit, collapse, rules, level, stage_map):
    """SQL with the CTEs seq, stepped, lengths, ranked and folded of :func:`paths`, and its parameters:
    the stage level's, and the event level's cross-check (tests/test_paths.py)."""
    rules = _check_paths(log, steps=steps, from_event=from_event, to_event=to_event, unit=unit, rules=rules,
                         level=level)
    seq, params = _sequence_sql(log, unit=unit, collapse=collapse, rules=rules, level=level, stage_map=stage_map)
    params = {**params, "n": int(steps), "top": int(top)}
    if from_event or to_event:
        params["anchor"] = from_event or to_event
        anchor = "SELECT k, min(pos) AS a FROM seq WHERE event = $anchor GROUP BY k"
        if from_event:
            window = "s.pos >= a.a AND s.pos < a.a + $n"
            step = "s.pos - a.a + 1"
        else:
            window = "s.pos <= a.a AND s.pos > a.a - $n"
            step = "s.pos - greatest(a.a - $n, 0)"
        stepped = f"SELECT s.k, s.user_id, s.event, {step} AS step FROM seq s JOIN ({anchor}) a USING (k) WHERE {window}"
    else:
        stepped = "SELECT k, user_id, event, pos AS step FROM seq WHERE pos <= $n"
    return f"WITH seq AS ({seq}), {_folded_sql(stepped)}", params


def _folded_sql(stepped: str) -> str:
    """CTEs from ``stepped`` (k, user_id, event, step): lengths, ranked, and folded (the events past the
    ``$top`` of their step named Other)."""
    return f"""
        stepped AS ({stepped}),
        lengths AS (SELECT k, max(step) AS len FROM stepped GROUP BY k),
        ranked AS (
            SELECT step, event, row_number() OVER (PARTITION BY step ORDER BY count(*) DESC, event) AS r
            FROM stepped GROUP BY step, event
        ),
        folded AS (
            SELECT s.k, s.user_id, s.step, CASE WHEN r.r <= $top THEN s.event ELSE '{OTHER}' END AS event
            FROM stepped s JOIN ranked r USING (step, event)
        )
    """


def paths(
    log: EventLog,
    *,
    steps: int = 5,
    top: int = 8,
    from_event: str | None = None,
    to_event: str | None = None,
    unit: str = "users",
    collapse_repeats: bool = True,
    cleaning_rules: list[tuple[str, str]] | None = None,
    level: str = "events",
    stage_map: StageMap | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first ``steps`` steps of every unit's path, as nodes and links for a Sankey.

    Parameters
    ----------
    steps : 1–10 steps from the unit's first event, or from its first ``from_event``, or the steps ending
        at its first ``to_event``.
    top : the ``top`` events at each step keep their name; the rest are folded into "Other".
    unit : "users" (the whole stream) or "sessions".
    collapse_repeats : merge consecutive repeats of an event into one step.
    cleaning_rules : (regular expression, new name) pairs applied to event names first.
    level : "events", or "stages" (each event shown as its journey stage).

    Returns
    -------
    (nodes, links)
        nodes: step (from 1), event, users (units at that step with that event), ends (units whose path
        stops there). links: step (of the source), source, target, users. At each step the nodes' users
        add up to the paths still going; a node's links out plus its ends equal its users.
    """
    steps_of = _event_steps(log, steps=steps, from_event=from_event, to_event=to_event, unit=unit,
                            collapse=collapse_repeats, rules=cleaning_rules, level=level)
    if steps_of is not None:
        return sequence.nodes_and_links(steps_of, int(top), OTHER)
    sql, params = _paths_sql(log, steps=steps, top=top, from_event=from_event, to_event=to_event, unit=unit,
                             collapse=collapse_repeats, rules=cleaning_rules, level=level, stage_map=stage_map)
    return _nodes_and_links(log, sql, params)


def _nodes_and_links(log: EventLog, sql: str, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`paths`' nodes and links from :func:`_paths_sql`'s CTEs."""
    # one query, so the sequences are computed once for nodes and links
    both = log.db.run(
        f"""{sql},
        nodes AS (
            SELECT f.step, f.event, count(*) AS users, count(*) FILTER (WHERE l.len = f.step) AS ends
            FROM folded f JOIN lengths l USING (k) GROUP BY f.step, f.event
        ),
        links AS (
            SELECT a.step, a.event AS source, b.event AS target, count(*) AS users
            FROM folded a JOIN folded b ON a.k = b.k AND b.step = a.step + 1 GROUP BY ALL
        )
        SELECT 'node' AS kind, step, event AS source, NULL AS target, users, ends FROM nodes
        UNION ALL
        SELECT 'link', step, source, target, users, NULL FROM links
        ORDER BY kind DESC, step, users DESC, source, target
        """,
        params,
    )
    is_node = both["kind"] == "node"
    nodes = (both[is_node].rename(columns={"source": "event"})[["step", "event", "users", "ends"]]
             .astype({"ends": "int64"}).reset_index(drop=True))
    links = both[~is_node][["step", "source", "target", "users"]].reset_index(drop=True)
    return nodes, links


def path_users(
    log: EventLog,
    step: int,
    event: str,
    *,
    steps: int = 5,
    top: int = 8,
    from_event: str | None = None,
    to_event: str | None = None,
    unit: str = "users",
    collapse_repeats: bool = True,
    cleaning_rules: list[tuple[str, str]] | None = None,
    level: str = "events",
    stage_map: StageMap | None = None,
) -> pd.DataFrame:
    """The users at one node of :func:`paths` (same parameters).

    Returns
    -------
    DataFrame: user_id (distinct, sorted).
    """
    steps_of = _event_steps(log, steps=steps, from_event=from_event, to_event=to_event, unit=unit,
                            collapse=collapse_repeats, rules=cleaning_rules, level=level)
    if steps_of is not None:
        ids = sequence.node_users(steps_of, int(top), OTHER, int(step), event)
        return pd.DataFrame({"user_id": ids.to_pandas().astype(object)})
    sql, params = _paths_sql(log, steps=steps, top=top, from_event=from_event, to_event=to_event, unit=unit,
                             collapse=collapse_repeats, rules=cleaning_rules, level=level, stage_map=stage_map)
    return log.db.run(
        f"{sql} SELECT DISTINCT user_id FROM folded WHERE step = $node_step AND event = $node_event ORDER BY user_id",
        {**params, "node_step": int(step), "node_event": event},
    )


def transitions(
    log: EventLog,
    *,
    unit: str = "sessions",
    min_users: int = 1,
    collapse_repeats: bool = True,
    cleaning_rules: list[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Event → next event, within a session (or a user's whole stream).

    Returns
    -------
    DataFrame: source, target, transitions (times it happened), users (distinct users),
    share_of_source (transitions ÷ all transitions out of the source, 0–1), median_seconds (between the
    two events). Edges with fewer than ``min_users`` users are left out (shares count every edge).
    """
    rules = _check_rules(cleaning_rules)
    if unit not in UNITS:
        raise InvalidParameterError("unit", unit, UNITS)
    name = frame_name(log, "transitions", unit, collapse_repeats, rules)

    def pairs() -> tuple[pa.Table, list[str]] | None:
        parts = sequence.parts(log)
        if not sequence.one_pass_pays(log, unit, parts):
            return None
        frames, names = [], []
        if parts == 1:  # the pieces of one read, followed in threads
            seqs = list(sequence.sequences(log, unit, collapse_repeats, rules, parts))
            frames, names = _in_threads(sequence.transitions_frame, seqs), seqs[-1].names
        else:  # one part in memory at a time
            for seq in sequence.sequences(log, unit, collapse_repeats, rules, parts):
                frames.append(sequence.transitions_frame(seq))
                names = seq.names
        return pa.concat_tables(frames), names

    kept = log.db.remember(name, pairs)  # the pairs of one pass (ADR 0014), kept for the next call
    if kept is None:
        return _transitions_sql(log, unit=unit, min_users=min_users, collapse_repeats=collapse_repeats,
                                cleaning_rules=rules)
    frame, names = kept
    if not log.db.has_frame(name):
        log.db.keep_frame(name, frame)
    sql, params = sequence.transitions_sql(names, name)
    return log.db.run(sql, {**params, "min_users": int(min_users)})


def _transitions_sql(
    log: EventLog,
    *,
    unit: str = "sessions",
    min_users: int = 1,
    collapse_repeats: bool = True,
    cleaning_rules: list[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """:func:`transitions` in SQL alone: two window passes (kept as the cross-check of journey.sequence)."""
    # every event has a time, so next_ts is NULL only after a unit's last step
    seq, params = _sequence_sql(log, unit=unit, collapse=collapse_repeats, rules=cleaning_rules, level="events",
                                stage_map=None, with_next=True)
    return log.db.run(
        f"""
        WITH seq AS ({seq}),
        pairs AS (
            SELECT user_id, event AS source, next_event AS target, epoch(next_ts) - epoch(ts) AS seconds
            FROM seq WHERE next_ts IS NOT NULL
        ),
        edges AS (
            SELECT source, target, count(*) AS transitions, count(DISTINCT user_id) AS users,
                   median(seconds) AS median_seconds
            FROM pairs GROUP BY source, target
        )
        SELECT source, target, transitions, users,
               transitions / sum(transitions) OVER (PARTITION BY source) AS share_of_source, median_seconds
        FROM edges
        QUALIFY users >= $min_users
        ORDER BY transitions DESC, source, target
        """,
        {**params, "min_users": int(min_users)},
    )


def compare_transitions(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The difference of two :func:`transitions` tables (segment A − segment B).

    Returns
    -------
    DataFrame: source, target, share_a, share_b (share of the source's exits, 0 when absent), difference
    (share_a − share_b), sorted by the size of the difference.
    """
    keys = ["source", "target"]
    merged = a[keys + ["share_of_source"]].merge(b[keys + ["share_of_source"]], on=keys, how="outer",
                                                 suffixes=("_a", "_b")).fillna(0.0)
    merged = merged.rename(columns={"share_of_source_a": "share_a", "share_of_source_b": "share_b"})
    merged["difference"] = merged["share_a"] - merged["share_b"]
    return merged.reindex(merged["difference"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def step_matrix(
    log: EventLog,
    *,
    steps: int = 8,
    top: int = 10,
    anchor: str | None = None,
    unit: str = "users",
    collapse_repeats: bool = True,
) -> pd.DataFrame:
    """The share of units at each event at each step (1…N, or −N…N around the first ``anchor``).

    Returns
    -------
    DataFrame: step, event (the ``top`` events of each step; the rest as "Other"), units, share (of the
    units that have a step there, 0–1).
    """
    seq, params = _sequence_sql(log, unit=unit, collapse=collapse_repeats, rules=None, level="events",
                                stage_map=None)
    params = {**params, "n": int(steps), "top": int(top)}
    if anchor:
        params["anchor"] = anchor
        stepped = """
            SELECT s.k, s.event, s.pos - a.a AS step FROM seq s
            JOIN (SELECT k, min(pos) AS a FROM seq WHERE event = $anchor GROUP BY k) a USING (k)
            WHERE s.pos - a.a BETWEEN -$n AND $n
        """
    else:
        stepped = "SELECT k, event, pos AS step FROM seq WHERE pos <= $n"
    return log.db.run(
        f"""
        WITH seq AS ({seq}), stepped AS ({stepped}),
        counted AS (SELECT step, event, count(*) AS units FROM stepped GROUP BY step, event),
        ranked AS (SELECT *, row_number() OVER (PARTITION BY step ORDER BY units DESC, event) AS r FROM counted),
        folded AS (
            SELECT step, CASE WHEN r <= $top THEN event ELSE '{OTHER}' END AS event, sum(units)::BIGINT AS units
            FROM ranked GROUP BY 1, 2
        )
        SELECT step, event, units, units / sum(units) OVER (PARTITION BY step) AS share
        FROM folded ORDER BY step, units DESC, event
        """,
        params,
    )


def top_paths(
    log: EventLog,
    *,
    unit: str = "sessions",
    top: int = 20,
    max_length: int = 12,
    collapse_repeats: bool = True,
    stage_map: StageMap | None = None,
) -> pd.DataFrame:
    """The most frequent complete paths (a session's or a user's whole sequence).

    Paths longer than ``max_length`` are cut there and end in "…".

    Returns
    -------
    DataFrame: path ("a → b → c"), units, share (of all units, 0–1), converted (units whose path has a
    purchase event), conversion_rate (0–1).
    """
    seq, params = _sequence_sql(log, unit=unit, collapse=collapse_repeats, rules=None, level="events",
                                stage_map=None)
    buy, p = (stage_map or StageMap()).validate().condition("purchase")
    params = {**params, **p, "top": int(top), "max_len": int(max_length)}
    return log.db.run(
        f"""
        WITH seq AS ({seq}),
        per AS (
            SELECT k,
                   string_agg(event, ' → ' ORDER BY pos) FILTER (WHERE pos <= $max_len)
                       || CASE WHEN max(pos) > $max_len THEN ' → …' ELSE '' END AS path,
                   bool_or({buy}) AS converted
            FROM seq GROUP BY k
        )
        SELECT path, count(*) AS units, count(*) / (SELECT count(*) FROM per) AS share,
               count(*) FILTER (WHERE converted) AS converted,
               count(*) FILTER (WHERE converted) / count(*) AS conversion_rate
        FROM per GROUP BY path ORDER BY units DESC, path LIMIT $top
        """,
        params,
    )


def customer_timeline(log: EventLog, user_id: str, stage_map: StageMap | None = None) -> pd.DataFrame:
    """One customer's events in order, each with the journey stage the customer was in at that moment.

    Returns
    -------
    DataFrame: ts, event, stage, session_id, session_no (1…), channel, device, page, order_id, revenue,
    score. Empty when the user is not in the (filtered) log.
    """
    from .canvas import events_by_stage_sql

    sql, params = events_by_stage_sql(log.refine(users=(str(user_id),)), stage_map)
    return log.db.run(
        f"""
        WITH e AS (SELECT *, min(ts) OVER (PARTITION BY session_id) AS session_start FROM ({sql}) s)
        SELECT ts, event, stage, session_id, dense_rank() OVER (ORDER BY session_start, session_id) AS session_no,
               channel, device, page, order_id, revenue, score
        FROM e ORDER BY ts, row_no
        """,
        params,
    )


def find_users(log: EventLog, text: str, limit: int = 20) -> list[str]:
    """User ids containing ``text`` (case-insensitive): an exact match first, then the most active.

    Returns
    -------
    list of user ids (at most ``limit``).
    """
    df = log.run(
        "SELECT user_id, count(*) AS n FROM {events} WHERE contains(lower(user_id), lower($q)) "
        "GROUP BY user_id ORDER BY lower(user_id) = lower($q) DESC, n DESC, user_id LIMIT $limit",
        {"q": text or "", "limit": int(limit)},
    )
    return df["user_id"].tolist()
