"""The shipped sample is what the generator makes, and carries its planted incident."""

import pandas as pd

from journey import sample

from .conftest import SAMPLE


def test_shipped_sample_is_the_generator_output():
    shipped = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    made = sample.generate().astype(str).replace({"None": "", "nan": ""})
    assert shipped.shape == made.shape
    assert shipped["user_id"].tolist() == made["user_id"].tolist()
    assert shipped["event"].tolist() == made["event"].tolist()


def test_planted_incident_mobile_payment_errors_that_week(sample_log):
    df = sample_log.run(
        """
        SELECT device, ts >= $start AND ts < $end AS incident, count(*) AS errors
        FROM {events} WHERE event = 'payment_error' GROUP BY ALL
        """,
        {"start": sample.INCIDENT_START, "end": sample.INCIDENT_END},
    )
    assert set(df["device"]) == {"mobile"}
    assert df.set_index("incident")["errors"].to_dict().get(True, 0) == df["errors"].sum() > 10


def test_sample_has_every_kind_of_customer(sample_log):
    events = set(sample_log.distinct_values("event"))
    assert {"page_view", "search", "add_to_cart", "begin_checkout", "purchase", "review_written",
            "referral", "nps_answer"} <= events
    repeat = sample_log.run(
        "SELECT count(*) AS n FROM (SELECT user_id FROM {events} WHERE event = 'purchase' "
        "GROUP BY user_id HAVING count(*) >= 2)"
    )["n"][0]
    assert repeat > 20
    assert len(sample_log.distinct_values("channel")) >= 5
