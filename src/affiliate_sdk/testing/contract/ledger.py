"""The ``LedgerRepo`` contract: lines in booking order, filtered keyset pages, due lines.

The payout-run tests live in ``payouts``; ``LedgerContract`` inherits them.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import LineFilter, LineMeasures, PayoutRow

from ._support import EDGE_IDS, _at, _ids, _line, _payout, _rolled_back, _with_status
from .payouts import PayoutContract

__all__ = ["LedgerContract"]


class LedgerContract(PayoutContract):
    """``LedgerRepo``: lines in booking order, filtered keyset pages, payout runs."""

    def test_append_and_get_many_in_booking_order(self, store: Store) -> None:
        rows = [_line("e3"), _line("e1"), _line("e2")]
        with store.transaction() as tx:
            tx.ledger.append(rows[:2])
            tx.ledger.append(rows[2:])
        with store.reader() as tx:
            assert tx.ledger.get_many(["e2", "e3", "nope", "e1"]) == rows
            assert tx.ledger.get_many([]) == []
            assert tx.ledger.query(LineFilter()) == rows

    def test_unique_entry_and_event_ids(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.ledger.append([_line("e1", event_id="ev1")])
        refused = [
            [_line("e1", event_id="ev2")],
            [_line("e2", event_id="ev1")],
            [_line("e3", event_id="ev3"), _line("e3", event_id="ev4")],
            [_line("e5", event_id="ev5"), _line("e6", event_id="ev5")],
            [_line("e7", event_id="ev7"), _line("e1", event_id="ev8")],
        ]
        for batch in refused:
            with pytest.raises(DuplicateEntry), store.transaction() as tx:
                tx.ledger.append(batch)
        with store.reader() as tx:
            assert _ids(tx.ledger.query(LineFilter())) == ["e1"]

    def test_update_keeps_the_place(self, store: Store) -> None:
        rows = [_line("e1"), _line("e2"), _line("e3")]
        with store.transaction() as tx:
            tx.ledger.append(rows)
        approved = _with_status(rows[0], "approved", 5)
        with store.transaction() as tx:
            tx.ledger.update([approved])
        with store.reader() as tx:
            assert tx.ledger.get_many(["e1", "e2", "e3"]) == [approved, rows[1], rows[2]]
            assert tx.ledger.by_order("m1", "o1") == [approved, rows[1], rows[2]]
            assert _ids(tx.ledger.query(LineFilter(status="approved"))) == ["e1"]
            assert _ids(tx.ledger.query(LineFilter(status="pending"))) == ["e2", "e3"]

    def test_by_order_and_merchant_isolation(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.ledger.append(
                [
                    _line("e1", merchant_id="m1", order_id="o1"),
                    _line("e2", merchant_id="m2", order_id="o1"),
                    _line("e3", merchant_id="m1", order_id="o2"),
                    _line("e4", merchant_id="m1", order_id="o1"),
                ]
            )
            tx.ledger.append(
                [_line(f"x{n}", order_id=order_id) for n, order_id in enumerate(EDGE_IDS)]
            )
        with store.reader() as tx:
            assert _ids(tx.ledger.by_order("m1", "o1")) == ["e1", "e4"]
            assert _ids(tx.ledger.by_order("m2", "o1")) == ["e2"]
            assert tx.ledger.by_order("m2", "o2") == []
            assert _ids(tx.ledger.query(LineFilter(merchant_id="m2"))) == ["e2"]
            assert _ids(tx.ledger.query(LineFilter(order_id="o1"))) == ["e1", "e2", "e4"]
            for n, order_id in enumerate(EDGE_IDS):
                assert _ids(tx.ledger.by_order("m1", order_id)) == [f"x{n}"]

    def test_query_filters(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.ledger.append(
                [
                    _line("e1", affiliate_id="a1", created_ms=1_000),
                    _line("e2", affiliate_id="a2", created_ms=2_000, account="parent"),
                    _line("e3", affiliate_id="a1", created_ms=3_000, status="approved"),
                    _line("e4", affiliate_id="a1", created_ms=4_000, merchant_id="m2"),
                    _line("e5", affiliate_id="a1", created_ms=5_000, order_id="o2"),
                ]
            )
        with store.reader() as tx:

            def ids(**where: object) -> list[str]:
                return _ids(tx.ledger.query(LineFilter(**where)))  # type: ignore[arg-type]

            assert ids(affiliate_id="a1") == ["e1", "e3", "e4", "e5"]
            assert ids(affiliate_id="a1", merchant_id="m1") == ["e1", "e3", "e5"]
            assert ids(status="approved") == ["e3"]
            assert ids(account="parent") == ["e2"]
            assert ids(account="affiliate", status="pending") == ["e1", "e4", "e5"]
            assert ids(merchant_id="m1", order_id="o1") == ["e1", "e2", "e3"]
            assert ids(created_since_ms=2_000) == ["e2", "e3", "e4", "e5"]
            assert ids(created_before_ms=3_000) == ["e1", "e2"]
            assert ids(created_since_ms=2_000, created_before_ms=4_000) == ["e2", "e3"]
            assert ids(affiliate_id="a1", created_since_ms=3_000, status="pending") == ["e4", "e5"]
            assert ids(affiliate_id="a9") == []

    def test_query_keyset_pages(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.ledger.append(
                [_line(f"e{n}", affiliate_id="a2" if n % 3 == 0 else "a1") for n in range(1, 11)]
            )
        with store.reader() as tx:
            page = tx.ledger.query(LineFilter(), limit=4)
            assert _ids(page) == ["e1", "e2", "e3", "e4"]
            page = tx.ledger.query(LineFilter(), after="e4", limit=4)
            assert _ids(page) == ["e5", "e6", "e7", "e8"]
            page = tx.ledger.query(LineFilter(), after="e8", limit=4)
            assert _ids(page) == ["e9", "e10"]
            assert tx.ledger.query(LineFilter(), after="e10", limit=4) == []
            mine = tx.ledger.query(LineFilter(affiliate_id="a1"), limit=3)
            assert _ids(mine) == ["e1", "e2", "e4"]
            mine = tx.ledger.query(LineFilter(affiliate_id="a1"), after="e4", limit=3)
            assert _ids(mine) == ["e5", "e7", "e8"]
            # the cursor may be a line the filter leaves out
            mine = tx.ledger.query(LineFilter(affiliate_id="a1"), after="e6", limit=3)
            assert _ids(mine) == ["e7", "e8", "e10"]

    def test_by_orders(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.ledger.append(
                [
                    _line("e1", merchant_id="m1", order_id="o1"),
                    _line("e2", merchant_id="m2", order_id="o1"),
                    _line("e3", merchant_id="m1", order_id="o2"),
                    _line("e4", merchant_id="m1", order_id="o1"),
                    _line("e5", merchant_id="m1", order_id="o/1"),
                    _line("e6", merchant_id="m2", order_id="o2"),
                ]
            )
        with store.reader() as tx:
            assert _ids(tx.ledger.by_orders([("m1", "o1")])) == ["e1", "e4"]
            wanted = [("m1", "o2"), ("m2", "o1"), ("m1", "o1")]
            assert _ids(tx.ledger.by_orders(wanted)) == ["e1", "e2", "e3", "e4"]
            assert _ids(tx.ledger.by_orders([("m1", "o1"), ("m1", "o1")])) == ["e1", "e4"]
            assert _ids(tx.ledger.by_orders([("m2", "o2"), ("m1", "o/1")])) == ["e5", "e6"]
            assert tx.ledger.by_orders([("m3", "o1"), ("m2", "o/1"), ("m1", "o%")]) == []
            assert tx.ledger.by_orders([]) == []

    def test_by_orders_of_many_orders(self, store: Store) -> None:
        rows = [_line(f"e{n:04}", merchant_id="m3", order_id=f"o{n:04}") for n in range(1_200)]
        with store.transaction() as tx:
            tx.ledger.append(rows)
        wanted = [("m3", f"o{n:04}") for n in reversed(range(1_200))]
        with store.reader() as tx:
            assert tx.ledger.by_orders([*wanted, ("m3", "o9999")]) == rows
            assert tx.ledger.by_orders(wanted[::2]) == rows[1::2]

    def test_due(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.ledger.append(
                [
                    _line("e1", hold_ms=1_000),
                    _line("e2", hold_ms=5_000),
                    _line("e3"),
                    _line("e4", hold_ms=2_000, status="frozen"),
                    _line("e5", hold_ms=2_000),
                    _line("e6", hold_ms=2_001),
                ]
            )
        with store.reader() as tx:
            due = tx.ledger.due(status="pending", until_ms=2_000, after=None, limit=10)
            assert _ids(due) == ["e3", "e1", "e5"]  # not held first, then by end of hold
            due = tx.ledger.due(status="pending", until_ms=2_000, after=None, limit=2)
            assert _ids(due) == ["e3", "e1"]
            due = tx.ledger.due(status="pending", until_ms=2_000, after="e1", limit=2)
            assert _ids(due) == ["e5"]
            due = tx.ledger.due(status="pending", until_ms=9_000, after="e1", limit=10)
            assert _ids(due) == ["e5", "e6", "e2"]
            due = tx.ledger.due(status="pending", until_ms=9_000, after="e3", limit=10)
            assert _ids(due) == ["e1", "e5", "e6", "e2"]
            due = tx.ledger.due(status="pending", until_ms=999, after=None, limit=10)
            assert _ids(due) == ["e3"]
            due = tx.ledger.due(status="frozen", until_ms=9_000, after=None, limit=10)
            assert _ids(due) == ["e4"]
            assert tx.ledger.due(status="paid", until_ms=9_000, after=None, limit=10) == []
            assert tx.ledger.due(status="pending", until_ms=9_000, after=None, limit=0) == []

    def test_due_ties_in_booking_order_and_cursors(self, store: Store) -> None:
        rows = [
            _line("a", hold_ms=3_000),
            _line("b", hold_ms=1_000),
            _line("c", hold_ms=3_000),
            _line("d"),
            _line("x", hold_ms=1_000, status="frozen"),
            _line("e", hold_ms=3_000),
            _line("f"),
        ]
        with store.transaction() as tx:
            tx.ledger.append(rows)

        def ids(after: str | None, limit: int = 2, until_ms: int = 3_000) -> list[str]:
            with store.reader() as tx:
                due = tx.ledger.due(status="pending", until_ms=until_ms, after=after, limit=limit)
            return _ids(due)

        assert ids(None) == ["d", "f"]
        assert ids("f") == ["b", "a"]
        assert ids("a") == ["c", "e"]
        assert ids("c") == ["e"]
        assert ids("e") == []
        assert ids("d", limit=3) == ["f", "b", "a"]
        assert ids("x", limit=9) == ["a", "c", "e"]  # a cursor of another status
        assert ids("a", until_ms=2_000) == []  # a cursor still held
        with store.transaction() as tx:  # the cursor was approved meanwhile
            tx.ledger.update([_with_status(rows[0], "approved", 2)])
        assert ids("a") == ["c", "e"]
        assert ids("b", limit=9) == ["c", "e"]
        with pytest.raises(StorageError), store.reader() as tx:
            tx.ledger.due(status="pending", until_ms=3_000, after="nope", limit=2)

    def test_due_of_one_merchant(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.ledger.append(
                [
                    _line("f1", merchant_id="m1", hold_ms=1_000),
                    _line("f2", merchant_id="m2", hold_ms=500),
                    _line("f3", merchant_id="m1"),
                    _line("f4", merchant_id="m2"),
                    _line("f5", merchant_id="m1", hold_ms=1_000),
                    _line("f6", merchant_id="m2", hold_ms=3_000),
                    _line("f7", merchant_id="m1", hold_ms=0, status="approved"),
                    _line("f8", merchant_id="m10", hold_ms=0),
                ]
            )

        def ids(merchant_id: str | None, after: str | None = None, limit: int = 9) -> list[str]:
            with store.reader() as tx:
                due = tx.ledger.due(
                    status="pending",
                    until_ms=2_000,
                    after=after,
                    limit=limit,
                    merchant_id=merchant_id,
                )
            return _ids(due)

        assert ids("m1") == ["f3", "f1", "f5"]
        assert ids("m2") == ["f4", "f2"]
        assert ids("m10") == ["f8"]
        assert ids(None) == ["f3", "f4", "f8", "f2", "f1", "f5"]
        assert ids("m9") == []
        assert ids("m1", limit=1) == ["f3"]
        assert ids("m1", after="f3", limit=1) == ["f1"]
        assert ids("m1", after="f1") == ["f5"]
        assert ids("m1", after="f4") == ["f1", "f5"]  # a cursor of another merchant
        assert ids("m2", after="f1") == []
        with store.reader() as tx:
            due = tx.ledger.due(
                status="approved", until_ms=0, after=None, limit=9, merchant_id="m1"
            )
            assert _ids(due) == ["f7"]

    def test_tier_booked_round_trip(self, store: Store) -> None:
        measures = LineMeasures(
            tier_key="t/m1/2026-01",
            tier_measure=Decimal("199.00"),
            tier_paid=Decimal("19.9004"),
            tier_booked=Money("19.90", "USD"),
        )
        booked = _line("e1")._replace(measures=measures)
        unbooked = _line("e2", hold_ms=1_000)._replace(measures=measures._replace(tier_booked=None))
        bare = _line("e3")._replace(measures=None)
        with store.transaction() as tx:
            tx.ledger.append([booked, unbooked, bare])
        with store.reader() as tx:
            assert tx.ledger.get_many(["e1", "e2", "e3"]) == [booked, unbooked, bare]
            assert tx.ledger.by_order("m1", "o1") == [booked, unbooked, bare]
            assert tx.ledger.by_orders([("m1", "o1")]) == [booked, unbooked, bare]
            assert tx.ledger.query(LineFilter(), limit=1) == [booked]
            due = tx.ledger.due(status="pending", until_ms=1_000, after=None, limit=5)
            assert due == [booked, bare, unbooked]
            [found] = tx.ledger.get_many(["e1"])
            kept = None if found.measures is None else found.measures.tier_booked
            assert kept is not None
            assert (str(kept.amount), kept.currency) == ("19.90", "USD")
        rebooked = booked._replace(
            measures=measures._replace(tier_booked=Money("-0.0100", "EUR")), seq=4
        )
        with store.transaction() as tx:
            tx.ledger.update([rebooked, unbooked._replace(measures=measures)])
        with store.reader() as tx:
            assert tx.ledger.get_many(["e1", "e2"]) == [
                rebooked,
                unbooked._replace(measures=measures),
            ]

    def test_due_follows_updates(self, store: Store) -> None:
        rows = [_line("e1", hold_ms=1_000), _line("e2", hold_ms=1_000), _line("e3")]
        with store.transaction() as tx:
            tx.ledger.append(rows)
        with store.transaction() as tx:
            tx.ledger.update([_with_status(rows[1], "approved", 2)])
        with store.reader() as tx:
            due = tx.ledger.due(status="pending", until_ms=1_000, after=None, limit=10)
            assert _ids(due) == ["e3", "e1"]
            due = tx.ledger.due(status="approved", until_ms=1_000, after=None, limit=10)
            assert _ids(due) == ["e2"]
        held = rows[2].line.model_copy(update={"hold_until": _at(500)})
        moved = rows[0]._replace(line=rows[0].line.model_copy(update={"merchant_id": "m2"}))
        with store.transaction() as tx:
            tx.ledger.update([rows[2]._replace(line=held), moved])
        with store.reader() as tx:
            due = tx.ledger.due(status="pending", until_ms=1_000, after=None, limit=10)
            assert _ids(due) == ["e3", "e1"]
            due = tx.ledger.due(status="pending", until_ms=499, after=None, limit=10)
            assert due == []
            due = tx.ledger.due(
                status="pending", until_ms=1_000, after=None, limit=10, merchant_id="m1"
            )
            assert _ids(due) == ["e3"]
            due = tx.ledger.due(
                status="pending", until_ms=1_000, after=None, limit=10, merchant_id="m2"
            )
            assert _ids(due) == ["e1"]

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        kept = _line("e1", hold_ms=1_000)
        with store.transaction() as tx:
            tx.ledger.append([kept])

        def write(tx: UnitOfWork) -> None:
            tx.ledger.append([_line("e2", event_id="ev2", affiliate_id="a2")])
            tx.ledger.update([_with_status(kept, "approved", 3)])
            tx.ledger.insert_payouts("r1", [PayoutRow("r1", _payout("p1", "a1"), 4)], seq=4)

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert tx.ledger.query(LineFilter()) == [kept]
            assert tx.ledger.get_many(["e1", "e2"]) == [kept]
            assert tx.ledger.query(LineFilter(affiliate_id="a2")) == []
            assert tx.ledger.query(LineFilter(status="approved")) == []
            assert tx.ledger.due(status="pending", until_ms=1_000, after=None, limit=5) == [kept]
            assert tx.ledger.by_order("m1", "o1") == [kept]
            assert not tx.ledger.has_run("r1")
            assert tx.ledger.payouts() == []
            assert tx.ledger.runs() == []
            assert tx.ledger.by_orders([("m1", "o1")]) == [kept]
            due = tx.ledger.due(
                status="pending", until_ms=1_000, after=None, limit=5, merchant_id="m1"
            )
            assert due == [kept]
            tx.ledger.append([_line("e2", event_id="ev2")])  # the refused ids are free again
            tx.ledger.insert_payouts("r1", [PayoutRow("r1", _payout("p1", "a1"), 5)], seq=5)
            assert tx.ledger.runs() == [("r1", 5)]
            assert tx.ledger.payouts(after="p1") == []
