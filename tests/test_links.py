"""Shareable links: widget values to and from the query string."""

import datetime as dt

import pytest

from journey.ui.links import _decode, _encode


def test_round_trips():
    for value in ("device", ["a", "b|c"][:1], [], True, False, 7, 2.5, (dt.date(2024, 1, 1), dt.date(2024, 2, 1))):
        assert _decode(_encode(value) or "", value) == (list(value) if isinstance(value, list) else value)


def test_bad_numbers_raise_value_error():
    with pytest.raises(ValueError):
        _decode("seven", 7)


def test_a_link_brings_dates_and_sliders_back_and_clamps_them():
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(f"{ROOT}/app.py", default_timeout=120)
    at.query_params.update({"filter_dates": "2024-02-01|2024-02-29", "paths_steps": "7", "paths_top": "99",
                            "matrix_steps": "x"})
    at.switch_page("pages/journey_map.py").run()
    assert not at.exception
    assert at.sidebar.date_input(key="filter_dates").value == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert at.session_state["filters"].start == dt.date(2024, 2, 1)
    assert at.slider(key="paths_steps").value == 7
    assert at.slider(key="paths_top").value == 15  # 99 is past the slider's end: clamped
    # and the view writes them back for the next link
    assert at.query_params["paths_steps"] in ("7", ["7"])
    at.radio(key="map_view").set_value("matrix").run()  # the step matrix is another view of the page
    assert at.slider(key="matrix_steps").value == 6  # not a number: the default
    assert at.query_params["paths_steps"] in ("7", ["7"])  # kept while the paths are not drawn


def test_dates_outside_the_data_are_clamped_not_an_error():
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(f"{ROOT}/app.py", default_timeout=120)
    at.query_params["filter_dates"] = "2020-01-01|2030-01-01"
    at.run()
    assert not at.exception
    assert at.sidebar.date_input(key="filter_dates").value == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))


def test_a_link_brings_the_number_of_clusters_and_the_clv_inputs_back():
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(f"{ROOT}/app.py", default_timeout=120)
    at.query_params.update({"ret_section": "clusters", "clusters_k": "3", "lc_period": "month", "clv_margin": "0.3",
                            "clv_life": "80"})
    at.switch_page("pages/retention.py").run()
    assert not at.exception
    assert at.radio(key="ret_section").value == "clusters"
    assert at.selectbox(key="clusters_k").value == 3
    at.radio(key="ret_section").set_value("cohorts").run()
    assert at.radio(key="lc_period").value == "month"
    at.switch_page("pages/customers.py").run()
    assert not at.exception
    assert at.number_input(key="clv_margin").value == 0.3
    assert at.number_input(key="clv_life").value == 50.0  # clamped to the input's range


def test_a_link_brings_the_journey_map_choices_back_and_drops_unknown_ones():
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(f"{ROOT}/app.py", default_timeout=120)
    at.query_params.update({"paths_mode": "after an event", "paths_anchor": "add_to_cart", "paths_collapse": "0",
                            "trans_compare": "device", "matrix_anchor": "no_such_event", "paths_level": "planets"})
    at.switch_page("pages/journey_map.py").run()
    assert not at.exception
    assert at.radio(key="paths_mode").value == "after an event"
    assert at.selectbox(key="paths_anchor").value == "add_to_cart"
    assert at.checkbox(key="paths_collapse").value is False
    assert at.radio(key="paths_level").value == "events"  # not an option: default
    at.radio(key="map_view").set_value("transitions").run()
    assert at.selectbox(key="trans_compare").value == "device"
    at.radio(key="map_view").set_value("matrix").run()
    assert at.selectbox(key="matrix_anchor").value == "(the first event)"  # not an event of this log: default



@pytest.mark.parametrize("page, query", [
    ("pages/retention.py", {"ret_period": "planets", "ret_return": "nope", "lc_period": "x", "ret_start": "q",
                            "ret_view": "z", "clusters_k": "99", "ret_section": "nowhere"}),
    ("pages/funnels.py", {"stages_model": "x", "stages_by": "nope", "stages_view": "y", "funnel_by": "zz",
                          "funnel_trend": "q", "steps": "nope|never", "window": "abc"}),
    ("pages/customers.py", {"clv_by": "nope", "clv_margin": "lots"}),
    ("pages/overview.py", {"source_kind": "Somewhere else", "filter_device": "toaster", "filter_dates": "x|y"}),
])
def test_a_hand_edited_link_never_breaks_a_page(page, query):
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(f"{ROOT}/app.py", default_timeout=120)
    at.query_params.update(query)
    at.switch_page(page).run()
    assert not at.exception
