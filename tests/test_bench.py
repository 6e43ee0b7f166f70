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


def test_plot_has_a_bar_for_each_figure_and_reference(tmp_path):
    from journey.bench import plot_rows, write_plot

    results = [
        {"size": "1M", "rows": 1_000_000, "step": "4-step funnel, whole CLI process", "seconds": 2.0,
         "reference": "ClickHouse windowFunnel (chdb), whole process", "ref_seconds": 1.0},
        {"size": "1M", "rows": 1_000_000, "step": "paths, 5 steps", "seconds": 0.5},
        {"size": "10M", "rows": 10_000_000, "step": "app: Funnels page opened", "seconds": 1.5},
    ]
    assert plot_rows(results) == [
        {"events": "1M", "step": "4-step funnel, whole CLI process", "by": "Journey", "seconds": 2.0},
        {"events": "1M", "step": "4-step funnel, whole CLI process", "by": "ClickHouse windowFunnel",
         "seconds": 1.0},
        {"events": "1M", "step": "paths, 5 steps", "by": "Journey", "seconds": 0.5},
        {"events": "10M", "step": "app: Funnels page opened", "by": "Journey", "seconds": 1.5},
    ]
    path = tmp_path / "img" / "b.svg"
    write_plot(results, str(path))
    svg = path.read_text()
    assert svg.startswith("<svg") and "ClickHouse windowFunnel" in svg and "paths, 5 steps" in svg


def test_a_steps_peak_memory_is_its_own_not_its_parents():
    """A child forked from a process that holds 400 MB reports its own peak (well under 200 MB for a few
    lines of Python); getrusage's ru_maxrss would report the parent's 400 MB."""
    import numpy as np

    from journey.bench import PEAK, run_child

    held = np.ones(400 * 2**20 // 8)  # 400 MB, every page touched
    seconds, peak, printed = run_child(PEAK + "import json\nprint('x')\nprint(json.dumps({'peak_mb': peak_mb()}))\n")
    assert printed == "x" and 1 < peak < 200, peak
    assert held.sum() == len(held)


def test_the_whole_process_comparison_runs_both_in_turn():
    """Journey's command and ClickHouse's run one after the other, each as many times: each child appends
    its name to a file, which then reads mine, ref, mine, ref, mine, ref; medians and the largest peak."""
    import json
    import tempfile

    from journey.bench import PEAK, measure_alternated

    with tempfile.TemporaryDirectory() as folder:
        log = f"{folder}/order.txt"

        def child(name: str, seconds: float) -> str:
            return (PEAK + "import json\n"
                    f"open({log!r}, 'a').write({name!r} + ' ')\n"
                    f"print(json.dumps({{'seconds': {seconds}, 'out': '[1, 2]'}}))\n"
                    "print(json.dumps({'peak_mb': peak_mb()}))\n")

        mine, ref = measure_alternated(child("mine", 2.0), child("ref", 1.0), 3)
        assert open(log).read().split() == ["mine", "ref"] * 3
    assert mine["seconds"] == 2.0 and ref["seconds"] == 1.0 and mine["runs"] == ref["runs"] == 3
    assert mine["out"] == ref["out"] == "[1, 2]" and mine["peak_mb"] > 1
    assert json.dumps(mine)  # plain values, as the report writes them
