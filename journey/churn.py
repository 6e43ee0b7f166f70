"""Churn: who stopped, the customer features behind it, churn clusters (scikit-learn) and churn risk.

A customer is churned when they had no event (or no purchase) for ``churn_days`` before the end of the
data. The default number of days comes from the data's own gaps between consecutive orders.
"""

from __future__ import annotations

import math

import numpy as np

from .engine import quote_ident
from .errors import InvalidParameterError, JourneyError
from .lazy import pandas as pd
from .log import ORDER_KEY, EventLog
from .stages import StageMap, normalised_event_sql, user_stages_sql

ERROR_PATTERN = r".*(error|fail|failed|failure|exception|timeout|declined|invalid).*"
SUPPORT_PATTERN = r".*(support|help|contact|ticket|chat|complain|complaint|refund).*"
DISCOUNT_COLUMNS = ("discount", "discount_code", "coupon", "coupon_code", "promo_code", "voucher")
MIN_CHURN_DAYS, MAX_CHURN_DAYS, FALLBACK_CHURN_DAYS = 7, 365, 30
NUMERIC_FEATURES = ["recency_days", "frequency", "monetary", "tenure_days", "sessions", "events_per_session",
                    "furthest_stage", "days_between_orders", "discount_share", "mobile_share", "top_channel_share",
                    "error_events", "support_events", "mean_score"]


def default_churn_days(log: EventLog, stage_map: StageMap | None = None) -> dict:
    """The inactivity that means churned, from the data: the 90th percentile of the days between a
    customer's consecutive orders (a returning customer is rarely away longer), rounded up, kept within
    7–365 days; 30 days when fewer than 20 repeat orders exist.

    Returns
    -------
    dict: days (int), gaps (repeat orders seen), p50_days, p90_days, reason (a sentence for the page).
    """
    cond, params = (stage_map or StageMap()).validate().condition("purchase")
    row = log.run(
        f"""
        WITH o AS (SELECT user_id, {ORDER_KEY} AS oid, min(ts) AS ts
                   FROM {{events}} WHERE {cond} GROUP BY ALL),
        g AS (SELECT (epoch(ts) - epoch(lag(ts) OVER (PARTITION BY user_id ORDER BY ts, oid))) / 86400 AS d FROM o)
        SELECT count(d) AS gaps, quantile_cont(d, 0.5) AS p50, quantile_cont(d, 0.9) AS p90 FROM g
        """,
        params,
    ).iloc[0]
    gaps = int(row["gaps"])
    if gaps < 20 or pd.isna(row["p90"]):
        return {"days": FALLBACK_CHURN_DAYS, "gaps": gaps, "p50_days": None, "p90_days": None,
                "reason": f"Only {gaps} repeat orders: the default of {FALLBACK_CHURN_DAYS} days is used."}
    days = int(min(MAX_CHURN_DAYS, max(MIN_CHURN_DAYS, math.ceil(row["p90"]))))
    return {"days": days, "gaps": gaps, "p50_days": float(row["p50"]), "p90_days": float(row["p90"]),
            "reason": (f"9 in 10 of the {gaps:,} repeat orders came within {row['p90']:.0f} days of the previous "
                       f"order (median {row['p50']:.0f}), so {days} days without activity means churned.")}


