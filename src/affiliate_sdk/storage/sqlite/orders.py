"""``OrderRepo`` on SQLite: orders, refunds, renewal clicks and customer bindings."""

from __future__ import annotations

from typing import Final

from affiliate_sdk.storage.rows import BindingRow, OrderRow, RefundRow

from ._connection import Db
from ._dialect import placeholders

__all__ = ["SqliteOrders"]

_ORDER_COLUMNS: Final = ", ".join(OrderRow._fields)
_REFUND_COLUMNS: Final = ", ".join(RefundRow._fields)
_BINDING_COLUMNS: Final = ", ".join(BindingRow._fields)


class SqliteOrders:
    """Orders and what hangs off them, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def get(self, merchant_id: str, order_id: str) -> OrderRow | None:
        """The recorded order, if any."""
        found = self._db.row(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE merchant_id = ? AND order_id = ?",
            (merchant_id, order_id),
        )
        return None if found is None else OrderRow._make(found)

    def insert(self, order: OrderRow) -> None:
        """Insert an order (``DuplicateEntry`` when its ids exist)."""
        self._db.run(
            f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({placeholders(len(order))})",
            order,
            what="order",
            key=f"{order.merchant_id}/{order.order_id}",
        )

    def set_refunded(self, merchant_id: str, order_id: str, refunded_minor: int, seq: int) -> None:
        """Update what was refunded, and the journal entry that booked it."""
        self._db.run(
            "UPDATE orders SET refunded_minor = ?, seq = ? WHERE merchant_id = ? AND order_id = ?",
            (refunded_minor, seq, merchant_id, order_id),
        )

    def get_refund(self, merchant_id: str, order_id: str, refund_id: str) -> RefundRow | None:
        """The booked refund, if any."""
        found = self._db.row(
            f"SELECT {_REFUND_COLUMNS} FROM refunds "
            "WHERE merchant_id = ? AND order_id = ? AND refund_id = ?",
            (merchant_id, order_id, refund_id),
        )
        return None if found is None else RefundRow._make(found)

    def insert_refund(self, refund: RefundRow) -> None:
        """Insert a refund (``DuplicateEntry`` when its ids exist)."""
        self._db.run(
            f"INSERT INTO refunds ({_REFUND_COLUMNS}) VALUES ({placeholders(len(refund))})",
            refund,
            what="refund",
            key=f"{refund.merchant_id}/{refund.order_id}/{refund.refund_id}",
        )

    def scan(self, *, after: tuple[str, str] | None = None, limit: int = 1000) -> list[OrderRow]:
        """Up to ``limit`` orders by ``(merchant_id, order_id)`` after ``after`` (a row-value
        seek on the ``(merchant_id, order_id)`` index)."""
        if limit <= 0:
            return []
        if after is None:
            rows = self._db.rows(
                f"SELECT {_ORDER_COLUMNS} FROM orders ORDER BY merchant_id, order_id LIMIT ?",
                (limit,),
            )
        else:
            rows = self._db.rows(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE (merchant_id, order_id) > (?, ?) "
                "ORDER BY merchant_id, order_id LIMIT ?",
                (after[0], after[1], limit),
            )
        return [OrderRow._make(values) for values in rows]

    def bind_renewals(self, merchant_id: str, subscription_id: str, click_id: str) -> None:
        """Remember which click earned a subscription's first order (the first binding wins)."""
        self._db.run(
            "INSERT INTO renewal_clicks (merchant_id, subscription_id, click_id) "
            "VALUES (?, ?, ?) ON CONFLICT (merchant_id, subscription_id) DO NOTHING",
            (merchant_id, subscription_id, click_id),
        )

    def renewal_click(self, merchant_id: str, subscription_id: str) -> str | None:
        """The click bound to the subscription, if any."""
        found = self._db.row(
            "SELECT click_id FROM renewal_clicks WHERE merchant_id = ? AND subscription_id = ?",
            (merchant_id, subscription_id),
        )
        return None if found is None else str(found[0])

    def get_binding(self, merchant_id: str, customer_id: str) -> BindingRow | None:
        """The customer's binding, if any."""
        found = self._db.row(
            f"SELECT {_BINDING_COLUMNS} FROM bindings WHERE merchant_id = ? AND customer_id = ?",
            (merchant_id, customer_id),
        )
        return None if found is None else BindingRow._make(found)

    def put_binding(self, binding: BindingRow) -> None:
        """Insert or replace the customer's binding."""
        self._db.run(
            f"INSERT INTO bindings ({_BINDING_COLUMNS}) VALUES ({placeholders(len(binding))}) "
            "ON CONFLICT (merchant_id, customer_id) DO UPDATE SET "
            "affiliate_id = excluded.affiliate_id, campaign_id = excluded.campaign_id, "
            "click_id = excluded.click_id, until_ms = excluded.until_ms",
            binding,
        )
