"""Drop-off analyses on rows checked by hand."""


import pandas as pd
import pytest

import journey
from journey.dropoff import (average_order_value, bounce_rate, cart_abandonment, compare_groups, correlation,
                             dropoff_paths, opportunities, time_on_page)
from journey.funnel import funnel

T0 = pd.Timestamp("2024-05-20 09:00:00")


def make_log(rows, columns=("user_id", "timestamp", "event", "page", "device", "order_id", "revenue")):
    data = [(r[0], (T0 + pd.Timedelta(minutes=r[1])).isoformat(sep=" "), *r[2:]) for r in rows]
    width = max(len(r) for r in data)
    return journey.load(pd.DataFrame([list(r) + [None] * (width - len(r)) for r in data], columns=list(columns[:width])))


@pytest.fixture(scope="module")
def shop():
    return make_log([
        # a: cart then buys (mobile)
        ("a", 0, "view", "/p/1", "mobile"), ("a", 1, "add_to_cart", "/p/1", "mobile"),
        ("a", 2, "purchase", "/done", "mobile", "o1", 100.0),
        # b: cart, then an error, leaves (mobile)
        ("b", 0, "view", "/p/1", "mobile"), ("b", 1, "add_to_cart", "/p/1", "mobile"),
        ("b", 2, "error", "/pay", "mobile"),
        # c: cart, leaves at once (desktop)
        ("c", 0, "view", "/p/2", "desktop"), ("c", 3, "add_to_cart", "/p/2", "desktop"),
        # d: views twice, no cart (desktop); two sessions: 0 and 60 minutes
        ("d", 0, "view", "/p/3", "desktop"), ("d", 60, "view", "/p/3", "desktop"),
        # e: buys without a cart event, 2 orders worth 50 (desktop)
        ("e", 0, "view", "/p/4", "desktop"), ("e", 5, "purchase", "/done", "desktop", "o2", 30.0),
        ("e", 6, "purchase", "/done", "desktop", "o3", 20.0),
    ])


def test_cart_abandonment(shop):
    df = cart_abandonment(shop)
    assert df[["carted", "purchased", "abandoned"]].iloc[0].tolist() == [3, 1, 2]
    assert df["abandonment_rate"][0] == pytest.approx(2 / 3)


def test_cart_abandonment_by_device(shop):
    df = cart_abandonment(shop, by="device").set_index("group")
    assert df.loc["mobile", "abandonment_rate"] == 0.5
    assert df.loc["desktop", "abandonment_rate"] == 1.0


def test_cart_abandonment_seed_example():
    """The seed article: 100 add to cart, 50 buy -> 50 %."""
    rows = [(f"u{i}", 0, "add_to_cart") for i in range(100)] + [(f"u{i}", 1, "purchase") for i in range(50)]
    assert cart_abandonment(make_log(rows))["abandonment_rate"][0] == 0.5


def test_bounce_rate(shop):
    # sessions: a, b, c, d#1 (1 event), d#2 (1 event), e -> 2 of 6 bounced
    df = bounce_rate(shop)
    assert df[["sessions", "bounced"]].iloc[0].tolist() == [6, 2]
    assert df["bounce_rate"][0] == pytest.approx(1 / 3)


def test_time_on_page(shop):
    df = time_on_page(shop).set_index("page")
    # /p/1: a view 60 s, a cart 60 s, b view 60 s, b cart 60 s
    assert df.loc["/p/1", "views"] == 4 and df.loc["/p/1", "mean_seconds"] == 60.0
    # /p/2: c view 180 s; c's cart ends the session: an exit, not timed
    assert df.loc["/p/2", ["views", "timed_views", "exits"]].tolist() == [2, 1, 1]
    assert df.loc["/p/2", "median_seconds"] == 180.0


def test_dropoff_paths_after_the_cart(shop):
    out = dropoff_paths(shop, ["view", "add_to_cart", "purchase"], 3)
    assert out["next"].set_index("value")["users"].to_dict() == {"(left)": 1, "error": 1}
    # c left right after the cart: the cart is their last event, on /p/2
    assert out["last"].set_index("value")["users"].to_dict() == {"add_to_cart": 1, "error": 1}
    assert out["exit_pages"].set_index("value")["users"].to_dict() == {"/p/2": 1, "/pay": 1}


def test_dropoff_paths_at_the_cart_step(shop):
    out = dropoff_paths(shop, ["view", "add_to_cart", "purchase"], 2)
    # d and e viewed and never carted: d viewed again, e purchased
    assert out["next"].set_index("value")["users"].to_dict() == {"purchase": 1, "view": 1}
    assert out["last"].set_index("value")["users"].to_dict() == {"purchase": 1, "view": 1}


def test_average_order_value_and_opportunities(shop):
    aov = average_order_value(shop)
    assert aov == pytest.approx(50.0)  # 150 over 3 orders
    df = opportunities(funnel(shop, ["view", "add_to_cart", "purchase"]), aov)
    # 5 view, 3 cart, 1 purchase: 2 lost at cart, 2 lost at purchase; ties ranked by step order
    assert df[["step", "users_lost", "revenue_at_risk", "rank"]].values.tolist() == [
        ["add_to_cart", 2, 100.0, 1], ["purchase", 2, 100.0, 2]]


def test_correlation_counts_and_odds(shop):
    df = correlation(shop, ["view", "purchase"], min_units=1).set_index(["kind", "value"])
    # converters: a, e; droppers: b, c, d
    assert df.loc[("event", "add_to_cart"), ["converters", "droppers"]].tolist() == [1, 2]
    assert df.loc[("event", "error"), ["converters", "droppers"]].tolist() == [0, 1]
    # odds ratio with 0.5 added: (1.5 * 1.5) / (2.5 * 1.5) = 0.6
    assert df.loc[("event", "add_to_cart"), "odds_ratio"] == pytest.approx(0.6)
    assert df.loc[("device", "mobile"), ["converters", "droppers"]].tolist() == [1, 1]
    assert df.loc[("event", "error"), "direction"] == "drop-off"


def test_compare_groups_flags_significant_differences():
    rows = []
    for i in range(200):  # mobile converts 20 %, desktop 60 %
        rows.append((f"m{i}", 0, "view", None, "mobile"))
        rows.append((f"d{i}", 0, "view", None, "desktop"))
        if i < 40:
            rows.append((f"m{i}", 1, "buy", None, "mobile"))
        if i < 120:
            rows.append((f"d{i}", 1, "buy", None, "desktop"))
    log = make_log(rows)
    out = compare_groups(funnel(log, ["view", "buy"], by="device"), "mobile", "desktop")
    assert out["rate_a"][0] == pytest.approx(0.2) and out["rate_b"][0] == pytest.approx(0.6)
    assert out["difference"][0] == pytest.approx(-0.4)
    assert bool(out["significant"][0]) and out["p_value"][0] < 1e-10