def customer_features(log: EventLog, *, as_of=None, stage_map: StageMap | None = None,
                      churn_days: int | None = None) -> pd.DataFrame:
    """One row per user with the features churn clusters and churn risk use, computed in DuckDB.

    ``as_of`` (a timestamp) computes them from the events before it, as a model trained on an earlier
    cut-off needs; default: the end of the data.

    Returns
    -------
    DataFrame: user_id, recency_days, frequency (orders), monetary (revenue), tenure_days (first to last
    event), sessions, events_per_session, furthest_stage (1–5), days_between_orders (mean; NaN under two
    orders), discount_share (orders with a discount, when a discount column exists), mobile_share,
    top_channel_share (share of events from the user's most used channel), error_events, support_events,
    mean_score, first_channel, churned (no event for ``churn_days`` before ``as_of``, when given),
    last_ts.
    """
    if as_of is not None:
        log = log.refine(before=pd.Timestamp(as_of).to_pydatetime())
    rel, params = log.source()
    plain_rel, plain_params = log.source(sessions=False)
    params = {**plain_params, **params}
    buy, p = (stage_map or StageMap()).validate().condition("purchase")
    params.update(p)
    params.update({"err": ERROR_PATTERN, "sup": SUPPORT_PATTERN})
    columns = set(log.columns)
    discount_col = next((c for c in log.columns if c.lower() in DISCOUNT_COLUMNS), None)
    discount = "NULL::DOUBLE"
    if discount_col:
        d = f"nullif(trim(CAST({quote_ident(discount_col)} AS VARCHAR)), '')"
        discount = (f"count(DISTINCT oid) FILTER (WHERE is_buy AND {d} IS NOT NULL "
                    f"AND lower({d}) NOT IN ('0', '0.0', 'false', 'no')) "
                    "/ nullif(count(DISTINCT oid) FILTER (WHERE is_buy), 0)")
    mobile = "avg(CASE WHEN lower(device) LIKE '%mobile%' OR lower(device) IN ('ios', 'android', 'phone') THEN 1.0 ELSE 0.0 END)" \
        if "device" in columns and log.mapping.to_dict().get("device") else "NULL::DOUBLE"
    stages_sql, sparams = user_stages_sql(log, stage_map)
    params.update(sparams)
    norm = normalised_event_sql("event")
    churn = "NULL::BOOLEAN"
    if as_of is not None:
        params["as_of"] = pd.Timestamp(as_of).to_pydatetime()
    if churn_days is not None:
        params["churn_s"] = float(churn_days) * 86400
        churn = "epoch(any_value(ends.t_end)) - epoch(max(e.ts)) >= $churn_s"
    # Only the main aggregate reads the events with their sessions (for a log read in place, a window
    # over every event); the parts that need no session read the plain events. Materialised, the events
    # would have to fit in memory: 100M of them did not in 24 GB.
    df = log.db.run(
        f"""
        WITH e AS NOT MATERIALIZED (
            SELECT *, {buy} AS is_buy, {ORDER_KEY} AS oid FROM {rel}
        ),
        ends AS ({'SELECT $as_of::TIMESTAMP AS t_end' if as_of is not None else f'SELECT max(ts) AS t_end FROM {plain_rel}'}),
        orders AS (
            SELECT user_id, {ORDER_KEY} AS oid, min(ts) AS ts
            FROM {plain_rel} WHERE {buy} GROUP BY ALL
        ),
        gaps AS (
            SELECT user_id, avg(g) / 86400 AS days_between_orders FROM (
                SELECT user_id, epoch(ts) - epoch(lag(ts) OVER (PARTITION BY user_id ORDER BY ts, oid)) AS g FROM orders
            ) x WHERE g IS NOT NULL GROUP BY user_id
        ),
        chan AS (
            SELECT user_id, max(n) / sum(n) AS top_channel_share FROM (
                SELECT user_id, channel, count(*) AS n FROM {plain_rel} GROUP BY ALL) x GROUP BY user_id
        ),
        st AS ({stages_sql})
        SELECT e.user_id,
               (epoch(any_value(ends.t_end)) - epoch(max(e.ts))) / 86400 AS recency_days,
               count(DISTINCT e.oid) FILTER (WHERE e.is_buy) AS frequency,
               coalesce(sum(e.revenue) FILTER (WHERE e.is_buy), 0) AS monetary,
               (epoch(max(e.ts)) - epoch(min(e.ts))) / 86400 AS tenure_days,
               count(DISTINCT e.session_id) AS sessions,
               count(*) / count(DISTINCT e.session_id) AS events_per_session,
               any_value(st.stage_no) AS furthest_stage,
               any_value(gaps.days_between_orders) AS days_between_orders,
               {discount} AS discount_share,
               {mobile} AS mobile_share,
               any_value(chan.top_channel_share) AS top_channel_share,
               count(*) FILTER (WHERE regexp_full_match({norm}, $err)) AS error_events,
               count(*) FILTER (WHERE regexp_full_match({norm}, $sup)) AS support_events,
               avg(e.score) AS mean_score,
               arg_min(e.channel, (e.ts, e.row_no)) AS first_channel,
               {churn} AS churned,
               max(e.ts) AS last_ts
        FROM e CROSS JOIN ends
        LEFT JOIN gaps USING (user_id) LEFT JOIN chan USING (user_id) LEFT JOIN st USING (user_id)
        GROUP BY e.user_id
        ORDER BY e.user_id
        """,
        params,
    )
    return df


