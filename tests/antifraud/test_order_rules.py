"""Each order rule on hand-written facts: quiet at its limit, firing past it; merging
verdicts; the modules the rules are imported from."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from affiliate_sdk.antifraud import cashout, click_rules, order_rules, rules
from affiliate_sdk.antifraud.facts import OrderFacts, OrderRule
from affiliate_sdk.antifraud.verdicts import ALLOW, judge, make_reason, merge
from affiliate_sdk.models import FraudThresholds, Verdict

# review_score 40, min_click_to_order_seconds 10, customers per payment and network 3,
# refund_rate 25% from 20 orders, clicks_per_order 300 from 1000 clicks, late share 75%
# from 30 timed orders, outlier_sigmas 4.
LIMITS = FraudThresholds()
QUIET = OrderFacts()

CASES: list[tuple[OrderRule, dict[str, Any], dict[str, Any], str, str, int]] = [
    # rule, facts at the limit (quiet), facts past it, code, severity, score
    (
        order_rules.too_fast,
        {"seconds_since_click": 10.0},
        {"seconds_since_click": 9.9},
        "conversion.too_fast",
        "high",
        50,
    ),
    (
        order_rules.self_referral,
        {"self_referral": ()},
        {"self_referral": ("email", "network")},
        "order.self_referral",
        "critical",
        100,
    ),
    (
        order_rules.self_referral,
        {"self_referral": ()},
        {"self_referral": ("network",)},
        "order.self_referral_network",
        "warn",
        40,
    ),
    (order_rules.duplicate_order, {}, {"duplicates": 1}, "order.duplicate", "high", 50),
    (order_rules.near_duplicate, {}, {"near_duplicates": 2}, "order.near_duplicate", "warn", 20),
    (
        order_rules.shared_payment,
        {"payment_customers": 3},
        {"payment_customers": 4},
        "order.shared_payment",
        "high",
        50,
    ),
    (
        order_rules.shared_network,
        {"network_customers": 3},
        {"network_customers": 4},
        "order.shared_network",
        "warn",
        40,
    ),
    (
        order_rules.coupon_without_click,
        {"coupon_without_click": False},
        {"coupon_without_click": True},
        "coupon.without_click",
        "warn",
        40,
    ),
    (
        order_rules.refund_rate,
        {"affiliate_orders": 20, "affiliate_refunds": 4},
        {"affiliate_orders": 20, "affiliate_refunds": 5},
        "affiliate.refund_rate",
        "warn",
        40,
    ),
    (
        order_rules.click_flooding,
        {"affiliate_clicks_today": 1500, "affiliate_orders_today": 5},
        {"affiliate_clicks_today": 1501, "affiliate_orders_today": 5},
        "affiliate.click_flooding",
        "warn",
        40,
    ),
    (
        order_rules.flat_conversion_times,
        {"affiliate_timed_orders": 40, "affiliate_late_orders": 30},
        {"affiliate_timed_orders": 40, "affiliate_late_orders": 31},
        "affiliate.late_conversions",
        "warn",
        40,
    ),
    (
        order_rules.fast_conversions,
        {"seconds_since_click": 30.0, "fast_surprise": 13.79},
        {"seconds_since_click": 30.0, "fast_surprise": 13.8},
        "source.fast_conversions",
        "high",
        50,
    ),
    (
        order_rules.low_conversion,
        {"conversion_surprise": 13.79},
        {"conversion_surprise": 13.8},
        "source.low_conversion",
        "high",
        50,
    ),
    (
        order_rules.farm_network,
        {"network_surprise": 13.79},
        {"network_surprise": 13.8},
        "source.network_orders",
        "high",
        50,
    ),
    (
        order_rules.farm_block,
        {"block_surprise": 13.79},
        {"block_surprise": 13.8},
        "source.block_orders",
        "high",
        50,
    ),
    (
        order_rules.grade_c,
        {"affiliate_grade": "B"},
        {"affiliate_grade": "C"},
        "affiliate.grade_c",
        "warn",
        40,
    ),
    (
        order_rules.value_outlier,
        {"value_sigmas": 3.9},
        {"value_sigmas": -4.0},
        "order.value_outlier",
        "warn",
        20,
    ),
    (
        order_rules.geo_mismatch,
        {"click_country": "CN", "order_country": "CN"},
        {"click_country": "CN", "order_country": "BR"},
        "geo.mismatch",
        "warn",
        20,
    ),
    (
        order_rules.channel_not_allowed,
        {"channel_allowed": True},
        {"channel_allowed": False},
        "campaign.channel_not_allowed",
        "critical",
        100,
    ),
    (
        order_rules.order_blacklist,
        {"blacklisted": ()},
        {"blacklisted": ("payment", "device")},
        "blacklist.order",
        "critical",
        100,
    ),
    (
        cashout.flagged_cash_out,
        {"cashout_surprise": 13.79},
        {"cashout_surprise": math.inf},
        "source.cash_out",
        "high",
        50,
    ),
]


@pytest.mark.parametrize(
    ("rule", "quiet", "fires", "expected"),
    [(rule, quiet, fires, rest) for rule, quiet, fires, *rest in CASES],
    ids=[f"{case[0].__name__}-{case[3]}" for case in CASES],
)
def test_order_rule(
    rule: OrderRule, quiet: dict[str, Any], fires: dict[str, Any], expected: list[object]
) -> None:
    assert rule(QUIET, LIMITS) is None
    assert rule(QUIET._replace(**quiet), LIMITS) is None
    reason = rule(QUIET._replace(**fires), LIMITS)
    assert reason is not None
    assert [reason.code, reason.severity, reason.score] == expected
    assert reason.message.endswith(".")


def test_every_order_rule_has_a_case() -> None:
    fixed_counts = {order_rules.shared_network, order_rules.click_flooding}  # not bundled
    assert {case[0] for case in CASES} == set(order_rules.ORDER_RULES) | fixed_counts


def test_a_source_rule_says_each_haste_once() -> None:
    injected = QUIET._replace(seconds_since_click=30.0, fast_surprise=50.0)
    assert order_rules.fast_conversions(injected, LIMITS) is not None
    instant = injected._replace(seconds_since_click=2.0)  # too_fast says it of this order
    assert order_rules.too_fast(instant, LIMITS) is not None
    assert order_rules.fast_conversions(instant, LIMITS) is None
    slow = injected._replace(seconds_since_click=60.0)  # an order of the source that took time
    assert order_rules.fast_conversions(slow, LIMITS) is None


def test_the_messages_say_what_was_seen() -> None:
    fast = order_rules.too_fast(OrderFacts(seconds_since_click=4.25), LIMITS)
    assert fast is not None and "4.2 s after the click" in fast.message
    listed = order_rules.order_blacklist(OrderFacts(blacklisted=("payment", "device")), LIMITS)
    assert listed is not None and listed.message == "Blacklisted: payment, device."
    refunds = order_rules.refund_rate(OrderFacts(affiliate_orders=20, affiliate_refunds=10), LIMITS)
    assert refunds is not None and refunds.message.startswith("50% of the affiliate's orders")


def test_an_unknown_click_or_country_is_no_fault() -> None:
    assert order_rules.too_fast(OrderFacts(seconds_since_click=None), LIMITS) is None
    assert order_rules.geo_mismatch(OrderFacts(click_country="CN"), LIMITS) is None
    assert order_rules.geo_mismatch(OrderFacts(order_country="CN"), LIMITS) is None
    assert order_rules.value_outlier(OrderFacts(value_sigmas=None), LIMITS) is None


def test_rules_need_enough_history() -> None:
    few = OrderFacts(affiliate_orders=19, affiliate_refunds=19)
    assert order_rules.refund_rate(few, LIMITS) is None
    untimed = OrderFacts(affiliate_timed_orders=29, affiliate_late_orders=29)
    assert order_rules.flat_conversion_times(untimed, LIMITS) is None
    quiet_day = OrderFacts(affiliate_clicks_today=999, affiliate_orders_today=0)
    assert order_rules.click_flooding(quiet_day, LIMITS) is None
    no_orders = OrderFacts(affiliate_clicks_today=1000, affiliate_orders_today=0)
    flooding = order_rules.click_flooding(no_orders, LIMITS)  # no order yet counts as one
    assert flooding is not None and "1000 clicks per order" in flooding.message


def test_the_thresholds_switch_rules_off() -> None:
    no_rate = LIMITS.model_copy(update={"refund_rate": None})
    refunded = OrderFacts(affiliate_orders=20, affiliate_refunds=20)
    assert order_rules.refund_rate(refunded, no_rate) is None
    no_freeze = LIMITS.model_copy(update={"freeze_grade_c": False})
    assert order_rules.grade_c(OrderFacts(affiliate_grade="C"), no_freeze) is None
    strict = LIMITS.model_copy(update={"refund_rate": Decimal("0.1")})
    assert order_rules.refund_rate(OrderFacts(affiliate_orders=20, affiliate_refunds=2), strict)


def test_grade_c_stays_quiet_when_the_refund_rate_says_it() -> None:
    refunded = OrderFacts(affiliate_grade="C", affiliate_orders=20, affiliate_refunds=10)
    assert order_rules.refund_rate(refunded, LIMITS) is not None
    assert order_rules.grade_c(refunded, LIMITS) is None


# -- verdicts --------------------------------------------------------------------------------
def test_make_reason_defaults_to_the_severitys_score() -> None:
    assert make_reason("x", "info", "m.").score == 0
    assert make_reason("x", "warn", "m.").score == 20
    assert make_reason("x", "high", "m.").score == 50
    assert make_reason("x", "critical", "m.").score == 100
    assert make_reason("x", "warn", "m.", score=35).score == 35


def test_merge_keeps_a_side_without_reasons_as_it_is() -> None:
    warned = Verdict(decision="allow", score=20, reasons=(make_reason("geo", "warn", "m."),))
    assert merge(ALLOW, warned, LIMITS) is warned
    assert merge(warned, ALLOW, LIMITS) is warned
    assert merge(ALLOW, ALLOW, LIMITS) is ALLOW


def test_merge_judges_both_sides_reasons_together() -> None:
    agent = make_reason("ua.odd", "warn", "m.", score=30)
    order = make_reason("order.near_duplicate", "warn", "m.")
    request = judge([agent], LIMITS)
    judged = judge([order], LIMITS)
    assert (request.decision, judged.decision) == ("allow", "allow")
    merged = merge(request, judged, LIMITS)
    assert (merged.decision, merged.score) == ("review", 50)
    assert [reason.code for reason in merged.reasons] == ["ua.odd", "order.near_duplicate"]


# -- where the rules are imported from --------------------------------------------------------
def test_the_old_module_re_exports_the_rules() -> None:
    assert rules.ORDER_RULES is order_rules.ORDER_RULES
    assert rules.CLICK_RULES is click_rules.CLICK_RULES
    assert rules.USER_AGENT_RULES is click_rules.USER_AGENT_RULES
    assert rules.PAID_CLICK_PARAMETERS is click_rules.PAID_CLICK_PARAMETERS
    assert rules.too_fast is order_rules.too_fast
    assert rules.known_bot is click_rules.known_bot
    assert rules.judge is judge
    assert rules.OrderFacts is OrderFacts
    assert set(rules.__all__) >= set(order_rules.__all__) | set(click_rules.__all__)


def test_the_order_rules_run_in_todays_order() -> None:
    assert [rule.__name__ for rule in order_rules.ORDER_RULES] == [
        "order_blacklist",
        "channel_not_allowed",
        "self_referral",
        "too_fast",
        "duplicate_order",
        "near_duplicate",
        "shared_payment",
        "farm_network",
        "farm_block",
        "coupon_without_click",
        "refund_rate",
        "fast_conversions",
        "low_conversion",
        "flagged_cash_out",
        "flat_conversion_times",
        "grade_c",
        "value_outlier",
        "geo_mismatch",
    ]
