"""A loaded log's events held in memory (``journey.resident``, ADR 0018): the held columns, worked out by
hand on eight rows, and the analyses that read them equal to the same analyses read from DuckDB."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import journey
from journey import resident

# file order is not the stored order: u1's first view comes third; u2's cart is 40 minutes after its view
# (a new session after 30 minutes without an event)
ROWS = pd.DataFrame(
    [
        ("u2", "2024-05-20 10:00:00", "view", "mobile"),
        ("u1", "2024-05-20 10:05:00", "view", "mobile"),
        ("u1", "2024-05-20 10:00:00", "view", "desktop"),
        ("u1", "2024-05-20 10:10:00", "cart", "desktop"),
        ("u1", "2024-05-20 10:20:00", "buy", "desktop"),
        ("u2", "2024-05-20 10:40:00", "cart", "mobile"),
        ("u3", "2024-05-20 09:00:00", "cart", None),
        ("u3", "2024-05-20 09:05:00", "buy", None),
    ],
    columns=["user_id", "timestamp", "event", "device"],
)
STEPS = ["view", "cart", "buy"]
# four users over five weeks from Monday 29 April 2024 (u2's first view is on a Sunday), for retention
WEEKS = pd.DataFrame([("u1", "2024-05-06 10:00", "view"), ("u1", "2024-05-14 10:00", "purchase"),
                      ("u1", "2024-05-27 10:00", "view"), ("u2", "2024-05-12 23:00", "view"),
                      ("u2", "2024-05-13 01:00", "view"), ("u3", "2024-05-20 12:00", "purchase"),
                      ("u4", "2024-04-30 09:00", "view"), ("u4", "2024-05-01 09:00", "view")],
                     columns=["user_id", "timestamp", "event"])


@pytest.fixture
def log():
    return journey.load(ROWS)


def not_held(log):
    """The same log with its events no longer held: analyses read them from DuckDB."""
    log._memo.pop(("held",))
    log.db._frames.clear()
    log.db._kept.clear()
    return log


def test_the_held_events_are_the_events_table_in_user_time_row_order(log):
    held = resident.held(log)
    assert held.user_ids.to_pylist() == ["u1", "u2", "u3"]
    assert held.user.tolist() == [0, 0, 0, 0, 1, 1, 2, 2]
    assert held.r.tolist() == [3, 2, 4, 5, 1, 6, 7, 8]
    assert held.names == ["buy", "cart", "view"]
    assert held.e.tolist() == [2, 2, 1, 0, 2, 1, 1, 0]
    minute = 60_000_000
    start = int(pd.Timestamp("2024-05-20 09:00:00").value // 1000)
    assert ((held.t - start) // minute).tolist() == [60, 65, 70, 80, 60, 100, 0, 5]
    assert held.session.tolist() == [0, 0, 0, 0, 1, 2, 3, 3]
    assert held.codes(["cart", "view"]).tolist() == [1, 1, 0, -1, 1, 0, 0, -1]


def test_a_filtered_view_picks_its_events_by_a_mask_kept_per_filters(log):
    held = resident.held(log)
    mobile = log.where(devices=["mobile"])
    assert resident.mask(log, held) is None
    assert resident.mask(mobile, held).tolist() == [False, True, False, False, True, True, False, False]
    assert resident.mask(mobile, held) is resident.mask(log.where(devices=["mobile"]), held)
    none = log.where(devices=["(none)"])  # a missing device is "(none)" to the filter
    assert resident.mask(none, held).tolist() == [False] * 6 + [True, True]


def test_the_latest_filters_columns_are_kept_for_the_next_analysis(log):
    """The mobile events' users and times, by hand; asked again (as the next analysis on a page asks), the
    same arrays, read-only; other filters get their own, and no filter the held arrays themselves."""
    held = resident.held(log)
    mobile = log.where(devices=["mobile"])
    user, t = resident.filtered(mobile, held, "user", "t")
    assert user.tolist() == [0, 1, 1] and t.tolist() == held.t[[1, 4, 5]].tolist()
    e, again = resident.filtered(log.where(devices=["mobile"]), held, "e", "user")
    assert again is user and not again.flags.writeable and e.tolist() == held.e[[1, 4, 5]].tolist()
    (desktop,) = resident.filtered(log.where(devices=["desktop"]), held, "user")
    assert desktop.tolist() == [0, 0, 0] and resident.filtered(mobile, held, "user")[0] is not user
    assert resident.filtered(log, held, "user")[0] is held.user


def test_a_breakdown_column_is_held_as_numbers_with_null_last(log):
    codes, values = resident.groups(log, resident.held(log), "device")
    assert values.to_pylist()[-1] is None
    assert [values[int(c)].as_py() for c in codes] == ["desktop", "mobile", "desktop", "desktop", "mobile",
                                                       "mobile", None, None]


def test_funnels_on_held_events_worked_out_by_hand_and_equal_to_duckdb(log):
    """u1: view 10:00 (desktop), view 10:05 (mobile), cart 10:10, buy 10:20: all three steps within an
    hour. u2: view 10:00, cart 10:40 (mobile): two. u3 never views, so reaches no step in any order. On
    mobile only, u1 keeps its 10:05 view alone. Strict: u1's 10:00 view is followed by a view, its 10:05
    view by cart then buy. By device, a user counts under the device of its best chain's start: u1
    desktop."""
    mobile = log.where(devices=["mobile"])

    def answers():
        by = journey.funnel(log, STEPS, window="1h", by="device")
        mobile_by = journey.funnel(mobile, STEPS, window="1h", by="device")
        return (journey.funnel(log, STEPS, window="1h")["users"].tolist(),
                journey.funnel(mobile, STEPS, window="1h")["users"].tolist(),
                journey.funnel(log, STEPS, window="1h", order="strict")["users"].tolist(),
                journey.funnel(log, STEPS, window="1h", order="any")["users"].tolist(),
                {d: g["users"].tolist() for d, g in by.groupby("group", sort=True)},
                {d: g["users"].tolist() for d, g in mobile_by.groupby("group", sort=True)})

    held = answers()
    assert held == ([2, 2, 1], [2, 1, 0], [2, 2, 1], [2, 2, 1],
                    {"desktop": [1, 1, 1], "mobile": [1, 1, 0]}, {"mobile": [2, 1, 0]})
    not_held(log)
    assert answers() == held


def test_paths_and_transitions_on_held_events_equal_to_duckdb(log):
    def answers():
        out = []
        for view in (log, log.where(devices=["mobile"])):
            for unit in ("users", "sessions"):
                out.append(journey.transitions(view, unit=unit).to_dict("records"))
                nodes, links = journey.paths(view, steps=3, unit=unit)
                out.append((nodes.to_dict("records"), links.to_dict("records")))
        return out

    held = answers()
    # by session, u2's view and cart are two sessions: the only view → cart is u1's (and on mobile, none)
    assert [(r["source"], r["target"], r["users"]) for r in held[2]] == [("cart", "buy", 2), ("view", "cart", 1)]
    assert held[6] == []
    not_held(log)
    assert answers() == held


def test_logs_read_in_place_over_the_bound_or_out_of_order_are_not_held(tmp_path, monkeypatch):
    path = tmp_path / "rows.parquet"
    ROWS.to_parquet(path)
    assert resident.held(journey.load(str(path), in_place=True)) is None
    monkeypatch.setattr(resident, "HELD_UP_TO", 7)
    over = journey.load(ROWS)
    assert resident.held(over) is None
    assert journey.funnel(over, STEPS, window="1h")["users"].tolist() == [2, 2, 1]
    monkeypatch.undo()
    log = journey.load(ROWS)
    log.db.execute("CREATE OR REPLACE TABLE events AS SELECT * FROM events ORDER BY row_no")
    assert resident._read(log) is None


def test_sessions_that_interleave_and_breakdowns_of_many_values_are_read_from_duckdb(monkeypatch):
    """Two tabs: s1 view, s2 view, s1 buy, s2 buy: each session's events are not together, so sessions
    are not held (paths by session read from DuckDB, each tab view → buy); users are."""
    tabs = journey.load(pd.DataFrame({"user_id": ["u"] * 4, "session_id": ["s1", "s2", "s1", "s2"],
                                      "event": ["view", "view", "buy", "buy"],
                                      "timestamp": [f"2024-05-20 09:0{i}:00" for i in range(4)]}))
    held = resident.held(tabs)
    assert held.session is None and held.user.tolist() == [0, 0, 0, 0]
    nodes, _ = journey.paths(tabs, steps=2, unit="sessions")
    assert nodes[["step", "event", "users"]].values.tolist() == [[1, "view", 2], [2, "buy", 2]]

    monkeypatch.setattr(resident, "GROUPS_UP_TO", 1)
    log = journey.load(ROWS)
    assert resident.groups(log, resident.held(log), "device") is None
    by = journey.funnel(log, STEPS, window="1h", by="device")
    assert {d: g["users"].tolist() for d, g in by.groupby("group")} == {"desktop": [1, 1, 1], "mobile": [1, 1, 0]}
    assert np.array_equal(resident.held(log).user, [0, 0, 0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize("order", ["ordered", "strict"])
def test_held_events_in_two_parts_keep_their_rows(log, monkeypatch, order):
    """Split in two parts at the user boundary (u1 | u2, u3), each part's chains keep their source rows:
    for each unit, the row of the earliest chain's event at each step (u1's first view is row 3, its cart
    and buy rows 4 and 5; u2's view and cart rows 1 and 6)."""
    from journey import chains

    monkeypatch.setattr(chains, "SPLIT_FROM", 2)
    name = chains.chain_units(log, STEPS, 3600, [], "users", None, order)
    rows = log.db.run(f"SELECT k, ar_1, ar_2, ar_3 FROM {name} ORDER BY k").astype(object)
    assert rows.where(rows.notna(), None).values.tolist() == [["u1", 3, 4, 5], ["u2", 1, 6, None]]


