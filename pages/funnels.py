"""Funnels: the five-stage journey funnel, and step funnels of any events."""

import streamlit as st

import journey
from journey import charts
from journey import format as fmt
from journey.errors import JourneyError
from journey.ui import links, shell, people, state, widgets
from journey.ui.cache import compute, compute_csv
from journey.ui.funnel_controls import funnel_controls
from journey.ui.stage_editor import stage_map_editor

links.bind({"stages_model": "", "stages_by": "", "stages_view": "", "funnel_by": "", "funnel_trend": ""})
log = shell.page("Funnels")

breakdowns = ["(none)", *[c for c in ("channel", "device", "category") if log.report.mapping.get(c)],
              *log.report.extra_columns]

view = widgets.view_picker("funnels_view", {"stages": "Journey stages", "steps": "Step funnel"},
                           keep=["stages_model", "stages_by", "stages_view", "stages_period", "funnel_by",
                                 "funnel_trend", "funnel_time_step", "funnel_people_step", "funnel_people_outcome"])

if view == "stages":
    sm = state.stage_map()
    c1, c2, c3 = st.columns([1, 1, 1])
    model = c1.radio("Stages", links.keep_valid("stages_model", ["five", "three"]), key="stages_model", horizontal=True,
                     format_func={"five": "Five stages", "three": "Awareness → decision"}.get)
    by = c2.selectbox("Break down by (first touch)",
                      links.keep_valid("stages_by", [*breakdowns, "first_touch_week", "first_touch_month"]),
                      key="stages_by", format_func=lambda b: {"first_touch_week": "signup cohort (week)",
                                                               "first_touch_month": "signup cohort (month)"}.get(b, b))
    view = c3.radio("View", links.keep_valid("stages_view", ["funnel", "trend"]), key="stages_view", horizontal=True, format_func=str.capitalize)
    by = None if by == "(none)" else by
    try:
        if view == "trend":
            period = st.radio("Cohorts by first touch",
                              links.keep_valid("stages_period", ["day", "week", "month"], default="week"),
                              key="stages_period", horizontal=True)
            trend = compute(journey.stage_trend, log, stage_map=sm, period=period)
            st.altair_chart(charts.stage_trend_chart(trend), use_container_width=True)
        else:
            df = compute(journey.stage_funnel, log, stage_map=sm, model=model, by=by)
            st.altair_chart(charts.stage_funnel_chart(df), use_container_width=True)
            st.dataframe(
                widgets.rates_table(df, "stage", time_col="median_seconds_from_start",
                                    time_label="median time from first touch"),
                hide_index=True,
            )
            st.caption(
                "Users at or beyond each stage: a buyer counts as aware and considering even where the log "
                "missed it. *Own events* counts the users who did the stage's own events. Whiskers: Wilson 95 %."
            )
            if by:
                widgets.compare_segments(df, key="stages_compare")
    except JourneyError as e:
        st.error(str(e))
    with st.expander("Stage map: which events reach which stage"):
        stage_map_editor(log)

else:
    spec = funnel_controls(log, "funnel")
    c1, c2 = st.columns(2)
    by = c1.selectbox("Break down by (first step)", links.keep_valid("funnel_by", breakdowns), key="funnel_by")
    trend = c2.radio("Trend", links.keep_valid("funnel_trend", ["none", "day", "week", "month"]), key="funnel_trend", horizontal=True)
    trend = None if trend == "none" else trend
    by = None if by == "(none)" else by
    if len(spec.steps) < 2:
        st.info("Pick at least two steps.")
        st.stop()
    try:
        df = compute(journey.funnel, log, steps=spec.steps, by=by, **spec.options())
        st.altair_chart(charts.funnel_chart(df), use_container_width=True)
        st.dataframe(widgets.rates_table(df, "step", time_col="median_seconds_to_convert",
                                         time_label="median time from previous step", count_label=spec.unit),
                     hide_index=True)
        if by:
            widgets.compare_segments(df, key="funnel_compare")
        if trend:
            st.subheader(f"Conversion through all steps, by {trend}")
            t = compute(journey.funnel_trend, log, steps=spec.steps, period=trend, **spec.options())
            st.altair_chart(charts.trend_chart(t), use_container_width=True)

        st.subheader("Time to convert")
        step_names = [f"{i}. {s}" for i, s in enumerate(spec.steps, start=1)]
        pick = st.selectbox("Step", step_names[1:], key="funnel_time_step")
        step_no = step_names.index(pick) + 1
        hist = compute(journey.time_to_convert, log, steps=spec.steps, step_no=step_no, **spec.options())
        row = df[df["step_no"] == step_no].iloc[0] if not by else None
        if row is not None:
            st.caption(f"Median {fmt.duration(row['median_seconds_to_convert'])}, "
                       f"90th percentile {fmt.duration(row['p90_seconds_to_convert'])}, from step {step_no - 1}.")
        st.altair_chart(charts.histogram_chart(hist), use_container_width=True)

        st.subheader("Who dropped, who converted")
        c1, c2 = st.columns(2)
        pick = c1.selectbox("At step", step_names[1:], key="funnel_people_step")
        outcome = c2.radio("Outcome", ["dropped", "converted"], key="funnel_people_outcome", horizontal=True)
        step_no = step_names.index(pick) + 1
        people_params = dict(steps=spec.steps, step_no=step_no, outcome=outcome, **spec.options())
        who = compute(journey.funnel_people, log, **people_params)
        st.caption(f"{fmt.count(len(who))} {spec.unit} {outcome} at step {pick}.")
        st.dataframe(who.head(1000), hide_index=True, height=220)
        people.actions(who, label=f"{outcome} at {pick}", file_name=f"{outcome}_at_step_{step_no}.csv",
                       csv=compute_csv(journey.funnel_people, log, **people_params),
                       key="funnel_people", pick_key="funnel_people")
    except JourneyError as e:
        st.error(str(e))

links.publish(['stages_model', 'stages_by', 'stages_view', 'funnel_by', 'funnel_trend'])
