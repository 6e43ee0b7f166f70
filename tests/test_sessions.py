"""Sessions (``journey.sessions``, ADR 0019): numbered in numpy for a loaded log, by window functions for a
log read in place, a log over the held bound, or a table not stored in order; each way worked out by hand
on the same rows."""

import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import journey
from journey import sessions
from journey.engine import Database

# file order is not event order. The gap is 30 minutes: a gap of exactly 30 minutes stays in the session
# (also with fractions of a second), one microsecond more starts a new one. Rows 3 and 4 tie on time
# (row order breaks the tie). u2's source names some sessions: those keep their name, the others are
# numbered over all of u2's events.
ROWS = pd.DataFrame(
    [
        ("u1", "2024-03-01 10:30:00.250000", "view", None),      # row 1: 30 min after row 2 -> same session
        ("u1", "2024-03-01 10:00:00.250000", "view", None),      # row 2: u1's first event
        ("u1", "2024-03-01 11:00:00.250001", "cart", None),      # row 3: 30 min + 1 µs after row 1 -> #2
        ("u1", "2024-03-01 11:00:00.250001", "buy", None),       # row 4: same time as row 3, after it
        ("u2", "2024-03-02 09:00:00", "view", "web-7"),          # row 5: named by the source
        ("u2", "2024-03-02 09:10:00", "view", None),             # row 6: session 1 of u2 (by time)
        ("u2", "2024-03-02 12:00:00", "cart", None),             # row 7: after 170 min -> u2#2
        ("u0", "2024-03-01 23:59:59", "view", None),             # row 8: u0 sorts first
    ],
    columns=["user_id", "timestamp", "event", "session_id"],
)
# (row_no, session_id), worked out by hand, in stored (user, time, row) order
EXPECTED = [(8, "u0#1"), (2, "u1#1"), (1, "u1#1"), (3, "u1#2"), (4, "u1#2"),
            (5, "web-7"), (6, "u2#1"), (7, "u2#2")]


def stored_sessions(log):
    return [tuple(r) for r in log.db.rows("SELECT row_no, session_id FROM events ORDER BY rowid")]


def test_loaded_log_numbered_in_numpy(tmp_path):
    log = journey.load(ROWS)
    assert stored_sessions(log) == EXPECTED
    assert log.report.sessions == 6  # u0#1, u1#1, u1#2, web-7, u2#1, u2#2


def test_read_in_place_the_same(tmp_path):
    path = tmp_path / "s.parquet"
    ROWS.to_parquet(path)
    log = journey.load(str(path), in_place=True)
    got = [tuple(r) for r in log.db.rows("SELECT row_no, session_id FROM events ORDER BY user_id, ts, row_no")]
    assert got == EXPECTED
    assert log.report.sessions == 6


def test_over_the_held_bound_the_same(monkeypatch):
    monkeypatch.setattr(sys.modules["journey.load"], "HELD_UP_TO", 3)  # 8 rows: the window functions' way
    log = journey.load(ROWS)
    assert stored_sessions(log) == EXPECTED


def test_another_gap():
    log = journey.load(ROWS, session_gap_minutes=5)
    # u1: 10:00 -> 10:30 (new) -> 11:00 (new, tie kept together); u2: 09:00, 09:10 (new), 12:00 (new)
    assert stored_sessions(log) == [(8, "u0#1"), (2, "u1#1"), (1, "u1#2"), (3, "u1#3"), (4, "u1#3"),
                                    (5, "web-7"), (6, "u2#2"), (7, "u2#3")]


def test_numbers_by_hand():
    k = pa.chunked_array([["a", "a"], ["a", "b", "c", "c"]])  # in chunks, as DuckDB hands them over
    t = np.array([0, 50, 101, 0, 7, 7])
    r = np.array([1, 2, 3, 4, 6, 5])  # c's rows are not in order where the times tie
    assert sessions.session_numbers(k, t, r, 50.0) is None
    r[4:] = [5, 6]
    assert sessions.session_numbers(k, t, r, 50.0).tolist() == [1, 1, 2, 1, 1, 1]


def test_table_not_stored_in_order_numbered_by_windows(tmp_path):
    db = Database()
    frame = pd.DataFrame({
        "row_no": [3, 1, 2, 4],
        "user_id": ["a", "a", "a", "b"],
        "ts": pd.to_datetime(["2024-01-01 12:00", "2024-01-01 10:00", "2024-01-01 10:20", "2024-01-01 10:00"]),
        "session_id": [None, None, "crm-1", None],
    })
    db.register("events", frame)  # a user's events out of time order: not the stored order
    sessions.number_stored(db, sessions.gap_microseconds(30))
    got = dict(db.rows("SELECT row_no, session_id FROM events"))
    assert got == {1: "a#1", 2: "crm-1", 3: "a#2", 4: "b#1"}
    db.close()


@pytest.mark.parametrize("bad_row", [("u9", "not a time", "view", None), (None, "2024-03-01 10:00:00", "view", None)])
def test_rejected_rows_still_kept(bad_row):
    rows = pd.concat([ROWS, pd.DataFrame([bad_row], columns=ROWS.columns)], ignore_index=True)
    log = journey.load(rows)
    assert stored_sessions(log) == EXPECTED
    assert log.report.rows_read == 9 and log.report.rows_rejected == 1
    assert log.rejects()["row_no"].tolist() == [9]


def test_every_row_loaded_no_rejects():
    log = journey.load(ROWS)
    assert log.report.rows_rejected == 0 and log.rejects().empty
