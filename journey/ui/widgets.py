"""Shared widgets: the sidebar (data source and global filters) and the load report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import streamlit as st

from journey import format as fmt
from journey.log import EventLog, Filters, LoadReport

from . import links, people, state

SOURCES = ("Sample shop", "Upload a file", "Open a file by path")


def sidebar() -> EventLog | None:
    """Draw the data-source picker and the filters; return the selected (unfiltered) log."""
    with st.sidebar:
        st.subheader("Data")
        team = state.team_datasets()
        options = (("Team dataset",) if team else ()) + (SOURCES[:2] if state.hosted() else SOURCES)
        links.bind({"source_kind": "", "team_dataset": ""})
        kind = st.radio("Source", links.keep_valid("source_kind", options), key="source_kind",
                        label_visibility="collapsed")
        if st.session_state.get("team_config_error"):
            st.error(st.session_state.pop("team_config_error"))
        if kind == "Team dataset":
            name = st.selectbox("Dataset", links.keep_valid("team_dataset", team), key="team_dataset",
                                help="declared in journey.toml; shared, read-only")
            with st.spinner(f"Opening {name}…"):
                state.use_team(name)
        elif kind == "Sample shop":
            state.use_sample()
        elif kind == "Upload a file":
            upload = st.file_uploader(
                "Event export",
                type=state.UPLOAD_TYPES,
                key="upload",
                help="CSV or TSV (also .gz), Parquet, JSON lines or Excel .xlsx, up to "
                f"{st.get_option('server.maxUploadSize'):,} MB (larger files: compress them as .gz, or ask for a "
                "team dataset). Columns are detected; you can change the mapping on the Data page.",
            )
            if upload is not None:
                with st.spinner(f"Loading {upload.name}…"):
                    state.use_upload(upload.name, upload.getvalue(), upload.file_id)
        else:
            files = state.listed_files()
            choice = st.selectbox(
                "Files in the data folders", ["(type a path below)", *files], key="path_choice",
                help="data/ and the folder in JOURNEY_DATA_DIR",
            )
            typed = st.text_input("Path", key="path_text", placeholder="/path/to/events.csv")
            path = typed or (choice if choice in files else "")
            if path and st.button("Open", key="path_open", type="primary"):
                with st.spinner(f"Loading {path}…"):
                    state.use_path(path)
        links.publish(["source_kind", "team_dataset"] if kind == "Team dataset" else ["source_kind"])
        if kind != "Team dataset" and "team_dataset" in st.query_params:
            del st.query_params["team_dataset"]
        error = state.load_error()
        if error:
            st.error(error)
        log = state.current_log()
        if log is not None:
            st.caption(f"**{log.report.source}**: {fmt.count(log.report.events)} events, "
                       f"{fmt.count(log.report.users)} users")
            _filters(log)
    return log


def _filters(log: EventLog) -> None:
    state.reset_filters_if_dataset_changed()
    r = log.report
    first = dt.date.fromisoformat(r.first_ts[:10]) if r.first_ts else None
    last = dt.date.fromisoformat(r.last_ts[:10]) if r.last_ts else None
    links.bind({"filter_channel": [], "filter_device": [], "filter_dates": [first or dt.date.today()]},
               bounds={"filter_dates": (first, last)} if first and last else None)
    st.subheader("Filters")
    current: Filters = st.session_state.get("filters", Filters())
    start, end = current.start, current.end
    if first and last:
        st.session_state.setdefault("filter_dates", (start or first, end or last))
        picked = st.date_input("Dates", min_value=first, max_value=last, key="filter_dates")
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            start = picked[0] if picked[0] != first else None
            end = picked[1] if picked[1] != last else None
    channels = devices = ()
    if r.mapping.get("channel"):
        channels = tuple(st.multiselect("Channel", log.distinct_values("channel"), key="filter_channel"))
    if r.mapping.get("device"):
        devices = tuple(st.multiselect("Device", log.distinct_values("device"), key="filter_device"))
    state.set_filters(Filters(start=start, end=end, channels=channels, devices=devices, users=current.users))
    links.publish(["filter_channel", "filter_device", "filter_dates"])
    people.sidebar_note()


def no_data() -> None:
    st.info("Pick a data source in the sidebar: the sample shop, an upload, or a file by path.")


def load_summary(report: LoadReport) -> None:
    """One line of accounting, with the details (reasons, warnings) in an expander."""
    line = (
        f"Loaded **{fmt.count(report.rows_loaded)}** of {fmt.count(report.rows_read)} rows "
        f"from {report.source} · **{fmt.count(report.rows_rejected)}** rejected · {report.seconds:.1f} s"
    )
    if report.rows_rejected or report.warnings:
        st.warning(line + " — see the load report below.", icon=":material/warning:")
    else:
        st.success(line, icon=":material/check_circle:")


def load_report(log: EventLog, key: str) -> None:
    """The full load report: accounting, reasons, mapping, warnings, rejected rows to download."""
    r = log.report
    cols = st.columns(4)
    cols[0].metric("Rows read", fmt.count(r.rows_read))
    cols[1].metric("Rows loaded", fmt.count(r.rows_loaded))
    cols[2].metric("Rows rejected", fmt.count(r.rows_rejected))
    cols[3].metric("Duplicate rows (kept)", fmt.count(r.duplicate_rows))
    details = [f"Format: {r.format}" + (f", encoding {r.encoding}" if r.encoding else "")
               + (f", delimiter {r.delimiter!r}" if r.delimiter else ""),
               f"Time read as {r.time_format}"]
    st.caption(" · ".join(details))
    for w in r.warnings:
        st.warning(w)
    if r.reject_reasons:
        st.dataframe(
            [{"reason": k, "rows": v} for k, v in r.reject_reasons.items()], hide_index=True,
            column_config={"rows": st.column_config.NumberColumn(format="localized")},
        )
        rejects = log.rejects()
        st.download_button(
            f"Download the {fmt.count(len(rejects))} rejected rows (CSV)",
            rejects.to_csv(index=False).encode("utf-8"),
            file_name=f"{r.source}.rejects.csv",
            mime="text/csv",
            key=f"rejects_{key}",
            icon=":material/download:",
        )


def rates_table(df, name_col: str, *, time_col: str, time_label: str, count_label: str = "users"):
    """A funnel DataFrame as a readable table: counts in full (headed ``count_label``: users or sessions),
    rates as percentages, times as durations."""
    import pandas as pd

    out = pd.DataFrame()
    if "group" in df.columns:
        out["group"] = df["group"]
    out[name_col] = df[name_col]
    out[count_label] = [fmt.count(x) for x in df["users"]]
    if "own_users" in df.columns:
        out["own events"] = [fmt.count(x) for x in df["own_users"]]
    out["from previous"] = [fmt.percent(x) for x in df["conversion_from_previous"]]
    out["from start"] = [fmt.percent(x) for x in df["conversion_from_start"]]
    out["95 % interval"] = [f"{fmt.percent(lo)} – {fmt.percent(hi)}" for lo, hi in zip(df["ci_low"], df["ci_high"])]
    out["dropped"] = [fmt.count(x) for x in df["dropped"]]
    out[time_label] = [fmt.duration(x) for x in df[time_col]]
    return out


def compare_segments(df, key: str) -> None:
    """Pick two groups of a broken-down funnel and show where they differ significantly."""
    import journey

    groups = list(dict.fromkeys(df["group"]))
    if len(groups) < 2:
        return
    st.markdown("**Compare two segments**")
    c1, c2 = st.columns(2)
    a = c1.selectbox("Segment A", groups, index=0, key=f"{key}_a")
    b = c2.selectbox("Segment B", groups, index=1, key=f"{key}_b")
    if a == b:
        st.caption("Pick two different segments.")
        return
    out = journey.compare_groups(df, a, b)
    name = "step" if "step" in out.columns else "stage"
    table = {
        name: out[name],
        f"{a}": [fmt.percent(x) for x in out["rate_a"]],
        f"{b}": [fmt.percent(x) for x in out["rate_b"]],
        "difference": [f"{x * 100:+.1f} pts" for x in out["difference"]],
        "q-value": [f"{q:.3g}" for q in out["q_value"]],
        "significant": ["yes" if s else "no" for s in out["significant"]],
    }
    st.dataframe(table, hide_index=True)
    st.caption("Two-proportion z-test on conversion from the first step; q-values adjust for testing every "
               "step (Benjamini–Hochberg). Significant: q < 0.05.")


def cluster_profile_table(profiles):
    """Clusters' feature means and z-scores as one readable table (features as rows)."""
    import pandas as pd

    features = [c[len("mean_"):] for c in profiles.columns if c.startswith("mean_")]
    rows = []
    for f in features:
        row = {"feature": f.replace("_", " ")}
        for r in profiles.itertuples():
            row[r.name] = f"{getattr(r, 'mean_' + f):,.2f} (z {getattr(r, 'z_' + f):+.1f})"
        rows.append(row)
    return pd.DataFrame(rows)


