"""The order-fraud signals on plain values: shapes, repeats, value outliers, identity,
the affiliate's history, the fact sheet and its verdict."""

from __future__ import annotations

import pytest

from affiliate_sdk import LineItem, Money, Order
from affiliate_sdk.antifraud import ALLOW, OrderFacts, judge_order
from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.antifraud.signals import (
    DUPLICATE_WINDOW_MS,
    MAX_CUSTOMERS_KEPT,
    MAX_SHAPES_KEPT,
    MIN_ORDERS_FOR_OUTLIERS,
    NOT_THE_AFFILIATES,
    WEEK_MS,
    counts_against_affiliate,
    customer_digest,
    history_after,
    identity_digests,
    normal_identity,
    order_facts,
    order_shape,
    repeats,
    seconds_since_click,
    self_referral,
    value_sigmas,
)
from affiliate_sdk.models import FraudThresholds, Reason, Verdict

LIMITS = FraudThresholds()  # late_conversion_hours=3, review_score=40
HOUR_MS = 3_600_000


def _order(*lines: tuple[str, int, str], total: str = "30.00") -> Order:
    return Order(
        order_id="o1",
        merchant_id="m1",
        total=Money(total, "CNY"),
        items=[
            LineItem(sku=sku, quantity=quantity, unit_price=Money(price, "CNY"))
            for sku, quantity, price in lines
        ],
    )


def _reason(code: str, severity: str = "high", score: int = 50) -> Reason:
    return Reason.model_validate(
        {"code": code, "message": "m", "severity": severity, "score": score}
    )


def _fake_digest(data: bytes) -> str:
    """Stands in for the keyed hash: readable, and equal details give equal digests."""
    return data.decode().upper()


def test_the_constants_are_todays() -> None:
    assert DUPLICATE_WINDOW_MS == 86_400_000
    assert MIN_ORDERS_FOR_OUTLIERS == 30
    assert MAX_SHAPES_KEPT == 8
    assert MAX_CUSTOMERS_KEPT == 16
    assert sorted(NOT_THE_AFFILIATES) == [
        "affiliate.grade_c",
        "campaign.channel_not_allowed",
        "channel.grade_c",
        "order.duplicate",
    ]
    assert WEEK_MS == 604_800_000


# -- shapes and repeats ----------------------------------------------------------------------
def test_an_order_shape_is_its_skus_and_quantities() -> None:
    shape = order_shape(_order(("b", 2, "10.00"), ("a", 1, "10.00")))
    # sha256 of '[["a", 1], ["b", 2]]', cut to 32 hex digits
    assert shape == "91cea03dbc87dd3dbe06a0399ab69375"
    assert order_shape(_order(("a", 1, "99.00"), ("b", 2, "1.00"), total="101.00")) == shape
    assert order_shape(_order(("a", 1, "10.00"), ("b", 3, "10.00"))) == (
        "b1979aff366b596aa44a6aefa43cb632"
    )
    assert order_shape(_order()) == "4f53cda18c2baa0c0354bb5f9a3ecbe5"  # sha256 of '[]'


def test_repeats_count_same_and_other_totals_within_the_window() -> None:
    now = 10 * DUPLICATE_WINDOW_MS
    recent = [
        ("30.00 CNY", now - DUPLICATE_WINDOW_MS - 1),  # a day and a millisecond ago: too old
        ("30.00 CNY", now - DUPLICATE_WINDOW_MS),  # exactly a day ago: still counts
        ("30.00 CNY", now - HOUR_MS),
        ("31.00 CNY", now - HOUR_MS),
    ]
    assert repeats(recent, "30.00 CNY", now, True) == (2, 1)
    assert repeats(recent, "31.00 CNY", now, True) == (1, 2)
    assert repeats(recent, "30.00 CNY", now, False) == (2, 0)  # no lines: totals alone
    assert repeats([], "30.00 CNY", now, True) == (0, 0)


# -- value outliers --------------------------------------------------------------------------
def test_the_first_order_starts_the_statistics() -> None:
    assert value_sigmas(None, 0) == (None, (1, 0.0, 0.0))  # log1p(0) == 0
    assert value_sigmas(None, -500) == (None, (1, 0.0, 0.0))  # negative totals count as 0


def test_sigmas_from_enough_orders_and_the_statistics_after() -> None:
    # 30 orders with mean log value 2 and m2 29: a standard deviation of exactly 1.
    sigmas, after = value_sigmas((30, 2.0, 29.0), 0)
    assert sigmas == pytest.approx(-2.0)
    count, mean, m2 = after
    assert count == 31
    assert mean == pytest.approx(60 / 31)  # 2 + (0 - 2) / 31
    assert m2 == pytest.approx(1019 / 31)  # 29 + (0 - 2) * (0 - 60/31)


def test_no_sigmas_before_enough_orders_or_without_spread() -> None:
    sigmas, after = value_sigmas((29, 2.0, 28.0), 0)
    assert sigmas is None and after[0] == 30
    sigmas, after = value_sigmas((40, 0.0, 0.0), 0)  # forty orders of one value
    assert sigmas is None and after == (41, 0.0, 0.0)


# -- identity --------------------------------------------------------------------------------
def test_details_are_compared_normalised() -> None:
    assert normal_identity("email", "  Ann@Example.COM ") == "ann@example.com"
    assert normal_identity("phone", "+86 138-0013-8000") == "8613800138000"
    assert normal_identity("payment", " card_1 ") == "card_1"
    assert normal_identity("device", None) == ""


