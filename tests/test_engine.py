"""The one door to DuckDB: quoting, parameters, private databases."""

import os

import pandas as pd
import pytest

import journey
from journey.engine import Database, quote_ident

HOSTILE = ['o\'brien', 'a"b', 'x"; DROP TABLE events; --', "名前", "with space"]


@pytest.mark.parametrize("name, quoted", [("user_id", '"user_id"'), ('a"b', '"a""b"'), ("o'brien", '"o\'brien"')])
def test_quote_ident(name, quoted):
    assert quote_ident(name) == quoted


@pytest.mark.parametrize("bad", ["", None, "a\x00b"])
def test_quote_ident_refuses_what_cannot_be_a_name(bad):
    with pytest.raises(ValueError):
        quote_ident(bad)


def test_hostile_column_names_load_as_plain_columns(write):
    header = ",".join(["user_id", "timestamp", "event", *[f'"{h.replace(chr(34), chr(34) * 2)}"' for h in HOSTILE]])
    log = journey.load(write("h.csv", header + "\nu1,2024-03-01,x,1,2,3,4,5\n"))
    assert log.report.rows_loaded == 1
    assert set(HOSTILE) <= set(log.columns)
    assert journey.overview(log).iloc[0].events == 1


def test_hostile_column_names_of_parquet_load_as_plain_columns(tmp_path):
    # also the names of the parameters in the staging SQL, which must stay plain column names
    names = [*HOSTILE, "$path", "$files", "$starts"]
    frame = pd.DataFrame({"user_id": ["u1"], "timestamp": ["2024-03-01 10:00:00"], "event": ["x"],
                          **{n: [f"v{i}"] for i, n in enumerate(names)}})
    (tmp_path / "folder").mkdir()
    frame.to_parquet(tmp_path / "h.parquet")
    frame.to_parquet(tmp_path / "folder" / "part-1.parquet")
    for source in (tmp_path / "h.parquet", tmp_path / "folder"):
        log = journey.load(str(source))
        assert log.report.rows_loaded == 1
        assert set(names) <= set(log.source_columns())
        assert log.db.rows(f"SELECT {', '.join(map(quote_ident, names))} FROM raw")[0] == tuple(
            f"v{i}" for i in range(len(names)))


def test_hostile_values_are_data(write):
    value = "x'); DROP TABLE events; --"
    log = journey.load(write("h.csv", f"user_id,timestamp,event\n\"{value}\",2024-03-01,\"{value}\"\n"))
    assert log.to_pandas()["event"].tolist() == [value]
    assert log.where(users=[value]).head()["user_id"].tolist() == [value]


def test_each_database_is_private_and_removed_on_close():
    a, b = Database(), Database()
    a.execute("CREATE TABLE t AS SELECT 1 AS x")
    assert b.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'") == 0
    path = a.path
    assert os.path.exists(path)
    a.close()
    assert not os.path.exists(path)
    assert a.closed


def test_close_all_closes_every_open_database():
    from journey import engine

    a, b = Database(), Database()
    paths = [a.path, b.path]
    engine.close_all()
    assert a.closed and b.closed and not any(os.path.exists(p) for p in paths)