def test_event_stages_counted_from_held_events_by_hand_and_equal_to_duckdb(log):
    """Events and distinct users of each name: cart 3 events of 3 users, view 3 of 2 (u1 twice), buy 2 of
    2; on mobile, view 2 of 2 (u1's 10:05, u2's) and cart 1 of 1."""
    def answers():
        return [journey.event_stages(view)[["event", "events", "users", "stage"]].values.tolist()
                for view in (log, log.where(devices=["mobile"]), log.where(devices=["tablet"]))]

    held = answers()
    assert [row[:3] for row in held[0]] == [["cart", 3, 3], ["view", 3, 2], ["buy", 2, 2]]
    assert [row[:3] for row in held[1]] == [["view", 2, 2], ["cart", 1, 1]]
    assert held[2] == []
    not_held(log)
    assert answers() == held


def test_masks_and_breakdowns_come_in_the_held_order_over_many_row_groups():
    """DuckDB scans a table of several row groups on every core; a plain scan keeps the stored order, so a
    date filter's mask is the held times' own test, and a breakdown's numbers follow the held users."""
    n = 300_000
    rng = np.random.default_rng(7)
    minutes = rng.integers(0, 60 * 24 * 20, n)
    users = rng.integers(0, 20_000, n)
    frame = pd.DataFrame({"user_id": [f"u{u:05d}" for u in users],
                          "timestamp": pd.Timestamp("2024-05-01") + pd.to_timedelta(minutes, unit="min"),
                          "event": np.where(minutes % 3 == 0, "buy", "view"),
                          "device": [f"d{u % 7}" for u in users]})
    log = journey.load(frame)
    held = resident.held(log)
    import datetime as dt

    week = log.where(start=dt.date(2024, 5, 6), end=dt.date(2024, 5, 12))
    lo = pd.Timestamp("2024-05-06").value // 1000
    hi = pd.Timestamp("2024-05-13").value // 1000
    assert np.array_equal(resident.mask(week, held), (held.t >= lo) & (held.t < hi))
    codes, values = resident.groups(log, held, "device")
    user_no = np.array([int(u[1:]) for u in held.user_ids.to_pylist()])[held.user]
    assert [values[int(c)].as_py() for c in codes[:: 997]] == [f"d{u % 7}" for u in user_no[:: 997]]


