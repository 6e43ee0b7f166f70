"""A Parquet file read in place (``load(..., in_place=True)``, ADR 0013) gives the same answers as a loaded copy."""

import os

import pandas as pd
import pytest

import journey
from journey.errors import InvalidParameterError

STEPS = ["page_view", "product_view", "add_to_cart", "purchase"]


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    """The sample shop as Parquet, in time order (not user order), with a few rows to reject."""
    from tests.conftest import SAMPLE

    df = pd.read_csv(SAMPLE, dtype=str).sort_values("timestamp", kind="stable").reset_index(drop=True)
    bad = pd.DataFrame([
        {"user_id": "u-late", "timestamp": "not a time", "event": "page_view"},
        {"user_id": None, "timestamp": "2024-01-03 10:00:00", "event": "page_view"},
        {"user_id": "u-late", "timestamp": None, "event": "purchase"},
    ])
    df = pd.concat([df.iloc[:500], bad, df.iloc[500:]], ignore_index=True)
    path = tmp_path_factory.mktemp("pq") / "shop.parquet"
    df.to_parquet(path, row_group_size=5_000)
    return str(path)


@pytest.fixture(scope="module")
def both(parquet):
    return journey.load(parquet), journey.load(parquet, in_place=True)


def test_nothing_is_copied_and_the_report_is_counted_on_demand(both):
    copied, direct = both
    assert direct.in_place and not copied.in_place
    assert direct.db.scalar("SELECT table_type FROM information_schema.tables WHERE table_name = 'events'") == "VIEW"
    assert not direct._report.ready
    a, b = copied.report.to_dict(), direct.report.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    assert b["rows_read"] == b["rows_loaded"] + b["rows_rejected"] and b["rows_rejected"] == 3
    assert b["reject_reasons"] == {"unreadable time": 1, "missing user": 1, "missing time": 1}
    assert direct.rejects()["row_no"].tolist() == copied.rejects()["row_no"].tolist() == [501, 502, 503]


def test_the_events_are_the_same_rows(both):
    copied, direct = both
    assert direct.to_pandas().equals(copied.to_pandas())


@pytest.mark.parametrize("opts", [
    {}, {"unit": "sessions"}, {"by": "device"}, {"order": "strict"}, {"order": "any"},
    {"exclude": ["view_cart"], "window": "1h"},
])
def test_funnels_agree(both, opts):
    copied, direct = both
    pd.testing.assert_frame_equal(journey.funnel(direct, STEPS, **opts), journey.funnel(copied, STEPS, **opts))


def test_filtered_funnels_and_trends_agree(both):
    copied, direct = both
    import datetime as dt

    window = dict(start=dt.date(2024, 1, 10), end=dt.date(2024, 2, 20), devices=["mobile"])
    pd.testing.assert_frame_equal(journey.funnel(direct.where(**window), STEPS),
                                  journey.funnel(copied.where(**window), STEPS))
    pd.testing.assert_frame_equal(journey.funnel_trend(direct, STEPS), journey.funnel_trend(copied, STEPS))


def test_other_analyses_agree(both):
    copied, direct = both
    for f in (journey.overview, journey.stage_funnel, journey.bounce_rate, journey.retention_matrix):
        pd.testing.assert_frame_equal(f(direct), f(copied), check_dtype=False)
    for a, b in zip(journey.paths(direct, steps=4), journey.paths(copied, steps=4)):
        pd.testing.assert_frame_equal(a, b)


def test_an_unknown_step_is_still_named(both):
    _, direct = both
    with pytest.raises(InvalidParameterError, match="no_such_event"):
        journey.funnel(direct, ["page_view", "no_such_event"])


def test_a_changed_file_is_another_dataset_for_caches(parquet, tmp_path):
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(open(parquet, "rb").read())
    first = journey.load(str(copy), in_place=True).fingerprint()
    assert journey.load(str(copy), in_place=True).fingerprint() == first
    os.utime(copy, ns=(1, 1))
    assert journey.load(str(copy), in_place=True).fingerprint() != first


def test_a_parquet_folder_reads_in_place(parquet, tmp_path):
    df = pd.read_parquet(parquet)
    folder = tmp_path / "parts"
    folder.mkdir()
    df.iloc[:2000].to_parquet(folder / "a.parquet")
    df.iloc[2000:].to_parquet(folder / "b.parquet")
    direct, copied = journey.load(str(folder), in_place=True), journey.load(str(folder))
    assert direct.in_place
    pd.testing.assert_frame_equal(journey.funnel(direct, STEPS), journey.funnel(copied, STEPS))
    assert direct.report.rows_read == len(df)


