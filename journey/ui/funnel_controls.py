"""The step-funnel definition shared by the Funnels and Drop-off pages, kept across page switches.

Streamlit forgets a widget's value when its page is not drawn, so the definition lives in
``st.session_state["funnel_spec"]`` and the widgets start from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

import journey
from journey.log import EventLog

WINDOW_UNITS = {"minutes": "m", "hours": "h", "days": "d", "weeks": "w"}
ORDER_LABELS = {"ordered": "in order (others may come between)", "strict": "strictly consecutive",
                "any": "in any order"}


@dataclass
class FunnelSpec:
    steps: list[str] = field(default_factory=list)
    window_value: int = 7
    window_unit: str = "days"
    order: str = "ordered"
    exclude: list[str] = field(default_factory=list)
    unit: str = "users"

    @property
    def window(self) -> str:
        return f"{self.window_value}{WINDOW_UNITS[self.window_unit]}"

    def options(self) -> dict:
        """Keyword arguments for journey.funnel and friends."""
        return {"window": self.window, "order": self.order, "exclude": list(self.exclude), "unit": self.unit}


def _spec_from_url() -> FunnelSpec | None:
    """A funnel definition from a shared link (?steps=a|b|c&window=7d&order=…&unit=…&exclude=…)."""
    q = st.query_params
    if "steps" not in q:
        return None
    import re

    m = re.fullmatch(r"(\d+)(m|h|d|w)", q.get("window", "7d"))
    unit_names = {v: k for k, v in WINDOW_UNITS.items()}
    return FunnelSpec(
        steps=[s for s in q.get("steps", "").split("|") if s],
        window_value=int(m.group(1)) if m else 7,
        window_unit=unit_names[m.group(2)] if m else "days",
        order=q.get("order") if q.get("order") in ORDER_LABELS else "ordered",
        exclude=[s for s in q.get("exclude", "").split("|") if s],
        unit=q.get("unit") if q.get("unit") in ("users", "sessions") else "users",
    )


def publish_spec(spec: FunnelSpec) -> None:
    """Write the funnel definition into the URL, so the link reproduces it."""
    values = {"steps": "|".join(spec.steps), "window": spec.window, "order": spec.order, "unit": spec.unit,
              "exclude": "|".join(spec.exclude)}
    for key, value in values.items():
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value
        elif not value and key in st.query_params:
            del st.query_params[key]


def current_spec(log: EventLog) -> FunnelSpec:
    """The session's funnel definition, valid for this log (unknown events dropped, defaults filled in).

    A session's first look takes it from the link it was opened with, when the link carries one.
    """
    spec: FunnelSpec | None = st.session_state.get("funnel_spec")
    if spec is None:
        spec = _spec_from_url()
    events = set(log.distinct_values("event", limit=100_000))
    if spec is None or len([s for s in spec.steps if s in events]) < 2:
        spec = FunnelSpec(steps=journey.default_steps(log))
    spec.steps = [s for s in spec.steps if s in events]
    spec.exclude = [s for s in spec.exclude if s in events and s not in spec.steps]
    st.session_state["funnel_spec"] = spec
    return spec


def funnel_controls(log: EventLog, prefix: str) -> FunnelSpec:
    """Draw the funnel definition widgets (keys start with ``prefix``) and return the definition."""
    spec = current_spec(log)
    events = log.distinct_values("event", limit=100_000)
    steps = st.multiselect(
        "Steps, in order", events, default=spec.steps, key=f"{prefix}_steps", max_selections=20,
        help="Pick 2 to 20 events in the order a customer should do them.",
    )
    c1, c2, c3, c4 = st.columns([1, 1, 2, 1])
    window_value = c1.number_input("Window", min_value=1, max_value=10_000, value=spec.window_value,
                                   key=f"{prefix}_window_value")
    window_unit = c2.selectbox("unit", list(WINDOW_UNITS), index=list(WINDOW_UNITS).index(spec.window_unit),
                               key=f"{prefix}_window_unit", label_visibility="hidden")
    order = c3.selectbox("Order", list(ORDER_LABELS), index=list(ORDER_LABELS).index(spec.order),
                         format_func=ORDER_LABELS.get, key=f"{prefix}_order")
    unit = c4.selectbox("Count", ["users", "sessions"], index=["users", "sessions"].index(spec.unit),
                        key=f"{prefix}_unit")
    strict = order == "strict"
    exclude = st.multiselect(
        "Exclude chains with these events between their steps",
        [e for e in events if e not in steps], default=[e for e in spec.exclude if e not in steps],
        key=f"{prefix}_exclude", disabled=strict,
        help="A strictly consecutive funnel has nothing between its steps to exclude." if strict else None,
    )
    spec = FunnelSpec(steps=list(steps), window_value=int(window_value), window_unit=window_unit, order=order,
                      exclude=list(exclude), unit=unit)
    st.session_state["funnel_spec"] = spec
    publish_spec(spec)
    return spec

