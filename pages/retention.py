"""Retention & churn: do customers come back, who is leaving, and who is likely to leave next."""

import datetime as dt

import streamlit as st

import journey
from journey import charts
from journey import format as fmt
from journey.churn import churn_rate_over_time, churn_risk, clusters, default_churn_days
from journey.errors import JourneyError
from journey.retention import lifecycle, order_gaps, purchase_summary, retention_curves, retention_matrix
from journey.ui import links, people, shell, state, widgets
from journey.ui.cache import compute
from journey.ui.timeline import pick_from

links.bind({"ret_period": "", "ret_start": "", "ret_view": "", "ret_return": "", "lc_period": "", "clusters_k": ""})
_k = st.session_state.get("clusters_k")
if isinstance(_k, str) and _k != "best (silhouette)":  # from a link: a number of clusters, 2–8
    if _k.isdigit() and 2 <= int(_k) <= 8:
        st.session_state["clusters_k"] = int(_k)
    else:
        del st.session_state["clusters_k"]
log = shell.page("Retention & churn")
sm = state.stage_map()
# the clusters and the churn model take seconds on millions of events (on 10M: 8 s and 2-6 s), the rest well
# under one: each is a view of its own, computed only when chosen, so the cohorts answer at once (ADR 0020)
view = widgets.view_picker(
    "ret_section", {"cohorts": "Cohorts and orders", "churn": "Churn over time", "clusters": "Churn clusters",
                    "risk": "Churn risk"},
    keep=["ret_period", "ret_start", "ret_return", "ret_view", "lc_period", "clusters_k"])


def churn_days() -> int:
    """The days without an event that make a customer churned, asked on each churn view: one widget, kept
    from one churn view to the next (not re-saved by the view picker: it has a default, the suggestion)."""
    suggested = compute(default_churn_days, log, stage_map=sm)
    days = st.number_input("Churned = no event for this many days before the end of the data", 1, 3650,
                           suggested["days"], key="churn_days")
    st.caption("Suggested: " + suggested["reason"])
    return int(days)


if view == "cohorts":
    st.subheader("Cohort retention")
    c1, c2, c3, c4 = st.columns(4)
    period = c1.radio("Cohorts by", links.keep_valid("ret_period", ["month", "week"]), key="ret_period",
                      horizontal=True)
    start = c2.radio("Starting at", links.keep_valid("ret_start", ["first_event", "first_purchase"]),
                     key="ret_start", horizontal=True,
                     format_func={"first_event": "first event", "first_purchase": "first purchase"}.get)
    ret = c3.selectbox("Coming back means", links.keep_valid("ret_return", [
        "any event", "a purchase", *log.distinct_values("event", limit=500)]), key="ret_return")
    count = c4.radio("Count", links.keep_valid("ret_view", ["in period p", "in p or later"]), key="ret_view",
                     horizontal=True)
    try:
        m = compute(retention_matrix, log, period=period, start=start, cumulative=count == "in p or later",
                    return_event={"any event": None, "a purchase": "purchase"}.get(ret, ret), stage_map=sm)
        if m.empty:
            st.info("No cohort: nobody matches the start condition.")
        else:
            st.altair_chart(charts.retention_heatmap(m), use_container_width=True)
            st.altair_chart(charts.retention_curves_chart(m, retention_curves(m)), use_container_width=True)
            st.caption(f"Period p counts whole calendar {period}s since the cohort's {period}; period 0 is 100 %. "
                       "The thick line is the average of the cohorts old enough to reach each period.")
    except JourneyError as e:
        st.error(str(e))

    st.subheader("Buying again")
    s = compute(purchase_summary, log, stage_map=sm).iloc[0]
    cols = st.columns(5)
    cols[0].metric("Repeat purchase rate", fmt.percent(s["repeat_purchase_rate"]),
                   help="customers with 2 or more orders ÷ customers with 1 or more")
    cols[1].metric("Orders per customer", f"{s['purchase_frequency']:.2f}" if s["customers"] else "–")
    cols[2].metric("Average order value", fmt.money(s["average_order_value"]))
    cols[3].metric("Revenue from returning", fmt.percent(s["returning_revenue_share"]),
                   help="revenue of every order after a customer's first ÷ all revenue")
    cols[4].metric("Median days between orders", f"{s['median_days_between_orders']:.1f}"
                   if s["median_days_between_orders"] == s["median_days_between_orders"] else "–")
    gaps = compute(order_gaps, log, stage_map=sm)
    if not gaps.empty:
        st.altair_chart(charts.binned_bars_chart(gaps, "days", "gaps", x_title="days between consecutive orders",
                                                 y_title="orders"), use_container_width=True)

    with st.expander("Retention rate between two dates (the seed article's definition)"):
        first = log.run("SELECT min(ts) AS a, max(ts) AS b FROM {events}").iloc[0]
        c1, c2 = st.columns(2)
        start_d = c1.date_input("From", value=(first["a"] + (first["b"] - first["a"]) / 2).date(), key="rr_start")
        end_d = c2.date_input("Until (exclusive)", value=first["b"].date(), key="rr_end")
        rr = compute(journey.retention_rate, log, start=str(start_d), end=str(end_d), stage_map=sm).iloc[0]
        st.metric("Retention rate", fmt.percent(rr["retention_rate"]),
                  help="of the customers who bought before the first date, the share who bought again by the second")
        st.caption(f"{fmt.count(rr['retained'])} of {fmt.count(rr['customers_at_start'])} earlier customers "
                   "bought again.")

    st.subheader("Lifecycle")
    lc_period = st.radio("Per", links.keep_valid("lc_period", ["week", "month", "day"]), key="lc_period",
                         horizontal=True)
    st.altair_chart(charts.lifecycle_chart(compute(lifecycle, log, period=lc_period)), use_container_width=True)

