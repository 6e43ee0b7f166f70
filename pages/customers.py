"""Customers: what a customer is worth (CLV, RFM) and what they say (NPS, CSAT)."""

import streamlit as st

import journey
from journey import charts
from journey import format as fmt
from journey.errors import JourneyError
from journey.export import csv_bytes
from journey.ui import links, people, shell, state, widgets
from journey.ui.cache import compute
from journey.ui.timeline import pick_from
from journey.value import clv, csat, nps, nps_distribution, rfm, rfm_segments

links.bind({"clv_by": "", "clv_margin": 0.0, "clv_life": 0.0}, bounds={"clv_margin": (0.0, 1.0), "clv_life": (0.0, 50.0)})
st.session_state.setdefault("clv_margin", 0.0)
st.session_state.setdefault("clv_life", 0.0)
log = shell.page("Customers")
sm = state.stage_map()

st.subheader("Customer lifetime value")
c1, c2, c3 = st.columns(3)
segment_options = ["(all customers)", "cohort", *[c for c in ("channel", "device") if log.report.mapping.get(c)],
                   "RFM segment", *(["churn cluster"] if "cluster_members" in st.session_state else [])]
by = c1.selectbox("Per", links.keep_valid("clv_by", segment_options), key="clv_by",
                  help="Churn clusters appear here once computed on the Retention & churn page, in its Churn "
                       "clusters view.")
margin = c2.number_input("Margin (0 = ignore)", 0.0, 1.0, step=0.05, key="clv_margin")
life = c3.number_input("Expected lifespan, years (0 = from the data)", 0.0, 50.0, step=0.5, key="clv_life")
segments = None
if by == "RFM segment":
    segments = compute(rfm, log, stage_map=sm)[["user_id", "segment"]].rename(columns={"segment": "group"})
elif by == "churn cluster":
    segments = st.session_state["cluster_members"]
by = None if by in ("(all customers)", "RFM segment", "churn cluster") else by
costs = {}
if by == "channel":
    with st.expander("Acquisition cost per channel (for CLV : CAC)"):
        for ch in log.distinct_values("channel", limit=30):
            v = st.number_input(ch, 0.0, 1e9, 0.0, key=f"cac_{ch}")
            if v:
                costs[ch] = v
try:
    table = compute(clv, log, by=by, segments=segments, margin=margin or None, lifespan_years=life or None,
                    acquisition_cost=costs or None, stage_map=sm)
    st.dataframe({
        "group": table["group"], "customers": [fmt.count(x) for x in table["customers"]],
        "historical CLV": [fmt.money(x) for x in table["historical_clv"]],
        "average order": [fmt.money(x) for x in table["average_order_value"]],
        "orders / customer / year": [f"{x:.2f}" for x in table["purchase_frequency"]],
        "lifespan (years)": [f"{x:.2f}" for x in table["lifespan_years"]],
        "formula CLV": [fmt.money(x) for x in table["formula_clv"]],
        **({"CLV : CAC": [f"{x:.1f}" if x == x else "–" for x in table["clv_to_cac"]]} if costs else {}),
    }, hide_index=True)
    st.caption("Historical CLV = revenue per customer to date. Formula CLV = average order value × orders per "
               "customer per year × expected lifespan" + (" × margin" if margin else "") + ".")
except JourneyError as e:
    st.info(str(e))

with st.expander("Customers by value (historical CLV)"):
    top = compute(journey.customer_value, log, stage_map=sm)
    st.dataframe(top.head(500), hide_index=True, column_config={
        "revenue": st.column_config.NumberColumn("revenue to date", format="%.2f"),
        "average_order_value": st.column_config.NumberColumn("average order", format="%.2f")})
    st.download_button("Download every customer's value (CSV)", csv_bytes(top), file_name="customer_value.csv",
                       mime="text/csv", key="clv_download", icon=":material/download:")
    pick_from(top, key="clv_customers")

