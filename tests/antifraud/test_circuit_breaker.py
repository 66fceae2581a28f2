"""Complaints and the circuit breaker: past the hourly limit a campaign or affiliate pauses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from affiliate_sdk import Alliance, CampaignInactive, FraudThresholds, InvalidInput, Money, Order
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


@pytest.fixture
def alliance(clock: FakeClock) -> Iterator[Alliance]:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(fraud=FraudThresholds(complaints_per_hour=3)))
        yield alliance


def _link(alliance: Alliance, affiliate: str = "a1") -> str:
    return alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )


def test_too_many_complaints_pause_a_campaign(alliance: Alliance, clock: FakeClock) -> None:
    link = _link(alliance)
    outcomes = []
    for _ in range(4):
        outcomes.append(alliance.complain(campaign_id="c1", reason="spam emails"))
        clock.advance(timedelta(minutes=10))
    assert [o.paused for o in outcomes] == [False, False, False, True]
    assert outcomes[-1].complaints_last_hour == 4 and outcomes[-1].limit == 3
    assert not alliance.campaign("c1").active
    with pytest.raises(CampaignInactive):
        alliance.track_click(link, ip="203.0.113.1", user_agent=HUMAN_UA)


def test_complaints_older_than_an_hour_do_not_count(alliance: Alliance, clock: FakeClock) -> None:
    for _ in range(6):
        outcome = alliance.complain(campaign_id="c1", reason="misleading ad")
        clock.advance(timedelta(minutes=25))
    assert not outcome.paused
    assert outcome.complaints_last_hour == 3  # the ones 0, 25 and 50 minutes ago
    assert alliance.campaign("c1").active


def test_an_affiliate_is_paused_through_the_blacklist(alliance: Alliance) -> None:
    for _ in range(51):
        outcome = alliance.complain(affiliate_id="a9", reason="cookie stuffing")
    assert outcome.paused and outcome.limit == 50  # the alliance default
    click = alliance.track_click(_link(alliance, "a9"), ip="203.0.113.2", user_agent=HUMAN_UA)
    assert click.verdict.decision == "block"
    assert "circuit breaker" in alliance.blacklisted()["affiliate:a9"]
    alliance.blacklist("affiliate", "a9", reason="", remove=True)  # resumed by hand
    again = alliance.track_click(_link(alliance, "a9"), ip="203.0.113.3", user_agent=HUMAN_UA)
    assert again.verdict.decision == "allow"


def test_a_complaint_names_one_target_and_a_reason(alliance: Alliance) -> None:
    with pytest.raises(InvalidInput, match="one campaign or one affiliate"):
        alliance.complain(reason="x")
    with pytest.raises(InvalidInput, match="one campaign or one affiliate"):
        alliance.complain(reason="x", campaign_id="c1", affiliate_id="a1")
    with pytest.raises(InvalidInput, match="needs a reason"):
        alliance.complain(reason=" ", campaign_id="c1")


def _booked(alliance: Alliance, clock: FakeClock, campaign: str, n: int) -> list[str]:
    link = alliance.create_link(
        affiliate_id="a1", campaign_id=campaign, landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=20))
    order = Order(order_id=f"o{campaign}{n}", merchant_id="m1", total=Money("50.00", "CNY"))
    return [
        line.entry_id for line in alliance.record_order(order, click_id=click.click_id).commissions
    ]


def test_a_tripped_breaker_freezes_the_funds_of_what_it_pauses(
    alliance: Alliance, clock: FakeClock
) -> None:
    alliance.add_campaign(make_campaign("c2"))
    held = _booked(alliance, clock, "c1", 1) + _booked(alliance, clock, "c1", 2)
    other = _booked(alliance, clock, "c2", 3)
    for _ in range(4):
        outcome = alliance.complain(campaign_id="c1", reason="spam emails")
    assert outcome.paused and sorted(outcome.frozen) == sorted(held)
    status = {line.entry_id: line.status for line in alliance.commissions(merchant_id="m1")}
    assert {status[entry] for entry in held} == {"frozen"}
    assert {status[entry] for entry in other} == {"pending"}  # another campaign's: untouched
    assert all("circuit breaker" in (line.reason or "") for line in alliance.review_queue())
    again = alliance.complain(campaign_id="c1", reason="spam emails")
    assert again.paused and again.frozen == []  # nothing pending is left to freeze


def test_a_tripped_breaker_freezes_an_affiliates_funds(
    alliance: Alliance, clock: FakeClock
) -> None:
    held = _booked(alliance, clock, "c1", 4)
    for _ in range(51):
        outcome = alliance.complain(affiliate_id="a1", reason="cookie stuffing")
    assert outcome.paused and outcome.frozen == held
    assert {line.status for line in alliance.commissions(affiliate_id="a1")} == {"frozen"}
