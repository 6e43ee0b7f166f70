"""The stage map: which events mean awareness, consideration, purchase, retention, advocacy.

Events are matched case-insensitively on their name with separators normalised (``Order Completed`` and
``order-completed`` both read as ``order_completed``). This module holds the defaults DESIGN.md gives.
"""

from __future__ import annotations

STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")

DEFAULT_PATTERNS: dict[str, str] = {
    "consideration": (
        r"^(product_?view(ed)?|view_?item|item_?view|view|product|product_?detail|pdp|search|searched|"
        r"products_?searched|site_?search|catalog|category|category_?view|view_?item_?list|browse|filter|"
        r"compare|wishlist|add_?to_?wishlist|read_?reviews?|review_?read|add_?to_?cart|added_?to_?cart|"
        r"product_?added|cart|view_?cart|cart_?viewed|checkout|begin_?checkout|checkout_?started|"
        r"add_?shipping_?info|add_?payment_?info|payment_?info_?entered|checkout_?step.*)$"
    ),
    "purchase": (
        r"^(purchase|purchased|order|order_?completed|order_?placed|order_?created|transaction|"
        r"checkout_?completed|completed_?order|ecommerce_?purchase|buy)$"
    ),
    "advocacy": (
        r"^(review|review_?written|write_?review|review_?submitted|rating|rate|rated|referral|refer|"
        r"referred|invite|invite_?sent|share|shared|social_?share)$"
    ),
}


def normalised_event_sql(event_sql: str) -> str:
    """SQL for an event name as patterns see it: lower case, runs of non-alphanumerics as ``_``."""
    return f"trim(regexp_replace(lower({event_sql}), '[^0-9a-z\u0e00-\u0e7f]+', '_', 'g'), '_')"


def purchase_pattern() -> str:
    """The regular expression (on normalised names) for purchase events."""
    return DEFAULT_PATTERNS["purchase"]
