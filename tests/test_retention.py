"""Retention, churn and customer value, on rows checked by hand."""

import numpy as np
import pandas as pd
import pytest

import journey
from journey.churn import (ChurnClusters, churn_rate_over_time, clusters, customer_features, default_churn_days,
                           name_cluster)
from journey.errors import JourneyError
from journey.retention import lifecycle, purchase_summary, retention_curves, retention_matrix
from journey.value import clv, csat, nps, rfm, rfm_segments

ROWS = [  # user, time, event, order, revenue
    ("a", "2024-01-05 10:00", "purchase", "o1", 10.0),
    ("a", "2024-02-07 10:00", "page_view", None, None),
    ("a", "2024-04-10 10:00", "purchase", "o2", 30.0),
    ("b", "2024-01-20 10:00", "page_view", None, None),
    ("b", "2024-03-02 10:00", "page_view", None, None),
    ("c", "2024-02-10 10:00", "page_view", None, None),
    ("c", "2024-02-20 10:00", "purchase", "o3", 20.0),
    ("c", "2024-03-01 10:00", "page_view", None, None),
    ("d", "2024-03-03 10:00", "page_view", None, None),
]


@pytest.fixture(scope="module")
def log():
    return journey.load(pd.DataFrame(ROWS, columns=["user_id", "timestamp", "event", "order_id", "revenue"]))


def cells(m):
    return {(r.cohort_label, r.period): r.retention for r in m.itertuples()}


def test_monthly_retention(log):
    m = retention_matrix(log, period="month")
    assert m.groupby("cohort_label")["size"].first().to_dict() == {"2024-01": 2, "2024-02": 1, "2024-03": 1}
    got = cells(m)
    assert [got[("2024-01", p)] for p in range(4)] == [1.0, 0.5, 0.5, 0.5]  # a: Feb, Apr; b: Mar
    assert [got[("2024-02", p)] for p in range(3)] == [1.0, 1.0, 0.0]
    assert [got[("2024-03", p)] for p in range(2)] == [1.0, 0.0]


def test_on_or_after(log):
    got = cells(retention_matrix(log, period="month", cumulative=True))
    assert [got[("2024-01", p)] for p in range(4)] == [1.0, 1.0, 1.0, 0.5]


def test_first_purchase_cohorts_returning_by_purchase(log):
    got = cells(retention_matrix(log, period="month", start="first_purchase", return_event="purchase"))
    assert [got[("2024-01", p)] for p in range(4)] == [1.0, 0.0, 0.0, 1.0]
    assert [got[("2024-02", p)] for p in range(3)] == [1.0, 0.0, 0.0]


def test_weekly_periods_are_calendar_weeks(log):
    m = retention_matrix(log, period="week")
    assert m["cohort_label"].iloc[0] == "2024-01-01"  # 5 January 2024 is in the week of Monday 1 January


def test_period_numbers_count_calendar_periods_from_1970():
    """Days, Monday weeks and months since 1970 (before it, negative), by hand at the edges of each, and the
    months (read through a table of days) equal to numpy's own conversion of every time."""
    from journey.retention import _period_numbers

    def us(text):
        return np.array([np.datetime64(text, "us").astype(np.int64)])

    assert _period_numbers(us("1970-01-01T23:59:59.999999"), "day")[0] == 0
    assert _period_numbers(us("1969-12-31T23:59:59"), "day")[0] == -1
    assert _period_numbers(us("1969-12-29T00:00"), "week")[0] == 0  # the Monday before 1970-01-01
    assert _period_numbers(us("1969-12-28T23:59"), "week")[0] == -1
    assert _period_numbers(us("2024-02-29T23:59:59.999999"), "month")[0] == 54 * 12 + 1
    assert _period_numbers(us("2024-03-01T00:00"), "month")[0] == 54 * 12 + 2
    assert _period_numbers(us("1969-12-31T23:59:59.999999"), "month")[0] == -1
    rng = np.random.default_rng(7)
    t = np.sort(rng.integers(-2 * 10**15, 2 * 10**15, 50_000))  # 1906-2033
    want = t.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    assert (_period_numbers(t, "month") == want).all()
    assert len(_period_numbers(t[:0], "month")) == 0


def test_average_curve(log):
    avg = retention_curves(retention_matrix(log, period="month")).set_index("period")
    assert avg.loc[1, "retention"] == pytest.approx(2 / 4)  # Jan 1 of 2, Feb 1 of 1, Mar 0 of 1
    assert avg.loc[3, ["users", "size"]].tolist() == [1, 2]


