"""Every page runs in Streamlit's AppTest, on the sample and on a file of the user's."""

import os

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from journey import charts

from .conftest import ROOT, SAMPLE

APP = f"{ROOT}/app.py"


def metrics(at):
    return {m.label: m.value for m in at.metric}


def filter_devices(at, devices):
    """Set the sidebar's Device filter and rerun."""
    [w for w in at.sidebar.multiselect if w.label == "Device"][0].set_value(devices).run()


def show(at, key, view):
    """Pick a page's view (the row of choices above it: only that view is drawn)."""
    at.radio(key=key).set_value(view).run()
    assert not at.exception


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def test_overview_on_the_sample(app):
    df = pd.read_csv(SAMPLE, dtype=str)
    m = metrics(app)
    assert m["Users"] == f"{df['user_id'].nunique():,}"
    assert m["Events"] == f"{len(df):,}"
    assert m["Orders"] == f"{df.loc[df['event'] == 'purchase', 'order_id'].nunique():,}"
    assert "Loaded" in app.success[0].value


def test_device_filter_changes_the_numbers(app):
    df = pd.read_csv(SAMPLE, dtype=str)
    filter_devices(app, ["mobile"])
    assert not app.exception
    mobile = df[df["device"] == "mobile"]
    assert metrics(app)["Events"] == f"{len(mobile):,}"
    assert metrics(app)["Users"] == f"{mobile['user_id'].nunique():,}"


def open_path(at, path):
    at.sidebar.radio(key="source_kind").set_value("Open a file by path").run()
    at.sidebar.text_input(key="path_text").input(path).run()
    at.sidebar.button(key="path_open").click().run()
    assert not at.exception


def test_open_a_file_by_path_shows_its_counts(app, write):
    path = write(
        "shop.csv",
        "Customer ID,Event Time,Event Name,Amount\n"
        "007,2567-03-01 10:00,view,\n007,2567-03-01 10:05,purchase,\"1,000\"\n"
        "008,2567-03-02 10:00,view,\n,2567-03-02 10:00,view,\n",
    )
    open_path(app, path)
    m = metrics(app)
    assert (m["Users"], m["Events"], m["Orders"], m["Revenue"]) == ("2", "3", "1", "1,000")
    assert m["Visit → purchase"] == "50.0 %"
    assert "1** rejected" in app.warning[0].value


def test_bad_file_gives_a_message_and_the_app_keeps_working(app, write):
    open_path(app, write("empty.csv", ""))
    assert any("empty" in e.value for e in app.sidebar.error)
    app.sidebar.radio(key="source_kind").set_value("Sample shop").run()
    assert not app.exception
    assert metrics(app)["Users"] == "5,000"


def test_data_page_changes_the_mapping_and_it_sticks(app, write):
    path = write("m.csv", "user_id,timestamp,event,other\nu1,2024-03-01,view,x1\nu2,2024-03-01,view,x1\n")
    open_path(app, path)
    assert metrics(app)["Users"] == "2"
    app.switch_page("pages/data.py").run()
    assert not app.exception
    app.selectbox(key="map_user").set_value("other")
    app.button[0].click().run()  # the form's submit button
    assert not app.exception
    assert app.session_state["dataset_settings"][app.session_state["current_dataset"]].overrides["user"] == "other"
    app.switch_page("pages/overview.py").run()
    assert metrics(app)["Users"] == "1"


def test_undetectable_columns_are_picked_on_the_data_page(app, write):
    open_path(app, write("m.csv", "a,b,c\nu1,2024-03-01,view\nu2,2024-03-02,buy\n"))
    assert any("Data & mapping" in e.value for e in app.sidebar.error)
    app.switch_page("pages/data.py").run()
    assert not app.exception
    app.selectbox(key="map_user").set_value("a")
    app.selectbox(key="map_time").set_value("b")
    app.selectbox(key="map_event").set_value("c")
    app.button[0].click().run()
    assert not app.exception
    app.switch_page("pages/overview.py").run()
    assert (metrics(app)["Users"], metrics(app)["Events"]) == ("2", "2")


def test_data_page_on_the_sample(app):
    app.switch_page("pages/data.py").run()
    assert not app.exception
    assert app.title[0].value == "Data & mapping"
    assert len(app.dataframe) >= 1


def test_upload_goes_through_a_temporary_file_that_is_removed():
    """The uploader hands bytes to state.use_upload; the browser test drives the real widget."""

    def script():
        import glob
        import tempfile

        import streamlit as st

        from journey.ui import state

        before = set(glob.glob(f"{tempfile.gettempdir()}/journey-upload-*"))
        log = state.use_upload("orders.csv", b"Customer,Order Date,Amount\nc1,20240301,10\nc2,20240302,5\n", "u1")
        after = set(glob.glob(f"{tempfile.gettempdir()}/journey-upload-*"))
        st.metric("Events", log.report.events)
        st.metric("Leftover upload folders", len(after - before))

    at = AppTest.from_function(script, default_timeout=60).run()
    assert not at.exception
    assert metrics(at) == {"Events": "2", "Leftover upload folders": "0"}