def test_other_formats_are_loaded_as_usual(write):
    log = journey.load(write("e.csv", "user_id,timestamp,event\nu1,2024-01-01 10:00:00,a\n"), in_place=True)
    assert not log.in_place and log.report.rows_loaded == 1


def test_the_cli_reads_parquet_in_place_with_the_same_counts(both, parquet):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    copied, _ = both
    out = subprocess.run([sys.executable, "-m", "journey", "funnel", parquet, "--steps", ",".join(STEPS), "--json"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert [s["users"] for s in json.loads(out)["steps"]] == journey.funnel(copied, STEPS)["users"].tolist()


def test_units_sharing_a_hash_are_still_followed_apart():
    """A log read in place comes in file order with each unit's hash, from which the units are numbered:
    two users with the same hash (made up here) must still be told apart, or a's chain would be cut by
    b's event."""
    import numpy as np
    import pyarrow as pa

    from journey import chains

    table = pa.table({"k": ["a", "b", "a", "b"], "t": [1, 2, 3, 4], "r": [1, 2, 3, 4],
                      "h": pa.array([7, 7, 7, 7], pa.uint64()), "e": pa.array([0, 0, 1, 1], pa.int8())})
    events = chains._in_order(table)
    assert events.text("k", np.arange(4)).to_pylist() == ["a", "a", "b", "b"]
    assert list(events.unit_no) == [0, 0, 1, 1] and list(events.t) == [1, 3, 2, 4]
    # their own hashes, and the file out of time order: each user's events still come in (time, row) order
    shuffled = pa.table({"k": ["b", "a", "b", "a", "a"], "t": [4, 3, 2, 1, 3], "r": [1, 2, 3, 4, 5],
                         "h": pa.array([9, 5, 9, 5, 5], pa.uint64()), "e": pa.array([1, 1, 0, 0, 1], pa.int8())})
    events = chains._in_order(shuffled)
    assert events.text("k", np.arange(5)).to_pylist() == ["b", "b", "a", "a", "a"]
    assert list(events.t) == [2, 4, 1, 3, 3] and list(events.r) == [3, 1, 4, 2, 5]
    assert list(events.unit_no) == [0, 0, 1, 1, 1]
    # rows at the same time follow their row numbers, whether or not the rows came in row order
    for r, want in (([1, 2, 3, 4], [1, 3, 2, 4]), ([4, 9, 3, 2], [3, 4, 2, 9])):
        tied = pa.table({"k": ["a", "b", "a", "b"], "t": [5, 5, 5, 5], "r": r,
                         "h": pa.array([1, 2, 1, 2], pa.uint64()), "e": pa.array([0, 1, 1, 0], pa.int8())})
        for events in (chains._in_order(tied), *chains._parts(tied, most=2)):
            assert [x for x in events.r if x in want] == [x for x in want if x in events.r]
        assert list(chains._in_order(tied).r) == want
        assert list(chains._in_order(tied).rows(np.arange(4))) == want


def test_batches_are_merged_back_into_row_order_without_copying_a_row(monkeypatch):
    """DuckDB's threads hand over batches each in row order, interleaved in stretches (a thread's row
    groups): 1 2 | 7 8 from one, 3 4 5 | 9 from the other. They are cut into the stretches 1-2, 3-5, 7-8,
    9 and put in row order with every column; a batch not in row order, or more stretches than allowed,
    leaves the table as it came (then sorted by row, see _in_order)."""
    import pyarrow as pa

    from journey import chains

    def batch(rows):
        return pa.record_batch({"r": pa.array(rows, pa.int64()), "k": pa.array([f"u{r}" for r in rows], pa.string())})

    table = pa.Table.from_batches([batch([1, 2, 7, 8]), batch([]), batch([3, 4, 5, 9])])
    merged = chains._in_row_order(table)
    assert merged.column("r").to_pylist() == [1, 2, 3, 4, 5, 7, 8, 9]
    assert merged.column("k").to_pylist() == [f"u{r}" for r in [1, 2, 3, 4, 5, 7, 8, 9]]
    assert merged.column("r").num_chunks == 4  # slices of the batches, no row copied
    assert chains._in_row_order(pa.Table.from_batches([batch([1, 3, 2])])).column("r").to_pylist() == [1, 3, 2]
    monkeypatch.setattr(chains, "MOST_STRETCHES", 3)
    assert chains._in_row_order(table).column("r").to_pylist() == [1, 2, 7, 8, 3, 4, 5, 9]


def test_a_file_read_in_place_is_fetched_in_row_order(both):
    """The step events of a file of many row groups, fetched as DuckDB's threads finish them, come back in
    file order: the numbering of units then needs no sort by row."""
    import numpy as np

    from journey import chains

    _, direct = both
    r = chains._fetch(direct, STEPS, "users", None).column("r").to_numpy()
    assert len(r) > 10_000 and bool((np.diff(r) > 0).all())


def test_the_events_table_is_taken_as_stored_only_when_in_unit_time_row_order():
    """Events from the events table (no hash) are used as they come when each unit's rows are one run in
    (time, row) order; row numbers are compared only where times tie. Otherwise they are sorted."""
    import numpy as np
    import pyarrow as pa

    from journey import chains

    def events(k, t, r):
        return chains._in_order(pa.table({"k": k, "t": t, "r": r, "e": pa.array([0] * len(k), pa.int8())}))

    # in order: a tie inside b follows the rows (3 then 4); a tie across units (a's 2 at 2, b's 3 at 2) is free
    stored = events(["a", "a", "b", "b"], [1, 2, 2, 2], [1, 5, 3, 4])
    assert stored.order is None and list(stored.unit_no) == [0, 0, 1, 1]
    assert list(stored.rows(np.arange(4))) == [1, 5, 3, 4] and list(stored.rows(np.array([1, 3]))) == [5, 4]
    # a tie inside a unit with its rows backwards: sorted by row
    tied = events(["a", "a", "b"], [1, 1, 3], [2, 1, 3])
    assert tied.order is not None and list(tied.r) == [1, 2, 3] and list(tied.rows(np.arange(3))) == [1, 2, 3]
    # time going back inside a unit: sorted by time
    back = events(["a", "a"], [2, 1], [1, 2])
    assert back.order is not None and list(back.t) == [1, 2] and list(back.r) == [2, 1]
    # a unit in two runs: gathered into one
    split = events(["a", "b", "a"], [1, 2, 3], [1, 2, 3])
    assert split.text("k", np.arange(3)).to_pylist() == ["a", "a", "b"] and list(split.unit_no) == [0, 0, 1]


def test_the_events_are_split_into_parts_without_splitting_a_unit():
    """Funnels follow the events in one thread per core: read in place, the rows are split by their
    unit's hash (even a, c and odd b here) before sorting; from the events table, at a unit boundary."""
    import pyarrow as pa

    from journey import chains

    table = pa.table({"k": ["a", "b", "c", "a", "b", "c"], "t": [1, 1, 1, 2, 2, 2], "r": [1, 2, 3, 4, 5, 6],
                      "h": pa.array([4, 3, 6, 4, 3, 6], pa.uint64()), "e": pa.array([0, 0, 0, 1, 1, 1], pa.int8())})
    parts = chains._parts(table, most=2)
    assert [p.text("k", range(len(p.t))).to_pylist() for p in parts] == [["a", "a", "c", "c"], ["b", "b"]]
    assert [list(p.r) for p in parts] == [[1, 4, 3, 6], [2, 5]]
    stored = table.drop_columns(["h"]).take([0, 3, 1, 4, 2, 5])  # as the events table keeps them
    for most, want in ((2, [["a", "a"], ["b", "b", "c", "c"]]), (3, [["a", "a"], ["b", "b"], ["c", "c"]]),
                       (9, [["a", "a"], ["b", "b"], ["c", "c"]])):
        parts = chains._parts(stored, most=most)
        assert [p.text("k", range(len(p.t))).to_pylist() for p in parts] == want
        assert [int(x) for p in parts for x in p.r] == [1, 4, 2, 5, 3, 6]


def test_a_units_part_is_its_hash_modulo_the_parts():
    """Rows are split by their unit's hash modulo the parts, read from the hash's lowest byte for a power
    of two (worked out by hand: 2**64 - 1 is odd, 3 mod 4, and a multiple of 3)."""
    import numpy as np

    from journey import chains

    h = np.array([0, 1, 2, 255, 256, 2**64 - 1], dtype=np.uint64)
    assert chains._hash_parts(h, 2).tolist() == [0, 1, 0, 1, 0, 1]
    assert chains._hash_parts(h, 4).tolist() == [0, 1, 2, 3, 0, 3]
    assert chains._hash_parts(h, 256).tolist() == [0, 1, 2, 255, 0, 255]
    assert chains._hash_parts(h, 3).tolist() == [0, 1, 2, 0, 1, 0]


def test_the_counting_sort_keeps_each_units_rows_in_their_order():
    import numpy as np

    from journey import chains

    order, sizes = chains._grouped(np.array([2, 0, 2, 1, 0]))
    assert order.tolist() == [1, 4, 3, 0, 2] and sizes.tolist() == [2, 1, 2]


def test_funnels_agree_on_a_file_out_of_time_order_in_parts(both, parquet, tmp_path):
    """The same shop with its rows shuffled, read in place and followed in two parts (forced here; real
    logs split from 200,000 events), gives the funnels of the loaded copy."""
    from journey import chains

    shuffled = tmp_path / "shuffled.parquet"
    pd.read_parquet(parquet).sample(frac=1, random_state=3).to_parquet(shuffled, row_group_size=3_000)
    direct = journey.load(str(shuffled), in_place=True)
    copied, _ = both
    old = chains.SPLIT_FROM
    chains.SPLIT_FROM = 2
    try:
        for opts in ({}, {"unit": "sessions"}, {"by": "device"}, {"order": "any"},
                     {"exclude": ["view_cart"], "window": "1h"}):
            pd.testing.assert_frame_equal(journey.funnel(direct, STEPS, **opts), journey.funnel(copied, STEPS, **opts))
        for order in ("ordered", "any"):
            pd.testing.assert_frame_equal(journey.funnel_trend(direct, STEPS, order=order),
                                          journey.funnel_trend(copied, STEPS, order=order))
    finally:
        chains.SPLIT_FROM = old


def test_a_loaded_log_by_sessions_is_taken_in_stored_order():
    """A session's key (user, session id) does not sort with the stored order (u#10 before u#2), so the
    runs' hashes show that each session is one run. u has 12 sessions (2 hours apart), each view → buy
    a minute later: 12 sessions convert. With export sessions split by another (two tabs: s1 view,
    s2 view, s1 buy, s2 buy), the order check must refuse the shortcut; each tab converts."""
    from journey import chains

    T = pd.Timestamp("2024-05-20 00:00:00")
    rows = [("u", (T + pd.Timedelta(hours=2 * i, minutes=m)).isoformat(sep=" "), e)
            for i in range(12) for m, e in ((0, "view"), (1, "buy"))]
    log = journey.load(pd.DataFrame(rows, columns=["user_id", "timestamp", "event"]))
    assert chains._in_order(chains._fetch(log, ["view", "buy"], "sessions", None)).order is None
    assert journey.funnel(log, ["view", "buy"], unit="sessions")["users"].tolist() == [12, 12]

    tabs = pd.DataFrame({"user_id": ["u"] * 4, "session_id": ["s1", "s2", "s1", "s2"],
                         "event": ["view", "view", "buy", "buy"],
                         "timestamp": [f"2024-05-20 09:0{i}:00" for i in range(4)]})
    log = journey.load(tabs)
    assert chains._in_order(chains._fetch(log, ["view", "buy"], "sessions", None)).order is not None
    assert journey.funnel(log, ["view", "buy"], unit="sessions")["users"].tolist() == [2, 2]


def _duckdb_hashes(texts):
    import duckdb
    import numpy as np

    con = duckdb.connect()
    try:
        return np.array(con.execute("SELECT list_transform($t, lambda x: hash(x))", {"t": texts}).fetchone()[0], np.uint64)
    finally:
        con.close()


def test_duckdbs_hash_of_a_short_id_is_the_formula_and_is_undone_exactly():
    """User ids of 1 to 16 bytes are told apart by DuckDB's hash, their length and their bytes past the
    8th (no whole id compared), and read back from the three: both rest on DuckDB's hash being the formula
    in chains, checked here against DuckDB itself on ids of every length from 1 to 16 bytes, ASCII and
    not (a DuckDB that hashes otherwise fails this, and the funnel then compares the ids, see the next
    test)."""
    import numpy as np
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from journey import chains

    short = st.text(min_size=1, max_size=16).filter(lambda s: 1 <= len(s.encode()) <= 16)

    @settings(max_examples=80, deadline=None)
    @given(st.lists(short, min_size=1, max_size=40))
    def check(texts):
        h = _duckdb_hashes(texts)
        assert [chains.duckdb_hash_of_short_text(t.encode()) for t in texts] == h.tolist()
        data = [t.encode() for t in texts]
        lengths = np.array([len(d) for d in data], np.uint8)
        tails = np.array([int.from_bytes(d[8:].ljust(8, b"\0"), "little") for d in data], np.uint64)
        assert chains.short_texts_of_hashes(h, lengths, tails).to_pylist() == texts
        if lengths.max() <= 8:
            assert chains.short_texts_of_hashes(h, lengths).to_pylist() == texts
        # the tails as read from an Arrow array's own buffers, where each text's last 8 bytes are loaded
        arrow = pa.array(texts, pa.string())
        offsets = np.frombuffer(arrow.buffers()[1], np.int32)[: len(texts) + 1]
        got = chains._tails(arrow.buffers()[2], offsets[:-1], np.diff(offsets))
        assert (got if got is not None else np.zeros(len(texts), np.uint64)).tolist() == tails.tolist()

    import pyarrow as pa

    check()
    # each path of DuckDB's hash: empty tail (8 bytes), inlined (12 bytes), in a buffer (13 and 16 bytes)
    fixed = ["a", "12345678", "123456789012", "1234567890123", "1234567890123456"]
    assert [chains.duckdb_hash_of_short_text(t.encode()) for t in fixed] == _duckdb_hashes(fixed).tolist()


def test_short_ids_are_numbered_by_hash_and_length_and_others_by_their_text(monkeypatch):
    """Read in place, each row comes with its user id's hash. Ids of at most 16 bytes whose hashes are
    DuckDB's formula are grouped by hash, with one length and one tail (the bytes past the 8th) per
    group, and read back from the hash. The ids themselves are compared instead when a group's lengths
    or tails differ (made-up hashes here, the sample check looking at the first row only), an id is
    longer than 16 bytes, or the hashes are not the formula: the units are the same every way."""
    import numpy as np
    import pyarrow as pa

    from journey import chains

    def table(k, h=None):
        h = _duckdb_hashes(k) if h is None else np.array(h, np.uint64)
        n = len(k)
        return pa.table({"k": k, "t": list(range(n)), "r": list(range(1, n + 1)), "h": pa.array(h, pa.uint64()),
                         "e": pa.array([0] * n, pa.int8())})

    ids = ["ab", "a", "ab", "zz9-1234", "a", "customer-00017", "customer-00017", "customer-00018"]
    plain = table(ids)
    full: dict = {}
    lengths, tails = chains._short_ids(plain, full)
    assert lengths.tolist() == [2, 1, 2, 8, 1, 14, 14, 14]
    assert tails[:5].tolist() == [0] * 5 and tails[5] == tails[6] != tails[7]
    assert tails[5] == int.from_bytes(b"-00017", "little")
    events = chains._in_order(plain, full=full)
    assert events.ids_from_hashes
    assert events.text("k", np.arange(8)).to_pylist() == [
        "ab", "ab", "a", "a", "zz9-1234", "customer-00017", "customer-00017", "customer-00018"]
    assert list(events.unit_no) == [0, 0, 1, 1, 2, 3, 3, 4]
    assert chains._short_ids(table(["a", "ab"]), {})[1] is None  # no id past 8 bytes: no tails

    longer = table(["a-user-id-of-17-b", "a", "a-user-id-of-17-b"])
    assert chains._short_ids(longer, {}) is None
    events = chains._in_order(longer)
    assert not events.ids_from_hashes
    assert events.text("k", np.arange(3)).to_pylist() == ["a-user-id-of-17-b", "a-user-id-of-17-b", "a"]

    h = _duckdb_hashes(ids)
    not_the_formula = table(ids, h=h + np.uint64(1))
    assert chains._short_ids(not_the_formula, {}) is None
    assert list(chains._in_order(not_the_formula).unit_no) == [0, 0, 1, 1, 2, 3, 3, 4]

    monkeypatch.setattr(chains, "SAMPLE_OF_HASHES", 1)  # the first row alone is checked
    for a, b in ((1, 0), (7, 5)):  # 'a' given the hash of 'ab' (lengths differ); -00018 that of -00017
        shared = h.copy()
        shared[a] = h[b]
        if a == 1:
            shared[4] = h[b]
        made_up = table(ids, h=shared)
        full = {}
        assert chains._short_ids(made_up, full) is not None
        assert not chains._one_id_per_code(made_up, full, None, np.unique(shared, return_inverse=True)[1])
        events = chains._in_order(made_up, full=full)
        assert not events.ids_from_hashes
        assert sorted(events.text("k", np.arange(8)).to_pylist()) == sorted(ids)
        assert len(set(events.unit_no.tolist())) == 5
