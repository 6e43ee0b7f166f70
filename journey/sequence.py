"""Every unit's sequence of events, read once in event order into numpy (ADR 0014).

Transitions and paths (``journey.paths``) follow each unit (a user, or a session) through its events,
after the analyst's cleaning rules and, by default, with consecutive repeats collapsed. In SQL that is two
window passes, each a sort of every event (5-8 s at 10M events). Here DuckDB hands over the events in the
order the events table is stored (user, time, row), which is checked, not assumed (a log read in place is
sorted by the user's hash, as in ``journey.chains``); the rest is a few vector operations. The window SQL
stays in ``journey.paths`` as the cross-check of this module (tests/test_paths.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import chains
from .chains import _in_order, _in_threads, _one_chunk, _run_numbers, _starts_of_runs
from .engine import quote_ident
from .log import EventLog
from .resident import Held, held, mask, of_names

# events read into numpy at once: more are read in parts, users split by their hash (10M events with their
# text columns took about 2.6 GB at their peak; 100M at once took 24 GB, all this machine has)
MOST_EVENTS_AT_ONCE = 20_000_000

@dataclass
class Sequences:
    """The kept events of every unit, unit after unit, each unit's in event order.

    ``names[code[i]]`` is event i's name after the cleaning rules; ``t`` its time in microseconds;
    ``unit`` its unit's number and ``user`` its user's number (0, 1, …, both nondecreasing);
    ``user_ids[n]`` is the id of user number n.
    """

    names: list[str]
    code: np.ndarray
    t: np.ndarray
    unit: np.ndarray
    user: np.ndarray
    user_ids: pa.Array


def _cleaned_names(log: EventLog, raw: list[str], rules: list[tuple[str, str]]) -> tuple[list[str], np.ndarray]:
    """The distinct names after the cleaning rules, and for each raw name the number of its cleaned one."""
    if rules and raw:
        from .paths import _clean_event_sql  # paths.py imports this module

        params: dict = {}
        clean = _clean_event_sql(rules, params)
        cleaned = of_names(log, f"{clean} AS name", raw, params)["name"].tolist()
    else:
        cleaned = raw
    names = list(dict.fromkeys(cleaned))
    number = {n: i for i, n in enumerate(names)}
    return names, np.array([number[c] for c in cleaned], dtype=np.int32)


def _fetch(log: EventLog, unit: str, part: int, parts: int) -> pa.Table:
    """The events of the filtered log whose user's hash is ``part`` modulo ``parts``: k (user), s (session,
    for sessions), t, r and e (its name), in the stored order; read in place, in file order with the user's
    hash ``h`` (:func:`journey.chains._in_order` sorts them)."""
    rel, params = log.source(sessions=unit == "sessions")
    session = ", session_id AS s" if unit == "sessions" else ""
    hashed = ", hash(user_id) AS h" if log.in_place else ""
    where = " WHERE hash(user_id) % $parts = $part" if parts > 1 else ""
    sql = f"SELECT user_id AS k{session}, epoch_us(ts) AS t, row_no AS r{hashed}, event AS e FROM {rel} ev{where}"
    return log.db.arrow(sql, {**params, **({"parts": parts, "part": part} if parts > 1 else {})})


def _numbered(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """The table with its event names ``e`` replaced by their numbers in the list returned (Arrow's
    dictionary encoding: a list lookup in SQL is linear in the number of names, which an export of page
    URLs as events would make slow)."""
    names = pc.dictionary_encode(_one_chunk(table.column("e")))
    return table.set_column(table.column_names.index("e"), "e", names.indices), names.dictionary.to_pylist()


def _sessions_apart(user: np.ndarray, s: pa.Array, starts: np.ndarray) -> bool:
    """Whether each (user, session) is one run, given where the runs of equal (user, session) start."""
    firsts = pa.table({"u": user[starts], "s": s.take(pa.array(starts))})
    return firsts.group_by(["u", "s"]).aggregate([]).num_rows == len(starts)


def parts(log: EventLog) -> int:
    """In how many parts :func:`sequences` reads the filtered events (:meth:`EventLog.count_events`)."""
    return max(1, -(-log.count_events() // MOST_EVENTS_AT_ONCE))


def one_pass_pays(log: EventLog, unit: str, parts: int) -> bool:
    """Whether reading in numpy beats the window SQL: not for sessions of a file read in place that needs
    several parts, where each part computes the sessions of every event again (100M events: 480 s in 5
    parts against 235 s for the SQL)."""
    return parts == 1 or not (log.in_place and unit == "sessions")


def sequences(log: EventLog, unit: str, collapse: bool, rules: list[tuple[str, str]],
              parts: int = 1) -> Iterator[Sequences]:
    """Every unit's events (as :func:`read`), in ``parts`` parts (see :func:`parts`).

    The parts split the users by their hash, so no unit spans two. Across the parts yielded, unit and user
    numbers keep increasing (each part's ``user_ids`` start at its first user number) and every part's
    codes index the same list of names, which later parts extend (the last part's ``names`` holds all).
    """
    names: list[str] = []
    number: dict[str, int] = {}
    units = users = 0
    for seq in _read_parts(log, unit, collapse, rules, parts):
        for name in seq.names:
            if name not in number:
                number[name] = len(names)
                names.append(name)
        to_global = np.array([number[n] for n in seq.names], dtype=np.int32)
        yield Sequences(names, to_global[seq.code] if len(to_global) else seq.code, seq.t, seq.unit + units,
                        seq.user + users, seq.user_ids)
        units += int(seq.unit[-1]) + 1 if len(seq.unit) else 0
        users += len(seq.user_ids)


def _read_parts(log: EventLog, unit: str, collapse: bool, rules: list[tuple[str, str]],
                parts: int) -> Iterator[Sequences]:
    """:func:`read` of each part in turn (``parts`` > 1: fewer events in memory at once); or, in one part,
    the events read at once and followed in one thread per core (:func:`journey.chains._in_threads`),
    split with no user in two pieces (:func:`_pieces`). Each piece numbers its own units, users and names
    from 0, as a part does."""
    if parts > 1:
        for part in range(parts):
            yield read(log, unit, collapse, rules, part, parts)
        return
    held_pieces = _held_pieces(log, unit, collapse, rules)
    if held_pieces is not None:
        yield from held_pieces
        return
    table = _fetch(log, unit, 0, 1)
    pieces = _pieces(table)
    done = _in_threads(lambda piece: _read_table(log, piece, unit, collapse, rules), pieces)
    if len(pieces) > 1 and "h" not in table.column_names and not all(stored for _, stored in done):
        # a piece out of the stored order may share a user with another: read the events whole instead
        done = [_read_table(log, table, unit, collapse, rules)]
    yield from (seq for seq, _ in done)


def _held_pieces(log: EventLog, unit: str, collapse: bool, rules: list[tuple[str, str]]) -> list[Sequences] | None:
    """:func:`_read_parts` in one part, from the log's events held in memory (``journey.resident``): in
    pieces of whole users, one per core, each numbering its units and users from 0; None when the events
    are not held (or, for sessions, a session's events are not together)."""
    held_events = held(log)
    if held_events is None or (unit == "sessions" and held_events.session is None):
        return None
    names, clean_of = _cleaned_names(log, held_events.names, rules)
    code = clean_of[held_events.e] if len(clean_of) else held_events.e.astype(np.int32)
    keep = mask(log, held_events)
    at = None if keep is None else np.flatnonzero(keep)
    user = held_events.user if at is None else held_events.user[at]
    ranges = chains.unit_ranges(user, chains.part_count(len(user))) or [(0, 0)]

    def piece(ab: tuple[int, int]) -> Sequences:
        a, b = ab
        rows = slice(a, b) if at is None else at[a:b]
        return _held_piece(held_events, rows, unit, collapse, names, code)

    return _in_threads(piece, ranges)


def _held_piece(held_events: Held, rows: slice | np.ndarray, unit: str, collapse: bool, names: list[str],
                code: np.ndarray) -> Sequences:
    """The :class:`Sequences` of the held events at ``rows`` (whole users), ``code`` their cleaned name
    numbers."""
    t, user, code = held_events.t[rows], held_events.user[rows], code[rows]
    if not len(t):
        none = np.zeros(0, dtype=np.int32)
        return Sequences(names, none, t, none, none, pa.array([], pa.string()))
    new_user = _starts_of_runs(user[1:] != user[:-1])
    user_ids = held_events.user_ids.take(pa.array(user[new_user]))
    if unit == "sessions":
        session = held_events.session[rows]
        new_unit = _starts_of_runs(session[1:] != session[:-1])
    else:
        new_unit = new_user
    kept = _steps_kept(new_unit, code, collapse)
    return Sequences(names, code[kept], t[kept], _run_numbers(new_unit)[kept], _run_numbers(new_user)[kept],
                     user_ids)


def _steps_kept(new_unit: np.ndarray, code: np.ndarray, collapse: bool) -> np.ndarray:
    """The positions of the steps kept: every event, or with ``collapse`` each unit's first and every event
    whose name differs from the one before it."""
    if not collapse:
        return np.arange(len(code))
    keep = new_unit.copy()
    keep[1:] |= code[1:] != code[:-1]
    return np.flatnonzero(keep)


def _pieces(table: pa.Table, most: int | None = None) -> list[pa.Table]:
    """The fetched events in at most ``most`` pieces (default: one per core, from
    :data:`journey.chains.SPLIT_FROM` events), no user's events in two: read in place, split by the user's
    hash; stored by user, sliced (no copy) where the user changes, whole unless each piece's last user sorts
    before the next piece's first. (Stored by user means each piece's users sort in increasing order,
    which :func:`_read_table` checks.)"""
    n = chains.part_count(table.num_rows, most)
    if n == 1:
        return [table]
    if "h" in table.column_names:
        part = chains._hash_parts(table.column("h").to_numpy(), n)
        return [table.take(pa.array(np.flatnonzero(part == i))) for i in range(n)]
    k = table.column("k")
    bounds = [0]
    for i in range(1, n):
        b = _next_user(k, max(bounds[-1] + 1, table.num_rows * i // n))
        if b < table.num_rows:
            bounds.append(b)
    bounds.append(table.num_rows)
    if not all(pc.less(k[b - 1], k[b]).as_py() for b in bounds[1:-1]):
        return [table]
    return [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def _next_user(k: pa.ChunkedArray, b: int) -> int:
    """The first position from ``b`` (> 0) whose user differs from the one before it (``len(k)`` if none),
    compared in growing windows: one user may have millions of events."""
    width = 64
    while b < len(k):
        w = min(width, len(k) - b)
        hit = np.flatnonzero(pc.not_equal(k.slice(b, w), k.slice(b - 1, w)).to_numpy(zero_copy_only=False))
        if len(hit):
            return b + int(hit[0])
        b, width = b + w, width * 4
    return len(k)


def read(log: EventLog, unit: str, collapse: bool, rules: list[tuple[str, str]], part: int = 0,
         parts: int = 1) -> Sequences:
    """Every unit's events in event order, cleaned and (with ``collapse``) without consecutive repeats; with
    ``parts`` > 1, only the units of users whose hash is ``part`` modulo ``parts``."""
    return _read_table(log, _fetch(log, unit, part, parts), unit, collapse, rules)[0]


def _read_table(log: EventLog, table: pa.Table, unit: str, collapse: bool,
                rules: list[tuple[str, str]]) -> tuple[Sequences, bool]:
    """:func:`read` of fetched events (no user's events in another table), and whether they came in the
    stored order (each user's events together, users in increasing order)."""
    table, raw = _numbered(table)
    names, clean_of = _cleaned_names(log, raw, rules)
    events = _in_order(table)
    t, user = events.t, events.unit_no
    code = clean_of[events.e]
    size = len(t)
    new_unit = _starts_of_runs(user[1:] != user[:-1]) if size else np.zeros(0, dtype=bool)
    # the id of each user number, from the user's first event (the numbers stay the same below)
    user_ids = _one_chunk(events.text("k", np.flatnonzero(new_unit)))
    if unit == "sessions" and size:
        s = _one_chunk(table.column("s")) if events.order is None else events.text("s", np.arange(size))
        new_unit |= _starts_of_runs(pc.not_equal(s[1:], s[:-1]).to_numpy(zero_copy_only=False))
        # sessions found from time gaps lie together in (user, time) order; an export's own session ids
        # may interleave (two tabs), and then each user's events are put in (session, time, row) order
        if log.mapping.session and not _sessions_apart(user, s, np.flatnonzero(new_unit)):
            s_no = pc.dictionary_encode(s).indices.to_numpy(zero_copy_only=False)
            order = np.lexsort((events.r, t, s_no, user))
            t, user, code, s_no = t[order], user[order], code[order], s_no[order]
            new_unit = _starts_of_runs((user[1:] != user[:-1]) | (s_no[1:] != s_no[:-1]))
    kept = _steps_kept(new_unit, code, collapse)
    return (Sequences(names, code[kept], t[kept], _run_numbers(new_unit)[kept], user[kept], user_ids),
            events.order is None)


def transitions_frame(seq: Sequences) -> pa.Table:
    """One row per step to the next within a unit: src, tgt (name numbers), sec (seconds between them, as
    DuckDB's ``epoch(next) - epoch(this)``) and first (true once per user and (src, tgt), so that counting
    it gives the distinct users of each transition)."""
    following = np.flatnonzero(seq.unit[1:] == seq.unit[:-1])  # steps whose next step is in the same unit
    src, tgt = seq.code[following], seq.code[following + 1]
    seconds = seq.t / 1e6
    sec = (seconds[1:] - seconds[:-1])[following]
    user = seq.user[following]
    pair = src.astype(np.int64) * len(seq.names) + tgt
    # within each pair, in a stable order, the users come in increasing order: a user's first is a change
    by_pair = np.argsort(pair.astype(np.int16) if len(seq.names) ** 2 <= np.iinfo(np.int16).max else pair,
                         kind="stable")
    p, u = pair[by_pair], user[by_pair]
    first = np.zeros(len(pair), dtype=bool)
    if len(pair):
        first[by_pair[_starts_of_runs((p[1:] != p[:-1]) | (u[1:] != u[:-1]))]] = True
    return pa.table({"src": src, "tgt": tgt, "sec": sec, "first": first})


def transitions_sql(names: list[str], name: str) -> tuple[str, dict]:
    """SQL of the transitions table (as ``journey.paths.transitions``) over ``name``, a kept
    :func:`transitions_frame` (or several, concatenated) whose name numbers index ``names``."""
    sql = f"""
        WITH edges AS (
            SELECT src, tgt, count(*) AS transitions, count(*) FILTER (WHERE first) AS users,
                   median(sec) AS median_seconds
            FROM {quote_ident(name)} GROUP BY src, tgt
        )
        SELECT $names[src + 1] AS source, $names[tgt + 1] AS target, transitions, users,
               transitions / sum(transitions) OVER (PARTITION BY src) AS share_of_source, median_seconds
        FROM edges
        QUALIFY users >= $min_users
        ORDER BY transitions DESC, source, target
    """
    return sql, {"names": names}


@dataclass
class PathSteps:
    """The steps :func:`journey.paths.paths` shows, unit after unit, each unit's in step order: ``unit``,
    ``user`` (numbers, as in :class:`Sequences`), ``code`` (name number) and ``step`` (1…)."""

    names: list[str]
    user_ids: pa.Array
    unit: np.ndarray
    user: np.ndarray
    code: np.ndarray
    step: np.ndarray


def path_steps(seq: Sequences, steps: int, anchor: str | None = None, after: bool = True) -> PathSteps:
    """Without ``anchor``, each unit's first ``steps`` steps; with it, the ``steps`` steps from (``after``)
    or up to the unit's first ``anchor``, numbered as the SQL version numbers them."""
    n = len(seq.code)
    unit = seq.unit - seq.unit[0] if n else seq.unit  # 0, 1, … in this part
    first_of_unit = np.flatnonzero(_starts_of_runs(unit[1:] != unit[:-1])) if n else unit
    pos = np.arange(1, n + 1) - first_of_unit[unit]  # 1 at each unit's first step
    if anchor is None:
        rows = np.flatnonzero(pos <= steps)
        step = pos[rows]
    else:
        code = seq.names.index(anchor) if anchor in seq.names else -1
        hits = np.flatnonzero(seq.code == code)
        first = hits[_starts_of_runs(unit[hits][1:] != unit[hits][:-1])] if len(hits) else hits
        at = np.zeros(len(first_of_unit), dtype=np.int64)  # the unit's first anchor's position; 0: none
        at[unit[first]] = pos[first]
        a = at[unit]
        if after:
            rows = np.flatnonzero((a > 0) & (pos >= a) & (pos < a + steps))
            step = pos[rows] - a[rows] + 1
        else:
            rows = np.flatnonzero((a > 0) & (pos <= a) & (pos > a - steps))
            step = pos[rows] - np.maximum(a[rows] - steps, 0)
    return PathSteps(seq.names, seq.user_ids, seq.unit[rows], seq.user[rows], seq.code[rows], step.astype(np.int64))


def combined(parts: list[PathSteps]) -> PathSteps:
    """The steps of parts from :func:`sequences`, as one (the last part's names hold every part's)."""
    if len(parts) == 1:
        return parts[0]
    unit, user, code, step = (np.concatenate([getattr(p, a) for p in parts]) for a in ("unit", "user", "code", "step"))
    return PathSteps(parts[-1].names, pa.concat_arrays([p.user_ids for p in parts]), unit, user, code, step)


def _folded(ps: PathSteps, top: int, other: str) -> tuple[list[str], np.ndarray]:
    """The names with ``other`` added if missing, and each step's name number after folding: the events
    past the ``top`` most frequent of their step (ties by name) become ``other``."""
    labels = ps.names if other in ps.names else [*ps.names, other]
    size = len(labels)
    count = np.bincount(ps.step * size + ps.code, minlength=(int(ps.step.max(initial=0)) + 1) * size)
    shown = np.zeros(len(count), dtype=bool)
    for s in range(int(ps.step.max(initial=0)) + 1):
        present = np.flatnonzero(count[s * size:(s + 1) * size])
        best = sorted(present, key=lambda c: (-count[s * size + c], labels[c]))[:top]
        shown[[s * size + c for c in best]] = True
    return labels, np.where(shown[ps.step * size + ps.code], ps.code, labels.index(other))


def nodes_and_links(ps: PathSteps, top: int, other: str):
    """The Sankey's nodes (step, event, users, ends) and links (step, source, target, users), in the
    order and with the columns of ``journey.paths.paths``."""
    import pandas as pd

    labels, code = _folded(ps, top, other)
    size = len(labels)
    node = ps.step * size + code
    last = np.r_[ps.unit[1:] != ps.unit[:-1], True] if len(node) else np.zeros(0, dtype=bool)
    users, ends = np.bincount(node), np.bincount(node[last], minlength=len(np.bincount(node)))
    at = np.flatnonzero(users)
    nodes = pd.DataFrame({"step": at // size, "event": [labels[c] for c in at % size], "users": users[at],
                          "ends": ends[at]})
    on = np.flatnonzero(~last)  # a step followed by the next in the same unit
    link, n = np.unique(node[on] * size + code[on + 1], return_counts=True)
    links = pd.DataFrame({"step": link // size // size, "source": [labels[c] for c in link // size % size],
                          "target": [labels[c] for c in link % size], "users": n})
    nodes = nodes.sort_values(["step", "users", "event"], ascending=[True, False, True], kind="stable")
    links = links.sort_values(["step", "users", "source", "target"], ascending=[True, False, True, True],
                              kind="stable")
    return nodes.reset_index(drop=True), links.reset_index(drop=True)


def node_users(ps: PathSteps, top: int, other: str, step: int, event: str) -> pa.Array:
    """The distinct ids, sorted, of the users at one node of :func:`nodes_and_links`."""
    labels, code = _folded(ps, top, other)
    if event not in labels:
        return pa.array([], pa.string())
    users = np.unique(ps.user[(ps.step == step) & (code == labels.index(event))])
    ids = ps.user_ids.take(pa.array(users))
    return ids.take(pc.sort_indices(ids))
