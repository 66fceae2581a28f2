"""Cash-out: refunds and cancellations that concentrate on one source after its commission
was approved. Pure.

The hold period exists so that a refund reverses commission before it is approved. A
source (an affiliate on a campaign) that lets the hold pass, has its orders' commission
approved and then has the orders refunded or cancelled cashes the commission out. Of the
source's ``n`` orders whose commission was approved, ``k`` were refunded or cancelled after
approval; the rest of its campaign says how common that is: the base rate ``p`` is the
campaign's share with the source's own orders taken out, drawn towards ``PRIOR`` by
``sources.PRIOR_EVENTS`` orders' weight (``sources.base_rate``):

    p = (K - k + PRIOR * 50) / (N - n + 50)

where ``N`` and ``K`` are the campaign's counts, the source's included. The source is
judged once ``k`` reaches ``min_cashout_refunds`` and its share ``k / n`` is at least
``cashout_factor`` times ``p``; the rule fires when ``surprise(k, n, p)``, the exponent of
Chernoff's bound on the chance of ``k`` or more of ``n`` at rate ``p`` (``n * KL(k/n || p)``),
reaches ``source_surprise``, as the other source rules do. A merchant whose customers often
return goods late has a high base rate, and its honest affiliates pass with it.

``cash_out`` is that surprise, ``cash_out_reason`` the rule; ``flagged_cash_out`` is the
order rule that keeps reviewing the later orders of a source the refunds flagged (its fact,
``OrderFacts.cashout_surprise``, is without end once the source is flagged).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from affiliate_sdk.models import FraudThresholds, Reason

from .facts import OrderFacts
from .sources import base_rate, surprise
from .verdicts import make_reason

__all__ = [
    "CODE",
    "PRIOR",
    "CashOutCounts",
    "cash_out",
    "cash_out_reason",
    "flagged_cash_out",
]

#: The reason code of the rule.
CODE: Final = "source.cash_out"
#: The base rate a young campaign starts from: about two orders in a hundred are refunded
#: after their commission was approved (most refunds come within the hold period).
PRIOR: Final = 0.02


class CashOutCounts(NamedTuple):
    """What a source (or its whole campaign) has counted: orders whose commission was
    approved, and of those the ones refunded or cancelled after approval."""

    approved: int = 0
    reversed: int = 0


def cash_out(
    source: CashOutCounts,
    campaign: CashOutCounts,
    *,
    minimum: int,
    factor: float,
    prior: float = PRIOR,
) -> float | None:
    """How implausible the source's refunds after approval are against its campaign's base
    rate (``campaign`` includes the source); None below ``minimum`` of them, or when the
    source's share is not ``factor`` times the base rate."""
    k = source.reversed
    if k < minimum:
        return None
    n = max(source.approved, k)  # (approvals counted before the counts were kept: none)
    p = base_rate(campaign.reversed - k, campaign.approved - source.approved, prior=prior)
    if k < factor * p * n:
        return None
    return surprise(k, n, p)


def cash_out_reason(
    source: CashOutCounts, campaign: CashOutCounts, limits: FraudThresholds
) -> Reason | None:
    """The rule: a source whose orders are refunded after approval far more often than its
    campaign's, implausibly for chance (``limits``: ``min_cashout_refunds``,
    ``cashout_factor``, ``source_surprise``)."""
    found = cash_out(
        source, campaign, minimum=limits.min_cashout_refunds, factor=limits.cashout_factor
    )
    if found is None or found < limits.source_surprise:
        return None
    return _reason(limits)


def flagged_cash_out(facts: OrderFacts, limits: FraudThresholds) -> Reason | None:
    """An order of a source whose refunds after approval flagged it (cash-out): reviewed,
    as the refund that flagged it froze the source's unpaid commission."""
    found = facts.cashout_surprise
    if found is None or found < limits.source_surprise:
        return None
    return _reason(limits)


def _reason(limits: FraudThresholds) -> Reason:
    return make_reason(
        CODE,
        "high",
        f"The affiliate's orders are refunded or cancelled after their commission was "
        f"approved {limits.cashout_factor:g} or more times as often as its campaign's, "
        "implausibly for chance (cash-out: the hold period let pass, then the orders "
        "reversed).",
        score=min(limits.review_score + 10, 100),
    )
