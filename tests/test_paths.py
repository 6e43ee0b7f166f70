"""Paths, transitions, the step matrix, top paths, the canvas and timelines, on rows checked by hand."""

import contextlib

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import journey
from journey.canvas import canvas_html, canvas_markdown, journey_canvas
from journey.errors import InvalidParameterError, JourneyError
from journey.paths import (
    compare_transitions,
    customer_timeline,
    path_users,
    paths,
    step_matrix,
    top_paths,
    transitions,
)

T0 = pd.Timestamp("2024-05-20 09:00:00")
SEQUENCES = {
    "a": ["home", "category", "product_view", "product_view", "add_to_cart"],
    "b": ["home", "search", "product_view", "purchase"],
    "c": ["home"],
    "d": ["category", "product_view"],
}


@pytest.fixture(scope="module")
def log():
    rows = [(u, (T0 + pd.Timedelta(minutes=i)).isoformat(sep=" "), e, "mobile" if u in "ab" else "desktop")
            for u, seq in SEQUENCES.items() for i, e in enumerate(seq)]
    return journey.load(pd.DataFrame(rows, columns=["user_id", "timestamp", "event", "device"]))


def as_dict(df, *cols):
    return {tuple(r[:-1]): r[-1] for r in df[list(cols)].itertuples(index=False)}


def test_paths_nodes_links_and_ends(log):
    nodes, links = paths(log, steps=3)
    assert as_dict(nodes, "step", "event", "users") == {
        (1, "home"): 3, (1, "category"): 1,
        (2, "category"): 1, (2, "search"): 1, (2, "product_view"): 1,
        (3, "product_view"): 2}
    assert as_dict(nodes, "step", "event", "ends") == {
        (1, "home"): 1, (1, "category"): 0, (2, "category"): 0, (2, "search"): 0, (2, "product_view"): 1,
        (3, "product_view"): 2}
    assert as_dict(links, "step", "source", "target", "users") == {
        (1, "home", "category"): 1, (1, "home", "search"): 1, (1, "category", "product_view"): 1,
        (2, "category", "product_view"): 1, (2, "search", "product_view"): 1}


def test_sankey_layout_by_hand(log):
    from journey.charts import NODE_GAP, NODE_WIDTH, sankey_chart, sankey_layout

    nodes, links = paths(log, steps=3)
    boxes, bands = sankey_layout(nodes, links)
    # step 1 holds 4 users in two nodes and one gap: the scale is (1 - gap) / 4 per user, home (3) on top
    unit = (1 - NODE_GAP) / 4
    home = boxes[(boxes["step"] == 1) & (boxes["event"] == "home")].iloc[0]
    category = boxes[(boxes["step"] == 1) & (boxes["event"] == "category")].iloc[0]
    assert (home["y"], home["y2"]) == pytest.approx((0, 3 * unit))
    assert (category["y"], category["y2"]) == pytest.approx((3 * unit + NODE_GAP, 1))
    assert (home["x"], home["x2"]) == (0, NODE_WIDTH)
    assert home["label"] == "home · 3 (1 end)"
    # home's two flows leave from its top, in the order of their targets (category above search at step 2)
    first = {(r.step, r.source, r.target): r.y for r in bands.groupby("link").first().itertuples()}
    assert first[(1, "home", "category")] == pytest.approx(0)
    assert first[(1, "home", "search")] == pytest.approx(unit)
    # each band ends on its target node; a band is as thick as its users all along
    last = bands.groupby("link").last().set_index(["step", "target"])
    for (step, target), row in last.iterrows():
        box = boxes[(boxes["step"] == step + 1) & (boxes["event"] == target)].iloc[0]
        assert box["y"] - 1e-9 <= row["y"] and row["y2"] <= box["y2"] + 1e-9
        assert row["x"] == step
    assert ((bands["y2"] - bands["y"]) - bands["users"] * unit).abs().max() < 1e-12
    points = sankey_chart(nodes, links).data[1]  # the clickable points carry their node
    assert {tuple(c[:2]) for c in points.customdata} == set(zip(nodes["step"], nodes["event"]))


def test_paths_identities(log):
    nodes, links = paths(log, steps=5)
    out = links.groupby(["step", "source"])["users"].sum()
    for r in nodes.itertuples():
        assert out.get((r.step, r.event), 0) + r.ends == r.users
    still_going = nodes.groupby("step")["users"].sum()
    assert still_going.tolist() == [4, 3, 2, 2]  # a, b have 4 steps after merging a's repeat


