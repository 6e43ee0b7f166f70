"""Sessions: a new one after a gap without an event, unless the source names its sessions (DESIGN.md).

A user's session number counts from 1 in event order (time, then row); an event starts a new session when
it comes more than the gap after the user's previous event (compared in whole microseconds). The session
id is the source's where it has one, else ``<user>#<number>``.

Two ways to the same ids (ADR 0019):
- :func:`numbered_sql`, two window functions over the events, for a log read in place (a view) and a log
  over :data:`journey.resident.HELD_UP_TO` events, which DuckDB sorts on disk when it must;
- :func:`number_stored`, for a loaded log: the events table is written once, sorted, with the source's
  sessions, and the numbers of the rest are computed in numpy from its users and times read back in the
  stored order, then written in one UPDATE. Each window function re-sorted every event with all its
  columns: 10M events took 17.3 s to store, about 12.5 s this way.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .engine import Database, quote_ident
from .log import EVENTS_TABLE
from .resident import user_runs


def gap_microseconds(gap_minutes: float) -> float:
    """The session gap in microseconds."""
    return float(gap_minutes) * 60_000_000


def numbered_sql(source: str, columns: str, gap_us: float) -> str:
    """SQL selecting ``columns`` of ``source`` (a relation with ``source_session``), in which ``{session}``
    stands for the session id column, numbered with window functions."""
    session = "coalesce(source_session, user_id || '#' || session_no::VARCHAR) AS session_id,"
    return f"""
        WITH gaps AS (
            SELECT *,
                CASE WHEN lag(ts) OVER w IS NULL
                       OR epoch_us(ts) - epoch_us(lag(ts) OVER w) > {gap_us!r} THEN 1 ELSE 0 END AS new_session
            FROM {source} WINDOW w AS (PARTITION BY user_id ORDER BY ts, row_no)
        ), numbered AS (
            SELECT *, sum(new_session) OVER (PARTITION BY user_id ORDER BY ts, row_no
                                             ROWS UNBOUNDED PRECEDING) AS session_no
            FROM gaps
        )
        SELECT {columns.replace("{session}", session, 1)}
        FROM numbered
    """


def session_numbers(k: pa.ChunkedArray | pa.Array, t: np.ndarray, r: np.ndarray, gap_us: float) -> np.ndarray | None:
    """Each row's session number within its user, for rows of users ``k``, times ``t`` (µs) and rows ``r``
    in the stored (user, time, row) order; None when they are not in that order.

    >>> session_numbers(pa.array(["a", "a", "a", "b"]), np.array([0, 10, 100, 0]), np.arange(4), 50.0)
    array([1, 1, 2, 1], dtype=int32)
    """
    runs = user_runs(k, t, r)
    if runs is None:
        return None
    starts = runs[0]
    new = starts.copy()
    new[1:] |= (t[1:] - t[:-1]) > gap_us
    overall = np.cumsum(new, dtype=np.int64)  # sessions counted over every user
    first = np.flatnonzero(starts)
    before_user = np.repeat(overall[first] - 1, np.diff(np.r_[first, len(t)]))
    return (overall - before_user).astype(np.int32)


def number_stored(db: Database, gap_us: float) -> None:
    """Fill the session ids the events table (stored in (user, time, row) order) leaves NULL."""
    table = db.arrow(f"SELECT rowid AS i, user_id AS k, epoch_us(ts) AS t, row_no AS r, session_id IS NULL AS m "
                     f"FROM {EVENTS_TABLE}")
    missing = table.column("m").to_numpy(zero_copy_only=False)
    if not missing.any():
        return
    numbers = session_numbers(table.column("k"), table.column("t").to_numpy(), table.column("r").to_numpy(), gap_us)
    events = quote_ident(EVENTS_TABLE)
    if numbers is None:  # not in the stored order (never seen): the window functions, over the table
        source = f"(SELECT *, rowid AS __i, session_id AS source_session FROM {events})"
        db.execute(f"UPDATE {events} SET session_id = s.session_id "
                   f"FROM ({numbered_sql(source, '__i, {session}', gap_us)}) s "
                   f"WHERE {events}.rowid = s.__i AND {events}.session_id IS NULL")
        return
    found = pa.table({"i": table.column("i").filter(pa.array(missing)), "n": pa.array(numbers[missing])})
    del table, numbers  # the users' text, before DuckDB's update takes its memory
    cur = db.cursor()
    try:
        cur.register("__session_numbers", found)
        cur.execute(f"UPDATE {events} SET session_id = {events}.user_id || '#' || CAST(s.n AS VARCHAR) "
                    f"FROM __session_numbers s WHERE {events}.rowid = s.i")
        cur.unregister("__session_numbers")
        cur.execute("CHECKPOINT")
    finally:
        cur.close()
