"""Journey map: paths (Sankey), transitions, the step matrix, top paths, the canvas, customer timelines."""

import pandas as pd
import streamlit as st

import journey
from journey import charts
from journey import format as fmt
from journey.canvas import canvas_chart, canvas_html, canvas_markdown, canvas_table_html
from journey.errors import JourneyError
from journey.ui import links, people, shell, state, widgets
from journey.ui.cache import compute, compute_csv, picture
from journey.ui.timeline import customer_timeline

SLIDERS = {"paths_steps": (5, 2, 10), "paths_top": (8, 2, 15), "matrix_steps": (6, 2, 12), "matrix_top": (8, 2, 15),
           "trans_min": (20, 1, 100_000)}  # key: (default, lowest, highest)
CHOICES = ["paths_level", "paths_mode", "paths_unit", "paths_anchor", "trans_unit", "trans_compare", "matrix_anchor",
           "top_paths_unit"]  # checked against their widget's options with links.keep_valid
links.bind({**{k: "" for k in CHOICES}, "paths_collapse": True, **{k: v[0] for k, v in SLIDERS.items()}},
           bounds={k: v[1:] for k, v in SLIDERS.items()})
st.session_state.setdefault("paths_collapse", True)
for _key, (_default, _, _) in SLIDERS.items():
    st.session_state.setdefault(_key, _default)
log = shell.page("Journey map")

sm = state.stage_map()
events = log.distinct_values("event", limit=100_000)
view = widgets.view_picker(
    "map_view", {"paths": "Paths", "transitions": "Transitions", "matrix": "Step matrix", "top": "Top paths",
                 "canvas": "Canvas", "timeline": "Customer timeline"},
    keep=[*CHOICES, "paths_collapse", *SLIDERS, "paths_node", "trans_a", "trans_b", "timeline_query",
          "timeline_user"])

if view == "paths":
    c1, c2, c3, c4 = st.columns(4)
    level = c1.radio("Show", links.keep_valid("paths_level", ["events", "stages"]), key="paths_level", horizontal=True)
    mode = c2.radio("Paths", links.keep_valid("paths_mode", ["from the first event", "after an event",
                                                             "before an event"]), key="paths_mode")
    anchor = None
    if mode != "from the first event" and level == "events":
        anchor = c2.selectbox("Event", links.keep_valid("paths_anchor", events), key="paths_anchor")
    steps = c3.slider("Steps", 2, 10, key="paths_steps")
    top = c3.slider("Events kept per step", 2, 15, key="paths_top", help="the rest are folded into Other")
    unit = c4.radio("Count", links.keep_valid("paths_unit", ["users", "sessions"]), key="paths_unit", horizontal=True)
    collapse = c4.checkbox("Merge consecutive repeats", key="paths_collapse")
    options = dict(steps=steps, top=top, unit=unit, collapse_repeats=collapse, level=level, stage_map=sm,
                   cleaning_rules=sm.cleaning_rules,
                   from_event=anchor if mode == "after an event" else None,
                   to_event=anchor if mode == "before an event" else None)
    try:
        nodes, path_links = compute(journey.paths, log, **options)
        if nodes.empty:
            st.info("No paths to show with these settings.")
        else:
            clicked = st.plotly_chart(charts.sankey_chart(nodes, path_links, unit=unit), use_container_width=True,
                                      key="paths_sankey", on_select="rerun", selection_mode="points",
                                      config={"displaylogo": False})
            st.caption(f"{fmt.count(nodes[nodes['step'] == 1]['users'].sum())} {unit}. Click a node to see who is "
                       "there; a label's “end” counts the paths that stop at that node.")
            labels = [f"step {r.step}: {r.event} ({r.users:,})" for r in nodes.itertuples()]
            points = [p.get("customdata") for p in (clicked.selection.get("points") or [])] if clicked else []
            chosen = next((c[:2] for c in points if c), None)
            if chosen and chosen != st.session_state.get("paths_clicked"):
                st.session_state["paths_clicked"] = chosen  # a new click moves the picker; the picker still works
                match = nodes.index[(nodes["step"] == chosen[0]) & (nodes["event"] == chosen[1])]
                if len(match):
                    st.session_state["paths_node"] = labels[nodes.index.get_loc(match[0])]
            pick = st.selectbox("Users at a node", links.keep_valid("paths_node", labels), key="paths_node")
            row = nodes.iloc[labels.index(pick)]
            node = dict(step=int(row["step"]), event=str(row["event"]), **options)
            who = compute(journey.path_users, log, **node)
            st.markdown(f"**{fmt.count(len(who))} users** at step {row['step']}, {row['event']}.")
            people.actions(who, label=f"path node {pick}", file_name="path_node_users.csv", key="paths_people",
                           pick_key="paths_person", csv=compute_csv(journey.path_users, log, **node))
    except JourneyError as e:
        st.error(str(e))
    with st.expander("Path cleaning rules (saved with the stage map)"):
        st.caption("A regular expression on the whole event name, and the name to show instead; the first "
                   "matching rule wins. Example: product_view_.* → product_view.")
        edited = st.data_editor(
            pd.DataFrame(sm.cleaning_rules or [], columns=["pattern", "new name"]), num_rows="dynamic",
            key="paths_rules_editor", hide_index=True,
        )
        if st.button("Apply the rules", key="paths_rules_apply"):
            rules = [(str(p), str(n)) for p, n in zip(edited["pattern"], edited["new name"])
                     if isinstance(p, str) and p and isinstance(n, str) and n]
            try:
                state.set_stage_map(journey.StageMap(**{**sm.__dict__, "cleaning_rules": rules}))
                st.rerun()
            except JourneyError as e:
                st.error(str(e))