def test_top_folds_the_rest_into_other(log):
    nodes, _ = paths(log, steps=1, top=1)
    assert as_dict(nodes, "step", "event", "users") == {(1, "home"): 3, (1, "Other"): 1}


def test_repeats_merged_or_kept(log):
    kept, _ = paths(log, steps=5, collapse_repeats=False)
    assert as_dict(kept, "step", "event", "users")[(4, "product_view")] == 1
    assert (5, "add_to_cart") in as_dict(kept, "step", "event", "users")


def test_paths_after_and_before_an_event(log):
    after, _ = paths(log, steps=2, from_event="product_view")
    assert as_dict(after, "step", "event", "users") == {(1, "product_view"): 3, (2, "add_to_cart"): 1,
                                                        (2, "purchase"): 1}
    before, _ = paths(log, steps=2, to_event="purchase")
    assert as_dict(before, "step", "event", "users") == {(1, "product_view"): 1, (2, "purchase"): 1}
    with pytest.raises(InvalidParameterError, match="Did you mean 'purchase'"):
        paths(log, from_event="purchse")


def test_cleaning_rules_merge_names(log):
    nodes, _ = paths(log, steps=2, cleaning_rules=[("home|category", "landing")])
    assert as_dict(nodes, "step", "event", "users")[(1, "landing")] == 4
    with pytest.raises(JourneyError, match="not a valid regular expression"):
        paths(log, cleaning_rules=[("((", "x")])


def test_stage_level_paths(log):
    nodes, _ = paths(log, steps=3, level="stages")
    # a: home (awareness) → category, product, cart (consideration); b adds purchase; d starts in consideration
    assert as_dict(nodes, "step", "event", "users") == {
        (1, "awareness"): 3, (1, "consideration"): 1, (2, "consideration"): 2, (3, "purchase"): 1}


def test_path_users(log):
    assert path_users(log, 2, "search", steps=3)["user_id"].tolist() == ["b"]
    assert path_users(log, 1, "home", steps=3)["user_id"].tolist() == ["a", "b", "c"]


def test_sessions_of_two_users_sharing_a_session_id_stay_apart():
    """An export's own session ids may repeat across users: a session is the pair (user, session id).
    a: view 09:00, cart 09:02 in s1; b: home 09:01 in s1. Taken as one stream, s1 would read view → home → cart."""
    df = pd.DataFrame({"user_id": ["a", "b", "a"], "session_id": ["s1", "s1", "s1"], "event": ["view", "home", "cart"],
                       "timestamp": ["2024-05-20 09:00:00", "2024-05-20 09:01:00", "2024-05-20 09:02:00"]})
    shared = journey.load(df)
    t = transitions(shared, unit="sessions")
    assert as_dict(t, "source", "target", "transitions") == {("view", "cart"): 1}
    assert t["median_seconds"].tolist() == [120.0]
    nodes, _ = paths(shared, steps=2, unit="sessions")
    assert as_dict(nodes, "step", "event", "users") == {(1, "view"): 1, (1, "home"): 1, (2, "cart"): 1}


def test_transitions(log):
    t = transitions(log, unit="users")
    got = {(r.source, r.target): (r.transitions, r.share_of_source) for r in t.itertuples()}
    assert got[("home", "category")] == (1, 0.5)
    assert got[("category", "product_view")] == (2, 1.0)
    assert got[("product_view", "add_to_cart")] == (1, 0.5)
    assert t.set_index(["source", "target"]).loc[("home", "search"), "median_seconds"] == 60.0
    assert len(transitions(log, unit="users", min_users=2)) == 1
    # a's two product views are one step: its add_to_cart follows the first of them (minute 2 → 4)
    assert t.set_index(["source", "target"]).loc[("product_view", "add_to_cart"), "median_seconds"] == 120.0
    assert ("product_view", "product_view") not in got
    raw = transitions(log, unit="users", collapse_repeats=False).set_index(["source", "target"])
    assert raw.loc[("product_view", "product_view"), "transitions"] == 1
    assert raw.loc[("product_view", "add_to_cart"), "median_seconds"] == 60.0
    assert raw["transitions"].sum() == 4 + 3 + 0 + 1  # each user's events minus one


def test_compare_transitions(log):
    mobile = transitions(log.refine(devices=("mobile",)), unit="users")
    desktop = transitions(log.refine(devices=("desktop",)), unit="users")
    diff = compare_transitions(mobile, desktop).set_index(["source", "target"])
    assert diff.loc[("category", "product_view"), ["share_a", "share_b", "difference"]].tolist() == [1.0, 1.0, 0.0]
    assert diff.loc[("home", "search"), "difference"] == 0.5