def test_unknown_return_event(log):
    with pytest.raises(journey.InvalidParameterError, match="Did you mean 'purchase'"):
        retention_matrix(log, return_event="purchse")


def test_lifecycle(log):
    lc = lifecycle(log, period="month")
    got = {(str(r.period), r.status): r.users for r in lc.itertuples()}
    assert got == {
        ("2024-01-01", "new"): 2,
        ("2024-02-01", "new"): 1, ("2024-02-01", "returning"): 1, ("2024-02-01", "dormant"): -1,
        ("2024-03-01", "new"): 1, ("2024-03-01", "returning"): 1, ("2024-03-01", "resurrecting"): 1,
        ("2024-03-01", "dormant"): -1,
        ("2024-04-01", "resurrecting"): 1, ("2024-04-01", "dormant"): -3,
    }


def test_churn_rate_over_time(log):
    """At each Monday from 8 January (the week after the data's first, 1 January) to 15 April (the week
    after its last): the users seen before it, and those whose last event then is 30 days or more before
    it. Weeks under 30 days after the first event (5 January 10:00) are left out, so the first is 5
    February, when a (last seen 5 January 10:00, 30 days 14 h before) has churned and b has not. On 1 April
    c (1 March 10:00: 30 days 14 h, February has 29 days) has churned and b (2 March: 29 days 14 h) not
    yet; on 15 April a is back (10 April)."""
    got = [(str(r.period_end), r.customers, r.churned) for r in churn_rate_over_time(log, churn_days=30).itertuples()]
    assert got == [("2024-02-05", 2, 1), ("2024-02-12", 3, 0), ("2024-02-19", 3, 0), ("2024-02-26", 3, 1),
                   ("2024-03-04", 4, 0), ("2024-03-11", 4, 1), ("2024-03-18", 4, 1), ("2024-03-25", 4, 1),
                   ("2024-04-01", 4, 2), ("2024-04-08", 4, 4), ("2024-04-15", 4, 3)]
    assert churn_rate_over_time(log, churn_days=30)["churn_rate"].iloc[-1] == 0.75


def test_purchase_summary(log):
    s = purchase_summary(log).iloc[0]
    assert (s.customers, s.orders, s.repeat_customers) == (2, 3, 1)
    assert (s.revenue, s.repeat_purchase_rate, s.purchase_frequency, s.average_order_value) == (60.0, 0.5, 1.5, 20.0)
    assert s.returning_revenue_share == 0.5
    assert s.median_days_between_orders == pytest.approx(96.0)  # 5 January to 10 April 2024


def test_churn_days_fall_back_with_few_repeat_orders(log):
    d = default_churn_days(log)
    assert d["days"] == 30 and "default" in d["reason"]


def test_customer_features(log):
    f = customer_features(log, churn_days=30).set_index("user_id")
    assert f.loc["a", ["frequency", "monetary", "furthest_stage"]].tolist() == [2, 40.0, 4]
    assert f.loc["a", "days_between_orders"] == pytest.approx(96.0)
    assert f.loc["d", "recency_days"] == pytest.approx(38.0)  # 3 March to 10 April
    assert f["churned"].to_dict() == {"a": False, "b": True, "c": True, "d": True}
    early = customer_features(log, as_of="2024-02-15").set_index("user_id")
    assert sorted(early.index) == ["a", "b", "c"]  # d had not arrived
    assert early.loc["a", "frequency"] == 1


def synthetic_features(n=60, seed=1):
    rng = np.random.default_rng(seed)
    half = n // 2
    return pd.DataFrame({
        "user_id": [f"u{i:03d}" for i in range(n)],
        "recency_days": np.r_[rng.uniform(50, 60, half), rng.uniform(0, 5, half)],
        "frequency": np.r_[np.zeros(half), rng.integers(3, 6, half)],
        "monetary": np.r_[np.zeros(half), rng.uniform(200, 300, half)],
        "sessions": np.r_[np.ones(half), rng.integers(5, 9, half)],
        "churned": np.r_[np.ones(half, bool), np.zeros(half, bool)],
    })


def test_clusters_find_the_two_groups_and_name_them():
    f = synthetic_features()
    model = ChurnClusters(random_state=0).fit(f)
    assert model.k_ == 2
    assert sorted(model.names_) == ["Lapsed browsers who never bought", "Loyal repeat buyers"]
    assert set(model.labels_[:30]) != set(model.labels_[30:])
    again = ChurnClusters(random_state=0).fit(f)
    assert (again.labels_ == model.labels_).all() and again.names_ == model.names_