def test_identity_digests_skip_empty_details() -> None:
    digests = identity_digests(
        _fake_digest,
        [
            ("email", " Ann@Example.com"),
            ("phone", "(555) 01"),
            ("payment", None),
            ("device", "   "),
            ("network", "203.0.113.0/24"),
        ],
    )
    assert digests == [
        "email:EMAIL:ANN@EXAMPLE.COM",
        "phone:PHONE:55501",
        "network:NETWORK:203.0.113.0/24",
    ]


def test_self_referral_names_the_shared_kinds_in_the_orders_order() -> None:
    own = {"network:N1", "email:E1", "device:D9"}
    mine = ["email:E1", "phone:P1", "payment:C1", "device:D1", "network:N1"]
    assert self_referral(own, mine) == ("email", "network")
    assert self_referral(set(), mine) == ()
    assert self_referral(own, []) == ()


def test_customer_digest_is_short() -> None:
    assert customer_digest(_fake_digest, "customer-number-one") == "CUSTOMER-NUMBER-"


# -- history ---------------------------------------------------------------------------------
def test_seconds_since_click() -> None:
    assert seconds_since_click(125_500, 100_000) == 25.5
    assert seconds_since_click(125_500, None) is None


def test_what_counts_against_the_affiliate() -> None:
    duplicate = Verdict(decision="review", score=50, reasons=(_reason("order.duplicate"),))
    grade_c = Verdict(
        decision="review", score=40, reasons=(_reason("affiliate.grade_c", "warn", 40),)
    )
    channel_c = Verdict(
        decision="review", score=40, reasons=(_reason("channel.grade_c", "warn", 40),)
    )
    fast = Verdict(decision="review", score=50, reasons=(_reason("conversion.too_fast"),))
    mixed = Verdict(
        decision="review",
        score=100,
        reasons=(_reason("order.duplicate"), _reason("conversion.too_fast")),
    )
    warned = Verdict(decision="allow", score=20, reasons=(_reason("geo.mismatch", "warn", 20),))
    assert not counts_against_affiliate(duplicate)
    assert not counts_against_affiliate(grade_c)
    assert not counts_against_affiliate(channel_c)
    assert counts_against_affiliate(fast)
    assert counts_against_affiliate(mixed)
    assert not counts_against_affiliate(warned)  # allowed: nothing against anyone
    assert not counts_against_affiliate(ALLOW)


def test_history_after_an_order() -> None:
    before = History(orders=10, refunds=1, flagged=2, timed=5, late=1)
    fast = Verdict(decision="review", score=50, reasons=(_reason("conversion.too_fast"),))
    late = 3 * 3600.0  # exactly late_conversion_hours after the click: late
    assert history_after(before, ALLOW, late, LIMITS) == History(11, 1, 2, 6, 2)
    assert history_after(before, fast, late - 1, LIMITS) == History(11, 1, 3, 6, 1)
    assert history_after(before, fast, None, LIMITS) == History(11, 1, 3, 5, 1)  # no click
    duplicate = Verdict(decision="review", score=50, reasons=(_reason("order.duplicate"),))
    assert history_after(History(), duplicate, 60.0, LIMITS) == History(1, 0, 0, 1, 0)


# -- facts and verdict -----------------------------------------------------------------------
def test_order_facts_carry_the_loaded_values() -> None:
    facts = order_facts(
        limits=LIMITS,
        history=History(orders=40, refunds=4, flagged=1, timed=30, late=3),
        seconds_since_click=4 * 3600.0,
        click_country="CN",
        order_country="BR",
        coupon_without_click=True,
        shared_identity=("email",),
        duplicates=2,
        near_duplicates=1,
        payment_customers=5,
        network_customers=6,
        value_sigmas=-4.5,
        affiliate_clicks_today=1200,
        affiliate_orders_today=3,
        blacklisted=("payment",),
        affiliate_grade="B",
    )
    assert facts == OrderFacts(
        seconds_since_click=14_400.0,
        self_referral=("email",),
        duplicates=2,
        near_duplicates=1,
        payment_customers=5,
        network_customers=6,
        coupon_without_click=True,
        affiliate_orders=40,  # this order is not counted yet...
        affiliate_refunds=4,
        affiliate_clicks_today=1200,
        affiliate_orders_today=3,
        affiliate_timed_orders=31,  # ...but among the timed orders it is, and late
        affiliate_late_orders=4,
        value_sigmas=-4.5,
        click_country="CN",
        order_country="BR",
        blacklisted=("payment",),
        affiliate_grade="B",
    )


def test_order_facts_without_a_click() -> None:
    facts = order_facts(
        limits=LIMITS,
        history=History(orders=3, timed=2, late=1),
        seconds_since_click=None,
        click_country=None,
        order_country="CN",
    )
    assert facts == OrderFacts(
        affiliate_orders=3, affiliate_timed_orders=2, affiliate_late_orders=1, order_country="CN"
    )


def test_judge_order() -> None:
    assert judge_order(OrderFacts(), LIMITS) is ALLOW
    verdict = judge_order(OrderFacts(duplicates=1, near_duplicates=1), LIMITS)
    assert verdict.decision == "review"
    assert verdict.score == 70  # duplicate: review_score + 10; near-duplicate: a warning's 20
    assert [reason.code for reason in verdict.reasons] == [
        "order.duplicate",
        "order.near_duplicate",
    ]
    assert judge_order(OrderFacts(duplicates=1), LIMITS, ()) is ALLOW
    blocked = judge_order(OrderFacts(blacklisted=("payment",)), LIMITS)
    assert (blocked.decision, blocked.score) == ("block", 100)
