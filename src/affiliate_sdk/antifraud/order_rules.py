"""Order rules: pure functions from what is known of an order to a reason, or None.

Each rule takes the order's ``OrderFacts`` (built by ``signals.order_facts``
from the order, its attribution and what earlier orders left behind) and the
``FraudThresholds`` in force. ``ORDER_RULES`` are the bundled rules in the
order their reasons are listed; hosts add rules of the same shape.
"""

from __future__ import annotations

from typing import Final

from affiliate_sdk.models import FraudThresholds, Reason

from .cashout import flagged_cash_out
from .facts import OrderFacts, OrderRule
from .verdicts import make_reason

__all__ = [
    "ORDER_RULES",
    "channel_not_allowed",
    "click_flooding",
    "coupon_without_click",
    "duplicate_order",
    "farm_block",
    "farm_network",
    "fast_conversions",
    "flat_conversion_times",
    "geo_mismatch",
    "grade_c",
    "high_conversion",
    "low_conversion",
    "near_duplicate",
    "order_blacklist",
    "refund_rate",
    "self_referral",
    "shared_network",
    "shared_payment",
    "too_fast",
    "value_outlier",
]


def too_fast(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An order sooner after its click than a person can shop (click injection)."""
    seconds = facts.seconds_since_click
    if seconds is None or seconds >= limits.min_click_to_order_seconds:
        return None
    return make_reason(
        "conversion.too_fast",
        "high",
        f"The order came {seconds:.1f} s after the click, faster than a person can shop "
        "(click injection).",
        score=limits.review_score + 10,
    )


def self_referral(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """The customer shares identity details with the credited affiliate: critical,
    but an IP network alone only asks for review."""
    if not facts.self_referral:
        return None
    shared = ", ".join(facts.self_referral)
    if facts.self_referral != ("network",):
        return make_reason(
            "order.self_referral",
            "critical",
            f"The customer shares {shared} with the affiliate credited for the order.",
        )
    # Neighbours share networks too: an IP network alone is a question, not proof.
    return make_reason(
        "order.self_referral_network",
        "warn",
        "The order came from the credited affiliate's own IP network.",
        score=limits.review_score,
    )


def duplicate_order(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """Earlier orders of the customer with the same lines and the same total."""
    if facts.duplicates < 1:
        return None
    return make_reason(
        "order.duplicate",
        "high",
        f"{facts.duplicates} earlier order(s) of the same customer with the same amount and lines.",
        score=limits.review_score + 10,
    )


def near_duplicate(facts: OrderFacts, _: FraudThresholds) -> Reason | None:
    """Earlier orders of the customer with the same lines and another total."""
    if facts.near_duplicates < 1:
        return None
    return make_reason(
        "order.near_duplicate",
        "warn",
        f"{facts.near_duplicates} earlier order(s) of the same customer with the same lines "
        "and another amount.",
    )


def shared_payment(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """A payment fingerprint that has paid for more customers than allowed (brushing)."""
    if facts.payment_customers <= limits.customers_per_payment:
        return None
    return make_reason(
        "order.shared_payment",
        "high",
        f"The payment method has paid for {facts.payment_customers} different customers' "
        f"orders (limit {limits.customers_per_payment}): fake accounts (brushing).",
        score=limits.review_score + 10,
    )


def shared_network(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """More of the affiliate's customers ordering from one IP network in a week than
    allowed."""
    if facts.network_customers <= limits.customers_per_network:
        return None
    return make_reason(
        "order.shared_network",
        "warn",
        f"{facts.network_customers} different customers of this affiliate ordered from one IP "
        f"network this week (limit {limits.customers_per_network}): accounts run by one hand.",
        score=limits.review_score,
    )


def coupon_without_click(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An order credited by coupon alone, with no click of that affiliate."""
    if not facts.coupon_without_click:
        return None
    return make_reason(
        "coupon.without_click",
        "warn",
        "The coupon's affiliate never sent this customer a click (a leaked coupon).",
        score=limits.review_score,
    )


def refund_rate(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An affiliate whose share of refunded orders reaches ``refund_rate``."""
    if facts.affiliate_orders < limits.min_orders_for_refund_rate or limits.refund_rate is None:
        return None
    rate = facts.affiliate_refunds / facts.affiliate_orders
    if rate < limits.refund_rate:
        return None
    return make_reason(
        "affiliate.refund_rate",
        "warn",
        f"{rate:.0%} of the affiliate's orders were refunded (limit {limits.refund_rate:.0%}).",
        score=limits.review_score,
    )


def click_flooding(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An affiliate sending far more clicks per order over a day than allowed."""
    if facts.affiliate_clicks_today < limits.min_clicks_for_flooding:
        return None
    ratio = facts.affiliate_clicks_today / max(facts.affiliate_orders_today, 1)
    if ratio <= limits.clicks_per_order:
        return None
    return make_reason(
        "affiliate.click_flooding",
        "warn",
        f"The affiliate sent {ratio:.0f} clicks per order over the last day "
        f"(limit {limits.clicks_per_order}): click flooding.",
        score=limits.review_score,
    )


def flat_conversion_times(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An affiliate most of whose orders come hours after their click."""
    timed = facts.affiliate_timed_orders
    if timed < limits.min_orders_for_timing:
        return None
    share = facts.affiliate_late_orders / timed
    if share <= limits.late_conversion_share:
        return None
    return make_reason(
        "affiliate.late_conversions",
        "warn",
        f"{share:.0%} of the affiliate's orders came {limits.late_conversion_hours:g} hours or "
        f"more after the click (limit {limits.late_conversion_share:.0%}): clicks spread over "
        "people who were going to buy anyway (click flooding).",
        score=limits.review_score,
    )


def fast_conversions(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """A fast order of an affiliate whose orders come within ``fast_conversion_seconds`` of
    their click implausibly often for its campaign (click injection); not for an order
    ``too_fast`` already flags (one haste, counted once)."""
    seconds, found = facts.seconds_since_click, facts.fast_surprise
    if seconds is None or seconds >= limits.fast_conversion_seconds:
        return None
    if found is None or found < limits.source_surprise:
        return None
    if too_fast(facts, limits) is not None:
        return None  # the same haste: too_fast says it of this order already
    return make_reason(
        "source.fast_conversions",
        "high",
        f"The affiliate's orders come within {limits.fast_conversion_seconds:g} s of their "
        "click far more often than its campaign's (click injection: a click fired just "
        "before a purchase that was happening anyway).",
        score=limits.review_score + 10,
    )


def low_conversion(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An affiliate whose clicks of the last day bring orders at least
    ``low_conversion_factor`` times less often than its campaign's, implausibly for chance
    (click flooding, cookie stuffing)."""
    found = facts.conversion_surprise
    if found is None or found < limits.source_surprise:
        return None
    return make_reason(
        "source.low_conversion",
        "high",
        f"The affiliate's clicks of the last day convert {limits.low_conversion_factor:g} or "
        "more times less often than its campaign's (or the plans' expected rate): clicks on "
        "people who never chose it (click flooding, cookie stuffing).",
        score=limits.review_score + 10,
    )


def high_conversion(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An affiliate whose clicks of the last day bring orders within the day at least
    ``high_conversion_factor`` times as often as its campaign's, implausibly for chance
    (brushing, bought traffic: accounts that click and buy every time)."""
    found = facts.high_surprise
    if found is None or found < limits.source_surprise:
        return None
    return make_reason(
        "source.high_conversion",
        "high",
        f"The affiliate's clicks of the last day convert {limits.high_conversion_factor:g} or "
        "more times as often as its campaign's: accounts that click and buy every time "
        "(brushing, bought traffic).",
        score=limits.review_score + 10,
    )


def farm_network(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An affiliate with an implausible share of the customers who ordered from this
    order's IP network this week (accounts run from one place: a click farm)."""
    found = facts.network_surprise
    if found is None or found < limits.source_surprise:
        return None
    return make_reason(
        "source.network_orders",
        "high",
        "Far more of the customers ordering from this IP network this week bought through "
        "this affiliate than its share of the campaign makes plausible (accounts run from "
        "one place).",
        score=limits.review_score + 10,
    )


def farm_block(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An affiliate with an implausible share of the customers who ordered from this
    order's address block this week (a /16, a /32 of IPv6: how providers hand out
    addresses), where no single network stands out: machines rented across one provider's
    ranges, which no range list need name."""
    found = facts.block_surprise
    if found is None or found < limits.source_surprise or farm_network(facts, limits):
        return None  # (a network of the block that stands out says it already)
    return make_reason(
        "source.block_orders",
        "high",
        "Far more of the customers ordering from this address block this week bought "
        "through this affiliate than its share of the campaign makes plausible (machines "
        "rented across one provider's addresses).",
        score=limits.review_score + 10,
    )


def grade_c(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An affiliate graded C, where the campaign reviews those (unless the refund rate
    already says so)."""
    if facts.affiliate_grade != "C" or not limits.freeze_grade_c:
        return None
    if refund_rate(facts, limits) is not None:
        return None  # the refund-rate reason already says it; the same history counts once
    return make_reason(
        "affiliate.grade_c",
        "warn",
        "The affiliate is graded C (high fraud or refund rate): its commission is reviewed.",
        score=limits.review_score,
    )


def value_outlier(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An order value many standard deviations from the merchant's usual orders."""
    if facts.value_sigmas is None or abs(facts.value_sigmas) < limits.outlier_sigmas:
        return None
    return make_reason(
        "order.value_outlier",
        "warn",
        f"The order value is {facts.value_sigmas:.1f} standard deviations from the "
        "merchant's usual orders.",
    )


def geo_mismatch(facts: OrderFacts, _: FraudThresholds) -> Reason | None:
    """A click and an order from different countries."""
    if facts.click_country is None or facts.order_country is None:
        return None
    if facts.click_country == facts.order_country:
        return None
    return make_reason(
        "geo.mismatch",
        "warn",
        f"The click came from {facts.click_country}, the order from {facts.order_country}.",
    )


def channel_not_allowed(facts: OrderFacts, _: FraudThresholds) -> Reason | None:
    """An order credited to an affiliate whose channel the campaign does not let earn on it
    (``Campaign.allowed_channels``: grey categories, for dedicated channels only)."""
    if facts.channel_allowed:
        return None
    return make_reason(
        "campaign.channel_not_allowed",
        "critical",
        "The campaign lets only its allowed channels earn on it, and the affiliate's channel "
        "is not one of them.",
    )


def order_blacklist(facts: OrderFacts, _: FraudThresholds) -> Reason | None:
    """Anything of the order (payment, device, affiliate, network) on the blacklist:
    critical."""
    if not facts.blacklisted:
        return None
    return make_reason(
        "blacklist.order", "critical", f"Blacklisted: {', '.join(facts.blacklisted)}."
    )


#: The bundled order rules, in the order their reasons are listed. ``shared_network`` and
#: ``click_flooding`` judge by fixed counts (so many customers from one network, so many
#: clicks per order); the bundled list judges the same by the campaign's base rates
#: (``farm_network``, ``low_conversion``), which carrier NAT and offices pass. Hosts that
#: want the fixed counts add them. ``high_conversion`` is left out too: an affiliate whose
#: real customers buy on nearly every click it sends is flagged with them (its honest
#: orders held), so alone it cannot tell brushing from such an affiliate; hosts may add it.
ORDER_RULES: Final[tuple[OrderRule, ...]] = (
    order_blacklist,
    channel_not_allowed,
    self_referral,
    too_fast,
    duplicate_order,
    near_duplicate,
    shared_payment,
    farm_network,
    farm_block,
    coupon_without_click,
    refund_rate,
    fast_conversions,
    low_conversion,
    flagged_cash_out,
    flat_conversion_times,
    grade_c,
    value_outlier,
    geo_mismatch,
)