def test_clusters_fixed_k_and_distinct_names():
    model = ChurnClusters(n_clusters=4, random_state=0).fit(synthetic_features(80))
    assert model.k_ == 4 and len(set(model.names_)) == 4
    assert model.profiles_["customers"].sum() == 80


def test_too_few_customers():
    with pytest.raises(JourneyError, match="Too few customers"):
        ChurnClusters().fit(synthetic_features(4))


@pytest.mark.parametrize("profile, name", [
    ({"buyer_share": 0.0, "churn_rate": 0.9}, "Lapsed browsers who never bought"),
    ({"buyer_share": 1.0, "repeat_share": 0.0, "churn_rate": 0.2}, "One-time buyers"),
    ({"buyer_share": 1.0, "repeat_share": 0.8, "churn_rate": 0.1}, "Loyal repeat buyers"),
    ({"buyer_share": 1.0, "repeat_share": 0.3, "churn_rate": 0.8, "z_monetary": 2.0}, "Lapsed big spenders"),
])
def test_cluster_names(profile, name):
    assert name_cluster(profile) == name


def test_clusters_on_the_sample_put_everyone_in_one_named_cluster(sample_log):
    res = clusters(sample_log, random_state=0)
    members = res["members"]
    assert members["user_id"].is_unique and len(members) == sample_log.report.users
    assert members["name"].notna().all()
    assert res["profiles"]["name"].is_unique
    again = clusters(sample_log, random_state=0)
    assert (again["members"]["cluster"] == members["cluster"]).all()


def test_clv(log):
    t = clv(log).iloc[0]
    years = 96 / 365.25  # the data spans 5 January to 10 April
    assert (t.customers, t.orders, t.revenue, t.historical_clv, t.average_order_value) == (2, 3, 60.0, 30.0, 20.0)
    assert t.purchase_frequency == pytest.approx(1.5 / years)
    assert t.lifespan_years == pytest.approx(years)  # a, the one repeat customer, bought 96 days apart
    assert t.formula_clv == pytest.approx(20.0 * 1.5)
    assert clv(log, margin=0.5, lifespan_years=2).iloc[0].formula_clv == pytest.approx(20 * 1.5 / years * 2 * 0.5)


def test_rfm_scores_and_segments():
    rows = []
    for i in range(10):  # u0 bought most recently and most often; u9 long ago, once
        for k in range(10 - i):
            rows.append((f"u{i}", f"2024-03-{20 - i:02d} 10:{k:02d}", "purchase", f"o{i}-{k}", 10.0))
    log = journey.load(pd.DataFrame(rows, columns=["user_id", "timestamp", "event", "order_id", "revenue"]))
    r = rfm(log).set_index("user_id")
    assert r.loc["u0", "rfm"] == "555" and r.loc["u0", "segment"] == "Champions"
    assert r.loc["u9", "rfm"] == "111" and r.loc["u9", "segment"] == "Hibernating"
    assert rfm_segments(r.reset_index())["customers"].sum() == 10


def test_nps_and_csat():
    scores = [("nps_answer", s) for s in (10, 9, 8, 6, 0)] + [("csat", s) for s in (5, 4, 3, 2)]
    df = pd.DataFrame([(f"u{i}", "2024-03-01", e, s) for i, (e, s) in enumerate(scores)],
                      columns=["user_id", "timestamp", "event", "score"])
    log = journey.load(df)
    n = nps(log).iloc[0]
    assert (n.answers, n.promoters, n.passives, n.detractors, n.nps) == (5, 2, 1, 2, 0.0)
    c = csat(log).iloc[0]
    assert (c.answers, c.satisfied, c.csat, c.scale) == (4, 2, 0.5, 5)


