"""Random malformed CSVs never crash the loader, and every row is accounted for."""


import string

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


PIECES = st.sampled_from(["0", "1", "2", "9", "2024", "2567", "12", "31", "-", "/", " ", "T", ":", ".", "Z", "+02",
                          "+0530", "a", "1a", "  ", "00", "24", "60", "1999", "0001", "UTC", "2400", "2399"])
PLAIN = st.builds(lambda y, mo, d, sep, h, mi, s: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}",
                  st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.sampled_from([" ", "T"]),
                  st.integers(0, 25), st.integers(0, 61), st.integers(0, 61))
NEAR_PLAIN = st.builds(lambda text, i, c: text[:i] + c + text[i + 1:], PLAIN, st.integers(0, 18),
                       st.sampled_from(["a", " ", "+", "Z", "-", ":", "T", "0"]))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(PLAIN, NEAR_PLAIN, st.lists(PIECES, max_size=8).map("".join)), min_size=1,
                       max_size=20),
       date_order=st.sampled_from(["dmy", "mdy"]))
def test_the_plain_time_shortcut_reads_every_text_as_the_thorough_parser_does(values, date_order):
    from journey.engine import Database
    from journey.timeparse import quick_ts_sql, text_ts_sql, thorough_text_ts_sql

    db = Database()
    try:
        # both forms of the shortcut: the cast bound in place, and read from a column below (as load does)
        got = db.rows(f"SELECT {text_ts_sql('v', date_order)}, {text_ts_sql('v', date_order, quick='quick_v')}, "
                      f"{thorough_text_ts_sql('v', date_order)} "
                      f"FROM (SELECT v, {quick_ts_sql('v')} AS quick_v FROM (SELECT unnest($values) AS v))",
                      {"values": values})
    finally:
        db.close()
    for value, (fast, from_column, thorough) in zip(values, got):
        assert fast == thorough, value
        assert from_column == thorough, value


SPACES = ["", " ", "  ", "\u00a0", "\u3000", "\u2007", "\u202f", "\t", "\n", "\u200b", "\ufeff"]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.builds(lambda a, core, b: a + core + b, st.sampled_from(SPACES),
                                 st.text(max_size=20), st.sampled_from(SPACES)), min_size=1, max_size=30))
def test_the_quick_trim_gives_what_duckdb_trim_gives(values):
    from journey.engine import Database, trim_sql

    db = Database()
    try:
        got = db.rows(f"SELECT v, {trim_sql('v')}, trim(v) FROM (SELECT unnest($values) AS v)", {"values": values})
    finally:
        db.close()
    assert len(got) == len(values)
    for value, quick, reference in got:
        assert quick == reference, repr(value)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.builds(lambda a, core, b: a + core + b, st.sampled_from(SPACES),
                                                      st.one_of(st.text(max_size=6),  # mostly not ASCII
                                                                st.text(string.printable, max_size=6)),
                                                      st.sampled_from(SPACES))),
                       min_size=1, max_size=30))
def test_the_quick_presence_test_and_text_agree_with_trimming(values):
    from journey.engine import Database, present_sql, text_or_null_sql

    db = Database()
    try:
        got = db.rows(f"SELECT {present_sql('v')}, nullif(trim(v), '') IS NOT NULL, {text_or_null_sql('v')}, "
                      "nullif(trim(v), '') "
                      "FROM (SELECT unnest($values) AS v, generate_subscripts($values, 1) AS i) ORDER BY i",
                      {"values": values})
    finally:
        db.close()
    assert len(got) == len(values)
    assert [row[0] for row in got] == [row[1] for row in got], values
    assert [row[2] for row in got] == [row[3] for row in got], values
