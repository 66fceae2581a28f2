"""The storage contract as pytest test classes, for hosts that write their own backend.

Needs pytest (a development dependency: ``pip install pytest``); nothing else
in ``affiliate_sdk`` imports this module.

Each class checks one repository of ``affiliate_sdk.storage.contract`` (plus
``TransactionContract`` for the unit of work itself, and ``StoreContract``
for all of them at once). Its tests take a ``store`` fixture, a fresh, empty
``Store``, that the subclass or a ``conftest.py`` provides::

    import pytest
    from affiliate_sdk.testing.contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            opened = MyStore(tmp_path / "db")
            yield opened
            opened.close()

The classes are named ``*Contract``, so pytest collects only the host's
``Test*`` subclasses. Expected values are written out by hand; a backend
passes when it reads back what the contract says, in the order it says.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

import pytest

from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.models import (
    Affiliate,
    Campaign,
    Commission,
    Enforcement,
    Merchant,
    PayoutBatch,
    PlanVersion,
)
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import (
    BindingRow,
    ClickRow,
    CouponRow,
    DeadLetterRow,
    DeliveryCursor,
    DeliveryLogRow,
    ImpressionRow,
    JournalRow,
    LineFilter,
    LineMeasures,
    LineRow,
    Mark,
    OrderRow,
    OutboxRow,
    PayoutRow,
    PeriodTotals,
    RefundRow,
    SubscriptionRow,
    ValueStats,
)

__all__ = [
    "CatalogContract",
    "ClickContract",
    "CounterContract",
    "JournalContract",
    "KeyContract",
    "LedgerContract",
    "OrderContract",
    "OutboxContract",
    "PeriodContract",
    "RiskContract",
    "SanctionContract",
    "StoreContract",
    "TransactionContract",
    "WebhookContract",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Ids that trip backends which escape, pattern-match or collate keys.
EDGE_IDS: Final = ("o/1", "o%2F1", "o%", "o_1", "\uffff", "o\U0001f600", " ", "o1 ")


class _Boom(Exception):
    """Raised inside a unit of work to roll it back."""


def _rolled_back(store: Store, write: Callable[[UnitOfWork], object]) -> None:
    """Run ``write`` in a unit of work that then raises: nothing it wrote may remain."""
    with pytest.raises(_Boom):
        _write_then_fail(store, write)


def _write_then_fail(store: Store, write: Callable[[UnitOfWork], object]) -> None:
    with store.transaction() as tx:
        write(tx)
        raise _Boom


def _at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


# -- row builders ----------------------------------------------------------------------------
def _campaign(merchant_id: str = "m1", campaign_id: str = "c1", rate: str = "10%") -> Campaign:
    return Campaign(
        campaign_id=campaign_id,
        merchant_id=merchant_id,
        plan=CommissionPlan(rate=rate),
        landing_domains=["shop.example.com"],
    )


def _plan(campaign_id: str, version: int, rate: str = "10%") -> PlanVersion:
    return PlanVersion(
        campaign_id=campaign_id,
        version=version,
        effective_from=_at(1_000 * version),
        plan=CommissionPlan(rate=rate),
    )


def _click(
    click_id: str,
    at_ms: int,
    *,
    merchant_id: str = "m1",
    visitor_id: str = "v1",
    link_id: str = "l1",
    affiliate_id: str = "a1",
    campaign_id: str = "c1",
    decision: str = "allow",
) -> ClickRow:
    return ClickRow(
        click_id=click_id,
        visitor_id=visitor_id,
        link_id=link_id,
        affiliate_id=affiliate_id,
        campaign_id=campaign_id,
        merchant_id=merchant_id,
        landing_url="https://shop.example.com/p/1",
        sub_fields=b"\x00sub1=spring",
        clicked_at_ms=at_ms,
        ip_hash="iphash",
        ip_network="203.0.113.0/24",
        ua_hash=None,
        referrer_host=None,
        decision=decision,
        verdict_json='{"decision":"allow"}',
        country="CN",
    )


def _impression(
    impression_id: str, at_ms: int, *, merchant_id: str = "m1", visitor_id: str = "v1"
) -> ImpressionRow:
    return ImpressionRow(impression_id, merchant_id, visitor_id, "a1", "c1", at_ms)


def _order(merchant_id: str = "m1", order_id: str = "o1", total: int = 19_900) -> OrderRow:
    return OrderRow(
        merchant_id=merchant_id,
        order_id=order_id,
        fingerprint="f" * 64,
        currency="CNY",
        total_minor=total,
        refunded_minor=0,
        placed_at_ms=5_000,
        created_at_ms=5_001,
        ip_hash=None,
        ip_network=None,
        outcome_json='{"ok":true}',
        seq=3,
    )


def _refund(
    merchant_id: str = "m1", order_id: str = "o1", refund_id: str = "r1", amount: int = 500
) -> RefundRow:
    return RefundRow(merchant_id, order_id, refund_id, amount, 6_000, '{"refund":1}')


def _line(
    entry_id: str,
    *,
    event_id: str | None = None,
    merchant_id: str = "m1",
    order_id: str = "o1",
    affiliate_id: str = "a1",
    status: str = "pending",
    account: str = "affiliate",
    created_ms: int = 10_000,
    hold_ms: int | None = None,
    amount: str = "1.99",
    seq: int = 1,
) -> LineRow:
    line = Commission.model_validate(
        {
            "entry_id": entry_id,
            "event_id": event_id if event_id is not None else f"ev-{entry_id}",
            "merchant_id": merchant_id,
            "order_id": order_id,
            "campaign_id": "c1",
            "affiliate_id": affiliate_id,
            "click_id": None,
            "account": account,
            "kind": "commission",
            "amount": Money(amount, "CNY"),
            "status": status,
            "rate": Decimal("0.01"),
            "basis": Money("199.00", "CNY"),
            "created_at": _at(created_ms),
            "hold_until": None if hold_ms is None else _at(hold_ms),
        }
    )
    measures = LineMeasures(tier_key="t/m1/2026-01", tier_measure=Decimal("199.00"))
    return LineRow(line, measures, seq)


def _with_status(row: LineRow, status: str, seq: int) -> LineRow:
    return LineRow(row.line.model_copy(update={"status": status}), row.measures, seq)


def _ids(rows: list[LineRow]) -> list[str]:
    return [row.line.entry_id for row in rows]


def _payout(payout_id: str, affiliate_id: str, amount: str = "10.00") -> PayoutBatch:
    return PayoutBatch(
        payout_id=payout_id,
        affiliate_id=affiliate_id,
        amount=Money(amount, "CNY"),
        entry_ids=[f"e-{payout_id}"],
        created_at=_at(50_000),
    )


def _entry(seq: int, at_ms: int, event_id: str | None = None) -> JournalRow:
    return JournalRow(
        seq=seq,
        event_id=event_id if event_id is not None else f"j{seq}",
        at_ms=at_ms,
        body=b'{"seq":%d}' % seq,
        hash=bytes([seq % 256]) * 32,
    )


def _checkpoint(seq: int) -> Checkpoint:
    return Checkpoint(
        seq=seq, hash="ab" * 32, at=_at(seq * 1_000), key_id="k1", signature="cd" * 64
    )


def _event(event_id: str, created_at_ms: int, type_: str = "commission.created") -> OutboxRow:
    return OutboxRow(0, event_id, type_, created_at_ms, f'{{"id":"{event_id}"}}')


def _enforcement(affiliate_id: str, steps: int, level: str = "warn") -> Enforcement:
    return Enforcement.model_validate(
        {
            "affiliate_id": affiliate_id,
            "level": level,
            "reason": f"step {steps}",
            "at": _at(steps * 1_000),
            "steps": steps,
        }
    )


def _attempt(seq: int, event_id: str, attempt: int) -> DeliveryLogRow:
    return DeliveryLogRow(
        seq, event_id, "commission.created", attempt, 1_000 + attempt, 500, None, 12.5, "oops"
    )


# -- the contract ------------------------------------------------------------------------------
class TransactionContract:
    """A unit of work: atomic, nested calls join the outer one, reads in ``reader()``."""

    def test_is_a_store(self, store: Store) -> None:
        assert isinstance(store, Store)
        assert isinstance(store.scheme, str)
        assert store.scheme

    def test_commit_is_visible_to_readers(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.keys.put_sealed("k", "v1")
        with store.reader() as tx:
            assert tx.keys.get_sealed("k") == "v1"

    def test_exception_rolls_back_and_propagates(self, store: Store) -> None:
        _rolled_back(store, lambda tx: tx.keys.put_sealed("k", "v1"))
        with store.reader() as tx:
            assert tx.keys.get_sealed("k") is None

    def test_nested_transaction_joins_the_outer_one(self, store: Store) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.keys.put_sealed("outer", "1")
            with store.transaction() as inner:
                inner.keys.put_sealed("inner", "2")
                assert inner.keys.get_sealed("outer") == "1"
            assert tx.keys.get_sealed("inner") == "2"

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.keys.get_sealed("outer") is None
            assert tx.keys.get_sealed("inner") is None

    def test_nested_commit_waits_for_the_outer_one(self, store: Store) -> None:
        with store.transaction() as tx:
            with store.transaction() as inner:
                inner.keys.put_sealed("inner", "2")
            tx.keys.put_sealed("outer", "1")
        with store.reader() as tx:
            assert (tx.keys.get_sealed("inner"), tx.keys.get_sealed("outer")) == ("2", "1")

    def test_a_later_unit_of_work_starts_clean(self, store: Store) -> None:
        _rolled_back(store, lambda tx: tx.keys.put_sealed("a", "1"))
        with store.transaction() as tx:
            tx.keys.put_sealed("b", "2")
        with store.reader() as tx:
            assert tx.keys.get_sealed("a") is None
            assert tx.keys.get_sealed("b") == "2"


class CatalogContract:
    """``CatalogRepo``: campaigns, plan versions, merchants, affiliates, coupons."""

    def test_campaign_round_trip_and_replace(self, store: Store) -> None:
        first, second = _campaign(rate="10%"), _campaign(rate="12%")
        with store.transaction() as tx:
            assert tx.catalog.get_campaign("m1", "c1") is None
            tx.catalog.put_campaign(first)
        with store.reader() as tx:
            assert tx.catalog.get_campaign("m1", "c1") == first
        with store.transaction() as tx:
            tx.catalog.put_campaign(second)
        with store.reader() as tx:
            assert tx.catalog.get_campaign("m1", "c1") == second
            assert tx.catalog.campaigns() == [second]

    def test_campaigns_filter_and_order(self, store: Store) -> None:
        with store.transaction() as tx:
            for merchant, campaign in [("m2", "c1"), ("m1", "c2"), ("m1", "c1"), ("m2", "c3")]:
                tx.catalog.put_campaign(_campaign(merchant, campaign))
        with store.reader() as tx:
            pairs = [(c.merchant_id, c.campaign_id) for c in tx.catalog.campaigns()]
            assert pairs == [("m1", "c1"), ("m1", "c2"), ("m2", "c1"), ("m2", "c3")]
            of_m1 = tx.catalog.campaigns(merchant_id="m1")
            assert [c.campaign_id for c in of_m1] == ["c1", "c2"]
            named_c1 = tx.catalog.campaigns(campaign_id="c1")
            assert [c.merchant_id for c in named_c1] == ["m1", "m2"]
            assert tx.catalog.campaigns(merchant_id="m2", campaign_id="c3") == [
                _campaign("m2", "c3")
            ]
            assert tx.catalog.campaigns(merchant_id="m1", campaign_id="c3") == []
            assert tx.catalog.campaigns(merchant_id="m9") == []

    def test_merchants_never_see_each_others_campaigns(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.catalog.put_campaign(_campaign("m1", "c1", rate="10%"))
            tx.catalog.put_campaign(_campaign("m2", "c1", rate="20%"))
        with store.reader() as tx:
            m1, m2 = tx.catalog.get_campaign("m1", "c1"), tx.catalog.get_campaign("m2", "c1")
            assert m1 is not None
            assert m2 is not None
            assert m1.plan.rate == Decimal("0.1")
            assert m2.plan.rate == Decimal("0.2")

    def test_plan_versions_in_order_and_unique(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.catalog.add_plan_version("m1", _plan("c1", 1, "10%"))
            tx.catalog.add_plan_version("m1", _plan("c1", 2, "11%"))
            tx.catalog.add_plan_version("m2", _plan("c1", 1, "30%"))
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.catalog.add_plan_version("m1", _plan("c1", 2, "99%"))
        with store.reader() as tx:
            assert tx.catalog.plan_versions("m1", "c1") == [
                _plan("c1", 1, "10%"),
                _plan("c1", 2, "11%"),
            ]
            assert tx.catalog.plan_versions("m2", "c1") == [_plan("c1", 1, "30%")]
            assert tx.catalog.plan_versions("m1", "c2") == []

    def test_merchant_and_affiliate_round_trip(self, store: Store) -> None:
        merchant = Merchant(merchant_id="m1", platform_take=Decimal("0.05"))
        affiliate = Affiliate(affiliate_id="a1", parent_id="p1", channel="blog")
        with store.transaction() as tx:
            assert tx.catalog.get_merchant("m1") is None
            assert tx.catalog.get_affiliate("a1") is None
            tx.catalog.put_merchant(merchant)
            tx.catalog.put_affiliate(affiliate)
        with store.transaction() as tx:
            tx.catalog.put_affiliate(Affiliate(affiliate_id="a1", channel="video"))
        with store.reader() as tx:
            assert tx.catalog.get_merchant("m1") == merchant
            assert tx.catalog.get_affiliate("a1") == Affiliate(affiliate_id="a1", channel="video")

    def test_coupons_by_merchant_and_code(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.catalog.put_coupon(CouponRow("m1", "SPRING", "a1", "c1"))
            tx.catalog.put_coupon(CouponRow("m2", "SPRING", "a2", "c9"))
            tx.catalog.put_coupon(CouponRow("m1", "SPRING%", "a3", "c1"))
            tx.catalog.put_coupon(CouponRow("m1", "\uffff", "a4", "c1"))
        with store.transaction() as tx:
            tx.catalog.put_coupon(CouponRow("m1", "SPRING", "a5", "c2"))
        with store.reader() as tx:
            assert tx.catalog.get_coupon("m1", "SPRING") == CouponRow("m1", "SPRING", "a5", "c2")
            assert tx.catalog.get_coupon("m2", "SPRING") == CouponRow("m2", "SPRING", "a2", "c9")
            assert tx.catalog.get_coupon("m1", "SPRING%") == CouponRow("m1", "SPRING%", "a3", "c1")
            assert tx.catalog.get_coupon("m1", "\uffff") == CouponRow("m1", "\uffff", "a4", "c1")
            assert tx.catalog.get_coupon("m1", "SPRIN_") is None
            assert tx.catalog.get_coupon("m3", "SPRING") is None

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.catalog.put_campaign(_campaign(rate="10%"))

        def write(tx: UnitOfWork) -> None:
            tx.catalog.put_campaign(_campaign(rate="50%"))
            tx.catalog.put_campaign(_campaign("m1", "c2"))
            tx.catalog.add_plan_version("m1", _plan("c1", 1))
            tx.catalog.put_merchant(Merchant(merchant_id="m1"))
            tx.catalog.put_affiliate(Affiliate(affiliate_id="a1"))
            tx.catalog.put_coupon(CouponRow("m1", "X", "a1", "c1"))

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.catalog.campaigns() == [_campaign(rate="10%")]
            assert tx.catalog.campaigns(merchant_id="m1") == [_campaign(rate="10%")]
            assert tx.catalog.campaigns(campaign_id="c2") == []
            assert tx.catalog.plan_versions("m1", "c1") == []
            assert tx.catalog.get_merchant("m1") is None
            assert tx.catalog.get_affiliate("a1") is None
            assert tx.catalog.get_coupon("m1", "X") is None
        with store.transaction() as tx:  # the refused number is free again
            tx.catalog.add_plan_version("m1", _plan("c1", 1))


class ClickContract:
    """``ClickRepo``: clicks with de-duplication, impressions, customers' visitor ids."""

    def test_record_and_get(self, store: Store) -> None:
        click = _click("k1", 1_000)
        with store.transaction() as tx:
            assert tx.clicks.record(click, dedupe_since_ms=None) == (click, True)
        with store.reader() as tx:
            assert tx.clicks.get("k1") == click
            assert tx.clicks.get("k2") is None

    def test_dedupe_returns_the_latest_click_on_the_link(self, store: Store) -> None:
        first, second = _click("k1", 1_000), _click("k2", 2_000)
        with store.transaction() as tx:
            tx.clicks.record(first, dedupe_since_ms=None)
            tx.clicks.record(second, dedupe_since_ms=None)
            assert tx.clicks.record(_click("k3", 3_000), dedupe_since_ms=2_000) == (second, False)
            assert tx.clicks.record(_click("k4", 3_000), dedupe_since_ms=1_500) == (second, False)
        with store.reader() as tx:
            assert tx.clicks.get("k3") is None
            assert tx.clicks.get("k4") is None
            assert tx.clicks.by_visitor("m1", "v1", since_ms=0, until_ms=9_999) == [first, second]

    def test_dedupe_misses_older_clicks_other_links_and_visitors(self, store: Store) -> None:
        clicks = [
            _click("k1", 1_000),
            _click("k2", 5_000),
            _click("k3", 5_001, link_id="l2"),
            _click("k4", 5_002, visitor_id="v2"),
        ]
        with store.transaction() as tx:
            assert tx.clicks.record(clicks[0], dedupe_since_ms=None) == (clicks[0], True)
            for click in clicks[1:]:
                assert tx.clicks.record(click, dedupe_since_ms=1_001) == (click, True)
        with store.reader() as tx:
            assert [tx.clicks.get(f"k{n}") for n in (1, 2, 3, 4)] == clicks

    def test_by_visitor_range_order_and_isolation(self, store: Store) -> None:
        rows = [
            _click("k3", 3_000),
            _click("k1", 1_000),
            _click("k2", 2_000, link_id="l2"),
            _click("k4", 4_000),
            _click("x1", 2_000, merchant_id="m2"),
            _click("x2", 2_000, visitor_id="v2"),
        ]
        with store.transaction() as tx:
            for row in rows:
                tx.clicks.record(row, dedupe_since_ms=None)
        with store.reader() as tx:
            found = tx.clicks.by_visitor("m1", "v1", since_ms=1_000, until_ms=3_000)
            assert [c.click_id for c in found] == ["k1", "k2", "k3"]
            found = tx.clicks.by_visitor("m1", "v1", since_ms=1_001, until_ms=2_999)
            assert [c.click_id for c in found] == ["k2"]
            found = tx.clicks.by_visitor("m2", "v1", since_ms=0, until_ms=9_000)
            assert [c.click_id for c in found] == ["x1"]
            assert tx.clicks.by_visitor("m3", "v1", since_ms=0, until_ms=9_000) == []

    def test_edge_visitor_ids(self, store: Store) -> None:
        with store.transaction() as tx:
            for n, visitor in enumerate(EDGE_IDS):
                tx.clicks.record(_click(f"k{n}", 1_000, visitor_id=visitor), dedupe_since_ms=0)
        with store.reader() as tx:
            for n, visitor in enumerate(EDGE_IDS):
                found = tx.clicks.by_visitor("m1", visitor, since_ms=0, until_ms=2_000)
                assert [c.click_id for c in found] == [f"k{n}"]

    def test_count_unblocked(self, store: Store) -> None:
        rows = [
            _click("k1", 1_000, affiliate_id="a1"),
            _click("k2", 1_500, affiliate_id="a1", visitor_id="v2"),
            _click("k3", 1_600, affiliate_id="a2", visitor_id="v3"),
            _click("k4", 1_700, affiliate_id="a2", visitor_id="v4", decision="block"),
            _click("k5", 1_800, affiliate_id="a3", decision="review", link_id="l3"),
            _click("k6", 2_000, affiliate_id="a1", visitor_id="v5"),
            _click("k7", 1_500, affiliate_id="a1", campaign_id="c2", visitor_id="v6"),
            _click("k8", 1_500, affiliate_id="a1", merchant_id="m2", visitor_id="v7"),
        ]
        with store.transaction() as tx:
            for row in rows:
                tx.clicks.record(row, dedupe_since_ms=None)
        with store.reader() as tx:
            counts = tx.clicks.count_unblocked("m1", "c1", since_ms=1_000, until_ms=2_000)
            assert counts == {"a1": 2, "a2": 1, "a3": 1}
            assert tx.clicks.count_unblocked("m2", "c1", since_ms=0, until_ms=9_000) == {"a1": 1}
            assert tx.clicks.count_unblocked("m1", "c9", since_ms=0, until_ms=9_000) == {}
            assert tx.clicks.count_unblocked("m1", "c1", since_ms=1_700, until_ms=1_800) == {}

    def test_impressions(self, store: Store) -> None:
        rows = [
            _impression("i2", 2_000),
            _impression("i1", 1_000),
            _impression("i3", 3_000),
            _impression("x1", 2_000, merchant_id="m2"),
            _impression("x2", 2_000, visitor_id="\uffff"),
        ]
        with store.transaction() as tx:
            for row in rows:
                tx.clicks.add_impression(row)
        with store.reader() as tx:
            found = tx.clicks.impressions("m1", "v1", since_ms=1_000, until_ms=2_000)
            assert found == [rows[1], rows[0]]
            assert tx.clicks.impressions("m2", "v1", since_ms=0, until_ms=9_000) == [rows[3]]
            assert tx.clicks.impressions("m1", "\uffff", since_ms=0, until_ms=9_000) == [rows[4]]
            assert tx.clicks.impressions("m1", "v1", since_ms=3_001, until_ms=9_000) == []

    def test_visitors_of(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.clicks.link_visitor("m1", "u1", "v1", at_ms=1_000)
            tx.clicks.link_visitor("m1", "u1", "v2", at_ms=2_000)
            tx.clicks.link_visitor("m1", "u1", "v3", at_ms=3_000)
            tx.clicks.link_visitor("m1", "u1", "v1", at_ms=4_000)  # the first time is kept
            tx.clicks.link_visitor("m2", "u1", "w1", at_ms=1_500)
        with store.reader() as tx:
            assert tx.clicks.visitors_of("m1", "u1", limit=10) == ["v1", "v2", "v3"]
            assert tx.clicks.visitors_of("m1", "u1", limit=2) == ["v2", "v3"]
            assert tx.clicks.visitors_of("m2", "u1", limit=10) == ["w1"]
            assert tx.clicks.visitors_of("m1", "u2", limit=10) == []

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.clicks.record(_click("k1", 1_000), dedupe_since_ms=None)
            tx.clicks.add_impression(_impression("i1", 1_000))
            tx.clicks.link_visitor("m1", "u1", "v1", at_ms=1_000)

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.clicks.get("k1") is None
            assert tx.clicks.by_visitor("m1", "v1", since_ms=0, until_ms=9_000) == []
            assert tx.clicks.count_unblocked("m1", "c1", since_ms=0, until_ms=9_000) == {}
            assert tx.clicks.impressions("m1", "v1", since_ms=0, until_ms=9_000) == []
            assert tx.clicks.visitors_of("m1", "u1", limit=5) == []
        with store.transaction() as tx:  # a rolled-back click does not de-duplicate
            click = _click("k2", 1_001)
            assert tx.clicks.record(click, dedupe_since_ms=0) == (click, True)


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
            assert page(("m1", "o1\x00"), 2) == [("m1", "o1 "), ("m1", "o2")]  # not stored
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


class LedgerContract:
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

    def test_payout_runs(self, store: Store) -> None:
        first = [PayoutRow("r1", _payout("p1", "a1"), 4), PayoutRow("r1", _payout("p2", "a2"), 5)]
        second = [PayoutRow("r2", _payout("p3", "a1", "3.00"), 6)]
        with store.transaction() as tx:
            assert not tx.ledger.has_run("r1")
            assert tx.ledger.runs() == []
            tx.ledger.insert_payouts("r1", first, seq=7)
            tx.ledger.insert_payouts("r2", second, seq=8)
            tx.ledger.insert_payouts("r3", [], seq=9)
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.ledger.insert_payouts("r1", [PayoutRow("r1", _payout("p9", "a9"), 9)], seq=10)
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.ledger.insert_payouts("r3", [], seq=11)
        with pytest.raises(DuplicateEntry), store.transaction() as tx:  # a payout id taken
            tx.ledger.insert_payouts("r4", [PayoutRow("r4", _payout("p2", "a2"), 12)], seq=12)
        with pytest.raises(StorageError), store.transaction() as tx:  # a batch of another run
            tx.ledger.insert_payouts("r5", [PayoutRow("r1", _payout("p5", "a1"), 13)], seq=13)
        with store.reader() as tx:
            assert tx.ledger.runs() == [("r1", 7), ("r2", 8), ("r3", 9)]
            assert not tx.ledger.has_run("r4")
            assert not tx.ledger.has_run("r5")
            assert tx.ledger.has_run("r1")
            assert tx.ledger.has_run("r3")
            assert not tx.ledger.has_run("r4")
            assert tx.ledger.payouts() == [*first, *second]
            assert tx.ledger.payouts(run_id="r1") == first
            assert tx.ledger.payouts(run_id="r3") == []
            assert tx.ledger.payouts(affiliate_id="a1") == [first[0], second[0]]
            assert tx.ledger.payouts(run_id="r2", affiliate_id="a1") == second
            assert tx.ledger.payouts(run_id="r2", affiliate_id="a2") == []

    def test_payout_pages(self, store: Store) -> None:
        rows = {
            name: PayoutRow(run, _payout(name, affiliate), n)
            for n, (name, run, affiliate) in enumerate(
                [
                    ("p1", "r1", "a1"),
                    ("p2", "r1", "a2"),
                    ("p3", "r1", "a1"),
                    ("p4", "r2", "a2"),
                    ("p5", "r2", "a1"),
                    ("p6", "r4", "a1"),
                ]
            )
        }
        p1, p2, p3, p4, p5, p6 = rows.values()
        with store.transaction() as tx:
            tx.ledger.insert_payouts("r1", [p1, p2, p3], seq=3)
            tx.ledger.insert_payouts("r2", [p4, p5], seq=5)
            tx.ledger.insert_payouts("r3", [], seq=6)
            tx.ledger.insert_payouts("r4", [p6], seq=8)
        with store.reader() as tx:
            ledger = tx.ledger
            assert ledger.payouts(limit=2) == [p1, p2]
            assert ledger.payouts(after="p2", limit=2) == [p3, p4]
            assert ledger.payouts(after="p4", limit=2) == [p5, p6]
            assert ledger.payouts(after="p6", limit=2) == []
            assert ledger.payouts(after="p3") == [p4, p5, p6]
            assert ledger.payouts(limit=0) == []
            assert ledger.payouts(affiliate_id="a1", limit=2) == [p1, p3]
            assert ledger.payouts(affiliate_id="a1", after="p3", limit=2) == [p5, p6]
            assert ledger.payouts(affiliate_id="a1", after="p4") == [p5, p6]  # a2's batch
            assert ledger.payouts(affiliate_id="a2", after="p2") == [p4]
            assert ledger.payouts(run_id="r1", after="p1") == [p2, p3]
            assert ledger.payouts(run_id="r1", affiliate_id="a1", after="p1") == [p3]
            assert ledger.payouts(run_id="r1", affiliate_id="a1", limit=1) == [p1]
            assert ledger.payouts(run_id="r1", after="p4") == []
            assert ledger.payouts(run_id="r2", after="p1", limit=1) == [p4]
            assert ledger.payouts(run_id="r3", limit=5) == []
        with pytest.raises(StorageError), store.reader() as tx:
            tx.ledger.payouts(after="p9")

    def test_run_pages(self, store: Store) -> None:
        with store.transaction() as tx:
            for n, run_id in enumerate(["r/1", "r%", "\uffff", "r0", "r1"]):
                tx.ledger.insert_payouts(run_id, [], seq=10 * n)
        with store.reader() as tx:
            assert tx.ledger.runs(limit=2) == [("r/1", 0), ("r%", 10)]  # oldest first
            assert tx.ledger.runs(after="r%", limit=2) == [("\uffff", 20), ("r0", 30)]
            assert tx.ledger.runs(after="r0") == [("r1", 40)]
            assert tx.ledger.runs(after="r1") == []
            assert tx.ledger.runs(limit=0) == []
        with pytest.raises(StorageError), store.reader() as tx:
            tx.ledger.runs(after="r9")

    def test_proving_a_run_gives_it_and_its_batches_a_seq(self, store: Store) -> None:
        rows = [PayoutRow("r1", _payout("p1", "a1"), 0), PayoutRow("r1", _payout("p2", "a2"), 0)]
        with store.transaction() as tx:
            tx.ledger.insert_payouts("r1", rows, seq=0)
            tx.ledger.insert_payouts("r2", [PayoutRow("r2", _payout("p3", "a1"), 7)], seq=8)
        with store.transaction() as tx:
            tx.ledger.prove_run("r1", 42)

        def rolled_back(tx: UnitOfWork) -> None:
            tx.ledger.prove_run("r2", 99)

        _rolled_back(store, rolled_back)
        with store.reader() as tx:
            assert tx.ledger.runs() == [("r1", 42), ("r2", 8)]
            assert [(r.batch.payout_id, r.seq) for r in tx.ledger.payouts()] == [
                ("p1", 42),
                ("p2", 42),
                ("p3", 7),
            ]
            assert [r.seq for r in tx.ledger.payouts(affiliate_id="a2")] == [42]
        with pytest.raises(StorageError), store.transaction() as tx:
            tx.ledger.prove_run("r9", 1)

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


class JournalContract:
    """``JournalRepo``: the chain in seq order, by event id and time, and checkpoints."""

    def test_append_head_get_and_by_event(self, store: Store) -> None:
        rows = [_entry(1, 100), _entry(2, 200), _entry(3, 200)]
        with store.transaction() as tx:
            assert tx.journal.head() is None
            tx.journal.append(rows[:1])
            tx.journal.append(rows[1:])
        with store.reader() as tx:
            assert tx.journal.head() == rows[2]
            assert tx.journal.get_many([3, 1, 7, 0]) == {1: rows[0], 3: rows[2]}
            assert tx.journal.by_event("j2") == rows[1]
            assert tx.journal.by_event("j9") is None

    def test_refuses_what_does_not_continue_the_chain(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.journal.append([_entry(1, 100), _entry(2, 200)])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.journal.append([_entry(2, 300, "fresh")])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.journal.append([_entry(3, 300, "j1")])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.journal.append([_entry(3, 300, "same"), _entry(4, 300, "same")])
        with pytest.raises(StorageError), store.transaction() as tx:
            tx.journal.append([_entry(4, 300)])
        with store.reader() as tx:
            assert tx.journal.head() == _entry(2, 200)
            assert tx.journal.by_event("fresh") is None
            assert tx.journal.by_event("same") is None

    def test_scan(self, store: Store) -> None:
        rows = [_entry(seq, seq * 10, f"j/{seq}") for seq in range(1, 2_502)]
        with store.transaction() as tx:
            assert list(tx.journal.scan()) == []
            tx.journal.append(rows)
        with store.reader() as tx:
            assert list(tx.journal.scan()) == rows
            assert list(tx.journal.scan(after_seq=2_498)) == rows[2_498:]
            assert list(tx.journal.scan(after_seq=10, until_seq=13)) == rows[10:13]
            assert list(tx.journal.scan(until_seq=1)) == rows[:1]
            assert list(tx.journal.scan(after_seq=2_501)) == []
            assert list(tx.journal.scan(after_seq=5, until_seq=5)) == []
            assert list(tx.journal.scan(after_seq=999, until_seq=2_001)) == rows[999:2_001]

    def test_first_at(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.journal.first_at(0) is None
            tx.journal.append(
                [_entry(1, 100), _entry(2, 200), _entry(3, 200), _entry(4, 200), _entry(5, 300)]
            )
        with store.reader() as tx:
            assert tx.journal.first_at(0) == 1
            assert tx.journal.first_at(100) == 1
            assert tx.journal.first_at(101) == 2
            assert tx.journal.first_at(200) == 2
            assert tx.journal.first_at(201) == 5
            assert tx.journal.first_at(300) == 5
            assert tx.journal.first_at(301) is None

    def test_checkpoints(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.journal.checkpoints() == []
            tx.journal.add_checkpoint(_checkpoint(5))
            tx.journal.add_checkpoint(_checkpoint(2))
        with store.reader() as tx:
            assert tx.journal.checkpoints() == [_checkpoint(5), _checkpoint(2)]

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.journal.append([_entry(1, 100)])

        def write(tx: UnitOfWork) -> None:
            tx.journal.append([_entry(2, 200), _entry(3, 300)])
            tx.journal.add_checkpoint(_checkpoint(3))

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert tx.journal.head() == _entry(1, 100)
            assert tx.journal.get_many([2, 3]) == {}
            assert tx.journal.by_event("j2") is None
            assert list(tx.journal.scan()) == [_entry(1, 100)]
            assert tx.journal.first_at(150) is None
            assert tx.journal.checkpoints() == []
            tx.journal.append([_entry(2, 200)])  # the refused seq and event id are free again


class PeriodContract:
    """``PeriodRepo``: totals by key, prefix scans in key order, idempotency marks."""

    KEYS: Final = (
        "b",
        "a/\uffff",
        "a0",
        "a",
        "a/%",
        "a/",
        "a\uffff",
        "a/x/y",
        "a_b",
        "abb",
        "a%",
        "a\U0001f600",
        "%x",
        "x%",
    )

    def test_put_get_and_replace(self, store: Store) -> None:
        first = PeriodTotals("t/m1", volume=Decimal("10.5"), seq=1)
        with store.transaction() as tx:
            tx.periods.put([first, PeriodTotals("t/m2", rate=Decimal("0.1"), seq=2)])
        with store.transaction() as tx:
            tx.periods.put([first._replace(volume=Decimal("20.25"), booked=Decimal(3), seq=4)])
        with store.reader() as tx:
            assert tx.periods.get_many(["t/m1", "t/m3", "t/m2"]) == {
                "t/m1": PeriodTotals("t/m1", volume=Decimal("20.25"), booked=Decimal(3), seq=4),
                "t/m2": PeriodTotals("t/m2", rate=Decimal("0.1"), seq=2),
            }
            assert tx.periods.get_many([]) == {}

    def test_decimals_keep_their_value(self, store: Store) -> None:
        totals = PeriodTotals(
            "k",
            volume=Decimal("12345678901234567890.123456789"),
            tier_base=Decimal("-0.000001"),
            rate=Decimal("0.125"),
            paid=Decimal("1E+3"),
            booked=Decimal("0.10"),
            seq=7,
        )
        with store.transaction() as tx:
            tx.periods.put([totals])
        with store.reader() as tx:
            found = tx.periods.get_many(["k"])["k"]
        assert found == totals
        assert found.volume == Decimal("12345678901234567890.123456789")

    def test_scan_by_prefix(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.periods.put([PeriodTotals(key, seq=n) for n, key in enumerate(self.KEYS)])
        with store.reader() as tx:

            def keys(prefix: str) -> list[str]:
                return [row.key for row in tx.periods.scan(prefix)]

            assert keys("a/") == ["a/", "a/%", "a/x/y", "a/\uffff"]
            assert keys("a") == [
                "a",
                "a%",
                "a/",
                "a/%",
                "a/x/y",
                "a/\uffff",
                "a0",
                "a_b",
                "abb",
                "a\uffff",
                "a\U0001f600",
            ]
            assert keys("a_") == ["a_b"]
            assert keys("a%") == ["a%"]
            assert keys("%") == ["%x"]
            assert keys("a\uffff") == ["a\uffff"]
            assert keys("\uffff") == []
            assert keys("c") == []
            assert len(keys("")) == len(self.KEYS)
            assert tx.periods.scan("a/x") == [PeriodTotals("a/x/y", seq=7)]

    def test_scan_pages(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.periods.put([PeriodTotals(key, seq=n) for n, key in enumerate(self.KEYS)])
        with store.reader() as tx:

            def keys(prefix: str, after: str | None, limit: int | None = 3) -> list[str]:
                return [row.key for row in tx.periods.scan(prefix, after=after, limit=limit)]

            assert keys("a", None) == ["a", "a%", "a/"]
            assert keys("a", "a/") == ["a/%", "a/x/y", "a/\uffff"]
            assert keys("a", "a/\uffff") == ["a0", "a_b", "abb"]
            assert keys("a", "abb") == ["a\uffff", "a\U0001f600"]
            assert keys("a", "a\U0001f600") == []
            assert keys("a", "a/y", limit=2) == ["a/\uffff", "a0"]  # a key not stored
            assert keys("a", "0", limit=2) == ["a", "a%"]  # before the prefix
            assert keys("a", "b") == []
            assert keys("a/", "a/%", limit=None) == ["a/x/y", "a/\uffff"]
            assert keys("a", None, limit=0) == []
            assert keys("", "a\U0001f600", limit=None) == ["b", "x%"]
            assert keys("", None, limit=None) == sorted(self.KEYS)
            assert tx.periods.scan("a/x", after="a/x") == [PeriodTotals("a/x/y", seq=7)]

    def test_marks_by_prefix(self, store: Store) -> None:
        with store.transaction() as tx:
            for n, key in enumerate(self.KEYS):
                assert tx.periods.put_mark(Mark(key, f"v{n}", n))
            tx.periods.put([PeriodTotals("a/zz")])
            assert not tx.periods.put_mark(Mark("a0", "kept?", 30))
            assert tx.periods.put_mark(Mark("a_b", "w", 20), replace=True)
        with store.reader() as tx:

            def keys(prefix: str, after: str | None = None, limit: int | None = None) -> list[str]:
                return [mark.key for mark in tx.periods.marks(prefix, after=after, limit=limit)]

            assert tx.periods.marks("a/") == [
                Mark("a/", "v5", 5),
                Mark("a/%", "v4", 4),
                Mark("a/x/y", "v7", 7),
                Mark("a/\uffff", "v1", 1),
            ]
            assert keys("a", after="a/\uffff", limit=2) == ["a0", "a_b"]
            assert keys("a", after="a_b", limit=2) == ["abb", "a\uffff"]
            assert keys("a", after="a\U0001f600") == []
            assert tx.periods.marks("a0") == [Mark("a0", "v2", 2)]
            assert tx.periods.marks("a_") == [Mark("a_b", "w", 20)]
            assert keys("%") == ["%x"]
            assert keys("\uffff") == []
            assert keys("a/z") == []  # a total, not a mark
            assert keys("a", limit=0) == []
            assert keys("", after="b") == ["x%"]
            assert len(keys("")) == len(self.KEYS)
            assert tx.periods.scan("a/z") == [PeriodTotals("a/zz")]

    def test_marks(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.periods.get_mark("close/m1") is None
            assert tx.periods.put_mark(Mark("close/m1", "2026-01", 3))
            assert not tx.periods.put_mark(Mark("close/m1", "2026-02", 4))
        with store.reader() as tx:
            assert tx.periods.get_mark("close/m1") == Mark("close/m1", "2026-01", 3)
        with store.transaction() as tx:
            assert tx.periods.put_mark(Mark("close/m1", "2026-02", 4), replace=True)
            assert tx.periods.put_mark(Mark("\uffff", "", 0))
        with store.reader() as tx:
            assert tx.periods.get_mark("close/m1") == Mark("close/m1", "2026-02", 4)
            assert tx.periods.get_mark("\uffff") == Mark("\uffff", "", 0)

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.periods.put([PeriodTotals("t/1", volume=Decimal(1))])

        def write(tx: UnitOfWork) -> None:
            tx.periods.put([PeriodTotals("t/1", volume=Decimal(9)), PeriodTotals("t/2")])
            tx.periods.put_mark(Mark("m", "v"))

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.periods.scan("t/") == [PeriodTotals("t/1", volume=Decimal(1))]
            assert tx.periods.scan("t/", after="t/1") == []
            assert tx.periods.get_many(["t/2"]) == {}
            assert tx.periods.get_mark("m") is None
            assert tx.periods.marks("") == []


class RiskContract:
    """``RiskRepo``: histories, order shapes, value statistics, bounded distinct sets."""

    def test_standing_reads_and_writes_history_and_statistics_together(self, store: Store) -> None:
        with store.reader() as tx:
            assert tx.risk.standing("a1", "m1/CNY") == (None, None)
        with store.transaction() as tx:
            tx.risk.record_standing(
                "a1", History(3, 1, 0, 2, 1), ValueStats("m1/CNY", 3, 4.5, 0.25)
            )
            tx.risk.put_value_stats(ValueStats("m2/CNY", 1, 2.0, 0.0))
        with store.reader() as tx:
            assert tx.risk.standing("a1", "m1/CNY") == (
                History(3, 1, 0, 2, 1),
                ValueStats("m1/CNY", 3, 4.5, 0.25),
            )
            assert tx.risk.standing("a2", "m2/CNY") == (None, ValueStats("m2/CNY", 1, 2.0, 0.0))
            assert tx.risk.standing("a1", "m9/CNY") == (History(3, 1, 0, 2, 1), None)
            assert tx.risk.history("a1") == History(3, 1, 0, 2, 1)

    def test_histories(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.history("a1") is None
            tx.risk.put_history("a2", History(orders=2))
            tx.risk.put_history("a1", History(orders=5, refunds=1))
            tx.risk.put_history("a10", History(flagged=1))
        with store.transaction() as tx:
            tx.risk.put_history("a1", History(orders=6, refunds=1, timed=2, late=1))
        with store.reader() as tx:
            assert tx.risk.history("a1") == History(6, 1, 0, 2, 1)
            assert list(tx.risk.histories()) == [
                ("a1", History(6, 1, 0, 2, 1)),
                ("a10", History(0, 0, 1, 0, 0)),
                ("a2", History(2, 0, 0, 0, 0)),
            ]

    def test_shapes_keep_the_newest(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.recent_shapes("s1", since_ms=0) == []
            for n, at_ms in enumerate([1_000, 2_000, 3_000, 4_000]):
                tx.risk.add_shape("s1", f"{n}.00 CNY", at_ms, keep=3)
            tx.risk.add_shape("s2", "9.00 CNY", 2_500, keep=3)
        with store.reader() as tx:
            assert tx.risk.recent_shapes("s1", since_ms=0) == [
                ("1.00 CNY", 2_000),
                ("2.00 CNY", 3_000),
                ("3.00 CNY", 4_000),
            ]
            assert tx.risk.recent_shapes("s1", since_ms=3_000) == [
                ("2.00 CNY", 3_000),
                ("3.00 CNY", 4_000),
            ]
            assert tx.risk.recent_shapes("s1", since_ms=4_001) == []
            assert tx.risk.recent_shapes("s2", since_ms=0) == [("9.00 CNY", 2_500)]

    def test_value_stats(self, store: Store) -> None:
        stats = ValueStats("m1/CNY", orders=3, mean=4.5, m2=0.25)
        with store.transaction() as tx:
            assert tx.risk.value_stats("m1/CNY") is None
            tx.risk.put_value_stats(ValueStats("m1/CNY", orders=1, mean=1.0))
            tx.risk.put_value_stats(stats)
        with store.reader() as tx:
            assert tx.risk.value_stats("m1/CNY") == stats

    def test_distinct_sets(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.add_distinct("payer", "p1", "u1", keep=3) == 1
            assert tx.risk.add_distinct("payer", "p1", "u1", keep=3) == 1
            assert tx.risk.add_distinct("payer", "p1", "u2", keep=3) == 2
            assert tx.risk.add_distinct("payer", "p2", "u1", keep=3) == 1
            assert tx.risk.add_distinct("network", "p1", "u9", keep=3) == 1
            assert tx.risk.add_distinct("payer", "p1", "u3", keep=3) == 3
            assert tx.risk.add_distinct("payer", "p1", "u4", keep=3) == 3
            assert tx.risk.add_distinct("payer", "p1", "u4", keep=3) == 3
        with store.transaction() as tx:
            assert tx.risk.add_distinct("payer", "p1", "\uffff", keep=3) == 3
            assert tx.risk.add_distinct("payer", "p1", "u1", keep=1) == 1

    def test_distinct_members_keep_their_place(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.add_distinct("payer", "p1", "a", keep=2) == 1
            assert tx.risk.add_distinct("payer", "p1", "b", keep=2) == 2
            assert tx.risk.add_distinct("payer", "p1", "a", keep=2) == 2  # still the oldest
            assert tx.risk.add_distinct("payer", "p1", "c", keep=2) == 2  # "a" leaves
        with store.transaction() as tx:
            assert tx.risk.add_distinct("payer", "p1", "b", keep=3) == 2  # kept
            assert tx.risk.add_distinct("payer", "p1", "a", keep=3) == 3  # back as new

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.risk.put_history("a1", History(orders=1))
            tx.risk.add_shape("s1", "1.00 CNY", 1_000, keep=3)
            tx.risk.put_value_stats(ValueStats("k", 1, 1.0, 0.0))
            tx.risk.add_distinct("payer", "p1", "u1", keep=3)

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert tx.risk.history("a1") is None
            assert list(tx.risk.histories()) == []
            assert tx.risk.recent_shapes("s1", since_ms=0) == []
            assert tx.risk.value_stats("k") is None
            assert tx.risk.add_distinct("payer", "p1", "u2", keep=3) == 1


class SanctionContract:
    """``SanctionRepo``: the blacklist, complaints counted by time, enforcement steps."""

    def test_blacklist(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.sanctions.blacklist() == {}
            tx.sanctions.put_blacklisted("ip:203.0.113.7", "abuse")
            tx.sanctions.put_blacklisted("affiliate:a1", "fraud")
            tx.sanctions.put_blacklisted("affiliate:a1", "fraud, again")
            tx.sanctions.put_blacklisted("\uffff", "")
            tx.sanctions.put_blacklisted("ip:203.0.113.7", None)
            tx.sanctions.put_blacklisted("never-listed", None)
        with store.reader() as tx:
            assert tx.sanctions.blacklist() == {"affiliate:a1": "fraud, again", "\uffff": ""}

    def test_complaints_since(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.sanctions.add_complaint("campaign:m1/c1", "q1", "spam", at_ms=1_000)
            tx.sanctions.add_complaint("campaign:m1/c1", "q2", "spam", at_ms=2_000)
            tx.sanctions.add_complaint("campaign:m1/c1", "q3", "spam", at_ms=3_000)
            tx.sanctions.add_complaint("campaign:m1/c10", "q4", "spam", at_ms=3_000)
        with store.reader() as tx:
            assert tx.sanctions.complaints_since("campaign:m1/c1", since_ms=0) == 3
            assert tx.sanctions.complaints_since("campaign:m1/c1", since_ms=1_000) == 2
            assert tx.sanctions.complaints_since("campaign:m1/c1", since_ms=2_999) == 1
            assert tx.sanctions.complaints_since("campaign:m1/c1", since_ms=3_000) == 0
            assert tx.sanctions.complaints_since("campaign:m1/c10", since_ms=0) == 1
            assert tx.sanctions.complaints_since("campaign:m1/c2", since_ms=0) == 0

    def test_enforcements(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.sanctions.enforcements("a1") == []
            tx.sanctions.add_enforcement(_enforcement("a1", 1))
            tx.sanctions.add_enforcement(_enforcement("a2", 1))
            tx.sanctions.add_enforcement(_enforcement("a1", 2, "freeze"))
        with store.reader() as tx:
            assert tx.sanctions.enforcements("a1") == [
                _enforcement("a1", 1),
                _enforcement("a1", 2, "freeze"),
            ]
            assert tx.sanctions.enforcements("a2") == [_enforcement("a2", 1)]

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.sanctions.put_blacklisted("k1", "kept")

        def write(tx: UnitOfWork) -> None:
            tx.sanctions.put_blacklisted("k1", None)
            tx.sanctions.put_blacklisted("k2", "new")
            tx.sanctions.add_complaint("t", "q1", "spam", at_ms=1_000)
            tx.sanctions.add_enforcement(_enforcement("a1", 1))

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.sanctions.blacklist() == {"k1": "kept"}
            assert tx.sanctions.complaints_since("t", since_ms=0) == 0
            assert tx.sanctions.enforcements("a1") == []


class OutboxContract:
    """``OutboxRepo``: seqs given in order and never reused, paging, time lookups, prune."""

    def test_add_assigns_seqs(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.outbox.last_seq() == 0
            tx.outbox.add([_event("ev1", 1_000), _event("ev2", 2_000)])
            tx.outbox.add([_event("ev3", 3_000)])
        with store.reader() as tx:
            assert tx.outbox.last_seq() == 3
            assert tx.outbox.get("ev2") == OutboxRow(
                2, "ev2", "commission.created", 2_000, '{"id":"ev2"}'
            )
            assert tx.outbox.get("ev9") is None
            assert [row.seq for row in tx.outbox.after(0, limit=10)] == [1, 2, 3]
            assert [row.event_id for row in tx.outbox.after(1, limit=1)] == ["ev2"]
            assert tx.outbox.after(3, limit=10) == []

    def test_unique_event_ids(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.outbox.add([_event("ev1", 1_000)])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.outbox.add([_event("ev1", 2_000)])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.outbox.add([_event("ev2", 2_000), _event("ev2", 2_000)])
        with store.reader() as tx:
            assert [row.event_id for row in tx.outbox.after(0, limit=10)] == ["ev1"]
            assert tx.outbox.get("ev2") is None

    def test_first_since(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.outbox.first_since(0) is None
            tx.outbox.add(
                [_event("a", 1_000), _event("b", 2_000), _event("c", 2_000), _event("d", 3_000)]
            )
        with store.reader() as tx:
            assert tx.outbox.first_since(0) == 1
            assert tx.outbox.first_since(1_001) == 2
            assert tx.outbox.first_since(2_000) == 2
            assert tx.outbox.first_since(3_000) == 4
            assert tx.outbox.first_since(3_001) is None

    def test_prune(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.outbox.add([_event(f"ev{n}", n * 1_000) for n in range(1, 6)])
        with store.transaction() as tx:
            assert tx.outbox.prune(through_seq=4, before_ms=3_000) == 2  # ev1, ev2
            assert tx.outbox.prune(through_seq=4, before_ms=3_000) == 0
        with store.reader() as tx:
            assert [row.seq for row in tx.outbox.after(0, limit=10)] == [3, 4, 5]
            assert tx.outbox.get("ev1") is None
            assert tx.outbox.first_since(0) == 3
            assert tx.outbox.last_seq() == 5
        with store.transaction() as tx:
            assert tx.outbox.prune(through_seq=3, before_ms=99_000) == 1  # ev3
            assert tx.outbox.prune(through_seq=99, before_ms=99_000) == 2  # ev4, ev5
        with store.reader() as tx:
            assert tx.outbox.after(0, limit=10) == []
            assert tx.outbox.last_seq() == 5
            assert tx.outbox.first_since(0) is None
        with store.transaction() as tx:  # seqs are never reused, even after a prune
            tx.outbox.add([_event("ev6", 6_000), _event("ev1", 7_000)])
        with store.reader() as tx:
            assert [(r.seq, r.event_id) for r in tx.outbox.after(0, limit=10)] == [
                (6, "ev6"),
                (7, "ev1"),
            ]
            assert tx.outbox.last_seq() == 7

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.outbox.add([_event("ev1", 1_000), _event("ev2", 2_000)])

        def write(tx: UnitOfWork) -> None:
            tx.outbox.add([_event("ev3", 3_000)])
            tx.outbox.prune(through_seq=3, before_ms=9_000)

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert [row.event_id for row in tx.outbox.after(0, limit=10)] == ["ev1", "ev2"]
            assert tx.outbox.get("ev3") is None
            assert tx.outbox.get("ev1") is not None
            tx.outbox.add([_event("ev3", 3_000)])  # the refused id is free again
            row = tx.outbox.get("ev3")
            assert row is not None
            assert row.seq > 2
            assert tx.outbox.last_seq() == row.seq


class WebhookContract:
    """``WebhookRepo``: subscriptions by scope, cursors, leases, attempts, dead letters."""

    def test_subscriptions_by_scope(self, store: Store) -> None:
        rows = [
            SubscriptionRow("m:m1", "s2", '{"n":1}'),
            SubscriptionRow("", "s1", '{"n":2}'),
            SubscriptionRow("m:m1", "s1", '{"n":3}'),
            SubscriptionRow("a:a1", "s1", '{"n":4}'),
        ]
        with store.transaction() as tx:
            for row in rows:
                tx.webhooks.put_subscription(row)
            tx.webhooks.put_subscription(SubscriptionRow("m:m1", "s2", '{"n":5}'))
        with store.reader() as tx:
            assert tx.webhooks.get_subscription("m:m1", "s2") == SubscriptionRow(
                "m:m1", "s2", '{"n":5}'
            )
            assert tx.webhooks.get_subscription("", "s1") == rows[1]
            assert tx.webhooks.get_subscription("m:m2", "s1") is None
            assert [(r.scope, r.subscription_id) for r in tx.webhooks.subscriptions()] == [
                ("", "s1"),
                ("a:a1", "s1"),
                ("m:m1", "s1"),
                ("m:m1", "s2"),
            ]
            assert [r.data for r in tx.webhooks.subscriptions(scope="m:m1")] == [
                '{"n":3}',
                '{"n":5}',
            ]
            assert tx.webhooks.subscriptions(scope="") == [rows[1]]
            assert tx.webhooks.subscriptions(scope="m:m9") == []

    def test_cursors(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.webhooks.cursor("", "s1") is None
            tx.webhooks.put_cursor("", "s1", DeliveryCursor(3, 1, 5_000, 0))
            tx.webhooks.put_cursor("m:m1", "s1", DeliveryCursor(1))
            tx.webhooks.put_cursor("", "s1", DeliveryCursor(4, 0, 0, 2))
        with store.reader() as tx:
            assert tx.webhooks.cursor("", "s1") == DeliveryCursor(4, 0, 0, 2)
            assert tx.webhooks.cursor("m:m1", "s1") == DeliveryCursor(1, 0, 0, 0)

    def test_leases(self, store: Store) -> None:
        with store.transaction() as tx:
            hooks = tx.webhooks
            assert hooks.take_lease("", "s1", "h1", now_ms=1_000, until_ms=2_000)
            assert not hooks.take_lease("", "s1", "h2", now_ms=1_999, until_ms=3_000)
            assert hooks.take_lease("", "s1", "h1", now_ms=1_500, until_ms=2_500)  # renewal
            assert not hooks.take_lease("", "s1", "h2", now_ms=2_000, until_ms=3_000)
            assert hooks.take_lease("m:m1", "s1", "h2", now_ms=1_000, until_ms=3_000)
            assert hooks.take_lease("", "s1", "h2", now_ms=2_500, until_ms=3_500)  # expired
            assert not hooks.take_lease("", "s1", "h1", now_ms=2_600, until_ms=3_600)
            hooks.release_lease("", "s1", "h1")  # not h1's: no effect
            assert not hooks.take_lease("", "s1", "h1", now_ms=2_600, until_ms=3_600)
            hooks.release_lease("", "s1", "h2")
            assert hooks.take_lease("", "s1", "h1", now_ms=2_600, until_ms=3_600)
            hooks.release_lease("", "s9", "h1")  # no lease: no effect

    def test_attempts_and_dead_letters(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.webhooks.attempts("", "s1") == []
            tx.webhooks.log_attempt("", "s1", _attempt(1, "ev1", 1))
            tx.webhooks.log_attempt("", "s1", _attempt(2, "ev2", 1))
            tx.webhooks.log_attempt("", "s1", _attempt(1, "ev1", 2))
            tx.webhooks.log_attempt("m:m1", "s1", _attempt(1, "ev1", 1))
            tx.webhooks.add_dead_letter("", "s1", DeadLetterRow(1, "ev1", "HTTP 500", 9_000))
            tx.webhooks.add_dead_letter("", "s1", DeadLetterRow(2, "ev2", "timeout", 9_500))
        with store.reader() as tx:
            assert tx.webhooks.attempts("", "s1") == [
                _attempt(1, "ev1", 1),
                _attempt(2, "ev2", 1),
                _attempt(1, "ev1", 2),
            ]
            assert tx.webhooks.attempts("", "s1", event_id="ev1") == [
                _attempt(1, "ev1", 1),
                _attempt(1, "ev1", 2),
            ]
            assert tx.webhooks.attempts("m:m1", "s1") == [_attempt(1, "ev1", 1)]
            assert tx.webhooks.attempts("", "s1", event_id="ev9") == []
            assert tx.webhooks.dead_letters("", "s1") == [
                DeadLetterRow(1, "ev1", "HTTP 500", 9_000),
                DeadLetterRow(2, "ev2", "timeout", 9_500),
            ]
            assert tx.webhooks.dead_letters("m:m1", "s1") == []

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.webhooks.put_subscription(SubscriptionRow("", "s1", "{}"))
            tx.webhooks.put_cursor("", "s1", DeliveryCursor(1))
            tx.webhooks.take_lease("", "s1", "h1", now_ms=0, until_ms=9_000)
            tx.webhooks.log_attempt("", "s1", _attempt(1, "ev1", 1))
            tx.webhooks.add_dead_letter("", "s1", DeadLetterRow(1, "ev1", "gone", 1))

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert tx.webhooks.subscriptions() == []
            assert tx.webhooks.cursor("", "s1") is None
            assert tx.webhooks.attempts("", "s1") == []
            assert tx.webhooks.dead_letters("", "s1") == []
            assert tx.webhooks.take_lease("", "s1", "h2", now_ms=1, until_ms=2)


class KeyContract:
    """``KeyRepo``: sealed values by name, the first one kept unless replaced."""

    def test_put_sealed(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.keys.get_sealed("pseudonym") is None
            assert tx.keys.put_sealed("pseudonym", "v1") == "v1"
            assert tx.keys.put_sealed("pseudonym", "v2") == "v1"
            assert tx.keys.put_sealed("\uffff/%", "x") == "x"
        with store.reader() as tx:
            assert tx.keys.get_sealed("pseudonym") == "v1"
        with store.transaction() as tx:
            assert tx.keys.put_sealed("pseudonym", "v3", replace=True) == "v3"
        with store.reader() as tx:
            assert tx.keys.get_sealed("pseudonym") == "v3"
            assert tx.keys.get_sealed("\uffff/%") == "x"

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.keys.put_sealed("a", "1")

        def write(tx: UnitOfWork) -> None:
            tx.keys.put_sealed("a", "2", replace=True)
            tx.keys.put_sealed("b", "3")

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.keys.get_sealed("a") == "1"
            assert tx.keys.get_sealed("b") is None


class CounterContract:
    """``CounterRepo``: bucketed sums, prunes by prefix, outside transactions."""

    def test_shared_is_declared(self, store: Store) -> None:
        assert isinstance(store.counters.shared, bool)

    def test_add_and_sum(self, store: Store) -> None:
        counters = store.counters
        assert counters.sum(["k1"], since_bucket=0) == [0]
        counters.add([("k1", 10, 1), ("k1", 11, 2), ("k2", 11, 5), ("k1", 11, 3)])
        counters.add([("k1", 12, 4), ("\uffff", 1, 7)])
        assert counters.sum(["k1", "k2", "k3", "k1"], since_bucket=0) == [10, 5, 0, 10]
        assert counters.sum(["k1"], since_bucket=11) == [9]
        assert counters.sum(["k1"], since_bucket=12) == [4]
        assert counters.sum(["k1", "\uffff"], since_bucket=13) == [0, 0]
        assert counters.sum(["\uffff"], since_bucket=1) == [7]
        assert counters.sum([], since_bucket=0) == []

    def test_prune_by_prefix(self, store: Store) -> None:
        counters = store.counters
        counters.add(
            [
                ("ip/1", 1, 1),
                ("ip/1", 5, 2),
                ("ip/2", 2, 3),
                ("ip%", 1, 4),
                ("ip_", 1, 5),
                ("ipx", 1, 6),
                ("visitor/1", 1, 7),
                ("ip/\uffff", 1, 8),
            ]
        )
        counters.prune("ip/", before_bucket=5)
        keys = ["ip/1", "ip/2", "ip%", "ip_", "ipx", "visitor/1", "ip/\uffff"]
        assert counters.sum(keys, since_bucket=0) == [2, 0, 4, 5, 6, 7, 0]
        counters.prune("ip%", before_bucket=9)
        counters.prune("ip_", before_bucket=9)
        assert counters.sum(keys, since_bucket=0) == [2, 0, 0, 0, 6, 7, 0]
        counters.add([("ip/2", 6, 1)])  # a pruned key counts again
        assert counters.sum(["ip/2"], since_bucket=0) == [1]

    def test_not_undone_by_a_rollback(self, store: Store) -> None:
        _rolled_back(store, lambda tx: store.counters.add([("k", 1, 1)]))
        assert store.counters.sum(["k"], since_bucket=0) == [1]


class StoreContract(
    TransactionContract,
    CatalogContract,
    ClickContract,
    OrderContract,
    LedgerContract,
    JournalContract,
    PeriodContract,
    RiskContract,
    SanctionContract,
    OutboxContract,
    WebhookContract,
    KeyContract,
    CounterContract,
):
    """Every repository's contract at once, for a backend that implements them all."""
