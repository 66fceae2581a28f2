"""Order-fraud signals: what earlier orders and the affiliate's identity say of an order.

Pure functions of values the caller has loaded, so an order is judged in
three steps: load what earlier orders left (recent orders of the same
shape, the merchant's value statistics, distinct customers per payment and
per network, the affiliate's history), build the fact sheet with
``order_facts``, and ``judge_order`` it. What the caller writes back comes
from here too: the value statistics after the order (``value_sigmas``) and
the affiliate's history after its verdict (``history_after``).

- **Repeats** (``antifraud.duplicates``): the same customer ordering the same
  lines again, at the same total (duplicates) or another (near-duplicates).
- **Value outliers.** A merchant's order values are kept as running
  log-value statistics (Welford: count, mean, sum of squared deviations); an
  order is measured in standard deviations from the mean once
  ``MIN_ORDERS_FOR_OUTLIERS`` orders are known (``value_sigmas``).
- **Distinct customers** per payment fingerprint and per affiliate, network
  and week (``WEEK_MS``) are counted up to ``MAX_CUSTOMERS_KEPT``; the caller
  keeps the sets, keyed by ``customer_digest``.
- **Self-referral.** Contact, payment and device details are compared as
  keyed digests (``identity_digests``): the affiliate's own against the
  order's (``self_referral``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Final

from affiliate_sdk.models import FraudThresholds, Verdict

from .duplicates import (
    DUPLICATE_WINDOW_MS,
    MAX_SHAPES_KEPT,
    SHAPE_DIGEST_LENGTH,
    order_shape,
    repeats,
)
from .facts import OrderFacts, OrderRule
from .grades import History
from .order_rules import ORDER_RULES
from .verdicts import ALLOW, judge

__all__ = [
    "DUPLICATE_WINDOW_MS",
    "MAX_CUSTOMERS_KEPT",
    "MAX_SHAPES_KEPT",
    "MIN_ORDERS_FOR_OUTLIERS",
    "NOT_THE_AFFILIATES",
    "SHAPE_DIGEST_LENGTH",
    "WEEK_MS",
    "ValueStatistics",
    "counts_against_affiliate",
    "customer_digest",
    "history_after",
    "identity_digests",
    "judge_order",
    "normal_identity",
    "order_facts",
    "order_shape",
    "repeats",
    "seconds_since_click",
    "self_referral",
    "value_sigmas",
]

#: A merchant's order values are judged for outliers from this many orders on.
MIN_ORDERS_FOR_OUTLIERS: Final = 30
#: Customers remembered per payment fingerprint or network (enough to see one shared widely).
MAX_CUSTOMERS_KEPT: Final = 16
#: Reasons that do not count against the affiliate's grade (a grade, its own or its
#: channel's, reviews what the affiliate did not do).
NOT_THE_AFFILIATES: Final = frozenset(
    {"affiliate.grade_c", "channel.grade_c", "order.duplicate", "campaign.channel_not_allowed"}
)
#: Customers per affiliate and network are counted per week: ``placed_ms // WEEK_MS``.
WEEK_MS: Final = 7 * 86_400_000
#: Hex digits of a customer's digest in the distinct-customer sets.
_CUSTOMER_DIGEST_LENGTH: Final = 16
_MS_PER_SECOND: Final = 1000
_SECONDS_PER_HOUR: Final = 3600

#: Running statistics of a merchant's log order values: (count, mean, sum of squared
#: deviations from the mean).
ValueStatistics = tuple[int, float, float]


# -- repeats ---------------------------------------------------------------------------------
def value_sigmas(
    stats: ValueStatistics | None, value_minor: int
) -> tuple[float | None, ValueStatistics]:
    """How far an order's log value is from its merchant's, and the statistics after it.

    ``stats`` are the merchant's statistics in the order's currency before
    this order (None: no order yet) and ``value_minor`` the order's total in
    minor units. The distance, in standard deviations, is None before
    ``MIN_ORDERS_FOR_OUTLIERS`` orders or while every order had one value.
    """
    value = math.log1p(max(value_minor, 0))
    count, mean, m2 = (0, 0.0, 0.0) if stats is None else stats
    sigmas = None
    if count >= MIN_ORDERS_FOR_OUTLIERS and m2 > 0:
        sigmas = (value - mean) / math.sqrt(m2 / (count - 1))
    count += 1
    delta = value - mean
    mean += delta / count
    m2 += delta * (value - mean)
    return sigmas, (count, mean, m2)


# -- identity --------------------------------------------------------------------------------
def normal_identity(kind: str, value: str | None) -> str:
    """A detail as it is compared: phones by their digits, emails trimmed and in lower
    case, anything else trimmed; ``""`` for nothing to compare."""
    if value is None:
        return ""
    if kind == "phone":
        return "".join(ch for ch in value if ch.isdigit())
    if kind == "email":
        return value.strip().lower()
    return value.strip()


def identity_digests(
    digest: Callable[[bytes], str], details: Iterable[tuple[str, str | None]]
) -> list[str]:
    """``kind:digest`` of each ``(kind, value)`` detail that has something to compare.

    ``digest`` is the keyed hash the details are kept under (the same one for
    the affiliate's details and the order's, so equal details match).
    """
    digests = []
    for kind, value in details:
        normal = normal_identity(kind, value)
        if normal:
            digests.append(f"{kind}:{digest(f'{kind}:{normal}'.encode())}")
    return digests


def self_referral(own: Collection[str], mine: Sequence[str]) -> tuple[str, ...]:
    """The kinds of detail (``email``, ``network``...) an order shares with its affiliate.

    ``own`` are the affiliate's ``kind:digest`` entries, ``mine`` the order's,
    in the order the kinds are reported.
    """
    return tuple(entry.partition(":")[0] for entry in mine if entry in own)


def customer_digest(digest: Callable[[bytes], str], customer_id: str) -> str:
    """How a customer is kept in the distinct-customer sets (a short keyed digest)."""
    return digest(customer_id.encode())[:_CUSTOMER_DIGEST_LENGTH]


# -- the affiliate's history -----------------------------------------------------------------
def seconds_since_click(placed_ms: int, clicked_at_ms: int | None) -> float | None:
    """Seconds from the credited click to the order; None for an order without a click."""
    if clicked_at_ms is None:
        return None
    return (placed_ms - clicked_at_ms) / _MS_PER_SECOND


def _timed(history: History, seconds: float | None, limits: FraudThresholds) -> History:
    """The history with this order counted among the timed (and late) ones, if it had a
    click."""
    if seconds is None:
        return history
    late = seconds >= limits.late_conversion_hours * _SECONDS_PER_HOUR
    return history._replace(timed=history.timed + 1, late=history.late + int(late))


def counts_against_affiliate(verdict: Verdict) -> bool:
    """Whether the verdict flags the order as the affiliate's doing.

    An order counts against its affiliate for what it did, not for the grade
    it was judged under (else a grade C could never be left), nor for being
    reported twice (a shop or a shopper resubmitting is no fault of the
    affiliate's): see ``NOT_THE_AFFILIATES``.
    """
    return verdict.decision != "allow" and any(
        reason.code not in NOT_THE_AFFILIATES for reason in verdict.reasons
    )


def history_after(
    history: History,
    verdict: Verdict,
    seconds_since_click: float | None,
    limits: FraudThresholds,
) -> History:
    """The affiliate's history once the order is counted: one more order, flagged when
    the verdict counts against the affiliate, and timed (late) when it came through a
    click (``late_conversion_hours`` or more after it).

    ``history`` is the history as loaded, before this order.
    """
    timed = _timed(history, seconds_since_click, limits)
    flagged = timed.flagged + int(counts_against_affiliate(verdict))
    return timed._replace(orders=timed.orders + 1, flagged=flagged)


# -- facts and verdict -----------------------------------------------------------------------
def order_facts(
    *,
    limits: FraudThresholds,
    history: History,
    seconds_since_click: float | None,
    click_country: str | None,
    order_country: str | None,
    coupon_without_click: bool = False,
    shared_identity: tuple[str, ...] = (),
    duplicates: int = 0,
    near_duplicates: int = 0,
    payment_customers: int = 0,
    network_customers: int = 0,
    value_sigmas: float | None = None,
    affiliate_clicks_today: int = 0,
    affiliate_orders_today: int = 0,
    blacklisted: tuple[str, ...] = (),
    affiliate_grade: str | None = None,
) -> OrderFacts:
    """The fact sheet of an attributed order, from what the caller has loaded.

    ``history`` is the credited affiliate's history before this order (the
    order is counted among its timed and late orders here, as the rules see
    it); ``seconds_since_click`` and ``click_country`` describe the credited
    click (None without one). ``shared_identity`` is ``self_referral``'s
    answer; ``duplicates`` and ``near_duplicates`` are ``repeats``'s;
    ``payment_customers`` and ``network_customers`` the sizes of the distinct
    sets with this order's customer added; ``value_sigmas`` the first half of
    ``value_sigmas``'s answer. ``affiliate_clicks_today`` and
    ``affiliate_orders_today`` are the day's velocity totals, this order
    included; ``blacklisted`` names what of the order is listed;
    ``affiliate_grade`` is ``grades.grade`` of ``history``. What the source rules and the
    campaign's channels say (``fast_surprise``, ``conversion_surprise``,
    ``network_surprise``, ``channel_allowed``) the caller sets on the sheet as it is.
    """
    timed = _timed(history, seconds_since_click, limits)
    return OrderFacts(
        seconds_since_click=seconds_since_click,
        self_referral=shared_identity,
        duplicates=duplicates,
        near_duplicates=near_duplicates,
        payment_customers=payment_customers,
        network_customers=network_customers,
        coupon_without_click=coupon_without_click,
        affiliate_orders=timed.orders,
        affiliate_refunds=timed.refunds,
        affiliate_clicks_today=affiliate_clicks_today,
        affiliate_orders_today=affiliate_orders_today,
        affiliate_timed_orders=timed.timed,
        affiliate_late_orders=timed.late,
        value_sigmas=value_sigmas,
        click_country=click_country,
        order_country=order_country,
        blacklisted=blacklisted,
        affiliate_grade=affiliate_grade,
    )


def judge_order(
    facts: OrderFacts, limits: FraudThresholds, rules: Sequence[OrderRule] = ORDER_RULES
) -> Verdict:
    """The verdict of the order ``rules`` on ``facts`` (``ALLOW`` when none fires)."""
    fired = [reason for rule in rules if (reason := rule(facts, limits)) is not None]
    return judge(fired, limits) if fired else ALLOW
