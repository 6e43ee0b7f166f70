"""python -m journey: exit codes and output."""

import json
import subprocess
import sys

import pytest

from journey.cli import main

from .conftest import ROOT, SAMPLE


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "journey", *args], capture_output=True, text=True, cwd=ROOT)


def test_load_json_has_the_report(write):
    path = write("e.csv", "Customer ID,Event Time,Event Name\n007,2024-03-01 10:00,view\n,2024-03-01,view\n")
    result = run_cli("load", path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["rows_read"], report["rows_loaded"], report["rows_rejected"]) == (2, 1, 1)
    assert report["reject_reasons"] == {"missing user": 1}
    assert report["mapping"]["user"] == "Customer ID"
    assert (report["users"], report["events"], report["sessions"]) == (1, 1, 1)
    assert report["first_ts"] == report["last_ts"] == "2024-03-01T10:00:00"


def test_load_with_map_override(write, capsys):
    path = write("e.csv", "a,b,c\nu1,2024-03-01,x\n")
    assert main(["load", path, "--map", "user=a,time=b,event=c", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mapping"]["event"] == "c"


def test_load_text_summary(write, capsys):
    path = write("e.csv", "user_id,timestamp,event\nu1,2024-03-01,x\n")
    assert main(["load", path]) == 0
    assert "rows read 1 = loaded 1 + rejected 0" in capsys.readouterr().out


def test_rejects_written_to_csv(write, tmp_path, capsys):
    path = write("e.csv", "user_id,timestamp,event\nu1,2024-03-01,x\nu2,never,x\n")
    out = tmp_path / "rejects.csv"
    assert main(["load", path, "--rejects", str(out)]) == 0
    assert "unreadable time" in out.read_text()


def test_bad_file_is_a_message_and_nonzero_exit(write):
    result = run_cli("load", write("e.csv", ""))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_map_is_a_message(write, capsys):
    path = write("e.csv", "user_id,timestamp,event\nu1,2024-03-01,x\n")
    assert main(["load", path, "--map", "user=nope"]) == 1
    assert "not in the file" in capsys.readouterr().err


def test_overview_json_on_the_sample(capsys):
    assert main(["overview", SAMPLE, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["users"] == 5000 and out["events"] > 30000
    assert 0 < out["conversion_rate"] < 1


def test_sample_is_deterministic(tmp_path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["sample", "--users", "50", "--out", str(a)]) == 0
    assert main(["sample", "--users", "50", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_stages_json(capsys):
    assert main(["stages", SAMPLE, "--json"]) == 0
    stages = json.loads(capsys.readouterr().out)["stages"]
    assert [s["stage"] for s in stages] == ["awareness", "consideration", "purchase", "retention", "advocacy"]
    assert stages[0]["users"] == 5000 and stages[0]["conversion_from_start"] == 1.0
    assert all(a["users"] >= b["users"] for a, b in zip(stages, stages[1:]))
    assert set(stages[0]) >= {"users", "conversion_from_previous", "conversion_from_start", "median_seconds_from_start"}


def test_funnel_json_with_trend_and_groups(write, capsys):
    path = write(
        "f.csv",
        "user_id,timestamp,event,device\n"
        "a,2024-05-20 10:00,view,mobile\na,2024-05-20 10:05,buy,mobile\n"
        "b,2024-05-21 10:00,view,desktop\n"
        "c,2024-05-27 10:00,view,desktop\nc,2024-05-27 11:00,buy,desktop\n",
    )
    assert main(["funnel", path, "--steps", "view,buy", "--window", "2h", "--trend", "week", "--by", "device", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["users"] for s in out["steps"]] == [3, 2]
    assert out["steps"][1]["median_seconds_to_convert"] == 1950.0  # median(300, 3600)
    assert out["trend"] == [
        {"period": "2024-05-20", "users": 2, "converted": 1, "conversion": 0.5},
        {"period": "2024-05-27", "users": 1, "converted": 1, "conversion": 1.0},
    ]
    groups = {g["group"]: [s["users"] for s in g["steps"]] for g in out["groups"]}
    assert groups == {"desktop": [2, 1], "mobile": [1, 1]}


def test_funnel_unknown_event_suggests(capsys):
    assert main(["funnel", SAMPLE, "--steps", "product_view,purchse"]) == 1
    assert "Did you mean 'purchase'?" in capsys.readouterr().err


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_a_funnel_on_data_with_no_readable_time_says_why(write, tmp_path, capsys, ext):
    """Every row rejected: the message says so and gives the reasons, for a copied and a read-in-place log."""
    path = write("bad.csv", "user_id,timestamp,event\na,soon,view\nb,later,buy\nc,,view\n")
    if ext == "parquet":
        import duckdb

        out = str(tmp_path / "bad.parquet")
        duckdb.execute(f"COPY (SELECT * FROM read_csv('{path}', all_varchar=true)) TO '{out}' (FORMAT parquet)")
        path = out
    assert main(["funnel", path, "--steps", "view,buy"]) == 1
    err = capsys.readouterr().err
    assert "No events were loaded" in err and "all 3 rows were rejected" in err, err
    assert "2 unreadable time" in err and "1 missing time" in err, err
    assert "Allowed values" not in err


def test_paths_json(write, capsys):
    path = write("p.csv", "user_id,timestamp,event\na,2024-05-20 10:00,home\na,2024-05-20 10:01,cart\n"
                          "b,2024-05-20 10:00,home\n")
    assert main(["paths", path, "--steps", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nodes"] == [{"step": 1, "event": "home", "users": 2, "ends": 1},
                            {"step": 2, "event": "cart", "users": 1, "ends": 1}]
    assert out["links"] == [{"step": 1, "source": "home", "target": "cart", "users": 1}]


def test_paths_from_unknown_event(capsys):
    assert main(["paths", SAMPLE, "--from", "purchse"]) == 1
    assert "Did you mean 'purchase'?" in capsys.readouterr().err


def test_retention_json(write, capsys):
    path = write("r.csv", "user_id,timestamp,event\na,2024-01-05,x\na,2024-02-07,x\nb,2024-01-20,x\nc,2024-02-10,x\n")
    assert main(["retention", path, "--period", "month", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"cohorts": [{"cohort": "2024-01", "size": 2, "retention": [1.0, 0.5]},
                               {"cohort": "2024-02", "size": 1, "retention": [1.0]}]}


def test_clusters_json_repeats(capsys):
    assert main(["clusters", SAMPLE, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["clusters", SAMPLE, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert first["k"] == len(first["clusters"]) and first["churn_days"] > 0
    assert sum(c["customers"] for c in first["clusters"]) == 5000
    assert len({c["name"] for c in first["clusters"]}) == first["k"]


def test_report_writes_one_self_contained_html_file(tmp_path):
    out = tmp_path / "report.html"
    res = run_cli("report", SAMPLE, "--out", str(out), "--steps", "product_view,add_to_cart,purchase")
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert text.startswith("<!doctype html>") and "wrote" in res.stdout
    for heading in ("Overview", "The five-stage journey", "Step funnel: product_view → add_to_cart → purchase",
                    "Drop-off", "Journey map", "Retention", "Churn clusters"):
        assert f"<h2>{heading}" in text
    assert text.count("<svg") == 4  # events per day, the two funnels, the retention heatmap: inside the file
    assert "37,257 rows read: 37,257 loaded, 0 rejected" in text
    assert "<td>1,482</td>" in text  # users who added to cart, as on the Funnels page
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text  # nothing fetched


@pytest.mark.parametrize("args", [
    ("report", SAMPLE, "--no-clusters", "--out", "/nonexistent/dir/r.html"),
    ("sample", "--users", "10", "--out", "/nonexistent/dir/s.csv"),
    ("load", SAMPLE, "--rejects", "/nonexistent/dir/rejects.csv"),
])
def test_an_output_path_that_cannot_be_written_is_one_line_not_a_traceback(args):
    res = run_cli(*args)
    assert res.returncode == 1
    assert res.stderr.startswith("error: cannot write") and "/nonexistent/dir" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_command_ends_with_its_output_whole_and_its_databases_removed(tmp_path):
    """python -m journey ends without tearing the interpreter down: its output must still be flushed
    in full, and the databases it opened closed and their folders removed."""
    import os

    # output to a pipe is held in a buffer unless PYTHONUNBUFFERED is set
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "TMPDIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-m", "journey", "funnel", SAMPLE, "--steps", "page_view,purchase", "--json"],
                         capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert res.returncode == 0, res.stderr
    assert [s["step"] for s in json.loads(res.stdout)["steps"]] == ["page_view", "purchase"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith("journey-")]
    bad = run_cli("funnel", SAMPLE, "--steps", "page_view,no_such_event")
    assert bad.returncode == 1 and bad.stderr.startswith("error:")


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`python -m journey … | head` where the reader has gone before the output is written: exit 0 and
    nothing on stderr (no traceback, no "lost sys.stderr")."""
    proc = subprocess.Popen([sys.executable, "-m", "journey", "funnel", SAMPLE, "--steps", "page_view,purchase", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # the load takes far longer than this: the output meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""

