"""Campaign budgets: an alarm event when the cost passes 120% of the budget, and a pause."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from affiliate_sdk import Alliance, CampaignInactive, Money, Order
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


def _spend(alliance: Alliance, clock: FakeClock, n: int) -> None:
    """An order of 100.00 CNY at 10%: 10.00 CNY of commission (no platform take here)."""
    link = alliance.create_link(
        affiliate_id=f"a{n}", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=20))
    order = Order(order_id=f"o{n}", merchant_id="m1", total=Money("100.00", "CNY"))
    alliance.record_order(order, click_id=click.click_id)


def _alarms(alliance: Alliance) -> list[dict[str, object]]:
    with alliance.store.reader() as tx:
        rows = tx.outbox.after(0, limit=1000)
    return [json.loads(r.data)["data"] for r in rows if r.type == "campaign.budget_alarm"]


@pytest.mark.parametrize("pause", [False, True])
def test_the_alarm_goes_once_at_120_percent(clock: FakeClock, pause: bool) -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        budget = Money("50.00", "CNY")  # 120% of it: 60.00, the sixth order's 10.00 passes it
        campaign = make_campaign().model_copy(update={"budget": budget, "pause_over_budget": pause})
        alliance.add_campaign(campaign)
        for n in range(6):
            _spend(alliance, clock, n)
        costs = [line.amount for line in alliance.commissions()]
        assert sum(c.amount for c in costs) == Money("60.00", "CNY").amount
        assert _alarms(alliance) == []  # 60.00 is 120%, not past it
        _spend(alliance, clock, 6)  # 70.00: past 60.00
        assert _alarms(alliance) == [
            {
                "merchant_id": "m1",
                "campaign_id": "c1",
                "budget": "50.00",
                "cost": "70.00",
                "currency": "CNY",
                "paused": pause,
            }
        ]
        if pause:
            assert not alliance.campaign("c1").active
            with pytest.raises(CampaignInactive):  # paused: no new links
                alliance.create_link(
                    affiliate_id="a9", campaign_id="c1", landing_url="https://shop.example.com/"
                )
        else:
            _spend(alliance, clock, 7)  # the cost goes on; the alarm does not go again
            assert len(_alarms(alliance)) == 1
            assert alliance.campaign("c1").active


def test_the_cost_is_net_of_refunds(clock: FakeClock) -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        budget = Money("50.00", "CNY")  # the alarm: past 60.00
        alliance.add_campaign(make_campaign().model_copy(update={"budget": budget}))
        for n in range(6):  # 60.00 booked
            _spend(alliance, clock, n)
        alliance.refund("m1", "o0")  # the whole of o0: its 10.00 taken back, 50.00 left
        alliance.refund("m1", "o1", amount=Money("50.00", "CNY"))  # half: 5.00 back, 45.00
        _spend(alliance, clock, 6)  # 55.00
        _spend(alliance, clock, 7)  # 65.00: past 60.00 only now
        alarms = _alarms(alliance)
        assert [a["cost"] for a in alarms] == ["65.00"]