elif view == "transitions":
    c1, c2, c3 = st.columns(3)
    unit = c1.radio("Within", links.keep_valid("trans_unit", ["sessions", "users"]), key="trans_unit", horizontal=True)
    min_users = c2.number_input("Hide edges with fewer users than", 1, 100_000, key="trans_min")
    compare = c3.selectbox("Compare two segments", links.keep_valid("trans_compare", ["(no comparison)", "device", "channel"]),
                           key="trans_compare")
    try:
        if compare == "(no comparison)":
            t = compute(journey.transitions, log, unit=unit, min_users=int(min_users))
            st.altair_chart(charts.transitions_chart(t), use_container_width=True)
            st.dataframe(t.head(200), hide_index=True, column_config={
                "share_of_source": st.column_config.NumberColumn(format="percent"),
                "median_seconds": st.column_config.NumberColumn("median seconds", format="%.0f")})
        elif not log.report.mapping.get(compare):
            st.info(f"This dataset has no {compare} column.")
        elif not (values := log.distinct_values(compare)):
            st.info(f"The {compare} column has no values.")
        else:
            c1, c2 = st.columns(2)
            a = c1.selectbox("Segment A", links.keep_valid("trans_a", values, default=values[0]), key="trans_a")
            b = c2.selectbox("Segment B", links.keep_valid("trans_b", values, default=values[min(1, len(values) - 1)]),
                             key="trans_b")
            key = "devices" if compare == "device" else "channels"
            ta = compute(journey.transitions, log.refine(**{key: (a,)}), unit=unit, min_users=int(min_users))
            tb = compute(journey.transitions, log.refine(**{key: (b,)}), unit=unit, min_users=int(min_users))
            diff = journey.compare_transitions(ta, tb)
            st.altair_chart(charts.transitions_chart(diff, value="difference"), use_container_width=True)
            # the scale runs from red (below 0: B's share is larger) to blue (above 0: A's is)
            st.caption(f"Blue: more of {a}'s exits from the event go there; red: more of {b}'s "
                       f"(the difference is {a}'s share less {b}'s).")
            st.dataframe(diff.head(50), hide_index=True, column_config={
                "share_a": st.column_config.NumberColumn(f"share, {a}", format="percent"),
                "share_b": st.column_config.NumberColumn(f"share, {b}", format="percent"),
                "difference": st.column_config.NumberColumn(format="percent")})
    except JourneyError as e:
        st.error(str(e))

elif view == "matrix":
    c1, c2, c3 = st.columns(3)
    steps = c1.slider("Steps", 2, 12, key="matrix_steps")
    top = c2.slider("Events per step", 2, 15, key="matrix_top")
    anchor = c3.selectbox("Centred on", links.keep_valid("matrix_anchor", ["(the first event)", *events]),
                          key="matrix_anchor")
    m = compute(journey.step_matrix, log, steps=steps, top=top,
                anchor=None if anchor == "(the first event)" else anchor)
    st.altair_chart(charts.step_matrix_chart(m), use_container_width=True)
    st.caption("The share of users at each event at each step" + ("" if anchor == "(the first event)" else
               f"; step 0 is their first {anchor}, negative steps come before it") + ".")

elif view == "top":
    unit = st.radio("Paths of", links.keep_valid("top_paths_unit", ["sessions", "users"]), key="top_paths_unit",
                    horizontal=True)
    tp = compute(journey.top_paths, log, unit=unit, top=25, stage_map=sm)
    st.dataframe(tp, hide_index=True, column_config={
        "share": st.column_config.NumberColumn(format="percent"),
        "conversion_rate": st.column_config.NumberColumn("conversion", format="percent")})

elif view == "canvas":
    canvas = compute(journey.journey_canvas, log, stage_map=sm, personas=st.session_state.get("personas"))
    table_slot = st.empty()
    st.markdown("**Your notes**, per cell: they show on the map and go into the exports.")
    notes_df = st.session_state.setdefault(
        "canvas_notes", pd.DataFrame("", index=canvas.index, columns=canvas.columns))
    edited = st.data_editor(notes_df, key="canvas_notes_editor")
    st.session_state["canvas_notes"] = edited
    notes = {(r, c): str(edited.loc[r, c]) for r in edited.index for c in edited.columns if str(edited.loc[r, c]).strip()}
    with table_slot:
        st.html(canvas_table_html(canvas, notes))
    title = f"Customer journey map: {log.report.source}"
    c1, c2, c3 = st.columns(3)
    c3.download_button("Download as PNG", picture(canvas_chart(canvas, notes, title)), file_name="journey_map.png",
                       mime="image/png", icon=":material/image:", key="canvas_png")
    c1.download_button("Download as Markdown", canvas_markdown(canvas, notes, title).encode("utf-8"),
                       file_name="journey_map.md", mime="text/markdown", icon=":material/download:",
                       key="canvas_md")
    c2.download_button("Download as HTML", canvas_html(canvas, notes, title).encode("utf-8"),
                       file_name="journey_map.html", mime="text/html", icon=":material/download:", key="canvas_html")

elif view == "timeline":
    customer_timeline(log, sm, key="timeline")

links.publish([*CHOICES, 'paths_collapse', *SLIDERS])
