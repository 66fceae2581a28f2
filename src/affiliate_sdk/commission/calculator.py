"""Pure commission arithmetic: no I/O, no clock, exact to the minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Final

import attrs

from affiliate_sdk.money import Money

__all__ = ["COMMISSION_ROUNDING", "CpsSplit", "cps_split", "reversal_for_refund"]

#: Rounding applied once, where a commission amount is booked.
COMMISSION_ROUNDING: Final = ROUND_HALF_EVEN
_CONTEXT: Final = Context(prec=60)


@attrs.frozen
class CpsSplit:
    """A CPS commission and who gets it: ``gross == affiliate + platform``."""

    gross: Money
    affiliate: Money
    platform: Money


def cps_split(basis: Money, rate: Decimal, take: Decimal) -> CpsSplit:
    """Commission on ``basis`` at ``rate``, with the platform keeping ``take`` of it.

    The commission is rounded once; the platform's share is rounded once; the
    affiliate gets the rest, so the two parts always add up to the commission.
    """
    gross = (basis * rate).round(COMMISSION_ROUNDING)
    platform = (gross * take).round(COMMISSION_ROUNDING)
    return CpsSplit(gross=gross, affiliate=gross - platform, platform=platform)


def _share(booked: Money, part: Money, whole: Money) -> Money:
    exact = _CONTEXT.divide(_CONTEXT.multiply(booked.amount, part.amount), whole.amount)
    return Money(exact, booked.currency).round(COMMISSION_ROUNDING)


def reversal_for_refund(
    booked: Money, order_total: Money, refunded_before: Money, refund: Money
) -> Money:
    """The (negative) entry that reverses ``booked`` in proportion to ``refund``.

    Reversals are cumulative: after refunds totalling ``r`` the entries reversed
    add up to ``round(booked * r / order_total)``, so a full refund, in one step
    or many, reverses exactly what was booked.
    """
    if not order_total:
        return Money.zero(booked.currency)
    before = _share(booked, refunded_before, order_total)
    after = _share(booked, refunded_before + refund, order_total)
    return before - after
