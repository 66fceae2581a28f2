"""The ``OrderRepo`` contract: orders, refunds, renewal clicks and customer bindings."""

from __future__ import annotations

import pytest

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import BindingRow

from ._support import EDGE_IDS, _order, _refund, _rolled_back

__all__ = ["OrderContract"]


class OrderContract:
    """``OrderRepo``: orders, refunds, renewal clicks and customer bindings."""

    def test_insert_get_and_refuse_twice(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.orders.get("m1", "o1") is None
            tx.orders.insert(_order())
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.orders.insert(_order(total=1))
        with store.reader() as tx:
            assert tx.orders.get("m1", "o1") == _order()

    def test_merchants_never_see_each_others_orders(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.orders.insert(_order("m1", "o1", total=100))
            tx.orders.insert(_order("m2", "o1", total=200))
            for n, order_id in enumerate(EDGE_IDS):
                tx.orders.insert(_order("m1", order_id, total=n))
        with store.reader() as tx:
            assert tx.orders.get("m1", "o1") == _order("m1", "o1", total=100)
            assert tx.orders.get("m2", "o1") == _order("m2", "o1", total=200)
            assert tx.orders.get("m2", "o/1") is None
            for n, order_id in enumerate(EDGE_IDS):
                assert tx.orders.get("m1", order_id) == _order("m1", order_id, total=n)

    def test_set_refunded(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.orders.insert(_order("m1", "o1"))
            tx.orders.insert(_order("m2", "o1"))
        with store.transaction() as tx:
            tx.orders.set_refunded("m1", "o1", 700, 9)
        with store.reader() as tx:
            assert tx.orders.get("m1", "o1") == _order("m1", "o1")._replace(
                refunded_minor=700, seq=9
            )
            assert tx.orders.get("m2", "o1") == _order("m2", "o1")

    def test_refunds(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.orders.insert_refund(_refund("m1", "o1", "r1", 100))
            tx.orders.insert_refund(_refund("m1", "o2", "r1", 200))
            tx.orders.insert_refund(_refund("m2", "o1", "r1", 300))
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.orders.insert_refund(_refund("m1", "o1", "r1", 999))
        with store.reader() as tx:
            assert tx.orders.get_refund("m1", "o1", "r1") == _refund("m1", "o1", "r1", 100)
            assert tx.orders.get_refund("m1", "o2", "r1") == _refund("m1", "o2", "r1", 200)
            assert tx.orders.get_refund("m2", "o1", "r1") == _refund("m2", "o1", "r1", 300)
            assert tx.orders.get_refund("m1", "o1", "r2") is None

    def test_scan_keyset_pages(self, store: Store) -> None:
        keys = [("m2", "o1"), ("m1", "o2"), ("m10", "o1"), ("m1", "o1"), ("m1", "o/1")]
        keys += [("m1", "\uffff"), ("m1", "o\U0001f600"), ("m1", "o1 "), ("m1", "O1")]
        with store.transaction() as tx:
            assert tx.orders.scan() == []
            for n, (merchant_id, order_id) in enumerate(keys):
                tx.orders.insert(_order(merchant_id, order_id, total=n))
        with store.reader() as tx:

            def page(after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
                return [
                    (o.merchant_id, o.order_id) for o in tx.orders.scan(after=after, limit=limit)
                ]

            assert page(None, 3) == [("m1", "O1"), ("m1", "o/1"), ("m1", "o1")]
            assert page(("m1", "o1"), 3) == [("m1", "o1 "), ("m1", "o2"), ("m1", "o\U0001f600")]
            assert page(("m1", "o\U0001f600"), 3) == [("m1", "\uffff"), ("m10", "o1"), ("m2", "o1")]
            assert page(("m2", "o1"), 3) == []
            # not stored (no key holds NUL: models refuse control characters, PostgreSQL too)
            assert page(("m1", "o1\x01"), 2) == [("m1", "o1 "), ("m1", "o2")]
            assert page(("m1", ""), 1) == [("m1", "O1")]
            assert page(("m0", "zzz"), 1) == [("m1", "O1")]
            assert page(("m10", ""), 9) == [("m10", "o1"), ("m2", "o1")]
            assert page(None, 0) == []
            assert tx.orders.scan(after=("m2", "o0"), limit=5) == [_order("m2", "o1", total=0)]
            assert len(tx.orders.scan()) == len(keys)

    def test_renewal_clicks_first_binding_wins(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.orders.renewal_click("m1", "s1") is None
            tx.orders.bind_renewals("m1", "s1", "k1")
            tx.orders.bind_renewals("m1", "s1", "k2")
            tx.orders.bind_renewals("m2", "s1", "k3")
        with store.reader() as tx:
            assert tx.orders.renewal_click("m1", "s1") == "k1"
            assert tx.orders.renewal_click("m2", "s1") == "k3"

    def test_bindings(self, store: Store) -> None:
        first = BindingRow("m1", "u1", "a1", "c1", "k1", 9_000)
        with store.transaction() as tx:
            assert tx.orders.get_binding("m1", "u1") is None
            tx.orders.put_binding(first)
            tx.orders.put_binding(BindingRow("m2", "u1", "a2", "c2", None, None))
        with store.transaction() as tx:
            tx.orders.put_binding(first._replace(affiliate_id="a9", until_ms=None))
        with store.reader() as tx:
            assert tx.orders.get_binding("m1", "u1") == BindingRow(
                "m1", "u1", "a9", "c1", "k1", None
            )
            assert tx.orders.get_binding("m2", "u1") == BindingRow(
                "m2", "u1", "a2", "c2", None, None
            )

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.orders.insert(_order("m1", "o1"))

        def write(tx: UnitOfWork) -> None:
            tx.orders.insert(_order("m1", "o2"))
            tx.orders.set_refunded("m1", "o1", 50, 7)
            tx.orders.insert_refund(_refund())
            tx.orders.bind_renewals("m1", "s1", "k1")
            tx.orders.put_binding(BindingRow("m1", "u1", "a1", "c1", None, None))

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert tx.orders.get("m1", "o1") == _order("m1", "o1")
            assert tx.orders.get("m1", "o2") is None
            assert tx.orders.get_refund("m1", "o1", "r1") is None
            assert tx.orders.renewal_click("m1", "s1") is None
            assert tx.orders.get_binding("m1", "u1") is None
            assert tx.orders.scan() == [_order("m1", "o1")]
            tx.orders.insert(_order("m1", "o2"))  # the refused ids are free again
            tx.orders.insert_refund(_refund())
