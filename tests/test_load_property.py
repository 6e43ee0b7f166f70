"""Random malformed CSVs never crash the loader, and every row is accounted for."""


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import journey
from journey.errors import JourneyError

TOKENS = st.sampled_from(
    ["a", "00017", "x y", "2024-03-01", "2024-03-01 10:00", "2567-03-01", "1709287200", "not a date", "",
     '"', '"q,uoted"', ",", ";", "\t", "ดู", "é", "01/02/2024", "20240301", "-1.5"]
)
LINE = st.lists(TOKENS, min_size=0, max_size=6).map(lambda parts: ",".join(parts))
HEADER = st.sampled_from(["user_id,timestamp,event", "Customer ID,Event Time,Event Name,Amount", "user,ts"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=HEADER, lines=st.lists(LINE.filter(lambda s: s.strip() != ""), min_size=0, max_size=12))
def test_random_csv_never_crashes_and_accounts_every_row(tmp_path_factory, header, lines):
    path = tmp_path_factory.mktemp("p") / "f.csv"
    path.write_text(header + "\n" + "\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    try:
        log = journey.load(str(path))
    except JourneyError:
        return  # a clear message is an acceptable outcome; a traceback of any other type is not
    r = log.report
    events, rejects = log.to_pandas(), log.rejects()
    assert r.rows_read == r.rows_loaded + r.rows_rejected
    assert (len(events), len(rejects)) == (r.rows_loaded, r.rows_rejected)
    # Without quotes nothing spans lines: every physical data line is one row, numbered exactly once.
    if not any('"' in line for line in lines):
        assert r.rows_read == len(lines)
        assert sorted([*events["row_no"], *rejects["row_no"]]) == list(range(1, len(lines) + 1))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=400))
def test_random_bytes_give_a_message_or_a_log(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("b") / "f.csv"
    path.write_bytes(data)
    try:
        log = journey.load(str(path))
    except JourneyError as e:
        assert str(e)
        return
    assert log.report.rows_read == log.report.rows_loaded + log.report.rows_rejected