def churn_rate_over_time(log: EventLog, *, churn_days: int, period: str = "week") -> pd.DataFrame:
    """At the end of each period: of the customers seen so far, the share inactive for ``churn_days``.

    Returns
    -------
    DataFrame: period_end (date), customers (users with an event before it), churned, churn_rate (0–1).
    Periods less than ``churn_days`` after the data's start are left out (nobody can have churned yet).
    """
    if period not in ("week", "month"):
        raise InvalidParameterError("period", period, ["week", "month"])
    step = "7 days" if period == "week" else "1 month"
    df = log.run(
        f"""
        WITH u AS (SELECT user_id, ts FROM {{events}}),
        bounds AS (SELECT min(ts) AS t0, max(ts) AS t1 FROM u),
        ends AS (
            SELECT unnest(generate_series(date_trunc('{period}', t0) + INTERVAL {step},
                                          date_trunc('{period}', t1) + INTERVAL {step}, INTERVAL {step})) AS t
            FROM bounds
        ),
        last_seen AS (
            SELECT ends.t, u.user_id, max(u.ts) AS last_ts FROM ends JOIN u ON u.ts < ends.t GROUP BY ALL
        )
        SELECT CAST(t AS DATE) AS period_end, count(*) AS customers,
               count(*) FILTER (WHERE epoch(t) - epoch(last_ts) >= $s) AS churned
        FROM last_seen, bounds WHERE epoch(t) - epoch(t0) >= $s
        GROUP BY t ORDER BY t
        """,
        {"s": float(churn_days) * 86400},
    )
    df["period_end"] = pd.to_datetime(df["period_end"]).dt.date
    df["churn_rate"] = df["churned"] / df["customers"]
    return df


def cluster_points(features: pd.DataFrame, model: "ChurnClusters", sample: int = 5000, random_state: int = 0
                   ) -> pd.DataFrame:
    """The 2-D (PCA) position and cluster name of a sample of customers, for a scatter chart.

    Returns
    -------
    DataFrame: user_id, pc1, pc2, cluster, name.
    """
    df = pd.DataFrame({"user_id": features["user_id"].to_numpy(), "pc1": model.pca_[:, 0], "pc2": model.pca_[:, 1],
                       "cluster": model.labels_})
    df["name"] = [model.names_[c] for c in df["cluster"]]
    return df.sample(n=min(sample, len(df)), random_state=random_state) if len(df) > sample else df