def test_step_matrix(log):
    m = step_matrix(log, steps=2)
    got = {(r.step, r.event): r.share for r in m.itertuples()}
    assert got[(1, "home")] == 0.75 and got[(1, "category")] == 0.25
    assert got[(2, "search")] == pytest.approx(1 / 3)
    centred = step_matrix(log, steps=1, anchor="product_view")
    got = {(r.step, r.event): r.units for r in centred.itertuples()}
    assert got[(0, "product_view")] == 3 and got[(-1, "category")] == 2 and got[(1, "purchase")] == 1


def test_top_paths(log):
    tp = top_paths(log, unit="users").set_index("path")
    assert tp.loc["home → search → product_view → purchase", ["units", "converted"]].tolist() == [1, 1]
    assert tp["share"].tolist() == [0.25] * 4
    assert tp["conversion_rate"].sum() == 1.0


def test_customer_timeline(log):
    tl = customer_timeline(log, "b")
    assert tl["event"].tolist() == ["home", "search", "product_view", "purchase"]
    assert tl["stage"].tolist() == ["awareness", "consideration", "consideration", "purchase"]
    assert tl["session_no"].tolist() == [1, 1, 1, 1]
    assert customer_timeline(log, "zzz").empty


def test_find_users_exact_match_first(log):
    assert journey.find_users(log, "a")[0] == "a"


def test_canvas_cells(log):
    c = journey_canvas(log)
    assert list(c.columns) == ["awareness", "consideration", "purchase", "retention", "advocacy"]
    assert c.loc["behaviours", "consideration"].startswith("product_view (3 users)")
    assert c.loc["conversion to next", "awareness"] == "75.0 % reach consideration"  # a, b, d of 4
    assert "1 users go no further" in c.loc["pain points", "awareness"]
    md = canvas_markdown(c, {("pain points", "purchase"): "call the | payment team"})
    assert "| **pain points** |" in md and "call the \\| payment team" in md
    page = canvas_html(c, {("emotions", "awareness"): "<b>calm</b>"})
    assert "&lt;b&gt;calm&lt;/b&gt;" in page and page.startswith("<!doctype html>")


def test_canvas_picture(log):
    from journey.canvas import canvas_chart
    from journey.charts import to_png, to_svg

    c = journey_canvas(log)
    note = "ask the payment team why cards fail on mobile"
    chart = canvas_chart(c, {("pain points", "purchase"): note}, title="Shop map")
    spec = chart.to_dict()
    texts = [line for layer in spec["layer"][1:] for d in spec["datasets"][layer["data"]["name"]] for line in d["text"]]
    assert "Consideration" in texts and "Note: ask the payment team why" in texts
    assert "75.0 % reach consideration" in texts
    cells = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert len(cells) == 5 + len(c.index) * 6  # the heading row, then a label and five stage cells per row
    assert to_png(chart, scale=1)[:8] == b"\x89PNG\r\n\x1a\n"
    svg = to_svg(chart).decode()
    assert svg.startswith("<svg") and "Shop map" in svg


def test_paths_reconcile_with_funnels_and_overview(sample_log):
    """Step 1 of "after X" holds the users a funnel starting with X counts; step 1 overall holds every user."""
    nodes, _ = paths(sample_log, steps=3, from_event="add_to_cart")
    funnel_users = journey.funnel(sample_log, ["add_to_cart", "purchase"])["users"][0]
    assert nodes[nodes["step"] == 1]["users"].sum() == funnel_users
    nodes, _ = paths(sample_log, steps=2)
    assert nodes[nodes["step"] == 1]["users"].sum() == journey.overview(sample_log)["users"][0]
    # the users at a node after X whose next step is Y are the users of a strict X → Y funnel started at
    # their first X: check against a direct computation
    ev = sample_log.to_pandas().sort_values(["user_id", "ts", "row_no"])
    ev = ev[ev["event"] != ev.groupby("user_id")["event"].shift()]  # repeats merged, as paths do
    nxt = ev.groupby("user_id")["event"].shift(-1)
    first_cart = ev[(ev["event"] == "add_to_cart")].drop_duplicates("user_id")
    direct = (nxt.loc[first_cart.index] == "view_cart").sum()
    nodes, _ = paths(sample_log, steps=2, from_event="add_to_cart")
    assert nodes.set_index(["step", "event"]).loc[(2, "view_cart"), "users"] == direct


