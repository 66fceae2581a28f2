"""Fraud rules: pure functions from what is known of a click or an order to reasons.

Each rule looks at one fact sheet (``ClickFacts`` or ``OrderFacts``, built by
the ``Alliance`` from the request and the shared counters) and the
thresholds in force (``FraudThresholds``, data per platform, merchant or
campaign) and returns a ``Reason`` (a stable code, a severity, a score and a
sentence) or ``None``. ``judge`` adds the scores up into a ``Verdict``:
``block`` when a reason is critical or the score reaches ``block_score``,
``review`` from ``review_score``, else ``allow``. Hosts add rules of their own
by passing more functions of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal, NamedTuple

from affiliate_sdk.models import FraudThresholds, Reason, Verdict

__all__ = [
    "CLICK_RULES",
    "HEADLESS_MARKERS",
    "ORDER_RULES",
    "PAID_CLICK_PARAMETERS",
    "USER_AGENT_RULES",
    "ClickFacts",
    "ClickRule",
    "FraudThresholds",
    "OrderFacts",
    "OrderRule",
    "judge",
]

Severity = Literal["info", "warn", "high", "critical"]

#: Query parameters that ad networks add to paid clicks.
PAID_CLICK_PARAMETERS: Final = frozenset(
    {
        "gclid",
        "gbraid",
        "wbraid",
        "dclid",
        "fbclid",
        "msclkid",
        "ttclid",
        "twclid",
        "li_fat_id",
        "yclid",
        "epik",
        "rdt_cid",
        "sccid",
    }
)
#: Substrings of user agents that automation tools send.
HEADLESS_MARKERS: Final = (
    "HeadlessChrome",
    "PhantomJS",
    "Puppeteer",
    "Playwright",
    "Selenium",
    "webdriver",
    "Electron/",
    "SlimerJS",
)


class ClickFacts(NamedTuple):
    """What is known of a click when it is judged (a named tuple: cheap on the click path)."""

    user_agent: str | None
    bot_pattern: str | None
    network_kind: str | None = None  # "datacenter", "vpn", "tor", ... when the host knows
    network_clicks: int = 0  # clicks from the IP network in the last minute, this one included
    visitor_clicks: int = 0
    device_clicks: int = 0  # clicks from the host's device fingerprint in the last minute
    affiliate_clicks: int = 0
    visitor_affiliate_clicks_today: int = 0
    paid_parameters: tuple[str, ...] = ()
    blacklisted: tuple[str, ...] = ()  # what matched: "network", "device", "affiliate"


class OrderFacts(NamedTuple):
    """What is known of an order when it is judged."""

    seconds_since_click: float | None = None
    self_referral: tuple[str, ...] = ()  # what the affiliate and customer share: "email", ...
    duplicates: int = 0  # earlier orders with the same customer, amount and lines
    near_duplicates: int = 0  # earlier orders with the same customer and lines, another amount
    payment_customers: int = 0  # customers seen paying with this order's payment fingerprint
    network_customers: int = 0  # the affiliate's customers ordering from this IP network this week
    coupon_without_click: bool = False
    affiliate_orders: int = 0
    affiliate_refunds: int = 0
    affiliate_clicks_today: int = 0  # the credited affiliate's clicks over the last day
    affiliate_orders_today: int = 0  # and its attributed orders, this one included
    affiliate_timed_orders: int = (
        0  # the affiliate's orders that came through a click, this one too
    )
    affiliate_late_orders: int = 0  # those that came ``late_conversion_hours`` or more after it
    value_sigmas: float | None = None  # log-value distance from the merchant's mean
    click_country: str | None = None
    order_country: str | None = None
    blacklisted: tuple[str, ...] = ()  # "payment", "device", "affiliate", "network"
    affiliate_grade: str | None = None


ClickRule = Callable[[ClickFacts, FraudThresholds], Reason | None]
OrderRule = Callable[[OrderFacts, FraudThresholds], Reason | None]

_SCORES: Final[dict[Severity, int]] = {"info": 0, "warn": 20, "high": 50, "critical": 100}


def _reason(code: str, severity: Severity, message: str, score: int | None = None) -> Reason:
    return Reason(
        code=code,
        message=message,
        severity=severity,
        score=_SCORES[severity] if score is None else score,
    )


# -- click rules ----------------------------------------------------------------------------
def known_bot(facts: ClickFacts, _: FraudThresholds) -> Reason | None:
    if not facts.user_agent or not facts.user_agent.strip():
        return _reason(
            "ua.missing", "critical", "The request carried no user agent; browsers always send one."
        )
    if facts.bot_pattern is not None:
        return _reason(
            "ua.known_bot",
            "critical",
            f"The user agent matches the known crawler pattern {facts.bot_pattern!r}.",
        )
    return None


def headless(facts: ClickFacts, _: FraudThresholds) -> Reason | None:
    agent = facts.user_agent or ""
    marker = next((m for m in HEADLESS_MARKERS if m in agent), None)
    if marker is None:
        return None
    return _reason("ua.headless", "critical", f"The user agent names automation tool {marker!r}.")


def hosting_network(facts: ClickFacts, limits: FraudThresholds) -> Reason | None:
    kind = facts.network_kind
    if kind is None:
        return None
    if kind in limits.block_network_kinds:
        return _reason(
            f"net.{kind}",
            "critical",
            f"The click came from a {kind} network: servers, not people, browse from there.",
        )
    return _reason(
        f"net.{kind}",
        "warn",
        f"The click came from a {kind} network, which hides where the visitor is "
        "(many people use one: it adds to other reasons, alone it is no fault).",
    )


def click_velocity(facts: ClickFacts, limits: FraudThresholds) -> Reason | None:
    for what, seen, limit in (
        ("network", facts.network_clicks, limits.network_clicks_per_minute),
        ("visitor", facts.visitor_clicks, limits.visitor_clicks_per_minute),
        ("device", facts.device_clicks, limits.device_clicks_per_minute),
        ("affiliate", facts.affiliate_clicks, limits.affiliate_clicks_per_minute),
    ):
        if seen > limit:
            return _reason(
                f"velocity.{what}",
                "high" if what != "network" else "critical",
                f"More than {limit} clicks from this {what} within a minute.",
            )
    return None


def frequency_cap(facts: ClickFacts, limits: FraudThresholds) -> Reason | None:
    if facts.visitor_affiliate_clicks_today <= limits.visitor_affiliate_clicks_per_day:
        return None
    limit = limits.visitor_affiliate_clicks_per_day
    return _reason(
        "velocity.frequency_cap",
        "warn",
        f"The visitor clicked this affiliate's links more than {limit} times in a day.",
        score=limits.review_score,
    )


def paid_search(facts: ClickFacts, limits: FraudThresholds) -> Reason | None:
    if not limits.forbid_paid_search or not facts.paid_parameters:
        return None
    names = ", ".join(sorted(facts.paid_parameters))
    return _reason(
        "paid.click_id",
        "critical",
        f"The click carries paid-ad click ids ({names}) and the campaign forbids paid search.",
    )


def click_blacklist(facts: ClickFacts, _: FraudThresholds) -> Reason | None:
    if not facts.blacklisted:
        return None
    what = ", ".join(facts.blacklisted)
    return _reason("blacklist.click", "critical", f"Blacklisted: {what}.")


# -- order rules ----------------------------------------------------------------------------
def too_fast(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    seconds = facts.seconds_since_click
    if seconds is None or seconds >= limits.min_click_to_order_seconds:
        return None
    return _reason(
        "conversion.too_fast",
        "high",
        f"The order came {seconds:.1f} s after the click, faster than a person can shop "
        "(click injection).",
        score=limits.review_score + 10,
    )


def self_referral(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if not facts.self_referral:
        return None
    shared = ", ".join(facts.self_referral)
    if facts.self_referral != ("network",):
        return _reason(
            "order.self_referral",
            "critical",
            f"The customer shares {shared} with the affiliate credited for the order.",
        )
    # Neighbours share networks too: an IP network alone is a question, not proof.
    return _reason(
        "order.self_referral_network",
        "warn",
        "The order came from the credited affiliate's own IP network.",
        score=limits.review_score,
    )


def duplicate_order(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if facts.duplicates < 1:
        return None
    return _reason(
        "order.duplicate",
        "high",
        f"{facts.duplicates} earlier order(s) of the same customer with the same amount and lines.",
        score=limits.review_score + 10,
    )


def near_duplicate(facts: OrderFacts, _: FraudThresholds) -> Reason | None:
    if facts.near_duplicates < 1:
        return None
    return _reason(
        "order.near_duplicate",
        "warn",
        f"{facts.near_duplicates} earlier order(s) of the same customer with the same lines "
        "and another amount.",
    )


def shared_payment(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if facts.payment_customers <= limits.customers_per_payment:
        return None
    return _reason(
        "order.shared_payment",
        "high",
        f"The payment method has paid for {facts.payment_customers} different customers' "
        f"orders (limit {limits.customers_per_payment}): fake accounts (brushing).",
        score=limits.review_score + 10,
    )


def shared_network(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if facts.network_customers <= limits.customers_per_network:
        return None
    return _reason(
        "order.shared_network",
        "warn",
        f"{facts.network_customers} different customers of this affiliate ordered from one IP "
        f"network this week (limit {limits.customers_per_network}): accounts run by one hand.",
        score=limits.review_score,
    )


def coupon_without_click(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if not facts.coupon_without_click:
        return None
    return _reason(
        "coupon.without_click",
        "warn",
        "The coupon's affiliate never sent this customer a click (a leaked coupon).",
        score=limits.review_score,
    )


def refund_rate(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if facts.affiliate_orders < limits.min_orders_for_refund_rate or limits.refund_rate is None:
        return None
    rate = facts.affiliate_refunds / facts.affiliate_orders
    if rate < limits.refund_rate:
        return None
    return _reason(
        "affiliate.refund_rate",
        "warn",
        f"{rate:.0%} of the affiliate's orders were refunded (limit {limits.refund_rate:.0%}).",
        score=limits.review_score,
    )


def click_flooding(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if facts.affiliate_clicks_today < limits.min_clicks_for_flooding:
        return None
    ratio = facts.affiliate_clicks_today / max(facts.affiliate_orders_today, 1)
    if ratio <= limits.clicks_per_order:
        return None
    return _reason(
        "affiliate.click_flooding",
        "warn",
        f"The affiliate sent {ratio:.0f} clicks per order over the last day "
        f"(limit {limits.clicks_per_order}): click flooding.",
        score=limits.review_score,
    )


def flat_conversion_times(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    timed = facts.affiliate_timed_orders
    if timed < limits.min_orders_for_timing:
        return None
    share = facts.affiliate_late_orders / timed
    if share <= limits.late_conversion_share:
        return None
    return _reason(
        "affiliate.late_conversions",
        "warn",
        f"{share:.0%} of the affiliate's orders came {limits.late_conversion_hours:g} hours or "
        f"more after the click (limit {limits.late_conversion_share:.0%}): clicks spread over "
        "people who were going to buy anyway (click flooding).",
        score=limits.review_score,
    )


def grade_c(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if facts.affiliate_grade != "C" or not limits.freeze_grade_c:
        return None
    if refund_rate(facts, limits) is not None:
        return None  # the refund-rate reason already says it; the same history counts once
    return _reason(
        "affiliate.grade_c",
        "warn",
        "The affiliate is graded C (high fraud or refund rate): its commission is reviewed.",
        score=limits.review_score,
    )


def value_outlier(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    if facts.value_sigmas is None or abs(facts.value_sigmas) < limits.outlier_sigmas:
        return None
    return _reason(
        "order.value_outlier",
        "warn",
        f"The order value is {facts.value_sigmas:.1f} standard deviations from the "
        "merchant's usual orders.",
    )


def geo_mismatch(facts: OrderFacts, _: FraudThresholds) -> Reason | None:
    if facts.click_country is None or facts.order_country is None:
        return None
    if facts.click_country == facts.order_country:
        return None
    return _reason(
        "geo.mismatch",
        "warn",
        f"The click came from {facts.click_country}, the order from {facts.order_country}.",
    )


def order_blacklist(facts: OrderFacts, _: FraudThresholds) -> Reason | None:
    if not facts.blacklisted:
        return None
    return _reason("blacklist.order", "critical", f"Blacklisted: {', '.join(facts.blacklisted)}.")


#: Rules that look at the user agent alone (judged once per distinct user agent).
USER_AGENT_RULES: Final[tuple[ClickRule, ...]] = (known_bot, headless)
#: Rules judged on every click.
CLICK_RULES: Final[tuple[ClickRule, ...]] = (
    click_blacklist,
    paid_search,
    click_velocity,
    frequency_cap,
    hosting_network,
)
ORDER_RULES: Final[tuple[OrderRule, ...]] = (
    order_blacklist,
    self_referral,
    too_fast,
    duplicate_order,
    near_duplicate,
    shared_payment,
    shared_network,
    coupon_without_click,
    refund_rate,
    click_flooding,
    flat_conversion_times,
    grade_c,
    value_outlier,
    geo_mismatch,
)


def judge(reasons: Iterable[Reason | None], limits: FraudThresholds) -> Verdict:
    """The verdict from the rules' reasons (``None`` entries are rules that did not fire)."""
    fired: Sequence[Reason] = tuple(reason for reason in reasons if reason is not None)
    if not fired:
        return Verdict(decision="allow", score=0)
    score = min(100, sum(reason.score for reason in fired))
    critical = any(reason.severity == "critical" for reason in fired)
    if critical or score >= limits.block_score:
        decision: Literal["allow", "review", "block"] = "block"
    elif score >= limits.review_score:
        decision = "review"
    else:
        decision = "allow"
    return Verdict(decision=decision, score=100 if critical else score, reasons=fired)