class ChurnClusters:
    """Clusters of customers by behaviour, with profiles and plain-language names (scikit-learn).

    Parameters
    ----------
    n_clusters : int or None
        None: choose k in ``k_range`` by the best silhouette score.
    scaler : {"standard", "robust"}
    random_state : int
        Seeds KMeans and the silhouette sample, so results repeat.
    k_range : (int, int)
        The smallest and largest k tried when ``n_clusters`` is None.
    minibatch_above : int
        MiniBatchKMeans for more customers than this.

    Attributes (after ``fit``)
    --------------------------
    k_, silhouette_, labels_ (array), profiles_ (DataFrame), names_ (list), features_ (list), pca_ (array,
    the 2-D projection of every customer).
    """

    def __init__(self, n_clusters=None, scaler="standard", random_state=0, k_range=(2, 8),
                 minibatch_above=200_000):
        self.n_clusters = n_clusters
        self.scaler = scaler
        self.random_state = random_state
        self.k_range = k_range
        self.minibatch_above = minibatch_above

    def _pipeline(self, k: int):
        from sklearn.cluster import KMeans, MiniBatchKMeans
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import RobustScaler, StandardScaler

        scale = {"standard": StandardScaler, "robust": RobustScaler}[self.scaler]()
        if self._n > self.minibatch_above:
            model = MiniBatchKMeans(n_clusters=k, random_state=self.random_state, n_init=3, batch_size=4096)
        else:
            model = KMeans(n_clusters=k, random_state=self.random_state, n_init=10)
        return make_pipeline(SimpleImputer(strategy="median"), scale, model)

    def fit(self, features: pd.DataFrame, y=None) -> "ChurnClusters":
        from sklearn.decomposition import PCA
        from sklearn.metrics import silhouette_score

        if self.scaler not in ("standard", "robust"):
            raise InvalidParameterError("scaler", self.scaler, ["standard", "robust"])
        cols = [c for c in NUMERIC_FEATURES if c in features.columns and features[c].notna().any()]
        X = features[cols].astype(float).to_numpy()
        self._n = len(X)
        lo, hi = self.k_range
        if self.n_clusters is not None and not 2 <= int(self.n_clusters) <= 20:
            raise InvalidParameterError("n_clusters", self.n_clusters, list(range(2, 21)))
        if self._n < 3 * max(2, self.n_clusters or lo):
            raise JourneyError(f"Too few customers to cluster ({self._n}); at least {3 * max(2, self.n_clusters or lo)} needed.")
        rng = np.random.default_rng(self.random_state)
        sample = np.sort(rng.choice(self._n, size=min(self._n, 10_000), replace=False))
        candidates = [int(self.n_clusters)] if self.n_clusters else list(range(lo, min(hi, self._n // 3) + 1))
        # k is chosen on a sample (fit and silhouette), then the chosen k is fitted on every customer
        X_sel = X[sample]
        best = None
        for k in candidates if len(candidates) > 1 else []:
            pipe = self._pipeline(k).fit(X_sel)
            labels = pipe[-1].labels_
            score = -1.0 if len(set(labels)) < 2 else float(
                silhouette_score(pipe[:-1].transform(X_sel), labels, random_state=self.random_state))
            if best is None or score > best[0] + 1e-9:
                best = (score, k)
        k = best[1] if best else candidates[0]
        pipe = self._pipeline(k).fit(X)
        labels_all = pipe[-1].labels_
        score = float(silhouette_score(pipe[:-1].transform(X[sample]), labels_all[sample],
                                       random_state=self.random_state)) if len(set(labels_all[sample])) > 1 else -1.0
        # number clusters by size (largest first) so ids repeat across runs and machines
        raw = pipe[-1].labels_
        order = {old: new for new, old in enumerate(pd.Series(raw).value_counts().sort_index().sort_values(
            ascending=False, kind="stable").index)}
        self.labels_ = np.array([order[x] for x in raw])
        self.k_, self.silhouette_, self.features_ = k, score, cols
        self.pca_ = PCA(n_components=2, random_state=self.random_state).fit_transform(pipe[:-1].transform(X)) \
            if len(cols) >= 2 else np.zeros((self._n, 2))
        self.profiles_ = self._profiles(features, cols)
        self.names_ = self.profiles_["name"].tolist()
        return self

    def _profiles(self, features: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
        df = features.copy()
        df["cluster"] = self.labels_
        overall = df[cols].astype(float).mean()
        spread = df[cols].astype(float).std().replace(0, np.nan)
        total_revenue = df["monetary"].sum() if "monetary" in df else 0
        rows = []
        for cid, part in df.groupby("cluster", sort=True):
            means = part[cols].astype(float).mean()
            z = ((means - overall) / spread).fillna(0.0)
            top = z.abs().sort_values(ascending=False).head(3).index.tolist()
            rows.append({
                "cluster": int(cid), "customers": len(part), "share": len(part) / len(df),
                "churn_rate": float(part["churned"].mean()) if "churned" in part and part["churned"].notna().any() else math.nan,
                "revenue_share": float(part["monetary"].sum() / total_revenue) if total_revenue else math.nan,
                "buyer_share": float((part["frequency"] >= 1).mean()) if "frequency" in part else math.nan,
                "repeat_share": float((part["frequency"] >= 2).mean()) if "frequency" in part else math.nan,
                **{f"mean_{c}": float(means[c]) for c in cols},
                **{f"z_{c}": float(z[c]) for c in cols},
                "sets_apart": ", ".join(f"{'high' if z[c] > 0 else 'low'} {c.replace('_', ' ')}" for c in top),
            })
        prof = pd.DataFrame(rows)
        prof["name"] = _distinct([name_cluster(r) for r in prof.to_dict("records")], prof["sets_apart"].tolist())
        return prof


def name_cluster(profile: dict) -> str:
    """A plain-language name from a cluster profile (share of buyers and repeat buyers, churn, z-scores)."""
    def num(key, default=0.0):
        v = profile.get(key, default)
        return default if v is None or (isinstance(v, float) and math.isnan(v)) else v

    buyers, repeat, churn = num("buyer_share"), num("repeat_share"), num("churn_rate")
    z_money, z_freq = num("z_monetary"), num("z_frequency")
    z_err = num("z_error_events") + num("z_support_events")
    lapsed = churn > 0.5
    if z_err > 1.5:
        return "Buyers who hit errors" if buyers >= 0.5 else "Visitors who hit errors"
    if buyers < 0.1:
        return "Lapsed browsers who never bought" if lapsed else "Browsers who never bought"
    if buyers < 0.5:
        return "Lapsed browsers, a few buyers" if lapsed else "Browsers, a few buyers"
    if z_money > 1 and lapsed:
        return "Lapsed big spenders"
    if repeat >= 0.5 and not lapsed:
        return "Loyal repeat buyers"
    if repeat >= 0.5:
        return "Lapsed repeat buyers"
    if z_money > 1 or z_freq > 1:
        return "Big spenders"
    return "Lapsed one-time buyers" if lapsed else "One-time buyers"


def _distinct(names: list[str], traits: list[str]) -> list[str]:
    """Names made distinct: a repeated name gets what sets its cluster apart."""
    counts = {n: names.count(n) for n in names}
    out = [n if counts[n] == 1 else f"{n}: {t.split(', ')[0]}" for n, t in zip(names, traits)]
    seen: dict[str, int] = {}
    for i, n in enumerate(out):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            out[i] = f"{n} ({seen[n]})"
    return out


def churn_risk(log: EventLog, *, churn_days: int, stage_map: StageMap | None = None, random_state: int = 0,
               top: int = 50) -> dict:
    """The probability that an active customer churns in the next ``churn_days`` days.

    Trained on an earlier cut-off of the same data: features as of T − N, label = no event in (T − N, T],
    where T is the end of the data; evaluated on a 30 % holdout; then applied to the features as of T.

    Returns
    -------
    dict: auc (holdout ROC AUC), calibration (DataFrame: bin, predicted, observed, customers), at_risk
    (DataFrame: user_id, probability, monetary, frequency, recency_days; the ``top`` most at risk among
    active customers), trained_on (customers), cutoff (T − N).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    end = pd.Timestamp(log.run("SELECT max(ts) AS t FROM {events}")["t"][0])
    cutoff = end - pd.Timedelta(days=churn_days)
    past = customer_features(log, as_of=cutoff, stage_map=stage_map)
    if len(past) < 50:
        raise JourneyError(f"Too few customers before the cut-off ({len(past)}) to train a churn model; "
                           "use fewer churn days or more data.")
    later = set(log.run("SELECT DISTINCT user_id FROM {events} WHERE ts >= $c", {"c": cutoff.to_pydatetime()})["user_id"])
    y = (~past["user_id"].isin(later)).astype(int).to_numpy()
    if y.min() == y.max():
        raise JourneyError("Everyone (or no one) churned after the cut-off: nothing to learn from.")
    cols = [c for c in NUMERIC_FEATURES if c in past.columns and past[c].notna().any()]
    X = past[cols].astype(float).to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=random_state, stratify=y)
    model = HistGradientBoostingClassifier(random_state=random_state, max_iter=200).fit(X_train, y_train)
    p_test = model.predict_proba(X_test)[:, 1]
    auc = float(roc_auc_score(y_test, p_test))
    bins = pd.cut(p_test, np.linspace(0, 1, 11), include_lowest=True)
    cal = pd.DataFrame({"bin": bins, "p": p_test, "y": y_test}).groupby("bin", observed=True).agg(
        predicted=("p", "mean"), observed=("y", "mean"), customers=("y", "size")).reset_index()
    cal["bin"] = cal["bin"].astype(str)
    now = customer_features(log, stage_map=stage_map, churn_days=churn_days)
    active = now[~now["churned"].astype(bool)].copy()
    active["probability"] = model.predict_proba(active[cols].astype(float).to_numpy())[:, 1] if len(active) else []
    at_risk = active.sort_values(["probability", "monetary"], ascending=[False, False]).head(top)[
        ["user_id", "probability", "monetary", "frequency", "recency_days"]].reset_index(drop=True)
    return {"auc": auc, "calibration": cal, "at_risk": at_risk, "trained_on": len(past), "cutoff": cutoff}


def clusters(log: EventLog, *, k: int | None = None, churn_days: int | None = None, random_state: int = 0,
             stage_map: StageMap | None = None) -> dict:
    """Churn clusters of every customer, ready for the page, the CLI and the canvas.

    Returns
    -------
    dict: k, silhouette, churn_days, churn_reason, profiles (DataFrame from ``ChurnClusters.profiles_``),
    members (DataFrame: user_id, cluster, name, churned, monetary, furthest_stage), points (DataFrame for the
    2-D chart), personas (stage → the clusters of the users whose furthest stage it is, as text).
    """
    info = default_churn_days(log, stage_map) if churn_days is None else {
        "days": int(churn_days), "reason": f"{int(churn_days)} days without activity, as chosen."}
    features = customer_features(log, stage_map=stage_map, churn_days=info["days"])
    model = ChurnClusters(n_clusters=k, random_state=random_state).fit(features)
    members = features[["user_id", "churned", "monetary", "furthest_stage"]].copy()
    members.insert(1, "cluster", model.labels_)
    members.insert(2, "name", [model.names_[c] for c in model.labels_])
    stages = ["awareness", "consideration", "purchase", "retention", "advocacy"]
    personas = {}
    for i, stage in enumerate(stages, start=1):
        part = members[members["furthest_stage"] == i]
        if part.empty:
            personas[stage] = "no customers end here"
            continue
        shares = part["name"].value_counts(normalize=True).head(2)
        personas[stage] = "; ".join(f"{n} {s * 100:.0f} %" for n, s in shares.items())
    return {"k": model.k_, "silhouette": model.silhouette_, "churn_days": info["days"],
            "churn_reason": info["reason"], "profiles": model.profiles_, "members": members,
            "points": cluster_points(features, model, random_state=random_state), "personas": personas}