def test_retention_from_held_events_by_hand_and_equal_to_duckdb():
    """Weeks from Monday: u4 starts the week of 29 April (and returns in it, 1 May: April, then May); u1
    the week of 6 May and comes back the weeks of 13 and 27 May (periods 1 and 3); u2 on Sunday 12 May
    (the same week) and back on Monday 13 May; u3 the week of 20 May, once. The last week is 27 May."""
    log = journey.load(WEEKS)

    def answers():
        def cells(m):
            return {(c.strftime("%m-%d"), int(p)): (int(s), int(u)) for c, p, s, u in
                    m[["cohort", "period", "size", "users"]].itertuples(index=False)}
        return (cells(journey.retention_matrix(log, period="week")),
                cells(journey.retention_matrix(log, period="week", cumulative=True)),
                cells(journey.retention_matrix(log, period="month")),
                cells(journey.retention_matrix(log, period="week", start="first_purchase", return_event="purchase")),
                cells(journey.retention_matrix(log.where(devices=["(none)"]), period="week", return_event="view")),
                cells(journey.retention_matrix(log, period="week", start="first_purchase")))

    held = answers()
    assert held[0] == {("04-29", 0): (1, 1), ("04-29", 1): (1, 0), ("04-29", 2): (1, 0), ("04-29", 3): (1, 0),
                       ("04-29", 4): (1, 0),
                       ("05-06", 0): (2, 2), ("05-06", 1): (2, 2), ("05-06", 2): (2, 0), ("05-06", 3): (2, 1),
                       ("05-20", 0): (1, 1), ("05-20", 1): (1, 0)}
    assert {k: v for k, v in held[1].items() if k[0] == "05-06"} == {
        ("05-06", 0): (2, 2), ("05-06", 1): (2, 2), ("05-06", 2): (2, 1), ("05-06", 3): (2, 1)}
    assert held[2] == {("04-01", 0): (1, 1), ("04-01", 1): (1, 1), ("05-01", 0): (3, 3)}
    # first purchases: u1 the week of 13 May, u3 of 20 May; no one buys again
    assert held[3] == {("05-13", 0): (1, 1), ("05-13", 1): (1, 0), ("05-13", 2): (1, 0), ("05-20", 0): (1, 1),
                       ("05-20", 1): (1, 0)}
    # returns are views only: u3 (a purchase, its cohort's period 0 by definition) never views
    assert held[4][("05-20", 0)] == (1, 1) and held[4][("05-06", 3)] == (2, 1)
    # any event after the first purchase: u1's view of 6 May came before it and does not count, its view of
    # 27 May is period 2; u2 and u4 never buy, so none of their events count
    assert held[5] == {("05-13", 0): (1, 1), ("05-13", 1): (1, 0), ("05-13", 2): (1, 1), ("05-20", 0): (1, 1),
                       ("05-20", 1): (1, 0)}
    not_held(log)
    assert answers() == held


