"""Orders, refunds, renewal clicks and customer bindings, keyed by merchant and id.

The order keys are also kept sorted, so a keyset page of ``scan`` is a bisect
and a slice.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage.rows import BindingRow, OrderRow, RefundRow

from ._undo import UndoLog, set_item

__all__ = ["MemoryOrders"]


class MemoryOrders:
    """``OrderRepo`` over dictionaries keyed by ``(merchant_id, ...)``."""

    __slots__ = ("_bindings", "_keys", "_log", "_orders", "_refunds", "_renewals")

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._orders: dict[tuple[str, str], OrderRow] = {}
        self._keys: list[tuple[str, str]] = []  # the order keys, sorted
        self._refunds: dict[tuple[str, str, str], RefundRow] = {}
        self._renewals: dict[tuple[str, str], str] = {}
        self._bindings: dict[tuple[str, str], BindingRow] = {}

    def get(self, merchant_id: str, order_id: str) -> OrderRow | None:
        """The order, if stored."""
        return self._orders.get((merchant_id, order_id))

    def insert(self, order: OrderRow) -> None:
        """Insert an order (``DuplicateEntry`` when its ids exist)."""
        key = (order.merchant_id, order.order_id)
        if key in self._orders:
            raise DuplicateEntry("order", f"{order.merchant_id}/{order.order_id}")
        keys = self._keys
        at = bisect_left(keys, key)
        keys.insert(at, key)
        if self._log.active:
            self._log.record(lambda: keys.pop(at))
        set_item(self._log, self._orders, key, order)

    def set_refunded(self, merchant_id: str, order_id: str, refunded_minor: int, seq: int) -> None:
        """Update what was refunded and the journal entry that booked it
        (``StorageError`` when there is no such order)."""
        key = (merchant_id, order_id)
        order = self._orders.get(key)
        if order is None:
            raise StorageError(f"no order {merchant_id}/{order_id} to update")
        set_item(
            self._log, self._orders, key, order._replace(refunded_minor=refunded_minor, seq=seq)
        )

    def get_refund(self, merchant_id: str, order_id: str, refund_id: str) -> RefundRow | None:
        """The refund, if stored."""
        return self._refunds.get((merchant_id, order_id, refund_id))

    def insert_refund(self, refund: RefundRow) -> None:
        """Insert a refund (``DuplicateEntry`` when its ids exist)."""
        key = (refund.merchant_id, refund.order_id, refund.refund_id)
        if key in self._refunds:
            raise DuplicateEntry("refund", "/".join(key))
        set_item(self._log, self._refunds, key, refund)

    def scan(self, *, after: tuple[str, str] | None = None, limit: int = 1000) -> list[OrderRow]:
        """Up to ``limit`` orders by ``(merchant_id, order_id)`` after ``after``."""
        keys = self._keys
        start = 0 if after is None else bisect_right(keys, (after[0], after[1]))
        orders = self._orders
        return [orders[key] for key in keys[start : start + max(limit, 0)]]

    def bind_renewals(self, merchant_id: str, subscription_id: str, click_id: str) -> None:
        """Remember which click earned a subscription's first order (the first binding wins)."""
        key = (merchant_id, subscription_id)
        if key not in self._renewals:
            set_item(self._log, self._renewals, key, click_id)

    def renewal_click(self, merchant_id: str, subscription_id: str) -> str | None:
        """The click bound to the subscription, if any."""
        return self._renewals.get((merchant_id, subscription_id))

    def get_binding(self, merchant_id: str, customer_id: str) -> BindingRow | None:
        """The customer's binding, if any."""
        return self._bindings.get((merchant_id, customer_id))

    def put_binding(self, binding: BindingRow) -> None:
        """Insert or replace the customer's binding."""
        set_item(self._log, self._bindings, (binding.merchant_id, binding.customer_id), binding)
