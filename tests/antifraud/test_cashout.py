"""Cash-out: orders refunded after their commission was approved, judged against the rest of
the campaign. The rule by hand; then on the real approval and refund paths (memory, SQLite
and PostgreSQL): the source that tips is flagged and its unpaid commission frozen, an honest
affiliate with the campaign's ordinary refunds is not, and no refund or approval counts
twice."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, FraudThresholds, Money, Order
from affiliate_sdk.antifraud import cashout
from affiliate_sdk.antifraud.cashout import CashOutCounts
from affiliate_sdk.antifraud.facts import OrderFacts
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign, store_url_for

LIMITS = FraudThresholds()  # cashout_factor 3, min_cashout_refunds 5, source_surprise 13.8


def _surprise(source: CashOutCounts, campaign: CashOutCounts) -> float | None:
    return cashout.cash_out(source, campaign, minimum=5, factor=3.0)


# -- the rule, by hand -------------------------------------------------------------------------


def test_a_source_refunding_most_of_its_approved_orders_is_implausible() -> None:
    # 8 of 10 approved orders refunded; the rest of the campaign: 20 of 1,000, so
    # p = (20 + 0.02 * 50) / (1000 + 50) = 21 / 1050 = 0.02, and the surprise is
    # 10 * (0.8 ln(0.8 / 0.02) + 0.2 ln(0.2 / 0.98)) = 10 * (2.95110 - 0.31785) = 26.33
    found = _surprise(CashOutCounts(10, 8), CashOutCounts(1010, 28))
    assert found == pytest.approx(26.33, abs=0.01)
    reason = cashout.cash_out_reason(CashOutCounts(10, 8), CashOutCounts(1010, 28), LIMITS)
    assert reason is not None
    assert (reason.code, reason.severity, reason.score) == ("source.cash_out", "high", 50)
    assert reason.score >= LIMITS.review_score and reason.message.endswith(".")


def test_the_campaigns_ordinary_rate_is_no_cash_out() -> None:
    # 5 of 100 (5%) against p = 0.02 (as above): not three times the base rate (6%)
    assert _surprise(CashOutCounts(100, 5), CashOutCounts(1100, 25)) is None
    # a merchant whose customers return goods late: 200 of the others' 1,000, so
    # p = (200 + 1) / 1050 = 0.1914; 5 of 10 is not 3 x 0.1914 = 0.574
    assert _surprise(CashOutCounts(10, 5), CashOutCounts(1010, 205)) is None


def test_too_few_refunds_are_not_judged_and_a_factor_alone_is_not_enough() -> None:
    assert _surprise(CashOutCounts(4, 4), CashOutCounts(1004, 24)) is None  # below 5
    # 5 of 20 (25%, over 3 x 2%) but 20 * (0.25 ln 12.5 + 0.75 ln(0.75 / 0.98))
    # = 20 * (0.63143 - 0.20065) = 8.62: plausible enough for chance
    found = _surprise(CashOutCounts(20, 5), CashOutCounts(1020, 25))
    assert found == pytest.approx(8.62, abs=0.01)
    assert cashout.cash_out_reason(CashOutCounts(20, 5), CashOutCounts(1020, 25), LIMITS) is None


def test_a_young_campaign_is_judged_by_the_prior() -> None:
    # the source is its whole campaign: p is the prior, 0.02; 5 of 6 refunded gives
    # 6 * (5/6 ln(41.667) + 1/6 ln(0.17007)) = 6 * (3.10808 - 0.29526) = 16.88
    found = _surprise(CashOutCounts(6, 5), CashOutCounts(6, 5))
    assert found == pytest.approx(16.88, abs=0.01)


def test_the_thresholds_are_data() -> None:
    source, campaign = CashOutCounts(10, 8), CashOutCounts(1010, 28)
    fewer = LIMITS.model_copy(update={"min_cashout_refunds": 9})
    assert cashout.cash_out_reason(source, campaign, fewer) is None
    # 8 of 10 is 40 times the base rate of 0.02, not 50 times
    wider = LIMITS.model_copy(update={"cashout_factor": 50.0})
    assert cashout.cash_out_reason(source, campaign, wider) is None
    stricter = LIMITS.model_copy(update={"source_surprise": 26.4})  # above the 26.33
    assert cashout.cash_out_reason(source, campaign, stricter) is None


def test_later_orders_of_a_flagged_source_are_reviewed() -> None:
    assert cashout.flagged_cash_out(OrderFacts(), LIMITS) is None
    flagged = cashout.flagged_cash_out(OrderFacts(cashout_surprise=math.inf), LIMITS)
    assert flagged is not None and flagged.code == "source.cash_out"


# -- on the approval and refund paths --------------------------------------------------------

HONEST = [f"aff{n}" for n in range(10)]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def shop(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Alliance]:
    url = store_url_for(request.param, tmp_path)
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())  # 10%, a hold of 30 days
        yield alliance


def _buy(alliance: Alliance, clock: FakeClock, affiliate: str, n: int) -> Order:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    ip = f"198.51.{n % 250}.{n % 7 + 1}"
    click = alliance.track_click(link, ip=ip, user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=30))
    order = Order(
        order_id=f"o{n}", merchant_id="m1", total=Money("60.00", "CNY"), customer_id=f"c{n}"
    )
    alliance.record_order(order, click_id=click.click_id, ip=ip)
    return order


def _counts(alliance: Alliance, *keys: str) -> list[tuple[int, ...]]:
    with alliance.store.reader() as tx:
        return tx.risk.tallies(list(keys))


def _statuses(alliance: Alliance, affiliate: str) -> dict[str, str]:
    return {
        line.order_id: line.status
        for line in alliance.commissions(affiliate_id=affiliate)
        if line.kind == "commission" and line.account == "affiliate"
    }


def test_a_source_cashing_out_is_flagged_and_its_unpaid_commission_frozen(
    shop: Alliance, clock: FakeClock
) -> None:
    for n in range(200):  # ten honest affiliates, twenty orders each
        _buy(shop, clock, HONEST[n % 10], n)
    for n in range(10):
        _buy(shop, clock, "cash", 1000 + n)
    clock.advance(timedelta(days=31))  # the hold passes
    assert len([line for line in shop.approve_due() if line.account == "affiliate"]) == 210
    assert _counts(shop, "ap/m1/c1", "ap/m1/c1/cash") == [(210,), (10,)]
    for n in range(2):  # orders still in their hold
        _buy(shop, clock, "cash", 2000 + n)
    # The campaign's ordinary refunds after approval: one order of each honest affiliate.
    for n in range(0, 200, 21):
        shop.refund("m1", f"o{n}", refund_id=f"r{n}")
    # The others' base rate: p = (10 + 0.02 * 50) / (200 + 50) = 0.044. Of cash's 10,
    # 6 refunded is 10 * (0.6 ln(0.6 / 0.044) + 0.4 ln(0.4 / 0.956)) = 12.19, still
    # plausible; 7 is 10 * (0.7 ln(15.909) + 0.3 ln(0.3138)) = 15.89: the 7th tips.
    for n in range(8):
        shop.refund("m1", f"o{1000 + n}", refund_id=f"r{1000 + n}")
        held = "frozen" in _statuses(shop, "cash").values()
        assert held is (n >= 6), n
    status = _statuses(shop, "cash")
    assert {status[f"o{1000 + n}"] for n in range(8)} == {"reversed"}
    # what was still unpaid is held: the approved orders left, and those in their hold
    assert {status[o] for o in ("o1008", "o1009", "o2000", "o2001")} == {"frozen"}
    queue = [line for line in shop.review_queue() if line.affiliate_id == "cash"]
    assert queue and all("source.cash_out" in (line.reason or "") for line in queue)
    assert _counts(shop, "ap/m1/c1/cash", "ap/m1/c1", "flagged/source.cash_out/m1/c1/cash") == [
        (10, 8),
        (210, 18),
        (2,),  # flagged on the 7th refund, and again on the 8th: it stays flagged
    ]
    # The honest affiliates: one of twenty refunded after approval, nothing held.
    for affiliate in HONEST:
        assert "frozen" not in _statuses(shop, affiliate).values()
        assert _counts(shop, f"ap/m1/c1/{affiliate}") == [(20, 1)]
    # Later orders: the flagged source's are reviewed, an honest affiliate's are not.
    outcome = _record(shop, clock, "cash", 3000)
    assert outcome[0] == "review" and "source.cash_out" in outcome[1]
    assert "source.cash_out" not in _record(shop, clock, "aff3", 3001)[1]
    # A reviewer approves an order approved before the freeze, and one frozen in its hold:
    # only the second is an approval the counts had not seen.
    cleared = [
        line.entry_id
        for order_id in ("o1008", "o2000")
        for line in shop.commissions(order_id=order_id)
        if line.status == "frozen"
    ]
    clock.advance(timedelta(days=2))
    paid = {batch.affiliate_id for batch in shop.pay_approved(run_id="run-1")}
    assert "cash" not in paid and "aff0" in paid  # what is frozen is not paid
    shop.approve(cleared)
    assert _counts(shop, "ap/m1/c1/cash") == [(11, 8)]
    assert shop.verify_ledger().ok  # the freezes after approval are booked like any other


def _record(alliance: Alliance, clock: FakeClock, affiliate: str, n: int) -> tuple[str, list[str]]:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=f"192.0.2.{n % 250}", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=30))
    order = Order(order_id=f"o{n}", merchant_id="m1", total=Money("60.00", "CNY"))
    verdict = alliance.record_order(order, click_id=click.click_id).verdict
    return verdict.decision, [reason.code for reason in verdict.reasons]


def test_a_refund_or_an_approval_counts_once(shop: Alliance, clock: FakeClock) -> None:
    for n in range(3):
        _buy(shop, clock, "aff1", n)
    clock.advance(timedelta(days=31))
    shop.approve_due()
    assert shop.approve_due() == []  # nothing left to approve: nothing counted again
    assert _counts(shop, "ap/m1/c1/aff1") == [(3,)]
    # A refund replayed by its id books nothing, and counts nothing.
    first = shop.refund("m1", "o0", refund_id="r0")
    assert shop.refund("m1", "o0", refund_id="r0") == first
    assert _counts(shop, "ap/m1/c1/aff1", "ap/m1/c1") == [(3, 1), (3, 1)]
    # Two partial refunds of one order (a cancellation in two parts) count the order once.
    shop.refund("m1", "o1", Money("20.00", "CNY"), refund_id="p1")
    shop.refund("m1", "o1", Money("20.00", "CNY"), refund_id="p1")  # replayed
    shop.refund("m1", "o1", Money("40.00", "CNY"), refund_id="p2")
    assert _counts(shop, "ap/m1/c1/aff1") == [(3, 2)]
    # A refund within the hold is no refund after approval.
    _buy(shop, clock, "aff1", 10)
    shop.refund("m1", "o10", refund_id="r10")
    assert _counts(shop, "ap/m1/c1/aff1") == [(3, 2)]