def test_funnels_page_stage_funnel_matches_the_library(app):
    import journey

    app.switch_page("pages/funnels.py").run()
    assert not app.exception
    table = app.dataframe[0].value
    expected = journey.stage_funnel(journey.load(SAMPLE))
    assert table["stage"].tolist() == expected["stage"].tolist()
    assert table["users"].tolist() == [f"{n:,}" for n in expected["users"]]


def test_funnels_page_counts_sessions_under_their_name(app):
    """Counted by session, the step funnel's count column is headed "sessions" (it said "users")."""
    import journey

    app.switch_page("pages/funnels.py").run()
    show(app, "funnels_view", "steps")
    app.selectbox(key="funnel_unit").set_value("sessions").run()
    assert not app.exception
    table = next(d.value for d in app.dataframe if "step" in d.value.columns)
    assert "users" not in table.columns
    expected = journey.funnel(journey.load(SAMPLE), table["step"].tolist(), unit="sessions", window="7d")
    assert table["sessions"].tolist() == [f"{n:,}" for n in expected["users"]]


def test_funnels_page_strict_funnel_matches_the_library_and_has_no_exclusions(app):
    """Strictly consecutive steps: the page counts what journey.funnel counts, and the exclusions field is
    switched off (nothing comes between consecutive events), on again for an ordered funnel."""
    import journey

    app.switch_page("pages/funnels.py").run()
    show(app, "funnels_view", "steps")
    app.selectbox(key="funnel_order").set_value("strict").run()
    assert not app.exception
    table = next(d.value for d in app.dataframe if "step" in d.value.columns)
    expected = journey.funnel(journey.load(SAMPLE), table["step"].tolist(), order="strict", window="7d")
    assert table["users"].tolist() == [f"{n:,}" for n in expected["users"]]
    assert app.multiselect(key="funnel_exclude").disabled
    app.selectbox(key="funnel_order").set_value("ordered").run()
    assert not app.multiselect(key="funnel_exclude").disabled


def test_funnels_page_step_funnel_breakdown_and_people_filter(app):
    app.switch_page("pages/funnels.py").run()
    show(app, "funnels_view", "steps")
    app.selectbox(key="funnel_by").set_value("device").run()
    assert not app.exception
    assert any("Compare two segments" in m.value for m in app.markdown)
    app.button(key="funnel_people_filter").click().run()
    assert not app.exception
    n = len(app.session_state["filters"].users)
    assert n > 0
    app.switch_page("pages/overview.py").run()
    assert metrics(app)["Users"] == f"{n:,}"  # every page now shows only those users


def test_funnels_page_trend_and_stage_trend(app):
    app.switch_page("pages/funnels.py").run()
    show(app, "funnels_view", "steps")
    app.radio(key="funnel_trend").set_value("week").run()
    show(app, "funnels_view", "stages")
    app.radio(key="stages_view").set_value("trend").run()
    assert not app.exception


def test_a_page_draws_only_its_chosen_view(app):
    """The Funnels page opens on the journey stages and draws nothing of the step funnel, and the other way
    round; the Journey map draws its paths, not its transitions."""
    def keys():
        return {w.key for w in [*app.radio, *app.selectbox, *app.multiselect]}

    app.switch_page("pages/funnels.py").run()
    assert "stages_model" in keys() and "funnel_by" not in keys() and "funnel_steps" not in keys()
    show(app, "funnels_view", "steps")
    assert "funnel_by" in keys() and "funnel_steps" in keys() and "stages_model" not in keys()
    app.switch_page("pages/journey_map.py").run()
    assert "paths_level" in keys() and "trans_unit" not in keys()
    show(app, "map_view", "transitions")
    assert "trans_unit" in keys() and "paths_level" not in keys()


def test_a_views_settings_survive_a_visit_to_another_view(app):
    app.switch_page("pages/funnels.py").run()
    app.radio(key="stages_model").set_value("three").run()
    show(app, "funnels_view", "steps")
    app.selectbox(key="funnel_by").set_value("device").run()
    show(app, "funnels_view", "stages")
    assert app.radio(key="stages_model").value == "three"
    show(app, "funnels_view", "steps")
    assert app.selectbox(key="funnel_by").value == "device"


def test_the_chosen_view_is_in_the_link_and_a_link_opens_it(app):
    app.switch_page("pages/funnels.py").run()
    show(app, "funnels_view", "steps")
    assert app.query_params["funnels_view"] == ["steps"]
    colleague = AppTest.from_file(APP, default_timeout=120)
    colleague.query_params["map_view"] = "timeline"
    colleague.run()
    colleague.switch_page("pages/journey_map.py").run()
    assert not colleague.exception
    assert colleague.radio(key="map_view").value == "timeline"
    assert "timeline_query" in {w.key for w in colleague.text_input}


