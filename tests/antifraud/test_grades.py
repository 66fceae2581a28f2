"""Affiliate grades from history, and grade C commission frozen for review."""

from __future__ import annotations

from datetime import timedelta

import pytest

from affiliate_sdk import Affiliate, Alliance, FraudThresholds, Money, Order
from affiliate_sdk.antifraud.grades import History, grade
from affiliate_sdk.antifraud.rules import OrderFacts, grade_c
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, book_orders, make_campaign


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (History(19, 0, 0), None),
        (History(100, 4, 0), "S"),
        (History(100, 5, 0), "A"),
        (History(100, 0, 1), "A"),
        (History(100, 9, 2), "A"),
        (History(100, 10, 0), "B"),
        (History(100, 24, 9), "B"),
        (History(100, 25, 0), "C"),
        (History(100, 0, 10), "C"),
    ],
)
def test_grade_bands(history: History, expected: str | None) -> None:
    assert grade(history) == expected


def test_grade_c_rule_defers_to_the_refund_rate_reason() -> None:
    limits = FraudThresholds()
    flagged = OrderFacts(affiliate_grade="C", affiliate_orders=100, affiliate_refunds=2)
    assert grade_c(flagged, limits) is not None
    refunded = OrderFacts(affiliate_grade="C", affiliate_orders=100, affiliate_refunds=30)
    assert grade_c(refunded, limits) is None
    assert grade_c(flagged, limits.model_copy(update={"freeze_grade_c": False})) is None


def test_a_grade_c_affiliate_has_its_commission_frozen(clock: FakeClock) -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        decisions = []
        for n in range(24):
            click = alliance.track_click(link, ip=f"10.1.{n}.1", user_agent=HUMAN_UA)
            clock.advance(timedelta(seconds=2 if n % 4 == 0 else 600))  # every 4th injected
            outcome = alliance.record_order(
                Order(order_id=f"o{n}", merchant_id="m1", total=Money("30.00", "CNY")),
                click_id=click.click_id,
            )
            decisions.append(outcome.verdict.decision)
        graded = alliance.grade("a1")
        assert graded.grade == "C" and graded.orders == 24
        assert graded.fraud_rate == pytest.approx(6 / 24)
        # From the 21st order on (20 orders seen, 5 flagged: 25%), clean orders are reviewed too.
        assert decisions[:20] == ["review" if n % 4 == 0 else "allow" for n in range(20)]
        assert decisions[21:] == ["review"] * 3
        assert alliance.grade("nobody").grade is None


def test_channels_are_graded_from_their_affiliates_pooled_history(clock: FakeClock) -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        for affiliate, channel in (("s1", "search"), ("s2", "search"), ("c1", "cashback")):
            alliance.add_affiliate(Affiliate(affiliate_id=affiliate, channel=channel))
        number = 1
        for affiliate, orders, injected in (
            ("s1", 12, 0),
            ("s2", 12, 0),
            ("c1", 24, 6),
            ("x", 3, 0),
        ):
            number = book_orders(alliance, clock, affiliate, orders, injected=injected,
                                 first=number)  # fmt: skip
        grades = alliance.channel_grades()
    assert [(g.channel, g.affiliates, g.orders) for g in grades] == [
        ("cashback", 1, 24),
        ("search", 2, 24),
        (None, 1, 3),
    ]
    cashback, search, unassigned = grades
    assert cashback.grade == "C" and cashback.fraud_rate == pytest.approx(6 / 24)
    assert search.grade == "S"  # neither affiliate has 20 orders alone; pooled they do
    assert unassigned.grade is None and search.late_share == 0.0
