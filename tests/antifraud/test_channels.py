"""Grey categories: a campaign that lets only dedicated channels earn on it."""

from __future__ import annotations

from datetime import timedelta

from affiliate_sdk import Affiliate, Alliance, Money, Order
from affiliate_sdk.antifraud.signals import counts_against_affiliate
from affiliate_sdk.antifraud.verdicts import make_reason
from affiliate_sdk.models import Verdict
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


def _order(alliance: Alliance, clock: FakeClock, affiliate: str, n: int) -> tuple[str, list[str]]:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="vape", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=20))
    outcome = alliance.record_order(
        Order(order_id=f"o{n}", merchant_id="m1", total=Money("40.00", "CNY")),
        click_id=click.click_id,
    )
    return outcome.verdict.decision, [line.account for line in outcome.commissions]


def test_only_the_allowed_channels_earn_on_a_grey_campaign(clock: FakeClock) -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        grey = make_campaign("vape").model_copy(update={"allowed_channels": ["adult-verified"]})
        alliance.add_campaign(grey)
        alliance.add_affiliate(Affiliate(affiliate_id="dedicated", channel="adult-verified"))
        alliance.add_affiliate(Affiliate(affiliate_id="blogger", channel="lifestyle"))
        assert _order(alliance, clock, "dedicated", 1) == ("allow", ["affiliate"])
        assert _order(alliance, clock, "blogger", 2) == ("block", [])  # another channel
        assert _order(alliance, clock, "stranger", 3) == ("block", [])  # no channel at all
        open_campaign = make_campaign("vape").model_copy(update={"allowed_channels": None})
        alliance.add_campaign(open_campaign)
        assert _order(alliance, clock, "blogger", 4)[0] == "allow"


def test_a_channel_the_campaign_does_not_allow_is_no_fraud_of_the_affiliates() -> None:
    refused = Verdict(
        decision="block",
        score=100,
        reasons=[make_reason("campaign.channel_not_allowed", "critical", "Not this channel.")],
    )
    assert not counts_against_affiliate(refused)  # its grade does not suffer for it