def test_unknown_steps_from_another_dataset_are_dropped(app, write):
    app.switch_page("pages/funnels.py").run()
    open_path(app, write("other.csv", "user_id,timestamp,event\na,2024-03-01 10:00,x\na,2024-03-01 10:01,y\n"))
    app.switch_page("pages/funnels.py").run()
    show(app, "funnels_view", "steps")
    assert not app.exception
    assert app.session_state["funnel_spec"].steps == ["x", "y"]


def test_dropoff_page(app):
    app.switch_page("pages/dropoff.py").run()
    assert not app.exception
    assert any("The biggest loss is at" in m.value for m in app.markdown)
    box = app.selectbox(key="dropoff_step")
    box.set_value(box.options[0]).run()
    assert not app.exception
    show(app, "dropoff_view", "compare")
    assert "odds ratio" in app.dataframe[0].value.columns
    show(app, "dropoff_view", "pages")
    labels = [m.label for m in app.metric]
    assert "Cart abandonment" in labels and "Bounce rate" in labels


def test_journey_map_page(app):
    app.switch_page("pages/journey_map.py").run()
    assert not app.exception
    assert any("users" in c.value and "end" in c.value for c in app.caption)  # the Sankey's caption
    app.radio(key="paths_level").set_value("stages").run()
    assert not app.exception
    app.radio(key="paths_level").set_value("events").run()
    app.radio(key="paths_mode").set_value("after an event").run()
    app.selectbox(key="paths_anchor").set_value("add_to_cart").run()
    assert not app.exception
    assert any("users** at step 1, add_to_cart" in m.value for m in app.markdown)
    app.button(key="paths_people_filter").click().run()
    assert len(app.session_state["filters"].users) == 1482  # users who added to cart (checked on the Funnels page)


def test_journey_map_comparison_and_timeline(app):
    app.switch_page("pages/journey_map.py").run()
    show(app, "map_view", "transitions")
    app.selectbox(key="trans_compare").set_value("device").run()
    assert not app.exception
    # Vega's "redblue" runs from red (lowest) to blue (highest): A's larger share, above 0, is blue
    assert charts.transitions_chart(pd.DataFrame({"source": ["a"], "target": ["b"], "difference": [0.1]}),
                                    value="difference").to_dict()["encoding"]["color"]["scale"] == {
        "scheme": "redblue", "domainMid": 0}
    assert any(c.value.startswith("Blue: more of mobile's exits") for c in app.caption)
    show(app, "map_view", "timeline")
    app.text_input(key="timeline_query").input("003066").run()
    assert not app.exception
    assert any("184 events in 15 sessions" in c.value for c in app.caption)


PAGE_VIEWS = {"pages/overview.py": None, "pages/funnels.py": ("funnels_view", ["stages", "steps"]),
              "pages/journey_map.py": ("map_view", ["paths", "transitions", "matrix", "top", "canvas", "timeline"]),
              "pages/dropoff.py": ("dropoff_view", ["leave", "compare", "pages"]),
              "pages/retention.py": ("ret_section", ["cohorts", "churn", "clusters", "risk"]),
              "pages/customers.py": None, "pages/customer.py": None, "pages/data.py": None}


def test_every_page_and_view_draws_before_and_after_a_filter_change(app):
    """Each view of each page, with a device filter and without: no exception and no warning (a widget
    kept by its view printed one at the first rerun after it was drawn)."""
    assert sorted(PAGE_VIEWS) == sorted(f"pages/{name}" for name in os.listdir(os.path.join(ROOT, "pages"))
                                        if name.endswith(".py"))
    for page, views in PAGE_VIEWS.items():
        app.switch_page(page).run()
        for view in views[1] if views else [None]:
            if view:
                show(app, views[0], view)
            for devices in ("as opened", ["mobile"], []):
                if devices != "as opened":
                    filter_devices(app, devices)
                assert not app.exception, (page, view, devices)
                assert [w.value for w in app.warning] == [], (page, view, devices)


