"""The duplicate-order signal: the same customer ordering the same lines again. Pure.

An order's *shape* is its lines (sku and quantity), digested. Orders of one
customer with the same shape within ``DUPLICATE_WINDOW_MS`` are duplicates
when their total is the same too (a shop or a shopper resubmitting: no fault
of the affiliate's), near-duplicates when it is not (the same basket at
another price: a coupon or price game). The newest ``MAX_SHAPES_KEPT`` orders
are remembered per customer and shape.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Final

from affiliate_sdk.models import Order

__all__ = [
    "DUPLICATE_WINDOW_MS",
    "MAX_SHAPES_KEPT",
    "SHAPE_DIGEST_LENGTH",
    "order_shape",
    "repeats",
]

#: Orders of one customer with the same lines within this span are duplicates
#: (same total) or near-duplicates (another total).
DUPLICATE_WINDOW_MS: Final = 24 * 3_600_000
#: Recent orders remembered per customer and shape.
MAX_SHAPES_KEPT: Final = 8
#: Hex digits of an order shape's digest.
SHAPE_DIGEST_LENGTH: Final = 32


def order_shape(order: Order) -> str:
    """A digest of the order's lines as ``(sku, quantity)`` pairs, in any order.

    Two orders with the same skus in the same quantities have the same shape,
    whatever their prices; an order without lines has the shape of the empty list.
    """
    lines = sorted((item.sku, item.quantity) for item in order.items)
    return hashlib.sha256(json.dumps(lines).encode()).hexdigest()[:SHAPE_DIGEST_LENGTH]


def repeats(
    recent: Sequence[tuple[str, int]], total: str, placed_ms: int, has_lines: bool
) -> tuple[int, int]:
    """Earlier orders of the customer with this shape within ``DUPLICATE_WINDOW_MS``:
    how many had the same ``total`` (duplicates) and how many another (near-duplicates).

    ``recent`` holds ``(total, placed at ms)`` of the earlier orders of the
    shape (``str(order.total)``, as ``total`` is). Orders without lines
    compare by total alone: they have no near-duplicates.
    """
    within = [earlier for earlier, at in recent if placed_ms - at <= DUPLICATE_WINDOW_MS]
    same = sum(1 for earlier in within if earlier == total)
    near = len(within) - same if has_lines else 0
    return same, near


# -- value outliers --------------------------------------------------------------------------