def test_a_process_about_to_end_removes_each_folder_and_leaves_the_connection():
    """``python -m journey`` ends with os._exit: there, closing a database removes its private folder at
    once and leaves DuckDB's own close to the process's end (run in a child, as the switch is for good)."""
    import subprocess
    import sys

    code = (
        "import os\n"
        "from journey import engine\n"
        "engine.end_without_closing()\n"
        "db = engine.Database(); db.execute('CREATE TABLE t AS SELECT 1 AS x'); path = db.path\n"
        "con = db._con; db.close()\n"
        "print(os.path.exists(os.path.dirname(path)), db.closed, con.execute('SELECT x FROM t').fetchall())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout
    assert out.split() == ["False", "True", "[(1,)]"]


def test_locked_down_database_cannot_read_files(write):
    log = journey.load(write("e.csv", "user_id,timestamp,event\na,2024-03-01,x\n"))
    secret = write("secret.csv", "password\nhunter2\n")
    assert log.db.scalar("SELECT count(*) FROM read_csv($p)", {"p": secret}) == 1
    log.db.lock_down()
    with pytest.raises(Exception, match="(?i)disabled|external"):
        log.db.scalar("SELECT count(*) FROM read_csv($p)", {"p": secret})
    with pytest.raises(Exception, match="(?i)lock"):
        log.db.execute("SET enable_external_access = true")
    assert journey.overview(log).iloc[0].events == 1  # analyses still work
    remapped = journey.remap(log, {"user": "user_id"})  # re-mapping needs no file either
    assert remapped.report.rows_loaded == 1


def test_a_parquet_source_is_read_from_the_databases_own_copy(tmp_path):
    """A Parquet file is not copied into a table but read through a view over a private copy (ADR 0016):
    the rows stay readable after the file is gone and after lock-down, and the copy goes with the database."""
    path = tmp_path / "e.parquet"
    pd.DataFrame({"user_id": ["a", "a", "b"], "timestamp": ["2024-03-01 10:00:00"] * 3,
                  "event": ["x", "y", "x"]}).to_parquet(path)
    log = journey.load(str(path))
    os.remove(path)
    (copy,) = log.db.file_copies
    assert os.path.exists(copy) and log.db.scalar(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'raw'") == "VIEW"
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    log.db.lock_down()
    with pytest.raises(Exception, match="(?i)disabled|external"):
        log.db.scalar("SELECT count(*) FROM read_csv($p)", {"p": str(secret)})
    _remapped_from_the_copy_then_closed(log, copy)


def _remapped_from_the_copy_then_closed(log, copy):
    """Three rows, events x, y, x of two users, mapped the other way round (the event as the user) after
    lock-down: read from the private copy. Closing the database removes the copy."""
    remapped = journey.remap(log, {"user": "event", "event": "user_id"})
    assert remapped.report.rows_loaded == 3 and remapped.report.users == 2
    assert sorted(remapped.to_pandas()["user_id"]) == ["x", "x", "y"]
    log.db.close()
    assert not os.path.exists(copy)


def test_a_csv_source_is_parsed_once_into_a_private_parquet_copy(write):
    """A CSV file is parsed once into a Parquet file of the database's private folder, which `raw` reads
    (ADR 0021): the header's names (hostile ones included) and the record numbers come back, the rows stay
    readable after the file is gone and after lock-down, and the copy goes with the database."""
    path = write("e.csv", 'user_id,timestamp,event,"a""b"\nu1,2024-03-01 10:00:00,x,1\n'
                          'u1,2024-03-01 10:05:00,y,2\nu2,2024-03-01 11:00:00,x,3\n')
    log = journey.load(path)
    os.remove(path)
    (copy,) = log.db.file_copies
    assert copy.endswith(".parquet") and os.path.exists(copy)
    assert log.db.scalar("SELECT table_type FROM information_schema.tables WHERE table_name = 'raw'") == "VIEW"
    assert log.source_columns() == ["user_id", "timestamp", "event", 'a"b']
    assert log.db.rows("SELECT __row_no, \"a\"\"b\" FROM raw ORDER BY __row_no") == [(1, "1"), (2, "2"), (3, "3")]
    log.db.lock_down()
    _remapped_from_the_copy_then_closed(log, copy)


def test_csv_record_numbers_skip_the_rejected_records(write):
    """Records 2 and 4 have a wrong number of fields: the loaded rows keep their own record numbers, read
    from the Parquet copy and renumbered around the rejects."""
    path = write("r.csv", "user_id,timestamp,event\nu1,2024-03-01 10:00:00,a\nu1,2024-03-01,b,extra\n"
                          "u2,2024-03-01 11:00:00,c\nbroken\nu3,2024-03-02 09:00:00,d\n")
    log = journey.load(path)
    assert (log.report.rows_read, log.report.rows_loaded, log.report.rows_rejected) == (5, 3, 2)
    assert log.db.rows("SELECT row_no, event FROM events ORDER BY row_no") == [(1, "a"), (3, "c"), (5, "d")]
    assert [r[0] for r in log.db.rows("SELECT row_no FROM rejects ORDER BY row_no")] == [2, 4]


def test_arrow_binds_parameters_as_values_and_leaves_quoted_text_alone():
    """Database.arrow reads each parameter from a session variable of its own cursor: the value is data
    (a hostile one included), ``$a`` inside quotes stays text, and nothing is left set for later queries."""
    db = Database()
    db.lock_down()  # hosted mode: variables are still allowed
    hostile = "x'); DROP TABLE t; --"
    table = db.arrow("SELECT $a + 1 AS n, '$a' AS text, 1 AS \"$a\", list_contains($names, $h) AS found, $h AS h",
                     {"a": 41, "names": ["p", hostile], "h": hostile, "unused": 3})
    assert table.to_pylist() == [{"n": 42, "text": "$a", "$a": 1, "found": True, "h": hostile}]
    assert db.scalar("SELECT getvariable('a') IS NULL")  # another cursor does not see them
    rows = "SELECT range AS x FROM range(100000) WHERE range % $m = 0"  # rows come in the order run gives
    assert db.arrow(rows, {"m": 7}).column("x").to_pylist() == [r[0] for r in db.rows(rows, {"m": 7})]


def test_arrow_unordered_gives_the_same_rows_and_leaves_the_order_kept_elsewhere():
    """``ordered=False`` lets DuckDB hand over rows in the order its threads finish (its own cursor's
    setting): the same rows, and every other query still keeps insertion order."""
    db = Database()
    rows = "SELECT range AS x FROM range(300000) WHERE range % $m = 0"
    loose = db.arrow(rows, {"m": 3}, ordered=False).column("x").to_pylist()
    assert sorted(loose) == list(range(0, 300000, 3))
    assert db.scalar("SELECT current_setting('preserve_insertion_order')") is True
    assert db.arrow(rows, {"m": 3}).column("x").to_pylist() == list(range(0, 300000, 3))


def test_workers_rest_until_the_next_query_and_a_locked_database_keeps_its_settings():
    """rest_workers stops DuckDB's worker threads (one thread: the caller's) until the next query, which
    runs with them all again; a locked database changes no setting, and an unordered read still works."""
    db = Database(threads=2)
    db.rest_workers()
    assert db._con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    assert db.scalar("SELECT current_setting('threads')") == 2
    locked = Database(threads=2)
    locked.lock_down()
    locked.rest_workers()
    assert locked._con.execute("SELECT current_setting('threads')").fetchone()[0] == 2
    rows = "SELECT range AS x FROM range(300000) WHERE range % $m = 0"
    assert locked.arrow(rows, {"m": 3}, ordered=False).column("x").to_pylist() == list(range(0, 300000, 3))


def test_the_events_table_stores_text_without_fsst(sample_log):
    """The sample's users, sessions and orders, which DuckDB would otherwise store with FSST, are stored
    in dictionaries (see Database.__init__)."""
    used = dict(sample_log.db.rows("SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('events') "
                                   "WHERE segment_type = 'VARCHAR' GROUP BY ALL"))
    assert {"user_id", "session_id", "order_id"} <= set(used)
    assert not [c for c, methods in used.items() if any("FSST" in m for m in methods)], used


def test_import_journey_leaves_pandas_until_a_result_needs_it():
    """pandas is imported on first use (journey.lazy), so scripts start faster; results are DataFrames."""
    import subprocess
    import sys

    sample = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "sample_shop.csv")
    code = (
        "import sys, journey\n"
        "print('pandas' in sys.modules)\n"
        f"log = journey.load({sample!r})\n"
        "df = journey.funnel(log, ['page_view', 'product_view'])\n"
        "print('pandas' in sys.modules, type(df).__name__, int(df.users.iloc[0]) > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__))).stdout.split("\n")
    assert out[0] == "False"
    assert out[1] == "True DataFrame True"


def test_a_parquet_file_read_in_place_loads_without_pandas(tmp_path):
    """A command's load binds no parameter and touches no DataFrame (ADR 0013), so it runs while pandas
    is imported on another thread: after loading a Parquet file in place, pandas is still not imported."""
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = str(tmp_path / "e.parquet")
    pq.write_table(pa.table({"user_id": ["a", "b"], "timestamp": ["2024-03-01 10:00:00", "01/03/2024 11:00"],
                             "event": ["view", "buy"]}), path)
    code = ("import sys, journey\n"
            f"log = journey.load({path!r}, in_place=True)\n"
            "print('pandas' in sys.modules, log.db.scalar('SELECT count(*) FROM events'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__))).stdout.split()
    assert out == ["False", "2"]


def test_lazy_module_reads_the_real_module():
    from journey.lazy import LazyModule

    lazy = LazyModule("json")
    assert lazy.dumps({"a": 1}) == '{"a": 1}'
    assert "dumps" in vars(lazy)  # kept after the first read
    with pytest.raises(AttributeError):
        lazy.no_such_name