st.subheader("RFM segments")
try:
    scores = compute(rfm, log, stage_map=sm)
    seg = rfm_segments(scores)
    st.altair_chart(charts.bars_chart(seg, "segment", "customers", x_title=None, y_title="customers"),
                    use_container_width=True)
    st.dataframe({"segment": seg["segment"], "customers": [fmt.count(x) for x in seg["customers"]],
                  "share": [fmt.percent(x) for x in seg["share"]], "revenue": [fmt.money(x) for x in seg["revenue"]],
                  "revenue share": [fmt.percent(x) for x in seg["revenue_share"]],
                  "days since last order": [f"{x:.0f}" for x in seg["mean_recency_days"]]}, hide_index=True)
    pick = st.selectbox("Customers in", seg["segment"].tolist(), key="rfm_pick")
    members = scores[scores["segment"] == pick]
    people.actions(members, label=f"RFM {pick}", file_name="rfm_segment.csv", key="rfm", pick_key="rfm_members")
except JourneyError as e:
    st.info(str(e))

st.subheader("Voice of the customer")
n = compute(nps, log)
if n.empty or not n["answers"].iloc[0]:
    st.caption("No NPS answers (events named like nps_answer with a 0–10 score).")
else:
    row = n.iloc[0]
    c1, c2 = st.columns([1, 2])
    c1.metric("NPS", f"{row['nps']:+.0f}", help="% promoters (9–10) − % detractors (0–6), from −100 to +100")
    c1.caption(f"{fmt.count(row['answers'])} answers: {fmt.count(row['promoters'])} promoters, "
               f"{fmt.count(row['detractors'])} detractors.")
    with c2:
        st.altair_chart(charts.bars_chart(compute(nps_distribution, log), "score", "answers", color="group",
                                          x_title="score", y_title="answers"), use_container_width=True)
    trend = compute(nps, log, period="week")
    st.altair_chart(charts.line_chart(trend, "period", "nps", y_format="", y_title="NPS by week"),
                    use_container_width=True)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**By journey stage** (the stage the customer was in when answering)")
        st.dataframe(widgets.nps_by_stage_table(compute(journey.stage_activity, log, stage_map=sm)["scores"]),
                     hide_index=True)
    if log.report.mapping.get("channel"):
        with c2:
            st.markdown("**By channel**")
            st.dataframe(compute(nps, log, by="channel"), hide_index=True, column_config={
                "group": "channel", "nps": st.column_config.NumberColumn("NPS", format="%+.0f")})
c = compute(csat, log)
if not c.empty and c["answers"].iloc[0]:
    st.metric("CSAT", fmt.percent(c["csat"].iloc[0]),
              help=f"answers of 4–5 on the 5-point scale (9–10 on a 10-point one); scale here: {c['scale'].iloc[0]}")
else:
    st.caption("No CSAT answers (events named like csat with a 1–5 score).")

st.subheader("Advocates")
adv = compute(journey.advocacy, log)
if adv.empty:
    st.caption("No reviews, referrals or shares in the data.")
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("Customers who reviewed", fmt.count((adv["reviews"] > 0).sum()))
    c2.metric("Customers who referred", fmt.count((adv["referrals"] > 0).sum()))
    c3.metric("Customers who shared", fmt.count((adv["shares"] > 0).sum()))
    st.dataframe(adv.head(200), hide_index=True)

with st.expander("Scores from a separate survey file (joined on user id)"):
    survey = st.file_uploader("Survey export (a user column and a 0–10 or 1–5 score column)",
                              type=state.UPLOAD_TYPES, key="survey_upload")
    if survey is not None:
        import tempfile

        from journey.sources import spool_upload

        with tempfile.TemporaryDirectory(prefix="journey-survey-") as d:
            try:
                res = journey.survey_scores(log, spool_upload(survey.getvalue(), survey.name, d), stage_map=sm)
                head = res["summary"].iloc[0]
                label, value = ("NPS", f"{head['nps']:+.0f}") if res["scale"] == 10 else (
                    "CSAT", fmt.percent(head["csat"]))
                st.metric(f"{label} from the survey", value)
                st.caption(f"{fmt.count(res['answers'])} answers of {fmt.count(res['rows_read'])} rows; "
                           f"{fmt.count(res['matched'])} from customers in the log. By furthest journey stage:")
                st.dataframe(res["by"], hide_index=True)
            except JourneyError as e:
                st.error(str(e))

links.publish(['clv_by', 'clv_margin', 'clv_life'])
