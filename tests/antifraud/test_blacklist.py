"""The shared blacklist: networks, devices, affiliates and payment fingerprints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from affiliate_sdk import Alliance, InvalidInput, Money, Order
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


@pytest.fixture(params=["memory://", "sqlite"])
def alliance(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: object
) -> Iterator[Alliance]:
    url = request.param if request.param == "memory://" else f"sqlite:///{tmp_path}/b.db"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        alliance.add_campaign(make_campaign(campaign_id="c2", merchant_id="m2"))
        yield alliance


def _link(alliance: Alliance, affiliate: str = "a1", campaign: str = "c1") -> str:
    return alliance.create_link(
        affiliate_id=affiliate, campaign_id=campaign, landing_url="https://shop.example.com/"
    )


def test_a_blacklisted_network_is_blocked_for_every_merchant(alliance: Alliance) -> None:
    key = alliance.blacklist("network", "198.51.100.23", reason="click farm")
    assert key == "network:198.51.100.0/24"
    assert alliance.blacklisted() == {key: "click farm"}
    for campaign in ("c1", "c2"):
        click = alliance.track_click(
            _link(alliance, campaign=campaign), ip="198.51.100.99", user_agent=HUMAN_UA
        )
        assert click.verdict.decision == "block"
        assert click.verdict.reasons[0].code == "blacklist.click"
        assert "network" in click.verdict.reasons[0].message
    elsewhere = alliance.track_click(_link(alliance), ip="203.0.113.5", user_agent=HUMAN_UA)
    assert elsewhere.verdict.decision == "allow"
    alliance.blacklist("network", "198.51.100.23", reason="", remove=True)
    assert alliance.blacklisted() == {}
    again = alliance.track_click(_link(alliance), ip="198.51.100.99", user_agent=HUMAN_UA)
    assert again.verdict.decision == "allow"


def test_blacklisted_affiliates_and_payments_earn_nothing(
    alliance: Alliance, clock: FakeClock
) -> None:
    alliance.blacklist("affiliate", "a7", reason="expelled")
    expelled = alliance.track_click(_link(alliance, "a7"), ip="203.0.113.8", user_agent=HUMAN_UA)
    assert expelled.verdict.decision == "block"
    alliance.blacklist("payment", "card-fp-123", reason="chargebacks")
    assert all("card-fp" not in key for key in alliance.blacklisted())  # kept as a hash
    click = alliance.track_click(_link(alliance), ip="203.0.113.9", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=10))
    order = Order(
        order_id="o1",
        merchant_id="m1",
        total=Money("40.00", "CNY"),
        payment_fingerprint="card-fp-123",
    )
    outcome = alliance.record_order(order, click_id=click.click_id)
    assert outcome.verdict.decision == "block" and outcome.commissions == []
    assert outcome.verdict.reasons[0].code == "blacklist.order"


def test_bad_entries_are_refused(alliance: Alliance) -> None:
    with pytest.raises(InvalidInput, match="not an IP address"):
        alliance.blacklist("network", "nowhere", reason="x")
    with pytest.raises(InvalidInput, match="kinds are"):
        alliance.blacklist("planet", "mars", reason="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="needs a reason"):
        alliance.blacklist("affiliate", "a1", reason=" ")
    with pytest.raises(InvalidInput, match="kinds are"):
        alliance.blacklist("payment", " ", reason="x")
