"""Order verdicts in record_order: frozen for review, blocked, released or rejected."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from affiliate_sdk import Affiliate, Alliance, LineItem, Money, Order
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


@pytest.fixture(params=["memory://", "sqlite"])
def alliance(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: object
) -> Iterator[Alliance]:
    url = request.param if request.param == "memory://" else f"sqlite:///{tmp_path}/o.db"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        yield alliance


def _click(alliance: Alliance, affiliate: str = "a1", ip: str = "203.0.113.7") -> str:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    return alliance.track_click(link, ip=ip, user_agent=HUMAN_UA).click_id


def _order(order_id: str, total: str = "100.00", **extra: object) -> Order:
    return Order(order_id=order_id, merchant_id="m1", total=Money(total, "CNY"), **extra)


def test_an_order_seconds_after_its_click_is_frozen_for_review(
    alliance: Alliance, clock: FakeClock
) -> None:
    click = _click(alliance)
    clock.advance(timedelta(seconds=3))
    outcome = alliance.record_order(_order("o1"), click_id=click)
    assert outcome.verdict.decision == "review"
    assert [r.code for r in outcome.verdict.reasons] == ["conversion.too_fast"]
    assert {line.status for line in outcome.commissions} == {"frozen"}
    queue = alliance.review_queue()
    assert {line.entry_id for line in queue} == {line.entry_id for line in outcome.commissions}
    assert all("conversion.too_fast" in (line.reason or "") for line in queue)
    # The replay returns the same frozen outcome.
    assert alliance.record_order(_order("o1"), click_id=click) == outcome
    # A reviewer releases one order; the commission resumes its hold.
    released = alliance.release([line.entry_id for line in queue])
    assert {line.status for line in released} == {"pending"}
    assert alliance.review_queue() == []
    assert alliance.verify_ledger().ok


def test_rejected_review_returns_the_money_to_the_merchant(
    alliance: Alliance, clock: FakeClock
) -> None:
    click = _click(alliance)
    outcome = alliance.record_order(_order("o1"), click_id=click)  # same instant: injected
    rejected = alliance.reject([c.entry_id for c in outcome.commissions], reason="injection")
    assert {line.status for line in rejected} == {"rejected"}
    assert alliance.verify_ledger().ok


def test_a_human_pace_is_not_questioned(alliance: Alliance, clock: FakeClock) -> None:
    click = _click(alliance)
    clock.advance(timedelta(minutes=4))
    outcome = alliance.record_order(_order("o1"), click_id=click)
    assert outcome.verdict.decision == "allow"
    assert {line.status for line in outcome.commissions} == {"pending"}


def test_self_referral_is_blocked(alliance: Alliance, clock: FakeClock) -> None:
    identity = alliance.identity_hashes(email="Jo@Example.com", phone="+86 138-0000-0000")
    assert all(":" in h and "Jo" not in h for h in identity)
    alliance.add_affiliate(Affiliate(affiliate_id="a1", identity=identity))
    click = _click(alliance)
    clock.advance(timedelta(minutes=10))
    own = alliance.record_order(
        _order("o1", customer_email=" jo@example.com", customer_phone="8613800000000"),
        click_id=click,
    )
    assert own.verdict.decision == "block"
    assert own.commissions == [] and own.credits  # credited, but nothing paid
    assert "email, phone" in own.verdict.reasons[0].message
    other = alliance.record_order(
        _order("o2", customer_email="someone@example.com"), click_id=click
    )
    assert other.verdict.decision == "allow" and other.commissions


def test_self_referral_by_device_blocks_and_by_network_is_reviewed(
    alliance: Alliance, clock: FakeClock
) -> None:
    identity = alliance.identity_hashes(device="affiliate-laptop-1", ip="198.51.100.20")
    assert [h.partition(":")[0] for h in identity] == ["device", "network"]
    alliance.add_affiliate(Affiliate(affiliate_id="a1", identity=identity))
    click = _click(alliance)
    clock.advance(timedelta(minutes=10))
    own_device = alliance.record_order(
        _order("o1"), click_id=click, visitor_id="affiliate-laptop-1", ip="203.0.113.50"
    )
    assert own_device.verdict.decision == "block"
    assert [r.code for r in own_device.verdict.reasons] == ["order.self_referral"]
    neighbour = alliance.record_order(
        _order("o2"), click_id=click, visitor_id="someone-else-01", ip="198.51.100.77"
    )
    assert neighbour.verdict.decision == "review"
    assert [r.code for r in neighbour.verdict.reasons] == ["order.self_referral_network"]
    stranger = alliance.record_order(
        _order("o3"), click_id=click, visitor_id="someone-else-02", ip="192.0.2.1"
    )
    assert stranger.verdict.decision == "allow"


def test_duplicate_orders_of_one_customer_are_reviewed(
    alliance: Alliance, clock: FakeClock
) -> None:
    click = _click(alliance)
    clock.advance(timedelta(minutes=10))
    items = [LineItem(sku="tea-1", quantity=2, unit_price=Money("50.00", "CNY"))]
    first = alliance.record_order(_order("o1", customer_id="c9", items=items), click_id=click)
    second = alliance.record_order(_order("o2", customer_id="c9", items=items), click_id=click)
    assert first.verdict.decision == "allow"
    assert second.verdict.decision == "review"
    assert [r.code for r in second.verdict.reasons] == ["order.duplicate"]
    different = alliance.record_order(_order("o3", total="80.00", customer_id="c9"), click_id=click)
    assert different.verdict.decision == "allow"
    discounted = [LineItem(sku="tea-1", quantity=2, unit_price=Money("45.00", "CNY"))]
    near = alliance.record_order(
        _order("o4", total="90.00", customer_id="c9", items=discounted), click_id=click
    )
    assert [(r.code, r.severity) for r in near.verdict.reasons] == [
        ("order.near_duplicate", "warn")
    ]
    assert near.verdict.decision == "allow"  # a warning adds to other reasons


def test_leaked_coupons_are_reviewed(alliance: Alliance, clock: FakeClock) -> None:
    alliance.assign_coupon("VIP", affiliate_id="a1", campaign_id="c1")
    leaked = alliance.record_order(_order("o1", coupon_codes=["vip"]))
    assert leaked.verdict.decision == "review"
    assert [r.code for r in leaked.verdict.reasons] == ["coupon.without_click"]
    click = _click(alliance, ip="198.51.100.9")
    clock.advance(timedelta(minutes=10))
    earned = alliance.record_order(_order("o2", coupon_codes=["vip"]), click_id=click)
    assert earned.verdict.decision == "allow"


def test_refund_rate_puts_an_affiliate_under_review(alliance: Alliance, clock: FakeClock) -> None:
    verdicts = []
    for n in range(30):
        click = _click(alliance, ip=f"10.0.{n}.1")
        clock.advance(timedelta(minutes=10))
        outcome = alliance.record_order(_order(f"o{n}"), click_id=click)
        verdicts.append(outcome.verdict.decision)
        if n % 3 == 0:
            alliance.refund("m1", f"o{n}")
    # After 20 orders, a third of them refunded (above 25%): later orders are reviewed.
    assert verdicts[:20] == ["allow"] * 20
    assert set(verdicts[21:]) == {"review"}