def test_interleaved_export_sessions_are_followed_apart():
    """Two tabs: user a's export sessions s1 and s2 interleave in time. s1: view 09:00, cart 09:02;
    s2: home 09:01, search 09:03 (the file lists cart first). By session: view → cart (120 s) and
    home → search (120 s); by user the stream view → home → cart → search (60 s each)."""
    df = pd.DataFrame({"user_id": ["a"] * 4, "session_id": ["s1", "s2", "s1", "s2"],
                       "event": ["cart", "home", "view", "search"],
                       "timestamp": [f"2024-05-20 09:0{i}:00" for i in (2, 1, 0, 3)]})
    tabs = journey.load(df)
    by_session = transitions(tabs, unit="sessions")
    assert as_dict(by_session, "source", "target", "median_seconds") == {("view", "cart"): 120.0,
                                                                          ("home", "search"): 120.0}
    by_user = transitions(tabs, unit="users")
    assert as_dict(by_user, "source", "target", "transitions") == {("view", "home"): 1, ("home", "cart"): 1,
                                                                   ("cart", "search"): 1}


def test_transitions_of_a_log_read_in_place(tmp_path, log):
    """A Parquet file read in place (in file order, not by user) gives the loaded log's transitions."""
    rows = [(u, (T0 + pd.Timedelta(minutes=i)).isoformat(sep=" "), e)
            for u, seq in SEQUENCES.items() for i, e in enumerate(seq)]
    df = pd.DataFrame(rows[::-1], columns=["user_id", "timestamp", "event"])
    df.to_parquet(tmp_path / "events.parquet")
    for unit in ("users", "sessions"):
        # in parts of 4 events: by user in numpy part after part, by session the window SQL (ADR 0014)
        for at_once in (None, 4, "split"):
            in_place = journey.load(str(tmp_path / "events.parquet"), in_place=True)  # nothing kept yet
            with at_most(at_once):
                got = transitions(in_place, unit=unit)
                got_paths = paths(in_place, steps=3, unit=unit)
            pd.testing.assert_frame_equal(got, transitions(log, unit=unit), check_dtype=False)
            for a, b in zip(got_paths, paths(log, steps=3, unit=unit)):
                pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert as_dict(got, "source", "target", "transitions")[("home", "category")] == 1
    # the choice: a file read in place recomputes its sessions at every part, so several parts by session
    # go to the SQL; loaded, or by user, or in one part, numpy
    from journey.sequence import one_pass_pays

    assert not one_pass_pays(in_place, "sessions", 2)
    assert one_pass_pays(in_place, "sessions", 1) and one_pass_pays(in_place, "users", 2)
    assert one_pass_pays(log, "sessions", 2)


@contextlib.contextmanager
def at_most(events):
    """journey.sequence reading at most ``events`` events at once (None: as configured; "split": all at once,
    then followed in pieces, one per thread, from 2 events)."""
    from journey import chains, sequence

    kept, split_from = sequence.MOST_EVENTS_AT_ONCE, chains.SPLIT_FROM
    if events == "split":
        chains.SPLIT_FROM = 2
    else:
        sequence.MOST_EVENTS_AT_ONCE = events or kept
    try:
        yield
    finally:
        sequence.MOST_EVENTS_AT_ONCE, chains.SPLIT_FROM = kept, split_from


EVENT_NAMES = ["home", "view", "cart", "buy", "View"]
SEQUENCE_LOGS = st.lists(
    st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(["s1", "s2", None]), st.integers(0, 40),
              st.sampled_from(EVENT_NAMES)),
    min_size=0, max_size=30,
)


def random_log(rows, export_sessions):
    """The rows (user, session, minute, event) as a DataFrame (without its session ids unless
    ``export_sessions``: sessions from 5-minute gaps) and the log loaded from it."""
    df = pd.DataFrame(
        [(u, s, (T0 + pd.Timedelta(minutes=t)).isoformat(sep=" "), e) for u, s, t, e in rows],
        columns=["user_id", "session_id", "timestamp", "event"],
    )
    if not export_sessions:
        df = df.drop(columns="session_id")
    return df, journey.load(df, session_gap_minutes=5)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=SEQUENCE_LOGS, unit=st.sampled_from(["users", "sessions"]), collapse=st.booleans(),
       rules=st.sampled_from([None, [("(?i)view", "view")], [("home|cart", "other")]]),
       min_users=st.integers(1, 2), export_sessions=st.booleans(), at_once=st.sampled_from([None, 4, "split"]))