def test_no_widget_warns_that_its_value_was_also_set_through_session_state(app):
    """A view's kept widget (saved through Session State on every run) that was also given a default
    index printed Streamlit's warning on the page at the next rerun: the drop-off step after a filter
    change, the stage trend's period, the transitions' segment B."""
    def rerun_with_device(devices):
        filter_devices(app, devices)
        assert not app.exception
        assert [w.value for w in app.warning if "Session State API" in w.value] == []

    app.switch_page("pages/dropoff.py").run()
    assert app.selectbox(key="dropoff_step").value == "3. add_to_cart"  # the biggest loss, as before
    rerun_with_device(["mobile"])
    app.switch_page("pages/funnels.py").run()
    app.radio(key="stages_view").set_value("trend").run()
    assert app.radio(key="stages_period").value == "week"
    rerun_with_device(["desktop"])
    app.switch_page("pages/journey_map.py").run()
    show(app, "map_view", "transitions")
    app.selectbox(key="trans_compare").set_value("device").run()
    # the two most frequent devices of the sample (mobile 21,350 events, desktop 13,549)
    assert [app.selectbox(key=k).value for k in ("trans_a", "trans_b")] == ["mobile", "desktop"]
    rerun_with_device([])


def test_a_drill_down_list_opens_the_customer_timeline(app):
    app.switch_page("pages/funnels.py").run()
    show(app, "funnels_view", "steps")
    box = app.selectbox(key="funnel_people_pick")
    uid = box.options[0]
    app.button(key="funnel_people_open").click().run()  # st.switch_page: AppTest runs the Customer page
    assert not app.exception
    assert app.selectbox(key="customer_user").value == uid


def test_retention_page(app):
    app.switch_page("pages/retention.py").run()
    assert not app.exception
    labels = [m.label for m in app.metric]
    assert "Repeat purchase rate" in labels
    # the clusters and the churn model are views of their own: opening the page computes neither
    assert not {"Silhouette", "Holdout ROC AUC"} & set(labels)
    assert "personas" not in app.session_state
    app.radio(key="ret_period").set_value("week").run()
    show(app, "ret_section", "churn")
    # the last week's end: every one of the sample's 5,000 users has been seen. The sample ends on Sunday
    # 31 Mar 2024; that week ends at Monday 1 Apr, 00:00, and its last day is the 31st
    assert any("By the end of 31 Mar 2024: " in c.value and " of 5,000 (" in c.value for c in app.caption), [
        c.value for c in app.caption]
    app.number_input(key="churn_days").set_value(30).run()
    show(app, "ret_section", "clusters")
    assert "Silhouette" in [m.label for m in app.metric]
    assert app.number_input(key="churn_days").value == 30  # one churn threshold for the churn views
    assert not app.warning
    app.selectbox(key="clusters_k").set_value(3).run()
    assert not app.exception
    app.button(key="clusters_filter").click().run()
    assert app.session_state["filters"].users
    show(app, "ret_section", "risk")
    assert "Holdout ROC AUC" in [m.label for m in app.metric]
    assert not app.warning
    show(app, "ret_section", "cohorts")
    assert app.radio(key="ret_period").value == "week"  # kept while another view was shown


def test_customers_page(app):
    app.switch_page("pages/customers.py").run()
    assert not app.exception
    assert "NPS" in [m.label for m in app.metric]
    app.selectbox(key="clv_by").set_value("channel").run()
    assert not app.exception


def test_canvas_shows_personas_once_clusters_exist(app):
    app.switch_page("pages/retention.py").run()
    show(app, "ret_section", "clusters")
    app.switch_page("pages/journey_map.py").run()
    show(app, "map_view", "canvas")
    assert app.session_state["personas"]["advocacy"]


def test_hosted_mode_refuses_paths_and_locks_the_database(monkeypatch):
    monkeypatch.setenv("JOURNEY_MODE", "hosted")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "Open a file by path" not in at.sidebar.radio(key="source_kind").options
    log = at.session_state["datasets"]["sample"]
    with pytest.raises(Exception, match="(?i)disabled|external"):
        log.db.scalar("SELECT count(*) FROM read_csv('/etc/hostname')")
    # each session's database: 2 GB of memory and 8 GB of spill space at most (the defaults)
    assert log.db.scalar("SELECT current_setting('memory_limit')") in ("1.8 GiB", "1.9 GiB", "2.0 GiB", "2 GB")
    assert log.db.scalar("SELECT current_setting('max_temp_directory_size')") in ("7.4 GiB", "8.0 GiB", "8 GB")
    # the funnel's one-pass evaluation still works on a locked database
    assert at.session_state["datasets"]["sample"] is log
    import journey
    assert journey.funnel(log, ["product_view", "purchase"])["users"].tolist() == [3395, 727]


def test_the_sidebar_builds_the_html_report(app):
    app.button(key="report_build").click().run()
    assert not app.exception
    key, text = app.session_state["report_html"]
    assert "<h2>Journey map</h2>" in text and "Step funnel: page_view → product_view" in text


def test_a_session_that_ends_leaves_no_database_files():
    import gc
    import os

    at = AppTest.from_file(APP, default_timeout=120).run()
    path = at.session_state["datasets"]["sample"].db.path
    assert os.path.exists(path)
    del at  # the session's state goes, as when Streamlit drops an ended session
    gc.collect()
    assert not os.path.exists(os.path.dirname(path))