elif view == "churn":
    st.subheader("Churn over time")
    days = churn_days()
    rate = compute(churn_rate_over_time, log, churn_days=days)
    if rate.empty:
        st.info(f"The data spans less than {days} days: nobody can have churned yet.")
    else:
        st.altair_chart(charts.line_chart(rate, "period_end", "churn_rate", y_title="churned customers"),
                        use_container_width=True)
        last = rate.iloc[-1]
        # period_end is the week's exclusive end (the next Monday, 00:00): its last day is the day before
        last_day = last["period_end"] - dt.timedelta(days=1)
        st.caption(f"At the end of each week, of the customers seen so far, the share with no event in the "
                   f"{days} days before it. By the end of {last_day:%d %b %Y}: {fmt.count(last['churned'])} of "
                   f"{fmt.count(last['customers'])} ({fmt.percent(last['churn_rate'])}).")

elif view == "clusters":
    st.subheader("Churn clusters")
    days = churn_days()
    c1, c2 = st.columns(2)
    k = c1.selectbox("Clusters", ["best (silhouette)", *range(2, 9)], key="clusters_k")
    try:
        res = compute(clusters, log, k=None if k == "best (silhouette)" else int(k), churn_days=days, stage_map=sm)
        st.session_state["personas"] = res["personas"]
        st.session_state["cluster_members"] = res["members"][["user_id", "name"]].rename(columns={"name": "group"})
        c2.metric("Silhouette", f"{res['silhouette']:.3f}", help=f"k = {res['k']}; higher means better separated")
        prof = res["profiles"]
        st.dataframe({
            "cluster": prof["name"], "customers": [fmt.count(x) for x in prof["customers"]],
            "churn rate": [fmt.percent(x) for x in prof["churn_rate"]],
            "revenue share": [fmt.percent(x) for x in prof["revenue_share"]],
            "buyers": [fmt.percent(x) for x in prof["buyer_share"]], "what sets it apart": prof["sets_apart"],
        }, hide_index=True)
        with st.expander("Every feature of every cluster, against the mean of all customers"):
            st.dataframe(widgets.cluster_profile_table(prof), hide_index=True)
            st.caption("z: how many standard deviations the cluster's mean is above (+) or below (−) the mean of all "
                       "customers.")
        st.altair_chart(charts.clusters_chart(res["points"]), use_container_width=True)
        pick = st.selectbox("Members of", prof["name"].tolist(), key="clusters_pick")
        members = res["members"][res["members"]["name"] == pick]
        people.actions(members, label=f"cluster {pick}", file_name="cluster_members.csv", key="clusters",
                       pick_key="clusters_members")
    except JourneyError as e:
        st.error(str(e))

else:
    st.subheader("Churn risk")
    days = churn_days()
    try:
        risk = compute(churn_risk, log, churn_days=days, stage_map=sm)
        c1, c2 = st.columns([1, 2])
        c1.metric("Holdout ROC AUC", f"{risk['auc']:.3f}",
                  help=f"trained on {risk['trained_on']:,} customers as of {risk['cutoff']:%d %b %Y}: "
                       f"churned = no event in the {days} days after")
        with c2:
            st.altair_chart(charts.calibration_chart(risk["calibration"]), use_container_width=True)
        st.markdown(f"**Active customers most likely to churn in the next {days} days**")
        st.dataframe(risk["at_risk"], hide_index=True, column_config={
            "probability": st.column_config.NumberColumn(format="percent"),
            "monetary": st.column_config.NumberColumn("revenue", format="%.2f"),
            "recency_days": st.column_config.NumberColumn("days since last event", format="%.1f")})
        pick_from(risk["at_risk"], key="at_risk")
    except JourneyError as e:
        st.info(str(e))

links.publish(['ret_period', 'ret_start', 'ret_view', 'ret_return', 'lc_period', 'clusters_k'])
