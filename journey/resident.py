"""A loaded log's events held in memory as numpy columns, in the stored order (ADR 0018).

The events table is stored in (user, time, row) order. The one-pass analyses (``journey.chains``: step
funnels; ``journey.sequence``: paths and transitions) each used to ask DuckDB for the events they follow,
with every user's id as text, and check their order again: 0.35-0.6 s of a 10M-event funnel's 1.0-1.2 s.
A loaded log now reads its events once, when it is loaded: each event's user number, time, row, event
number and session number, 22 bytes an event (220 MB for 10M), checked in order once. An analysis then
picks its events with numpy; a filtered view of the log picks them through a mask DuckDB computes over
the same table in the same order (``preserve_insertion_order``, DuckDB's default, keeps a plain scan in
stored order).

Not held: logs read in place (``load(..., in_place=True)``: no events table, and their size is
unbounded) and logs over :data:`HELD_UP_TO` events (they are read from DuckDB, as before).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .engine import quote_ident
from .log import EVENTS_TABLE, EventLog

# logs of up to this many events are held (about 22 bytes an event: 660 MB at the bound)
HELD_UP_TO = 30_000_000
# event names numbered in SQL by their place in a list, a linear search: more are numbered by Arrow
LISTED_NAMES_UP_TO = 256
# masks of filtered views kept per log (10 MB each for 10M events)
MASKS_KEPT = 8
# a breakdown column is held (its values numbered, 2 bytes an event) when it has at most this many values
GROUPS_UP_TO = 256

_lock = threading.Lock()


@dataclass
class Held:
    """The events of a loaded log, in the stored (user, time, row) order.

    ``user[i]`` is event i's user number (0, 1, …, nondecreasing), ``user_ids[u]`` the id of user u;
    ``t`` the time in microseconds, ``r`` the row number in the source, ``e`` the event's number in
    ``names``; ``session[i]`` the number of event i's session (0, 1, …, nondecreasing), or None when a
    session's events are not together in the stored order (an export's own session ids can interleave).
    """

    user: np.ndarray
    t: np.ndarray
    r: np.ndarray
    e: np.ndarray
    names: list[str]
    user_ids: pa.Array
    session: np.ndarray | None
    _masks: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _groups: dict = field(default_factory=dict, repr=False)
    _filtered: tuple = field(default_factory=lambda: (None, {}), repr=False)  # (filters, their columns): see filtered

    def codes(self, names: list[str]) -> np.ndarray:
        """Each event's place in ``names`` (0, 1, …; -1 for an event not in it), in 8 bits when they fit."""
        place = {n: i for i, n in enumerate(names)}
        lookup = np.array([place.get(n, -1) for n in self.names] or [-1],
                          dtype=np.int8 if len(names) <= np.iinfo(np.int8).max else np.int32)
        return lookup[self.e]


def held(log: EventLog) -> Held | None:
    """The log's events held in memory (:func:`hold` at load), or None when they are not."""
    return log._memo.get(("held",))


def hold(log: EventLog) -> Held | None:
    """Read the loaded log's events into memory once (shared by its filtered views); None, and nothing
    held, for a log read in place or over :data:`HELD_UP_TO` events."""
    if log.in_place or log.report.events > HELD_UP_TO:
        return None
    with _lock:
        if ("held",) not in log._memo:
            log._memo[("held",)] = _read(log)
    return log._memo[("held",)]


def _read(log: EventLog) -> Held | None:
    db = log.db
    names = [r[0] for r in db.rows(f"SELECT DISTINCT event FROM {EVENTS_TABLE} ORDER BY 1")]
    if not names:  # no events
        none = np.zeros(0, np.int32)
        return Held(none, np.zeros(0, np.int64), none, np.zeros(0, np.int16), [], pa.array([], pa.string()), none)
    if len(names) <= LISTED_NAMES_UP_TO:
        e_sql, params = "CAST(list_position($names, event) - 1 AS SMALLINT)", {"names": names}
    else:
        e_sql, params = "event", {}
    table = db.arrow(f"SELECT user_id AS k, session_id AS s, epoch_us(ts) AS t, row_no AS r, {e_sql} AS e "
                     f"FROM {EVENTS_TABLE}", params)
    if e_sql == "event":
        encoded = pc.dictionary_encode(table.column("e")).combine_chunks()
        names, e = encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False)
        e = e.astype(np.int16 if len(names) <= np.iinfo(np.int16).max else np.int32)
    else:
        e = table.column("e").to_numpy()
    k, t, r = table.column("k"), table.column("t").to_numpy(), table.column("r").to_numpy()
    runs = user_runs(k, t, r)
    if runs is None:  # not in the stored order: nothing is held (read from DuckDB)
        return None
    starts, user_ids = runs
    user = np.cumsum(starts, dtype=np.int32) - 1
    # sessions: a new one where the user or the session id changes; each is one run when there are as many
    # runs as distinct (user, session) pairs (the text is compared exactly, so no two sessions share a run)
    s = table.column("s")
    new_session = starts.copy()
    new_session[1:] |= pc.fill_null(pc.not_equal(s[1:], s[:-1]), False).to_numpy(zero_copy_only=False)
    sessions = int(new_session.sum())
    session = np.cumsum(new_session, dtype=np.int32) - 1 if sessions == log.report.sessions else None
    if len(r) and r.max() < np.iinfo(np.int32).max:
        r = r.astype(np.int32)
    return Held(user, t, r, e, names, user_ids, session)


