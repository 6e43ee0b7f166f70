"""The canonical event columns, header-name auto-detection, and the column mapping."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from .errors import MappingError

# role -> canonical column name in the events table
ROLES: dict[str, str] = {
    "user": "user_id",
    "time": "ts",
    "event": "event",
    "session": "session_id",
    "channel": "channel",
    "device": "device",
    "revenue": "revenue",
    "quantity": "quantity",
    "order": "order_id",
    "product": "product_id",
    "category": "category",
    "page": "page",
    "score": "score",
}
REQUIRED_ROLES = ("user", "time")  # event may be absent: an orders export loads as purchases
ORDERS_EVENT = "purchase"

# Header names per role, most specific first. Compared after normalising: lower case, only letters and
# digits ("Customer ID" -> "customerid", "user_pseudo_id" -> "userpseudoid").
ALIASES: dict[str, list[str]] = {
    "user": [
        "user_id", "userid", "user_pseudo_id", "distinct_id", "customer_id", "customerid", "customer",
        "client_id", "visitor_id", "visitorid", "domain_userid", "anonymous_id", "member_id", "buyer_id",
        "shopper_id", "account_id", "person_id", "contact_id", "customer_email", "email", "billing_email",
        "uid", "user",
    ],
    "time": [
        "event_timestamp", "timestamp", "event_time", "ts", "time", "datetime", "date_time", "occurred_at",
        "derived_tstamp", "collector_tstamp", "dvce_created_tstamp", "original_timestamp", "sent_at",
        "received_at", "created_at", "order_date", "invoice_date", "paid_at", "processed_at",
        "purchase_date", "transaction_date", "date_created", "event_date", "date",
    ],
    "event": ["event_name", "event", "event_type", "action", "event_action", "activity", "se_action"],
    "session": [
        "session_id", "user_session", "ga_session_id", "domain_sessionid", "session_key", "visit_id",
        "session",
    ],
    "channel": [
        "channel", "acquisition_channel", "channel_grouping", "default_channel_group", "marketing_channel",
        "utm_source", "source", "traffic_source", "mkt_source", "utm_medium", "medium", "referrer_type",
    ],
    "device": ["device", "device_type", "device_category", "dvce_type", "platform"],
    "revenue": [
        "revenue", "purchase_revenue", "order_total", "total", "total_amount", "total_price", "amount",
        "order_value", "value", "sales", "subtotal", "price", "unit_price", "unitprice",
    ],
    "quantity": ["quantity", "qty", "units"],
    "order": ["order_id", "order_number", "transaction_id", "invoice_no", "invoice_number", "invoice", "order"],
    "product": ["product_id", "item_id", "sku", "stock_code", "variant_id", "product"],
    "category": ["category", "category_code", "product_category", "category_name", "category_id"],
    "page": ["page", "page_path", "page_location", "page_url", "url", "page_urlpath", "page_title", "screen_name", "path"],
    "score": ["score", "nps", "nps_score", "csat", "csat_score", "rating", "review_score", "stars", "satisfaction"],
}


def normalise(name: str) -> str:
    """Header name as compared for detection: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


@dataclass
class Mapping:
    """Which source column plays each role (None: absent). Only user and time are required."""

    user: str | None = None
    time: str | None = None
    event: str | None = None
    session: str | None = None
    channel: str | None = None
    device: str | None = None
    revenue: str | None = None
    quantity: str | None = None
    order: str | None = None
    product: str | None = None
    category: str | None = None
    page: str | None = None
    score: str | None = None
    extras: list[str] = field(default_factory=list)

    def roles(self) -> dict[str, str]:
        """role -> source column, for the roles that are set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extras" and getattr(self, f.name)}

    def to_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extras"}

    def with_overrides(self, overrides: dict[str, str | None], columns: list[str]) -> "Mapping":
        """A copy with some roles set by the analyst (None or "" clears a role)."""
        current = self.to_dict()
        for role, column in overrides.items():
            role = ROLE_NAMES.get(role, role)
            if role not in current:
                raise MappingError(
                    f"Unknown role {role!r} in the mapping. Roles: {', '.join(ROLES)}."
                )
            if column in (None, ""):
                current[role] = None
                continue
            if column not in columns:
                match = {normalise(c): c for c in columns}.get(normalise(column))
                if match is None:
                    import difflib

                    close = difflib.get_close_matches(column, columns, n=1)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise MappingError(
                        f"The mapping sets {role} to column {column!r}, which is not in the file.{hint} "
                        f"Columns: {', '.join(columns)}."
                    )
                column = match
            current[role] = column
        mapping = Mapping(**current)
        mapping.extras = [c for c in columns if c not in mapping.roles().values()]
        return mapping


# Accept canonical column names as role names too: user_id=…, ts=…
ROLE_NAMES = {canonical: role for role, canonical in ROLES.items()} | {"timestamp": "time", "order_id": "order"}


def detect_mapping(columns: list[str]) -> Mapping:
    """Guess each role's column from the header names (case-, space- and punctuation-insensitive).

    Returns
    -------
    Mapping
        role → column for each role found (the first alias in ``ALIASES`` wins), ``extras`` the rest.

    Example
    -------
    >>> detect_mapping(["Customer ID", "Event Time", "Event Name"]).user
    'Customer ID'
    """
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(normalise(c), c)
    taken: set[str] = set()
    found: dict[str, str | None] = {}
    for role, aliases in ALIASES.items():
        found[role] = None
        for alias in aliases:
            column = by_norm.get(normalise(alias))
            if column is not None and column not in taken:
                found[role] = column
                taken.add(column)
                break
    mapping = Mapping(**found)
    mapping.extras = [c for c in columns if c not in taken]
    return mapping


def parse_map_option(text: str | None) -> dict[str, str]:
    """Parse ``user=COL,time=COL,event=COL`` (the CLI's ``--map``) into role -> column."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise MappingError(f"--map expects role=column pairs separated by commas, got {part!r}.")
        role, column = part.split("=", 1)
        out[role.strip()] = column.strip()
    return out


def check_required(mapping: Mapping, columns: list[str]) -> None:
    """Raise a MappingError that says what to do when a required role has no column."""
    missing = [r for r in REQUIRED_ROLES if not getattr(mapping, r)]
    if missing:
        hints = {"user": "user_id, customer_id, visitor_id…", "time": "timestamp, event_time, order_date…"}
        parts = [f"no {r} column (looked for {hints[r]})" for r in missing]
        raise MappingError(
            "Could not tell which column is which: " + "; ".join(parts) + ". "
            f"The file's columns are: {', '.join(columns)}. "
            "Pick them in the column mapping (or pass --map user=COL,time=COL,event=COL)."
        )
