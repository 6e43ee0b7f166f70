"""The five-stage journey funnel and the stage map, on rows checked by hand."""

import pandas as pd
import pytest

import journey
from journey.errors import JourneyError
from journey.stages import StageMap, event_stages, stage_funnel, stage_trend

T0 = pd.Timestamp("2024-05-20 09:00:00")

ROWS = [
    # u1: aware only
    ("u1", 0, "page_view", None, None, "email"),
    # u2: considers
    ("u2", 0, "page_view", None, None, "social"), ("u2", 2, "Product View", None, None, "social"),
    # u3: buys once (no consideration event logged), then refers a friend: advocacy
    ("u3", 0, "page_view", None, None, "email"), ("u3", 10, "Order Completed", "o1", None, "email"),
    ("u3", 100, "referral", None, None, "email"),
    # u4: considers, buys twice: retention
    ("u4", 0, "search", None, None, "email"), ("u4", 5, "purchase", "o2", None, "email"),
    ("u4", 60 * 24 * 10, "purchase", "o3", None, "email"),
    # u5: buys, one order in two lines (not a second order), NPS 10: advocacy
    ("u5", 0, "add_to_cart", None, None, "social"), ("u5", 4, "purchase", "o4", None, "social"),
    ("u5", 4, "purchase", "o4", None, "social"), ("u5", 30, "nps_answer", None, 10, "social"),
    # u6: a review before buying is not advocacy; NPS 8 is not a promoter
    ("u6", 0, "review_written", None, None, "social"), ("u6", 1, "purchase", "o5", None, "social"),
    ("u6", 2, "nps_answer", None, 8, "social"),
]


@pytest.fixture(scope="module")
def log():
    df = pd.DataFrame(
        [(u, (T0 + pd.Timedelta(minutes=m)).isoformat(sep=" "), e, o, s, c) for u, m, e, o, s, c in ROWS],
        columns=["user_id", "timestamp", "event", "order_id", "score", "channel"],
    )
    return journey.load(df)


def test_five_stages_at_or_beyond(log):
    df = stage_funnel(log)
    assert df["stage"].tolist() == ["awareness", "consideration", "purchase", "retention", "advocacy"]
    # furthest: u1 aware, u2 considered, u6 purchase, u4 retention, u3 + u5 advocacy
    assert df["users"].tolist() == [6, 5, 4, 3, 2]
    # own events: consideration u2, u4, u5 (a review written is advocacy, not consideration)
    assert df["own_users"].tolist() == [6, 3, 4, 1, 2]
    assert df["dropped"].tolist() == [0, 1, 1, 1, 1]
    assert df["conversion_from_previous"].tolist() == pytest.approx([1, 5 / 6, 4 / 5, 3 / 4, 2 / 3])
    assert df["conversion_from_start"].tolist() == pytest.approx([1, 5 / 6, 4 / 6, 3 / 6, 2 / 6])


def test_median_time_from_first_touch(log):
    df = stage_funnel(log).set_index("stage")
    assert df.loc["consideration", "median_seconds_from_start"] == 0.0    # u2 120 s, u4 0, u5 0
    assert df.loc["purchase", "median_seconds_from_start"] == pytest.approx(270.0)  # 600, 300, 240, 60 s
    assert df.loc["retention", "median_seconds_from_start"] == 10 * 86400
    assert df.loc["advocacy", "median_seconds_from_start"] == pytest.approx(3900.0)  # 6000, 1800


def test_three_stage_model(log):
    df = stage_funnel(log, model="three")
    assert df["stage"].tolist() == ["awareness", "consideration", "decision"]
    assert df["users"].tolist() == [6, 5, 4]


def test_breakdown_by_first_touch(log):
    df = stage_funnel(log, by="channel").set_index(["group", "stage"])
    assert df.loc[("email", "awareness"), "users"] == 3
    assert df.loc[("email", "advocacy"), "users"] == 1
    assert df.loc[("social", "purchase"), "users"] == 2


def test_breakdown_by_signup_cohort():
    df = pd.DataFrame({"user_id": ["a", "a", "b"], "timestamp": ["2024-05-20 10:00", "2024-06-02 10:00", "2024-06-03"],
                       "event": ["page_view", "purchase", "page_view"]})
    out = stage_funnel(journey.load(df), by="first_touch_month").set_index(["group", "stage"])["users"]
    assert out[("2024-05-01", "purchase")] == 1 and out[("2024-06-01", "awareness")] == 1


