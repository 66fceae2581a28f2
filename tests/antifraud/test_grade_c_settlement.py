"""Grade C affiliates: reviewed before settlement, paid after everyone else in a run."""

from __future__ import annotations

from datetime import timedelta

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.antifraud.grades import History, grade
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


def _book(alliance: Alliance, clock: FakeClock, affiliate: str, n: int) -> None:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=20))
    order = Order(order_id=f"o{n}", merchant_id="m1", total=Money("100.00", "CNY"))
    alliance.record_order(order, click_id=click.click_id)


def test_grade_c_is_reviewed_before_settlement_and_paid_last(clock: FakeClock) -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        for n, affiliate in enumerate(["zed", "amy", "bad"]):
            _book(alliance, clock, affiliate, n + 1)
        # the affiliate's history turns bad after its order was booked: 40 orders, half refunded
        worse = History(orders=40, refunds=20, flagged=8)
        assert grade(worse) == "C"
        with alliance.store.transaction() as tx:
            tx.risk.put_history("bad", worse)
        clock.advance(timedelta(days=60))  # every hold period is over
        approved = alliance.approve_due()
        assert {line.affiliate_id for line in approved} == {"amy", "zed"}
        [held] = alliance.commissions(affiliate_id="bad")
        assert held.status == "frozen" and "grade_c" in (held.reason or "")
        alliance.approve([held.entry_id])  # a reviewer clears it
        clock.advance(timedelta(days=2))
        batches = alliance.pay_approved(run_id="run-1")
        # alphabetical as ever, except that grade C comes after everyone else
        assert [batch.affiliate_id for batch in batches] == ["amy", "zed", "bad"]
