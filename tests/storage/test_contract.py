"""One contract every Store backend keeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from affiliate_sdk import Commission, Money, StorageError, Store
from affiliate_sdk.storage import OrderRecord, RefundRecord, open_store
from affiliate_sdk.storage.records import OutboxRow

from ..conftest import STORE_KINDS, click_record, make_campaign, store_url_for


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_url_for(request.param, tmp_path))
    yield opened
    opened.close()


def _order(order_id: str = "o1") -> OrderRecord:
    return OrderRecord("m1", order_id, "f" * 64, "CNY", 19900, 0, 5000, 5000, None, None, "{}")


def _entry(event_id: str, affiliate: str = "a1", order_id: str = "o1") -> Commission:
    return Commission(
        entry_id=f"e-{event_id}",
        event_id=event_id,
        merchant_id="m1",
        order_id=order_id,
        campaign_id="c1",
        affiliate_id=affiliate,
        click_id=None,
        account="affiliate",
        kind="commission",
        amount=Money("1.99", "CNY"),
        status="pending",
        rate=Decimal("0.01"),
        basis=Money("199.00", "CNY"),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)


def test_campaigns_put_get_replace_list(store: Store) -> None:
    campaign = make_campaign(domains=("a.test",))
    assert store.get_campaign("c1") is None
    store.put_campaign(campaign)
    assert store.get_campaign("c1") == campaign
    paused = campaign.model_copy(update={"active": False})
    store.put_campaign(paused)
    assert store.get_campaign("c1") == paused
    store.put_campaign(campaign.model_copy(update={"campaign_id": "c0"}))
    assert [c.campaign_id for c in store.list_campaigns()] == ["c0", "c1"]


def test_record_click_dedupes_by_visitor_link_and_time(store: Store) -> None:
    first, created = store.record_click(click_record("k1", at=1000), dedupe_since_ms=None)
    assert created and first.click_id == "k1"
    again, created = store.record_click(click_record("k2", at=2000), dedupe_since_ms=900)
    assert (again, created) == (first, False)
    assert store.get_click("k2") is None
    other_link, created = store.record_click(
        click_record("k3", link="L2", at=2000), dedupe_since_ms=900
    )
    assert created and other_link.click_id == "k3"
    expired, created = store.record_click(click_record("k4", at=5000), dedupe_since_ms=1001)
    assert created and expired.click_id == "k4"
    assert store.get_click("k1") == first


def test_click_round_trip_and_visitor_history(store: Store) -> None:
    for i, at in enumerate([3000, 1000, 2000]):
        store.record_click(click_record(f"k{i}", link=f"L{i}", at=at), dedupe_since_ms=None)
    store.record_click(click_record("x", visitor="v2", at=2500), dedupe_since_ms=None)
    history = store.visitor_clicks("v1", since_ms=1000, until_ms=2999)
    assert [c.click_id for c in history] == ["k1", "k2"]
    assert history[0] == click_record("k1", link="L1", at=1000)
    assert store.visitor_clicks("nobody", since_ms=0, until_ms=10**15) == []


def test_orders(store: Store) -> None:
    assert store.get_order("m1", "o1") is None
    store.insert_order(_order())
    assert store.get_order("m1", "o1") == _order()
    with pytest.raises(StorageError):
        store.insert_order(_order())
    store.set_order_refunded("m1", "o1", 100)
    stored = store.get_order("m1", "o1")
    assert stored is not None and stored.refunded_minor == 100


def test_refunds(store: Store) -> None:
    refund = RefundRecord("m1", "o1", "r1", 500, 7000, "{}")
    assert store.get_refund("m1", "o1", "r1") is None
    store.insert_refund(refund)
    assert store.get_refund("m1", "o1", "r1") == refund
    with pytest.raises(StorageError):
        store.insert_refund(refund)


def test_ledger_filters_and_order(store: Store) -> None:
    store.add_entries([_entry("e1"), _entry("e2", affiliate="a2")])
    store.add_entries([_entry("e3", order_id="o2")])
    assert [e.event_id for e in store.entries()] == ["e1", "e2", "e3"]
    assert [e.event_id for e in store.entries(affiliate_id="a2")] == ["e2"]
    assert [e.event_id for e in store.entries(order_id="o2")] == ["e3"]
    assert [
        e.event_id for e in store.entries(merchant_id="m1", order_id="o1", affiliate_id="a1")
    ] == ["e1"]
    assert store.entries()[0] == _entry("e1")


def test_duplicate_event_ids_are_refused_whole(store: Store) -> None:
    store.add_entries([_entry("e1")])
    with pytest.raises(StorageError):
        store.add_entries([_entry("e2"), _entry("e1")])
    assert [e.event_id for e in store.entries()] == ["e1"]


def test_transaction_rolls_back_everything(store: Store) -> None:
    class Boom(Exception):
        pass

    store.insert_order(_order("kept"))
    with pytest.raises(Boom), store.transaction():
        store.insert_order(_order("o1"))
        store.set_order_refunded("m1", "kept", 5)
        store.add_entries([_entry("e1")])
        store.record_click(click_record("k1"), dedupe_since_ms=None)
        store.insert_refund(RefundRecord("m1", "o1", "r1", 1, 1, "{}"))
        with store.transaction():  # nested: part of the outer one
            store.add_entries([_entry("e2")])
        raise Boom
    assert store.get_order("m1", "o1") is None
    kept = store.get_order("m1", "kept")
    assert kept is not None and kept.refunded_minor == 0
    assert store.entries() == []
    assert store.get_click("k1") is None
    assert store.visitor_clicks("v1", since_ms=0, until_ms=10**15) == []
    assert store.get_refund("m1", "o1", "r1") is None
    with store.transaction():
        store.insert_order(_order("o1"))
    assert store.get_order("m1", "o1") is not None


def test_click_counts_per_affiliate_skip_blocked_clicks(store: Store) -> None:
    store.record_click(click_record("k1", at=100), dedupe_since_ms=None)
    store.record_click(click_record("k2", link="L2", at=200), dedupe_since_ms=None)
    blocked = click_record("k3", link="L3", at=300)._replace(decision="block")
    store.record_click(blocked, dedupe_since_ms=None)
    other = click_record("k4", link="L4", at=400)._replace(affiliate_id="a2")
    store.record_click(other, dedupe_since_ms=None)
    assert store.count_clicks("c1", since_ms=0, until_ms=1000) == {"a1": 2, "a2": 1}
    assert store.count_clicks("c1", since_ms=150, until_ms=400) == {"a1": 1}
    assert store.count_clicks("c2", since_ms=0, until_ms=1000) == {}


def test_registries_and_period_totals(store: Store) -> None:
    from decimal import Decimal

    from affiliate_sdk import Affiliate, CommissionPlan, Merchant, PlanVersion
    from affiliate_sdk.commission.tiers import TierState

    store.put_affiliate(Affiliate(affiliate_id="a1", parent_id="p1", channel="video"))
    assert store.get_affiliate("a1") == Affiliate(
        affiliate_id="a1", parent_id="p1", channel="video"
    )
    assert store.get_affiliate("nobody") is None
    store.put_merchant(Merchant(merchant_id="m1", platform_take="5%"))
    merchant = store.get_merchant("m1")
    assert merchant is not None and merchant.platform_take == Decimal("0.05")
    state = TierState(Decimal("1.5"), Decimal(2), Decimal("0.2"), Decimal("0.3"))
    assert store.get_tier_state("k") is None
    store.put_tier_state("k", state)
    assert store.get_tier_state("k") == state
    store.bind_subscription("m1", "s1", "click-1")
    store.bind_subscription("m1", "s1", "click-2")  # the first binding wins
    assert store.subscription_click("m1", "s1") == "click-1"
    assert store.subscription_click("m1", "s2") is None
    version = PlanVersion(
        campaign_id="c1",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        plan=CommissionPlan(rate="5%"),
    )
    store.add_plan_version(version)
    assert store.plan_versions("c1") == [version]
    with pytest.raises(StorageError):
        store.add_plan_version(version)  # version 1 again


def test_counters_add_up_by_bucket_and_prune(store: Store) -> None:
    store.add_counts([("v/a", 1, 2), ("v/a", 2, 3), ("v/b", 2, 1)])
    store.add_counts([("v/a", 2, 1), ("w/a", 1, 7)])
    assert store.sum_counts(["v/a", "v/b", "v/none"], since_bucket=1) == [6, 1, 0]
    assert store.sum_counts(["v/a", "w/a"], since_bucket=2) == [4, 0]
    store.prune_counts("v/", before_bucket=2)
    assert store.sum_counts(["v/a", "w/a"], since_bucket=0) == [4, 7]  # w/ is another prefix
    store.add_counts([("v/c", 3, 5)])  # a key that appears after a prune is pruned later too
    store.prune_counts("v/", before_bucket=4)
    assert store.sum_counts(["v/a", "v/c", "w/a"], since_bucket=0) == [0, 0, 7]


def test_the_outbox_keeps_events_in_order_and_once(store: Store) -> None:
    rows = [
        OutboxRow(0, f"e{n}", "commission.booked", 1_000 + n, f'{{"n": {n}}}') for n in range(5)
    ]
    store.add_events(rows[:3])
    store.add_events(rows[3:])
    found = store.events_after(0, limit=10)
    assert [row.seq for row in found] == [1, 2, 3, 4, 5]
    assert [row.event_id for row in found] == ["e0", "e1", "e2", "e3", "e4"]
    assert [row.event_id for row in store.events_after(2, limit=2)] == ["e2", "e3"]
    assert store.get_event("e4") == found[4] and store.get_event("nope") is None
    with pytest.raises(StorageError):
        store.add_events([rows[0]._replace(data="{}")])
    with pytest.raises(RuntimeError), store.transaction():
        store.add_events([OutboxRow(0, "e9", "commission.booked", 2_000, "{}")])
        raise RuntimeError("the state change failed")
    assert store.get_event("e9") is None  # rolled back with the transaction
    store.add_events([OutboxRow(0, "e10", "commission.booked", 2_000, "{}")])
    assert store.events_after(5, limit=5)[0].event_id == "e10"


def test_pruned_events_go_and_their_numbers_are_never_reused(store: Store) -> None:
    rows = [OutboxRow(0, f"p{n}", "commission.booked", 1_000 * n, "{}") for n in range(6)]
    store.add_events(rows)
    assert store.last_event_seq() == 6
    assert store.prune_events(through_seq=4, before_ms=3_000) == 3  # p0..p2: old and passed
    assert [row.event_id for row in store.events_after(0, limit=10)] == ["p3", "p4", "p5"]
    assert store.get_event("p1") is None and store.get_event("p4") is not None
    assert store.prune_events(through_seq=6, before_ms=10_000) == 3
    assert store.events_after(0, limit=10) == [] and store.last_event_seq() == 6
    store.add_events([OutboxRow(0, "p6", "commission.booked", 9_000, "{}")])
    assert store.events_after(6, limit=10)[0].seq == 7  # a cursor at 6 still means "seen"


def test_the_first_event_since_a_time(store: Store) -> None:
    assert store.first_event_since(0) is None
    store.add_events([OutboxRow(0, f"t{n}", "order.attributed", 1_000 * n, "{}") for n in range(4)])
    assert store.first_event_since(0) == 1
    assert store.first_event_since(1_500) == 3
    assert store.first_event_since(9_000) is None