def nps_by_stage_table(scores):
    """The canvas's per-stage answers as an NPS table."""
    return {"stage": scores["stage"], "answers": [fmt.count(x) for x in scores["answers"]],
            "NPS": [f"{x:+.0f}" for x in scores["nps"]], "mean score": [f"{x:.1f}" for x in scores["mean_score"]]}


def report_button() -> None:
    """In the sidebar: build the whole journey as one HTML file for the current view, then download it."""
    from journey.report import html_report

    from .funnel_controls import current_spec

    log = state.filtered_log()
    if log is None:
        return
    with st.popover("Report", icon=":material/description:"):
        st.caption("The whole journey (overview, funnels, drop-off, the map canvas, retention, clusters) as one "
                   "HTML file with its charts inside, for the data and filters in view.")
        key = f"report:{log.fingerprint()}"
        if st.button("Build the report", key="report_build"):
            with st.spinner("Building the report…"):
                spec = current_spec(log)
                st.session_state["report_html"] = (key, html_report(
                    log, state.stage_map(), steps=spec.steps, window=spec.window,
                    personas=st.session_state.get("personas")))
        built = st.session_state.get("report_html")
        if built and built[0] == key:
            st.download_button("Download the report", built[1].encode("utf-8"), file_name="journey_report.html",
                               mime="text/html", icon=":material/download:", key="report_download")


def view_picker(key: str, views: dict[str, str], keep: Sequence[str] = ()) -> str:
    """The page's views (name → label) as a row of choices; returns the chosen one's name. Only the chosen
    view is computed and drawn.

    Tabs (``st.tabs``) run every tab's code on every rerun, so each filter change recomputed every view of
    the page (six analyses on the Journey map, 14 s on 10M events). The choice is kept in the URL
    (``links``, key ``key``), so a shared link opens the same view. ``keep``: the keys of the views'
    widgets, whose values Streamlit would forget while their view is not drawn (saved again on each run,
    as its documentation advises). A radio, not a segmented control: AppTest cannot run a page with a
    single-choice segmented control (Streamlit 1.50).
    """
    for name in keep:
        if name in st.session_state:
            st.session_state[name] = st.session_state[name]
    links.bind({key: ""})
    view = st.radio("View", links.keep_valid(key, list(views)), key=key, format_func=views.get, horizontal=True,
                    label_visibility="collapsed")
    links.publish([key])
    return view
