"""Chart specs: what Streamlit draws depends on them (sizes, axes), so they are checked as data."""

import pandas as pd

from journey import charts


def test_heatmaps_fit_only_the_width_so_each_row_keeps_its_height():
    """Streamlit's autosize "fit" squashed a heatmap sized by its rows to a few pixels; fit-x keeps it."""
    rows = [(s, t) for s in "abcdefghijkl" for t in "xy"]
    df = pd.DataFrame({"source": [s for s, _ in rows], "target": [t for _, t in rows], "transitions": 1, "users": 1,
                       "share_of_source": 0.5, "median_seconds": 1.0})
    spec = charts.transitions_chart(df).to_dict()
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    assert spec["height"] == 22 * 12  # 12 sources, 22 px each
    assert spec["encoding"]["x"]["axis"]["labelOverlap"] is False  # Vega dropped every other target's name

    matrix = pd.DataFrame({"step": [1, 1, 2], "event": ["a", "b", "a"], "units": [3, 1, 2], "share": [0.75, 0.25, 1.0]})
    assert charts.step_matrix_chart(matrix).to_dict()["autosize"]["type"] == "fit-x"


def test_retention_curves_mark_whole_periods_only():
    """Periods 1 and 2 only: the axis had a tick at 1.5, printed "2" twice."""
    df = pd.DataFrame({"cohort_label": ["2024-01"] * 3 + ["2024-02"] * 2, "period": [0, 1, 2, 0, 1],
                       "retention": [1.0, 0.2, 0.1, 1.0, 0.3]})
    average = pd.DataFrame({"period": [0, 1, 2], "retention": [1.0, 0.25, 0.1]})
    spec = charts.retention_curves_chart(df, average).to_dict()
    axes = [layer["encoding"]["x"]["axis"] for layer in spec["layer"]]
    assert all(axis["values"] == [1, 2] for axis in axes)


def _tables(spec: dict) -> set[str]:
    """The names of the tables a spec's views read, at the top level and in each layer."""
    return {view["data"]["name"] for view in [spec, *spec.get("layer", [])] if "data" in view}


def test_the_layers_of_a_chart_read_one_table():
    """Streamlit 1.50 left a layered chart empty after a rerun changed its layers' own tables (the retention
    curves after a filter change); one table shared by every layer is redrawn."""
    df = pd.DataFrame({"cohort_label": ["2024-01"] * 3 + ["2024-02"] * 2, "period": [0, 1, 2, 0, 1],
                       "retention": [1.0, 0.2, 0.1, 1.0, 0.3]})
    average = pd.DataFrame({"period": [0, 1, 2], "retention": [1.0, 0.25, 0.1]})
    spec = charts.retention_curves_chart(df, average).to_dict()
    assert len(_tables(spec)) == 1 and len(spec["datasets"]) == 1
    rows = next(iter(spec["datasets"].values()))
    # period 0 (100 %) is left out; the cohorts' points and the average's, each kept apart by its filter
    assert [(r["line"], r.get("cohort_label"), r["period"], r["retention"]) for r in rows] == [
        ("cohort", "2024-01", 1, 0.2), ("cohort", "2024-01", 2, 0.1), ("cohort", "2024-02", 1, 0.3),
        ("average", None, 1, 0.25), ("average", None, 2, 0.1)]
    assert [layer["transform"] for layer in spec["layer"]] == [[{"filter": "(datum.line === 'cohort')"}],
                                                                 [{"filter": "(datum.line === 'average')"}]]

    calibration = pd.DataFrame({"bin": ["0-10%", "10-20%"], "predicted": [0.05, 0.15], "observed": [0.1, 0.1],
                                "customers": [10, 20]})
    spec = charts.calibration_chart(calibration).to_dict()
    assert len(_tables(spec)) == 1 and len(spec["datasets"]) == 1
    diagonal = spec["layer"][0]["encoding"]
    assert [diagonal[c]["datum"] for c in ("x", "y", "x2", "y2")] == [0, 0, 1, 1]


def test_a_histogram_of_whole_days_spans_each_day_from_its_start():
    """Order gaps of 0, 1 and 3 days: bars [0, 1), [1, 2) and [3, 4), so the axis starts at 0 (bars
    centred on their day had started it at -4)."""
    gaps = pd.DataFrame({"days": [0, 1, 3], "gaps": [5, 2, 1]})
    chart = charts.binned_bars_chart(gaps, "days", "gaps", x_title="days between consecutive orders")
    spec = chart.to_dict()
    assert spec["encoding"]["x"]["bin"] == "binned" and spec["encoding"]["x2"]["field"] == "bin_end"
    assert chart.data[["days", "bin_end", "gaps"]].values.tolist() == [[0, 1, 5], [1, 2, 2], [3, 4, 1]]
    assert spec["encoding"]["x"]["title"] == "days between consecutive orders"
