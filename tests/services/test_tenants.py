"""Two merchants that choose the same ids never see, replace or change each other's data."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from affiliate_sdk import (
    Alliance,
    AmbiguousCampaign,
    InvalidInput,
    Money,
    Order,
    UnknownOrder,
)
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


@pytest.fixture(params=["memory", "sqlite"])
def alliance(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Alliance]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'a.db'}"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as opened:
        yield opened


def _order(merchant: str, total: str) -> Order:
    return Order(order_id="1001", merchant_id=merchant, total=Money(total, "CNY"))


def test_colliding_campaign_order_and_coupon_ids_stay_apart(alliance: Alliance) -> None:
    alliance.add_campaign(make_campaign("c1", "mA", rate="10%", domains=("a.example",)))
    alliance.add_campaign(make_campaign("c1", "mB", rate="20%", domains=("b.example",)))
    shop_a, shop_b = alliance.merchant("mA"), alliance.merchant("mB")
    # Publishing A's campaign c1 again changes A's, not B's.
    shop_a.add_campaign(make_campaign("c1", "mA", rate="12%", domains=("a.example",)))
    assert shop_b.campaign("c1").plan.rate == Decimal("0.20")
    with pytest.raises(AmbiguousCampaign):
        alliance.create_link(affiliate_id="a1", campaign_id="c1", landing_url="https://a.example/")
    link_a = shop_a.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://a.example/p"
    )
    link_b = shop_b.create_link(
        affiliate_id="a2", campaign_id="c1", landing_url="https://b.example/p"
    )
    click_a = alliance.track_click(link_a, ip="203.0.113.7", user_agent=HUMAN_UA)
    click_b = alliance.track_click(link_b, ip="198.51.100.9", user_agent=HUMAN_UA)
    shop_a.assign_coupon("SPRING", affiliate_id="a1", campaign_id="c1")
    shop_b.assign_coupon("SPRING", affiliate_id="a2", campaign_id="c1")
    # The same order id at both shops: each credited to its own affiliate at its own rate.
    a = shop_a.record_order(_order("mA", "100.00"), visitor_id=click_a.visitor_id)
    b = shop_b.record_order(_order("mB", "100.00"), visitor_id=click_b.visitor_id)
    assert [(c.affiliate_id, c.amount) for c in a.commissions] == [("a1", Money("12.00", "CNY"))]
    assert [(c.affiliate_id, c.amount) for c in b.commissions] == [("a2", Money("20.00", "CNY"))]
    # A visitor of A's campaign is not credited on B's order, nor the other way round.
    cross = shop_b.record_order(
        Order(order_id="1002", merchant_id="mB", total=Money("50.00", "CNY")),
        visitor_id=click_a.visitor_id,
    )
    assert cross.commissions == []
    assert {c.merchant_id for c in shop_a.commissions(order_id="1001")} == {"mA"}
    assert {c.merchant_id for c in shop_b.commissions(order_id="1001")} == {"mB"}
    # Refunding A's order 1001 leaves B's untouched.
    shop_a.refund("1001")
    assert sum(c.amount.amount for c in shop_a.commissions(order_id="1001")) == 0
    assert [c.amount for c in shop_b.commissions(order_id="1001")] == [Money("20.00", "CNY")]


def test_a_merchant_handle_refuses_other_merchants_data(alliance: Alliance) -> None:
    alliance.add_campaign(make_campaign("c1", "mA", domains=("a.example",)))
    alliance.add_campaign(make_campaign("c9", "mB", domains=("b.example",)))
    shop_a = alliance.merchant("mA")
    with pytest.raises(InvalidInput):
        shop_a.add_campaign(make_campaign("c9", "mB", domains=("b.example",)))
    with pytest.raises(InvalidInput):
        shop_a.record_order(_order("mB", "10.00"))
    alliance.merchant("mB").record_order(_order("mB", "10.00"))
    with pytest.raises(UnknownOrder):
        shop_a.refund("1001")
    assert [c.campaign_id for c in shop_a.campaigns()] == ["c1"]
