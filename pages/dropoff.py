"""Drop-off: where people leave, what they did instead, and what separates converters from droppers."""

import streamlit as st

import journey
from journey import charts
from journey import format as fmt
from journey.errors import JourneyError
from journey.ui import links, shell, widgets
from journey.ui.cache import compute
from journey.ui.funnel_controls import current_spec, funnel_controls

log = shell.page("Drop-off")

view = widgets.view_picker("dropoff_view", {"leave": "Where people leave", "compare": "Converters and droppers",
                                            "pages": "Carts, bounces and pages"}, keep=["dropoff_step"])
if view in ("leave", "compare"):
    spec = current_spec(log)
    with st.expander(f"Funnel: {' → '.join(spec.steps)} · within {spec.window} · {spec.order} · {spec.unit}"):
        spec = funnel_controls(log, "dropoff")
    if len(spec.steps) < 2:
        st.info("Pick at least two steps.")
        st.stop()

if view == "leave":
    try:
        df = compute(journey.funnel, log, steps=spec.steps, **spec.options())
        aov = compute(journey.average_order_value, log)
        opp = journey.opportunities(df, aov)
        if not opp.empty:
            top = opp.iloc[0]
            st.markdown(
                f"The biggest loss is at **{top['step']}**: {fmt.count(top['users_lost'])} {spec.unit} "
                f"({fmt.percent(top['share_of_lost'])} of all who left), about "
                f"**{fmt.money(top['revenue_at_risk'])}** at the average order value of {fmt.money(aov)}."
            )
        st.dataframe(
            {
                "rank": opp["rank"], "lost before step": opp["step"], "lost": [fmt.count(x) for x in opp["users_lost"]],
                "share of all lost": [fmt.percent(x) for x in opp["share_of_lost"]],
                "revenue at risk": [fmt.money(x) for x in opp["revenue_at_risk"]],
            },
            hide_index=True,
        )

        step_names = [f"{i}. {s}" for i, s in enumerate(spec.steps, start=1)]
        choices = step_names[1:]  # the people who left before step 2 on
        biggest = f"{int(opp.iloc[0]['step_no'])}. {opp.iloc[0]['step']}" if not opp.empty else None
        pick = st.selectbox("Look at the people who left before step",
                            links.keep_valid("dropoff_step", choices,
                                             default=biggest if biggest in choices else choices[0]),
                            key="dropoff_step")
        step_no = step_names.index(pick) + 1
        paths = compute(journey.dropoff_paths, log, steps=spec.steps, step_no=step_no, **spec.options())
        cols = st.columns(len(paths))
        titles = {"next": "What they did next instead", "last": "Their last event", "exit_pages": "Pages they left from"}
        for col, (name, table) in zip(cols, paths.items()):
            with col:
                st.markdown(f"**{titles[name]}**")
                if table.empty:
                    st.caption("Nobody left here.")
                else:
                    st.altair_chart(charts.share_bars_chart(table), use_container_width=True)

        st.subheader("Week by week")
        trend = compute(journey.funnel_trend, log, steps=spec.steps[-2:], period="week", **spec.options())
        st.caption(f"Conversion from {spec.steps[-2]} to {spec.steps[-1]} by week of {spec.steps[-2]}: a sudden dip "
                   "is an incident worth a look.")
        st.altair_chart(charts.trend_chart(trend), use_container_width=True)
    except JourneyError as e:
        st.error(str(e))

elif view == "compare":
    try:
        corr = compute(journey.correlation, log, steps=spec.steps, window=spec.window, order=spec.order,
                       exclude=spec.exclude)
        if corr.empty:
            st.caption("Too few people to compare.")
        else:
            shown = corr.head(15)
            st.dataframe(
                {
                    "": [("▲ " if d == "success" else "▼ ") + ("" if s else "(n.s.)") for d, s in
                         zip(shown["direction"], shown["significant"])],
                    "kind": shown["kind"], "value": shown["value"],
                    "converters with it": [fmt.percent(x) for x in shown["converter_share"]],
                    "droppers with it": [fmt.percent(x) for x in shown["dropper_share"]],
                    "odds ratio": [f"{x:.2f}" for x in shown["odds_ratio"]],
                    "q-value": [f"{x:.2g}" for x in shown["q_value"]],
                },
                hide_index=True,
            )
            st.caption("Events done after entering the funnel, and the channel and device of the first step. "
                       "▲ more common among converters, ▼ among droppers; n.s. = not significant (q ≥ 0.05).")
    except JourneyError as e:
        st.error(str(e))

else:
    c1, c2 = st.columns(2)
    with c1:
        cart = compute(journey.cart_abandonment, log)
        if cart.empty:
            st.caption("No add-to-cart events.")
        else:
            row = cart.iloc[0]
            st.metric("Cart abandonment", fmt.percent(row["abandonment_rate"]),
                      help="(users who added to cart − those who then bought) ÷ users who added to cart")
            st.caption(f"{fmt.count(row['abandoned'])} of {fmt.count(row['carted'])} users who added to cart did not buy.")
            for by in [b for b in ("channel", "device") if log.report.mapping.get(b)]:
                st.altair_chart(charts.rate_by_group_chart(compute(journey.cart_abandonment, log, by=by),
                                                           "abandonment_rate"), use_container_width=True)
    with c2:
        bounce = compute(journey.bounce_rate, log).iloc[0]
        st.metric("Bounce rate", fmt.percent(bounce["bounce_rate"]), help="sessions with one event ÷ sessions")
        st.caption(f"{fmt.count(bounce['bounced'])} of {fmt.count(bounce['sessions'])} sessions had a single event.")
        if log.report.mapping.get("channel"):
            st.altair_chart(charts.rate_by_group_chart(compute(journey.bounce_rate, log, by="channel"), "bounce_rate"),
                            use_container_width=True)
    pages = compute(journey.time_on_page, log, top=15)
    st.markdown("**Time on page** (time to the next event in the session; a session's last page is an exit)")
    st.dataframe(
        {"page": pages["page"], "views": [fmt.count(x) for x in pages["views"]],
         "median time": [fmt.duration(x) for x in pages["median_seconds"]],
         "mean time": [fmt.duration(x) for x in pages["mean_seconds"]],
         "exit rate": [fmt.percent(x) for x in pages["exit_rate"]]},
        hide_index=True,
    )