def test_transitions_equal_the_window_sql_version(rows, unit, collapse, rules, min_users, export_sessions, at_once):
    """journey.sequence's transitions equal the two-window SQL version's on every column: ties in time
    (then row order), repeats, cleaning rules, sessions from gaps or from the export (interleaving), and
    read in parts of 4 events (users split by their hash) or all at once in pieces followed in threads."""
    from journey.paths import _transitions_sql

    if not rows:
        return
    _, log = random_log(rows, export_sessions)
    args = {"unit": unit, "min_users": min_users, "collapse_repeats": collapse, "cleaning_rules": rules}
    with at_most(at_once):
        fast = transitions(log, **args)
    pd.testing.assert_frame_equal(fast, _transitions_sql(log, **args), check_dtype=False)


def test_transitions_of_a_filter_matching_nothing_are_empty(log):
    for rules in (None, [("home", "start")]):
        t = transitions(log.refine(devices=("tv",)), unit="sessions", cleaning_rules=rules)
        assert t.empty and list(t.columns) == ["source", "target", "transitions", "users", "share_of_source",
                                               "median_seconds"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=SEQUENCE_LOGS, unit=st.sampled_from(["users", "sessions"]), collapse=st.booleans(),
       rules=st.sampled_from([None, [("(?i)view", "view")], [("home|cart", "other")]]),
       steps=st.integers(1, 4), top=st.integers(1, 3),
       anchor=st.sampled_from([(None, None), ("view", None), (None, "cart"), ("other", None), (None, "buy")]),
       export_sessions=st.booleans(), at_once=st.sampled_from([None, 4, "split"]))
def test_paths_equal_the_window_sql_version(rows, unit, collapse, rules, steps, top, anchor, export_sessions,
                                            at_once):
    """Paths from journey.sequence's steps equal the window-function SQL version's nodes, links and the
    users of a node, from the first step or around an anchor (one the rules may have renamed away), also
    read in parts of 4 events, or in pieces followed in threads."""
    from journey.paths import _nodes_and_links, _paths_sql

    if not rows:
        return
    df, log = random_log(rows, export_sessions)
    args = {"steps": steps, "top": top, "from_event": anchor[0], "to_event": anchor[1], "unit": unit,
            "collapse": collapse, "rules": rules, "level": "events", "stage_map": None}
    if not rules and (anchor[0] or anchor[1]) not in set(df["event"]) | {None}:
        return  # refused as an unknown event, both ways (tested by hand above)
    with at_most(at_once):
        fast = paths(log, steps=steps, top=top, from_event=anchor[0], to_event=anchor[1], unit=unit,
                     collapse_repeats=collapse, cleaning_rules=rules)
    slow = _nodes_and_links(log, *_paths_sql(log, **args))
    for got, want in zip(fast, slow):
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
    sql, params = _paths_sql(log, **args)
    for node in fast[0].itertuples():
        users = [path_users(log, int(node.step), node.event, steps=steps, top=top, from_event=anchor[0],
                            to_event=anchor[1], unit=unit, collapse_repeats=collapse, cleaning_rules=rules)]
        users.append(log.db.run(f"{sql} SELECT DISTINCT user_id FROM folded WHERE step = $s AND event = $e "
                                "ORDER BY user_id", {**params, "s": int(node.step), "e": node.event}))
        pd.testing.assert_frame_equal(users[0], users[1], check_dtype=False)


def test_events_stored_by_user_are_cut_into_pieces_where_the_user_changes():
    """Followed in threads, the events table (stored by user) is sliced at the first user change from each
    cut: past a user's 1,000 events here (in three chunks), and not at all when the users do not increase."""
    import pyarrow as pa

    from journey import sequence

    k = pa.chunked_array([["a"] * 600, ["a"] * 400 + ["b"] * 3, ["c"] * 2])
    assert [sequence._next_user(k, b) for b in (1, 599, 600, 1000, 1001, 1004)] == [1000, 1000, 1000, 1000, 1003, 1005]
    table = pa.table({"k": k, "t": range(len(k))})
    pieces = sequence._pieces(table, most=2)
    assert [piece["k"].to_pylist()[0] for piece in pieces] == ["a", "b"] and sum(map(len, pieces)) == 1005
    assert [len(piece) for piece in sequence._pieces(table, most=3)] == [1000, 3, 2]
    unsorted = pa.table({"k": ["b"] * 3 + ["a"] * 3, "t": range(6)})
    assert sequence._pieces(unsorted, most=2) == [unsorted]
