"""Each fraud rule with a case that fires and one that does not; the verdict arithmetic."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from affiliate_sdk import InvalidInput
from affiliate_sdk.antifraud import rules
from affiliate_sdk.antifraud.rules import (
    CLICK_RULES,
    ORDER_RULES,
    ClickFacts,
    FraudThresholds,
    OrderFacts,
    judge,
)

LIMITS = FraudThresholds()
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CLEAN_CLICK = ClickFacts(user_agent=BROWSER, bot_pattern=None, network_clicks=1, visitor_clicks=1)
CLEAN_ORDER = OrderFacts(seconds_since_click=3600.0, affiliate_orders=100, affiliate_refunds=5)


def test_clean_traffic_is_allowed() -> None:
    assert judge((rule(CLEAN_CLICK, LIMITS) for rule in CLICK_RULES), LIMITS).decision == "allow"
    assert judge((rule(CLEAN_ORDER, LIMITS) for rule in ORDER_RULES), LIMITS).decision == "allow"


@pytest.mark.parametrize(
    ("rule", "fires", "code"),
    [
        (rules.known_bot, {"bot_pattern": "Googlebot\\/"}, "ua.known_bot"),
        (rules.known_bot, {"user_agent": " "}, "ua.missing"),
        (rules.headless, {"user_agent": "Mozilla/5.0 HeadlessChrome/120.0"}, "ua.headless"),
        (rules.hosting_network, {"network_kind": "datacenter"}, "net.datacenter"),
        (rules.click_velocity, {"network_clicks": 31}, "velocity.network"),
        (rules.click_velocity, {"visitor_clicks": 7}, "velocity.visitor"),
        (rules.click_velocity, {"affiliate_clicks": 10_001}, "velocity.affiliate"),
        (rules.frequency_cap, {"visitor_affiliate_clicks_today": 21}, "velocity.frequency_cap"),
        (rules.click_blacklist, {"blacklisted": ("network",)}, "blacklist.click"),
    ],
)
def test_click_rules(rule: rules.ClickRule, fires: dict[str, Any], code: str) -> None:
    assert rule(CLEAN_CLICK, LIMITS) is None
    reason = rule(CLEAN_CLICK._replace(**fires), LIMITS)
    assert reason is not None and reason.code == code and reason.message


def test_paid_search_only_where_forbidden() -> None:
    paid = CLEAN_CLICK._replace(paid_parameters=("gclid",))
    assert rules.paid_search(paid, LIMITS) is None
    reason = rules.paid_search(paid, LIMITS.model_copy(update={"forbid_paid_search": True}))
    assert reason is not None and "gclid" in reason.message


@pytest.mark.parametrize(
    ("rule", "fires", "code"),
    [
        (rules.too_fast, {"seconds_since_click": 4.0}, "conversion.too_fast"),
        (rules.self_referral, {"self_referral": ("email",)}, "order.self_referral"),
        (rules.duplicate_order, {"duplicates": 1}, "order.duplicate"),
        (rules.near_duplicate, {"near_duplicates": 1}, "order.near_duplicate"),
        (rules.shared_payment, {"payment_customers": 4}, "order.shared_payment"),
        (rules.shared_network, {"network_customers": 4}, "order.shared_network"),
        (rules.coupon_without_click, {"coupon_without_click": True}, "coupon.without_click"),
        (rules.refund_rate, {"affiliate_refunds": 25}, "affiliate.refund_rate"),
        (
            rules.click_flooding,
            {"affiliate_clicks_today": 60_000, "affiliate_orders_today": 3},
            "affiliate.click_flooding",
        ),
        (
            rules.flat_conversion_times,
            {"affiliate_timed_orders": 40, "affiliate_late_orders": 35},
            "affiliate.late_conversions",
        ),
        (rules.farm_block, {"block_surprise": 40.0}, "source.block_orders"),
        (rules.high_conversion, {"high_surprise": 40.0}, "source.high_conversion"),
        (rules.value_outlier, {"value_sigmas": -4.5}, "order.value_outlier"),
        (rules.geo_mismatch, {"click_country": "CN", "order_country": "BR"}, "geo.mismatch"),
        (rules.order_blacklist, {"blacklisted": ("payment",)}, "blacklist.order"),
    ],
)
def test_order_rules(rule: rules.OrderRule, fires: dict[str, Any], code: str) -> None:
    assert rule(CLEAN_ORDER, LIMITS) is None
    reason = rule(CLEAN_ORDER._replace(**fires), LIMITS)
    assert reason is not None and reason.code == code and reason.message


def test_a_block_defers_to_its_network_that_stands_out() -> None:
    both = CLEAN_ORDER._replace(network_surprise=40.0, block_surprise=40.0)
    assert rules.farm_block(both, LIMITS) is None
    network = rules.farm_network(both, LIMITS)
    assert network is not None and network.code == "source.network_orders"


def test_a_reason_is_built_once_for_the_same_arguments() -> None:
    capped = CLEAN_CLICK._replace(visitor_touches_week=9)
    first, again = rules.frequency_cap(capped, LIMITS), rules.frequency_cap(capped, LIMITS)
    assert first is not None and first is again  # frozen, so shared: no validation per click
    other = rules.frequency_cap(capped, LIMITS.model_copy(update={"visitor_touches_per_week": 8}))
    assert other is not None and other.message != first.message


def test_refund_rate_needs_enough_orders() -> None:
    few = OrderFacts(affiliate_orders=10, affiliate_refunds=9)
    assert rules.refund_rate(few, LIMITS) is None
    assert rules.refund_rate(few, LIMITS.model_copy(update={"min_orders_for_refund_rate": 10}))


def test_judge_adds_scores_and_critical_blocks() -> None:
    warn = rules.geo_mismatch(OrderFacts(click_country="CN", order_country="US"), LIMITS)
    fast = rules.too_fast(OrderFacts(seconds_since_click=1.0), LIMITS)
    assert warn is not None and fast is not None
    assert judge([warn], LIMITS).decision == "allow"
    assert judge([warn], LIMITS).score == 20
    review = judge([fast], LIMITS)
    assert (review.decision, review.score) == ("review", 50)
    both = judge([fast, warn, None], LIMITS)
    assert (both.decision, both.score, len(both.reasons)) == ("review", 70, 2)
    strict = LIMITS.model_copy(update={"block_score": 70})
    assert judge([fast, warn], strict).decision == "block"
    bot = rules.known_bot(ClickFacts(user_agent="x", bot_pattern="x"), LIMITS)
    assert judge([bot], LIMITS).decision == "block"


def test_thresholds_are_data() -> None:
    limits = FraudThresholds.model_validate({"refund_rate": "30%", "review_score": 30})
    assert limits.refund_rate == Decimal("0.3")
    with pytest.raises(InvalidInput, match="review_score"):
        FraudThresholds.model_validate({"review_score": 90, "block_score": 80})
    assert "network_clicks_per_minute" in FraudThresholds.model_json_schema()["properties"]