def test_retention_within_days(log):
    strict = StageMap(retention_within_days=7)
    assert stage_funnel(log, strict)["users"].tolist()[3] == 2  # u4's second order came after 10 days


def test_nps_promoters_can_be_turned_off(log):
    sm = StageMap(nps_promoter_min=None)
    assert stage_funnel(log, sm)["users"].tolist()[4] == 1  # only u3's referral


def test_analyst_added_events(log):
    sm = StageMap(events={"consideration": ["page_view"], "purchase": [], "advocacy": []})
    assert stage_funnel(log, sm)["users"].tolist()[1] == 6


def test_event_stages_lists_unmatched_events(log):
    df = event_stages(log).set_index("event")
    assert df.loc["page_view", "stage"] is None
    assert df.loc["Order Completed", "stage"] == "purchase"
    assert df.loc["nps_answer", "stage"] == "nps"


def test_stage_trend(log):
    df = stage_trend(log, period="week")
    assert df["period"].astype(str).unique().tolist() == ["2024-05-20"]
    assert df["users"].tolist() == [6, 5, 4, 3, 2]


def test_toml_round_trip(tmp_path):
    sm = StageMap(events={"consideration": ['we"ird'], "purchase": ["Bought"], "advocacy": []},
                  retention_within_days=90, nps_promoter_min=None,
                  cleaning_rules=[("product_view_.*", "product_view"), ("a\\d+", 'b"c')])
    path = tmp_path / "map.toml"
    sm.save(str(path))
    assert StageMap.load(str(path)) == sm


def test_bad_pattern_is_a_message():
    with pytest.raises(JourneyError, match="not a valid regular expression"):
        StageMap(patterns={"purchase": "(("}).validate()


def test_five_stages_worked_out_by_hand_orders_promoters_and_first_touch_weeks():
    """u1 views, buys (o1), buys again 19 days later (o2) and writes a review: advocacy. u2 answers NPS 10
    before buying (not advocacy: it must follow the first purchase), buys once, then answers 9: a
    promoter, so advocacy without retention. u3 only lands. u4 buys twice without order ids (each row
    its own order): retention. u5 views a product and answers 6 (a detractor): consideration. u6 reviews
    before its only purchase: a purchase, not advocacy."""
    rows = pd.DataFrame([
        ("u1", "2024-05-06 10:00", "page_view", None, None), ("u1", "2024-05-06 10:05", "product_view", None, None),
        ("u1", "2024-05-06 10:10", "purchase", "o1", None), ("u1", "2024-05-25 10:00", "purchase", "o2", None),
        ("u1", "2024-05-26 10:00", "review_written", None, None),
        ("u2", "2024-05-06 09:00", "page_view", None, None), ("u2", "2024-05-06 09:30", "nps_answer", None, "10"),
        ("u2", "2024-05-07 10:00", "purchase", "o3", None), ("u2", "2024-05-08 10:00", "nps_answer", None, "9"),
        ("u3", "2024-05-10 10:00", "page_view", None, None),
        ("u4", "2024-05-08 10:00", "product_view", None, None), ("u4", "2024-05-08 11:00", "purchase", None, None),
        ("u4", "2024-05-09 11:00", "purchase", None, None),
        ("u5", "2024-05-13 10:00", "product_view", None, None), ("u5", "2024-05-13 10:30", "nps_answer", None, "6"),
        ("u6", "2024-05-14 09:00", "review_written", None, None), ("u6", "2024-05-14 10:00", "purchase", "o6", None),
    ], columns=["user_id", "timestamp", "event", "order_id", "score"])
    log = journey.load(rows)
    within = StageMap(retention_within_days=14)

    def counts(df):
        return df[["users", "own_users"]].values.tolist()

    weekly = journey.stage_funnel(log, by="first_touch_week")
    got = (counts(journey.stage_funnel(log)), counts(journey.stage_funnel(log, within)),
            {g: d["users"].tolist() for g, d in weekly.groupby("group")})
    assert got[0] == [[6, 6], [5, 3], [4, 4], [3, 2], [2, 2]]
    # within 14 days u1's second order (19 days on) is not retention; u1 stays an advocate
    assert got[1] == [[6, 6], [5, 3], [4, 4], [3, 1], [2, 2]]
    assert got[2] == {"2024-05-06": [4, 3, 3, 3, 2], "2024-05-13": [2, 2, 1, 0, 0]}
