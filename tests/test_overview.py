"""Overview numbers on a handful of rows, checked by hand."""

import datetime as dt

import pytest

import journey

ROWS = (
    "user_id,timestamp,event,channel,device,order_id,revenue\n"
    "u1,2024-03-01 10:00,page_view,email,mobile,,\n"         # u1: visits, buys twice (2 orders)
    "u1,2024-03-01 10:10,Purchase,email,mobile,o1,10\n"
    "u1,2024-03-02 09:00,purchase,email,mobile,o2,5.5\n"
    "u2,2024-03-01 11:00,page_view,social,desktop,,\n"       # u2: visits twice, 2 sessions
    "u2,2024-03-01 13:00,page_view,social,desktop,,\n"
    "u3,2024-03-02 12:00,page_view,email,desktop,,\n"        # u3: buys once; the order has two lines
    "u3,2024-03-02 12:05,Order Completed,email,desktop,o3,7\n"
    "u3,2024-03-02 12:05,Order Completed,email,desktop,o3,3\n"
    "u4,2024-03-03 08:00,product_view,,mobile,,99\n"          # revenue on a non-purchase event: not counted
)


@pytest.fixture
def log(write):
    return journey.load(write("o.csv", ROWS))


def test_overview_counts(log):
    row = journey.overview(log).iloc[0]
    assert (row.users, row.events, row.sessions, row.orders, row.buyers) == (4, 9, 6, 3, 2)
    assert row.revenue == pytest.approx(25.5)
    assert row.conversion_rate == pytest.approx(0.5)
    assert row.first_ts.to_pydatetime() == dt.datetime(2024, 3, 1, 10, 0)


def test_overview_respects_filters(log):
    row = journey.overview(log.where(devices=["mobile"])).iloc[0]
    assert (row.users, row.events, row.buyers) == (2, 4, 1)
    row = journey.overview(log.where(channels=["(none)"])).iloc[0]
    assert (row.users, row.events) == (1, 1)
    row = journey.overview(log.where(start=dt.date(2024, 3, 2), end=dt.date(2024, 3, 2))).iloc[0]
    assert (row.users, row.events, row.orders) == (2, 4, 2)


def test_events_per_day(log):
    df = journey.events_per_day(log)
    assert df["events"].tolist() == [4, 4, 1]
    assert df["users"].tolist() == [2, 2, 1]


def test_top_events_ties_broken_by_name(log):
    df = journey.top_events(log, n=3)
    assert df["event"].tolist() == ["page_view", "Order Completed", "Purchase"]
    assert df["events"].tolist() == [4, 2, 1]
    assert df["user_share"].tolist() == pytest.approx([0.75, 0.25, 0.25])


def test_filter_values_are_bound_not_pasted(log):
    hostile = "x'); DROP TABLE events; --"
    assert journey.overview(log.where(channels=[hostile])).iloc[0].events == 0
    assert journey.overview(log).iloc[0].events == 9
