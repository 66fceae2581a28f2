"""Period scopes, their running totals, and what closing a period books. Pure.

Orders count towards *period totals*, each kept under a key that names its
scope and period:

* ``tier/campaign/<campaign>/<basis>/<affiliate>/<period>``, or
  ``tier/merchant/<merchant>/<period>`` for tiers on the merchant's sales;
* ``target/campaign/<campaign>/affiliate_sales/<affiliate>/<period>``;
* ``cap/campaign/<campaign>/affiliate_sales/<affiliate>/<period>``;
* ``level/affiliate/<affiliate>/<year>`` (membership levels, the UTC year).

Periods (``2026-03``, ``2026-Q2``, ``2026``) are computed in the campaign's
time zone. Each part of a key has ``%`` and ``/`` escaped, so keys never
collide. ``closed/<campaign>/<period>`` marks a campaign's period as closed.

Closing a period (``settle_period``) settles what refunds changed:

* **retroactive tiers**: the period owes ``tier_base x rate_at(volume)``,
  exact; the close books that amount rounded once (``COMMISSION_ROUNDING``)
  less what the ledger already holds for it (``booked``: the rounded tier
  commission of every order, true-ups and earlier corrections included), so
  the per-order rounding is trued up as well;
* **over-target bonus**: the period owes ``bonus_rate x volume`` when the
  volume exceeds the target, nothing otherwise; the bonus lines booked so far
  are in ``paid`` (already rounded).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal, NamedTuple

import attrs

from affiliate_sdk.commission.calculator import COMMISSION_ROUNDING
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.commission.tiers import Period, period_bounds, period_key
from affiliate_sdk.money import Money

__all__ = [
    "Scope",
    "ScopeKind",
    "Settlement",
    "Totals",
    "cap_key",
    "closed_key",
    "join_id",
    "level_key",
    "parse_scope",
    "period_bounds",
    "period_key",
    "scope_key",
    "settle_period",
    "settling_instant",
]

ScopeKind = Literal["tier", "target"]
_ZERO: Final = Decimal(0)
_LAST_MICROSECOND: Final = timedelta(microseconds=1)


class Totals(NamedTuple):
    """A period scope's running totals (the fields of the stored period totals, without key).

    ``volume`` is what counted towards the period (net of refunds);
    ``tier_base`` the value tier rates were paid on; ``rate`` the retroactive
    rate last applied or settled; ``paid`` the exact commission the rates
    earned (for a target: the bonus booked; for a cap: the commission counted
    against it); ``booked`` the tier commission the ledger holds for the
    period, rounded line by line (tier scopes only).
    """

    volume: Decimal = _ZERO
    tier_base: Decimal = _ZERO
    rate: Decimal = _ZERO
    paid: Decimal = _ZERO
    booked: Decimal = _ZERO


@attrs.frozen(slots=True)
class Scope:
    """What a campaign-scoped period key names (``parse_scope``)."""

    what: str
    campaign_id: str
    basis: str
    affiliate_id: str
    period: str


@attrs.frozen(slots=True)
class Settlement:
    """What closing a period books (``amount``, may be zero) and the totals it leaves.

    ``rate`` is the rate settled at, ``rule`` says why (``tier rate 15%``,
    ``over-target bonus``, ``target missed``).
    """

    amount: Money
    rate: Decimal
    rule: str
    totals: Totals


def join_id(*parts: str) -> str:
    """Parts joined by ``/``, each with ``%`` and ``/`` escaped so the joint is unambiguous."""
    return "/".join(part.replace("%", "%25").replace("/", "%2F") for part in parts)


def _split_id(key: str) -> list[str]:
    return [part.replace("%2F", "/").replace("%25", "%") for part in key.split("/")]


def scope_key(
    what: str,
    period: Period,
    basis: str,
    *,
    merchant_id: str,
    campaign_id: str,
    affiliate_id: str,
    placed_at: datetime,
    timezone: str,
) -> str:
    """The key of the period totals an order placed at ``placed_at`` counts towards."""
    when = period_key(placed_at, period, timezone)
    if basis == "merchant_sales":
        return join_id(what, "merchant", merchant_id, when)
    return join_id(what, "campaign", campaign_id, basis, affiliate_id, when)


def cap_key(
    period: Period, *, campaign_id: str, affiliate_id: str, placed_at: datetime, timezone: str
) -> str:
    """The key of an affiliate's period-cap totals in a campaign."""
    return scope_key(
        "cap",
        period,
        "affiliate_sales",
        merchant_id="",
        campaign_id=campaign_id,
        affiliate_id=affiliate_id,
        placed_at=placed_at,
        timezone=timezone,
    )


def level_key(affiliate_id: str, placed_at: datetime) -> str:
    """The key of an affiliate's annual sales for membership levels (the UTC calendar year)."""
    return join_id("level", "affiliate", affiliate_id, str(placed_at.astimezone(UTC).year))


def closed_key(campaign_id: str, period: str) -> str:
    """The mark that says a campaign's period has been closed."""
    return join_id("closed", campaign_id, period)


def parse_scope(key: str) -> Scope | None:
    """The scope a campaign-scoped key names; None for merchant, level and other keys."""
    parts = _split_id(key)
    if len(parts) != 6 or parts[1] != "campaign":
        return None
    what, _, campaign_id, basis, affiliate_id, period = parts
    return Scope(what, campaign_id, basis, affiliate_id, period)


def settling_instant(period: str, timezone: str) -> datetime:
    """The last instant of a period: the plan in force then settles it."""
    return period_bounds(period, timezone)[1] - _LAST_MICROSECOND


def settle_period(plan: CommissionPlan, what: ScopeKind, totals: Totals) -> Settlement | None:
    """What a closing period still owes (negative: was overpaid), or None if nothing settles.

    Tier scopes settle under retroactive tiers only; target scopes when the
    target pays a bonus. See the module docstring for the amounts.
    """
    if what == "tier":
        tiers = plan.tiers
        if tiers is None or tiers.mode != "retroactive" or tiers.currency is None:
            return None
        final = tiers.rate_at(totals.volume)
        due = Money(totals.tier_base * final, tiers.currency)
        owed = due.round(COMMISSION_ROUNDING) - Money(totals.booked, tiers.currency)
        after = totals._replace(rate=final, paid=due.amount, booked=totals.booked + owed.amount)
        return Settlement(owed, final, f"tier rate {(final * 100).normalize():f}%", after)
    target = plan.target
    if target is None or target.bonus_rate is None:
        return None
    earned = totals.volume > target.amount.amount
    bonus = totals.volume * target.bonus_rate if earned else _ZERO
    owed = Money(bonus - totals.paid, target.amount.currency).round(COMMISSION_ROUNDING)
    rule = "over-target bonus" if earned else "target missed"
    after = totals._replace(paid=totals.paid + owed.amount)
    return Settlement(owed, target.bonus_rate, rule, after)
