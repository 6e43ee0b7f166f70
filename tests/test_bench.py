"""The benchmark harness's own pieces (the timings themselves are for `make bench`, never asserted)."""

from journey.bench import parse_size, write_report


def test_parse_size():
    assert [parse_size(s) for s in ("1M", "10m", "100M", "500k", "2500")] == [1_000_000, 10_000_000, 100_000_000,
                                                                             500_000, 2500]


def test_report_table(tmp_path):
    path = tmp_path / "b.md"
    write_report([
        {"rows": 1_000_000, "step": "4-step funnel, whole CLI process", "seconds": 2.0, "peak_mb": 800.0,
         "reference": "ClickHouse", "ref_seconds": 1.0, "ratio": 2.0, "counts_equal": True},
        {"rows": 1_000_000, "step": "paths, 5 steps", "seconds": 0.5, "peak_mb": 700.0},
    ], str(path), runs=3)
    text = path.read_text()
    assert "| 1,000,000 | 4-step funnel, whole CLI process | 2.00 | 800 | ClickHouse | 1.00 | 2.00 | yes |" in text
    assert "| 1,000,000 | paths, 5 steps | 0.50 | 700 |" in text
