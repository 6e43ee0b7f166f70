"""The stage-map editor: patterns and events per stage, retention and advocacy rules, TOML in and out."""

from __future__ import annotations

import streamlit as st

import journey
from journey.errors import JourneyError
from journey.log import EventLog
from journey.stages import PATTERN_STAGES, StageMap

from . import state
from .cache import compute


def _apply(events: list[str]) -> None:
    ss = st.session_state
    try:
        sm = StageMap(
            patterns={s: ss[f"stagemap_pattern_{s}"] for s in PATTERN_STAGES},
            events={s: list(ss[f"stagemap_events_{s}"]) for s in PATTERN_STAGES},
            retention_orders=int(ss["stagemap_orders"]),
            retention_within_days=float(ss["stagemap_within"]) or None,
            nps_promoter_min=int(ss["stagemap_nps_min"]) if ss["stagemap_nps"] else None,
        )
        state.set_stage_map(sm)
        ss.pop("stagemap_error", None)
    except JourneyError as e:
        ss["stagemap_error"] = str(e)


def _upload() -> None:
    upload = st.session_state.get("stagemap_upload")
    if upload is None:
        return
    try:
        state.set_stage_map(StageMap.from_toml(upload.getvalue().decode("utf-8", errors="replace")))
        for key in [k for k in st.session_state if str(k).startswith("stagemap_") and k != "stagemap_upload"]:
            del st.session_state[key]
    except JourneyError as e:
        st.session_state["stagemap_error"] = str(e)


def stage_map_editor(log: EventLog) -> None:
    sm = state.stage_map()
    events = log.distinct_values("event", limit=100_000)
    with st.form("stagemap_form"):
        for stage in PATTERN_STAGES:
            c1, c2 = st.columns([3, 2])
            c1.text_input(f"{stage}: pattern (regular expression on event names, lower case, _ for spaces)",
                          value=sm.patterns.get(stage, ""), key=f"stagemap_pattern_{stage}")
            c2.multiselect(f"{stage}: also these events", events,
                           default=[e for e in sm.events.get(stage, []) if e in events], key=f"stagemap_events_{stage}")
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Retention: the nth order", min_value=2, max_value=10, value=sm.retention_orders,
                        key="stagemap_orders")
        c2.number_input("…within days of the first (0: any time)", min_value=0.0,
                        value=float(sm.retention_within_days or 0), key="stagemap_within")
        c3.checkbox("NPS answers count as advocacy", value=sm.nps_promoter_min is not None, key="stagemap_nps")
        c4.number_input("…from score", min_value=0, max_value=10, value=sm.nps_promoter_min or 9,
                        key="stagemap_nps_min")
        st.form_submit_button("Apply the stage map", type="primary", on_click=_apply, args=(events,))
    if st.session_state.get("stagemap_error"):
        st.error(st.session_state["stagemap_error"])
    table = compute(journey.event_stages, log, stage_map=sm)
    unmatched = table[table["stage"].isna()]["event"].tolist()
    st.caption("Events that match no stage (they count only as awareness): "
               + (", ".join(unmatched[:30]) if unmatched else "none") + (" …" if len(unmatched) > 30 else ""))
    st.dataframe(table, hide_index=True, height=240)
    c1, c2 = st.columns(2)
    c1.download_button("Download the stage map (TOML)", sm.to_toml().encode("utf-8"), file_name="stages.toml",
                       mime="application/toml", icon=":material/download:", key="stagemap_download")
    c2.file_uploader("Load a stage map (TOML)", type=["toml"], key="stagemap_upload", on_change=_upload)
