"""A deterministic synthetic shop: visitors, browsing, carts, checkouts, orders, reviews, NPS, churn.

``python -m journey sample --users 5000 --out data/sample_shop.csv`` writes the shipped sample.
The same seed always gives the same file.

Planted incident: during ``INCIDENT_START`` … ``INCIDENT_END`` the payment step fails on mobile:
most mobile checkouts end in ``payment_error`` instead of ``purchase``. The Drop-off and Funnels
pages should make that week visible.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random

from .lazy import pandas as pd

START = dt.datetime(2024, 1, 1)
DAYS = 91
INCIDENT_START = dt.datetime(2024, 2, 12)
INCIDENT_END = dt.datetime(2024, 2, 19)  # exclusive: the week of Monday 12 February 2024
CHANNELS = [("organic_search", 0.34), ("paid_search", 0.2), ("social", 0.18), ("email", 0.1),
            ("direct", 0.12), ("referral", 0.06)]
DEVICES = [("mobile", 0.56), ("desktop", 0.37), ("tablet", 0.07)]
CATEGORIES = {"shoes": (35, 140), "bags": (25, 220), "apparel": (12, 90), "accessories": (5, 45)}
COLUMNS = ["user_id", "timestamp", "event", "channel", "device", "page", "product_id", "category",
           "order_id", "revenue", "score"]


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def generate(users: int = 5000, seed: int = 7) -> pd.DataFrame:
    """The sample shop's event log as a DataFrame (columns: ``COLUMNS``), in time order per user."""
    rng = random.Random(seed)
    rows: list[list] = []
    orders = itertools.count(1)
    for u in range(1, users + 1):
        user_id = f"{u:06d}"
        channel = _pick(rng, CHANNELS)
        device = _pick(rng, DEVICES)
        t = START + dt.timedelta(seconds=rng.uniform(0, DAYS * 86400))
        engagement = rng.betavariate(1.2, 6)  # how keen this visitor is
        loyal = rng.random() < 0.25
        sessions = 1 + int(rng.expovariate(1 / (1.0 + 4 * engagement)))
        bought = 0
        for s in range(sessions):
            if t >= START + dt.timedelta(days=DAYS):
                break
            src = channel if s == 0 else _pick(rng, [("email", 0.35), ("direct", 0.4), (channel, 0.25)])
            bought += _session(rng, rows, user_id, t, src, device, engagement + 0.15 * bought, loyal, orders)
            gap_days = rng.expovariate(1 / (6 if loyal or bought else 14))
            if not loyal and not bought and rng.random() < 0.45:
                break  # churned after one look
            t += dt.timedelta(days=gap_days, seconds=rng.uniform(0, 36000))
    df = pd.DataFrame(rows, columns=COLUMNS)
    df = df[df["timestamp"] < START + dt.timedelta(days=DAYS)]
    df = df.sort_values("timestamp", kind="stable")  # exports come in time order
    df["timestamp"] = df["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return df.reset_index(drop=True)


def _session(rng, rows, user_id, t, channel, device, keen, loyal, orders) -> int:
    """Append one session's events; return 1 when it ended in a purchase."""
    def emit(event, page, product=None, category=None, order=None, revenue=None, score=None, gap=(5, 90)):
        nonlocal t
        t += dt.timedelta(seconds=rng.uniform(*gap))
        rows.append([user_id, t, event, channel, device, page, product, category, order, revenue, score])

    emit("page_view", "/", gap=(0, 1))
    if rng.random() < 0.45 - 0.3 * keen:
        return 0  # bounce
    category = rng.choice(list(CATEGORIES))
    if rng.random() < 0.45:
        emit("search", "/search")
    else:
        emit("category_view", f"/c/{category}", category=category)
    cart: list[tuple[str, str, float]] = []
    for _ in range(1 + int(rng.expovariate(1 / (1.5 + 3 * keen)))):
        product = f"P{rng.randint(1, 400):04d}"
        lo, hi = CATEGORIES[category]
        price = round(rng.uniform(lo, hi), 2)
        emit("product_view", f"/p/{product}", product, category, gap=(10, 180))
        if rng.random() < 0.1 + 0.5 * keen:
            emit("add_to_cart", f"/p/{product}", product, category)
            cart.append((product, category, price))
        if rng.random() < 0.15:
            emit("read_reviews", f"/p/{product}/reviews", product, category)
    if not cart:
        return 0
    emit("view_cart", "/cart")
    if rng.random() > 0.4 + 0.5 * keen:
        return 0  # cart abandoned
    emit("begin_checkout", "/checkout")
    emit("add_payment_info", "/checkout/payment", gap=(20, 240))
    incident = INCIDENT_START <= t < INCIDENT_END and device == "mobile"
    if incident and rng.random() < 0.85:
        emit("payment_error", "/checkout/payment", gap=(2, 20))
        if rng.random() < 0.3:
            emit("support_contact", "/help", gap=(30, 600))
        return 0
    if rng.random() < 0.08:
        return 0  # left at the last step
    order_id = f"O-{next(orders):06d}"
    total = round(sum(p for _, _, p in cart), 2)
    emit("purchase", "/checkout/done", order=order_id, revenue=total, gap=(5, 60))
    if rng.random() < 0.3:
        score = min(10, max(0, round(rng.gauss(8.3 if not incident else 5, 1.8))))
        emit("nps_answer", "/survey", score=score, gap=(3600, 3 * 86400))
    if rng.random() < 0.12 + 0.2 * loyal:
        product, category, _ = rng.choice(cart)
        emit("review_written", f"/p/{product}/reviews", product, category, gap=(86400, 6 * 86400))
    if rng.random() < 0.05 + 0.1 * loyal:
        emit("referral", "/refer", gap=(600, 86400))
    return 1


def write(path: str, users: int = 5000, seed: int = 7) -> int:
    """Generate and write the sample (CSV, or Parquet when the path ends in .parquet); return its rows."""
    df = generate(users=users, seed=seed)
    if path.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return len(df)