def test_a_breakdown_column_with_every_value_missing(log):
    """A column with no value at all (an empty list of values, which SQL cannot bind) is held as one null
    group: every user is counted under it, as the DuckDB read counts them."""
    log = journey.load(ROWS.assign(coupon=None))
    codes, values = resident.groups(log, resident.held(log), "coupon")
    assert values.to_pylist() == [None] and codes.tolist() == [0] * 8
    by = journey.funnel(log, STEPS, window="1h", by="coupon")
    got = by[["group", "users"]].values.tolist()
    assert [users for _, users in got] == [2, 2, 1]
    not_held(log)
    assert journey.funnel(log, STEPS, window="1h", by="coupon")[["group", "users"]].values.tolist() == got


def test_lifecycle_from_held_events_by_hand_and_equal_to_duckdb():
    """The rows of the retention test above (WEEKS). Weeks from Monday: u4 is active the week of 29 April; u1 and
    u2 the week of 6 May (u2 on Sunday 12 May) and of 13 May; u3 the week of 20 May; u1 again that of 27
    May. A dormant row is the week after one a user was active in, when the user is not active then and
    someone is (no row for 3 June, which has no event)."""
    log = journey.load(WEEKS)

    def answers():
        def cells(view, period):
            lc = journey.lifecycle(view, period=period)
            return {(r.period.strftime("%m-%d"), r.status): int(r.users) for r in lc.itertuples()}
        return [cells(log, "week"), cells(log, "day"), cells(log, "month"),
                cells(log.where(start=dt.date(2024, 5, 10)), "week"), cells(log.where(users=["nobody"]), "week")]

    held = answers()
    assert held[0] == {("04-29", "new"): 1, ("05-06", "new"): 2, ("05-06", "dormant"): -1,
                       ("05-13", "returning"): 2, ("05-20", "new"): 1, ("05-20", "dormant"): -2,
                       ("05-27", "resurrecting"): 1, ("05-27", "dormant"): -1}
    # by day: u2 is dormant on 14 May (active the 13th); no one is active the day after 1, 6, 20 or 27 May
    assert held[1] == {("04-30", "new"): 1, ("05-01", "returning"): 1, ("05-06", "new"): 1, ("05-12", "new"): 1,
                       ("05-13", "returning"): 1, ("05-14", "resurrecting"): 1, ("05-14", "dormant"): -1,
                       ("05-20", "new"): 1, ("05-27", "resurrecting"): 1}
    assert held[2] == {("04-01", "new"): 1, ("05-01", "new"): 3, ("05-01", "returning"): 1}
    # from 10 May: u1 is new the week of 13 May, u2 (Sunday 12 May) the week before
    assert held[3] == {("05-06", "new"): 1, ("05-13", "new"): 1, ("05-13", "returning"): 1, ("05-20", "new"): 1,
                       ("05-20", "dormant"): -2, ("05-27", "resurrecting"): 1, ("05-27", "dormant"): -1}
    assert held[4] == {}
    not_held(log)
    assert answers() == held