def user_runs(k: pa.ChunkedArray | pa.Array, t: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, pa.Array] | None:
    """For rows of users ``k`` (text), times ``t`` and rows ``r`` in the events table's stored order: where
    each user's run starts (True) and the users in run order; None when the rows are not in that order.

    The order is checked, not assumed: users increasing (each user's events together), and within a user
    times nondecreasing, rows increasing where times tie.
    """
    starts = np.r_[True, pc.not_equal(k[1:], k[:-1]).to_numpy(zero_copy_only=False)]
    user_ids = k.take(pa.array(np.flatnonzero(starts)))
    user_ids = user_ids.combine_chunks() if isinstance(user_ids, pa.ChunkedArray) else user_ids
    users_increase = pc.all(pc.less(user_ids[:-1], user_ids[1:])).as_py() is not False  # None: one user
    later = (t[1:] > t[:-1]) | ((t[1:] == t[:-1]) & (r[1:] > r[:-1]))
    if not users_increase or not (later | starts[1:]).all():
        return None
    return starts, user_ids


def filtered(log: EventLog, held_events: Held, *columns: str) -> tuple[np.ndarray, ...]:
    """The held ``columns`` (``"e"``, ``"user"``, ``"t"``, …) of the events the log's filters keep.

    The columns of the latest filters are kept: a page's analyses ask for the same ones in turn (on the
    Retention page the cohorts and the lifecycle; each gather of 5.6M of 10M events took 0.02-0.03 s)."""
    keep = mask(log, held_events)
    if keep is None:
        return tuple(getattr(held_events, c) for c in columns)
    key = repr(log.filters)
    with _lock:
        kept_key, kept = held_events._filtered
        if kept_key != key:
            kept = {}
            held_events._filtered = (key, kept)

    def gathered(column: str) -> np.ndarray:
        values = getattr(held_events, column)[keep]
        values.flags.writeable = False  # shared by the analyses that ask next
        return values

    # two threads may gather the same column at once: both get equal arrays, one is kept
    return tuple(kept[c] if c in kept else kept.setdefault(c, gathered(c)) for c in columns)


def of_names(log: EventLog, select: str, names: list[str], params: dict | None = None):
    """``SELECT {select}`` evaluated once per name, with the name as ``event`` (a DataFrame, one row per
    name in the order given): the stage conditions and cleaning rules of a few names, not of every event."""
    return log.db.run(f"SELECT {select} FROM (SELECT unnest($names) AS event, generate_subscripts($names, 1) AS i) "
                      "ORDER BY i", {**(params or {}), "names": names})


def mask(log: EventLog, held_events: Held) -> np.ndarray | None:
    """Which held events the log's filters keep (None: every one), computed by DuckDB over the events
    table in its stored order, and kept for the last :data:`MASKS_KEPT` filters."""
    if not log.filters.active():
        return None
    key = repr(log.filters)
    masks = held_events._masks
    with _lock:
        if key in masks:
            masks.move_to_end(key)
            return masks[key]
    where, params = log.filters.where()
    kept = log.db.arrow(f"SELECT coalesce({where}, false) AS m FROM {EVENTS_TABLE}", params).column("m")
    values = kept.to_numpy(zero_copy_only=False)
    if len(values) != len(held_events.t):
        raise RuntimeError("the events table changed after it was held")
    with _lock:
        masks[key] = values
        while len(masks) > MASKS_KEPT:
            masks.popitem(last=False)
    return values


def groups(log: EventLog, held_events: Held, column: str) -> tuple[np.ndarray, pa.Array] | None:
    """A breakdown column of the held events as text: (each event's number in the values, the values, the
    last of which is null); read once per column and kept. None for a column of more than
    :data:`GROUPS_UP_TO` values (read from DuckDB with the events instead)."""
    with _lock:
        if column in held_events._groups:
            return held_events._groups[column]
    text = f"CAST({quote_ident(column)} AS VARCHAR)"
    values = [v for (v,) in log.db.rows(
        f"SELECT DISTINCT {text} FROM {EVENTS_TABLE} WHERE {text} IS NOT NULL LIMIT $n", {"n": GROUPS_UP_TO + 1})]
    found = None
    if not values:  # every value missing (an empty list would not bind in SQL)
        found = np.zeros(len(held_events.t), dtype=np.int16), pa.array([None], pa.string())
    elif len(values) <= GROUPS_UP_TO:
        codes = log.db.arrow(f"SELECT CAST(coalesce(list_position($v, {text}), $none) - 1 AS SMALLINT) AS g "
                             f"FROM {EVENTS_TABLE}", {"v": values, "none": len(values) + 1}).column("g").to_numpy()
        if len(codes) != len(held_events.t):
            raise RuntimeError("the events table changed after it was held")
        found = codes, pa.array([*values, None], pa.string())
    with _lock:
        held_events._groups[column] = found
    return found
