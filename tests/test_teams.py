"""Team datasets declared in journey.toml: reading the file, every kind of source, sharing across sessions."""

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import journey
from journey.errors import JourneyError, LoadError
from journey.teams import read_config

from .conftest import ROOT, SAMPLE

APP = f"{ROOT}/app.py"


@pytest.fixture(scope="module")
def team_dir(tmp_path_factory):
    """A team folder: a renamed-column Parquet file, a folder of Parquet parts, a DuckDB file, a stage map."""
    d = tmp_path_factory.mktemp("team")
    df = pd.read_csv(SAMPLE, dtype=str)
    df.rename(columns={"user_id": "customer", "timestamp": "when"}).to_parquet(d / "shop.parquet")
    (d / "parts" / "2024").mkdir(parents=True)
    df.iloc[:10_000].to_parquet(d / "parts" / "a.parquet")
    df.iloc[10_000:].to_parquet(d / "parts" / "2024" / "b.parquet")
    con = duckdb.connect(str(d / "warehouse.duckdb"))
    con.execute("CREATE TABLE clicks AS SELECT * FROM df")
    con.close()
    (d / "stages.toml").write_text(journey.StageMap().to_toml())
    (d / "journey.toml").write_text('''
[[dataset]]
name = "Shop (renamed columns)"
source = "shop.parquet"
map = { user = "customer", time = "when" }
stages = "stages.toml"

[[dataset]]
name = "Parts"
source = "parts"

[[dataset]]
name = "Warehouse"
source = "warehouse.duckdb"
table = "clicks"
''')
    return d


def test_read_config_resolves_paths_from_the_file(team_dir):
    specs = read_config(str(team_dir / "journey.toml"))
    assert [s.name for s in specs] == ["Shop (renamed columns)", "Parts", "Warehouse"]
    assert specs[0].source == str(team_dir / "shop.parquet")
    assert specs[0].mapping == {"user": "customer", "time": "when"}
    assert specs[0].stages == str(team_dir / "stages.toml")
    assert specs[2].table == "clicks"


@pytest.mark.parametrize("text, message", [
    ("", "declares no datasets"),
    ("[[dataset]]\nsource = 'a.csv'", "give it a name"),
    ("[[dataset]]\nname = 'A'", "give it a source"),
    ("[[dataset]]\nname = 'A'\nsource = 'a'\n[[dataset]]\nname = 'A'\nsource = 'b'", "used twice"),
    ("[[dataset]]\nname = 'A'\nsource = 'a'\nmap = { shopper = 'x' }", "unknown role 'shopper'"),
    ("[[dataset]]\nname = 'A'\nsource = 'a'\ncolour = 'red'", "unknown key 'colour'"),
    ("[[dataset]]\nname = 'A'\nsource = 'a'\ndate_order = 'ymd'", "auto, dmy or mdy"),
    ("[[dataset]\nname = 'A'", "not valid TOML"),
])
def test_a_broken_config_says_which_entry_and_what_to_do(tmp_path, text, message):
    path = tmp_path / "journey.toml"
    path.write_text(text)
    with pytest.raises(JourneyError, match=message):
        read_config(str(path))


def test_every_kind_of_source_loads_the_same_rows(team_dir):
    plain = journey.load(SAMPLE)
    expected = journey.funnel(plain, ["product_view", "add_to_cart", "purchase"])["users"].tolist()
    for source, kw in [(team_dir / "parts", {}), (team_dir / "warehouse.duckdb", {"table": "clicks"})]:
        log = journey.load(source, **kw)
        assert log.report.events == plain.report.events == 37_257
        assert journey.funnel(log, ["product_view", "add_to_cart", "purchase"])["users"].tolist() == expected
    # the folder's row numbers run on from file to file, in path order (2024/b.parquet, then a.parquet)
    parts = journey.load(team_dir / "parts")
    assert parts.db.scalar("SELECT min(row_no) FROM events") == 1
    assert parts.db.scalar("SELECT max(row_no) FROM events") == 37_257
    assert parts.db.scalar("SELECT count(DISTINCT row_no) FROM events") == 37_257
    first_b = pd.read_csv(SAMPLE, dtype=str).iloc[10_000]  # b.parquet's first row is row 1
    assert parts.db.scalar("SELECT user_id FROM events WHERE row_no = 1") == first_b["user_id"]
    with pytest.raises(LoadError, match="no table 'nope'.*clicks"):
        journey.load(team_dir / "warehouse.duckdb", table="nope")
    (team_dir / "empty").mkdir(exist_ok=True)
    with pytest.raises(LoadError, match="no .parquet files"):
        journey.load(team_dir / "empty")


def test_sessions_share_one_loaded_team_dataset(team_dir, monkeypatch):
    monkeypatch.setenv("JOURNEY_CONFIG", str(team_dir / "journey.toml"))
    monkeypatch.setenv("JOURNEY_MODE", "hosted")
    first = AppTest.from_file(APP, default_timeout=120).run()
    assert not first.exception
    assert first.sidebar.radio(key="source_kind").value == "Team dataset"  # listed first when declared
    assert first.sidebar.selectbox(key="team_dataset").options == ["Shop (renamed columns)", "Parts", "Warehouse"]
    assert "Users" in [m.label for m in first.metric]
    second = AppTest.from_file(APP, default_timeout=120).run()
    a = first.session_state["datasets"]["team:Shop (renamed columns)"]
    b = second.session_state["datasets"]["team:Shop (renamed columns)"]
    assert a is b  # loaded once, shared
    with pytest.raises(Exception, match="(?i)disabled|external"):  # and locked: no SQL reads server files
        a.db.scalar("SELECT count(*) FROM read_csv('/etc/hostname')")
    first.sidebar.selectbox(key="team_dataset").set_value("Warehouse").run()
    assert not first.exception
    assert first.session_state["current_dataset"] == "team:Warehouse"
    assert second.session_state["current_dataset"] == "team:Shop (renamed columns)"  # the other session stays


def test_a_broken_config_shows_in_the_sidebar(tmp_path, monkeypatch):
    bad = tmp_path / "journey.toml"
    bad.write_text("[[dataset]]\nname = 'A'")
    monkeypatch.setenv("JOURNEY_CONFIG", str(bad))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert any("give it a source" in e.value for e in at.sidebar.error)
    assert at.sidebar.radio(key="source_kind").value == "Sample shop"  # the app keeps working