def test_nps_by_channel():
    """Per channel, worked by hand: email 10, 9, 3 -> (2 - 1) / 3 = +33.3; social 8, 6 -> (0 - 1) / 2 = -50;
    an answer without a channel counts under (none)."""
    rows = [("u1", "email", 10), ("u2", "email", 9), ("u3", "email", 3), ("u4", "social", 8), ("u5", "social", 6),
            ("u6", None, 9)]
    df = pd.DataFrame([(u, "2024-03-01", "nps_answer", c, s) for u, c, s in rows],
                      columns=["user_id", "timestamp", "event", "channel", "score"])
    by = nps(journey.load(df), by="channel").set_index("group")
    assert by.loc["email", ["answers", "promoters", "passives", "detractors"]].tolist() == [3, 2, 0, 1]
    assert by.loc["email", "nps"] == pytest.approx(100 / 3)
    assert by.loc["social", ["answers", "promoters", "passives", "detractors", "nps"]].tolist() == [2, 0, 1, 1, -50.0]
    assert by.loc["(none)", "nps"] == 100.0


def test_clv_by_segments(log):
    seg = pd.DataFrame({"user_id": ["a"], "group": ["vip"]})
    t = clv(log, segments=seg).set_index("group")
    assert t.loc["vip", "historical_clv"] == 40.0 and t.loc["(none)", "historical_clv"] == 20.0


def test_advocacy_per_customer():
    df = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "timestamp": ["2024-03-01"] * 4,
                       "event": ["review_written", "referral", "Share", "page_view"]})
    adv = journey.advocacy(journey.load(df)).set_index("user_id")
    assert adv.loc["a", ["reviews", "referrals", "total"]].tolist() == [1, 1, 2]
    assert adv.loc["b", "shares"] == 1 and "c" not in adv.index


def test_survey_joined_on_user_id(log, write):
    path = write("survey.csv", "Customer ID,NPS score\na,10\nb,3\nc,9\nzz,8\nd,\n")
    res = journey.survey_scores(log, path)
    assert (res["rows_read"], res["answers"], res["matched"], res["scale"]) == (5, 4, 3, 10)
    assert res["summary"]["nps"][0] == pytest.approx((2 - 1) / 4 * 100)
    by = res["by"].set_index("group")
    assert by.loc["retention", "nps"] == 100.0 and by.loc["purchase", "nps"] == 100.0  # a, c
    assert by.loc["awareness", "nps"] == -100.0  # b only viewed
    assert by.loc["(not in the log)", "answers"] == 1


def test_survey_without_a_score_column(log, write):
    with pytest.raises(JourneyError, match="score column"):
        journey.survey_scores(log, write("s.csv", "user_id,comment\na,great\n"))


@pytest.mark.parametrize("period, start, ret, cumulative", [
    ("month", "first_event", None, False), ("week", "first_purchase", "purchase", False),
    ("week", "first_event", "add_to_cart", False), ("week", "first_event", None, True),
    ("month", "first_purchase", "purchase", True)])
def test_retention_equals_a_direct_computation_cell_for_cell(sample_log, period, start, ret, cumulative):
    """An independent pandas computation of the same definition, on the whole sample (cumulative: the
    users active in the period or any later one)."""
    ev = sample_log.to_pandas()
    ev["p"] = ev["ts"].dt.to_period("M").dt.start_time if period == "month" else \
        (ev["ts"] - pd.to_timedelta(ev["ts"].dt.weekday, unit="D")).dt.normalize()
    starts = ev if start == "first_event" else ev[ev["event"] == "purchase"]
    cohort = starts.groupby("user_id")["p"].min().rename("cohort")
    back = ev if ret is None else ev[ev["event"] == ret]
    back = back.join(cohort, on="user_id", how="inner")
    back = back[back["p"] >= back["cohort"]]
    if period == "month":
        back["k"] = (back["p"].dt.year - back["cohort"].dt.year) * 12 + back["p"].dt.month - back["cohort"].dt.month
    else:
        back["k"] = (back["p"] - back["cohort"]).dt.days // 7
    if cumulative:  # a user active at k counts at every period up to k
        last = back.groupby(["cohort", "user_id"])["k"].max().reset_index()
        back = pd.concat([last.assign(k=j) for j in range(int(last["k"].max()) + 1)])
        back = back[back["k"] <= last.set_index(["cohort", "user_id"]).loc[
            list(zip(back["cohort"], back["user_id"])), "k"].to_numpy()]
    active = back.groupby(["cohort", "k"])["user_id"].nunique()
    sizes = cohort.value_counts()
    m = retention_matrix(sample_log, period=period, start=start, return_event=ret, cumulative=cumulative)
    for r in m.itertuples():
        c = pd.Timestamp(r.cohort)
        assert r.size == sizes[c]
        expected = sizes[c] if r.period == 0 else active.get((c, r.period), 0)
        assert r.users == expected, (r.cohort_label, r.period)
