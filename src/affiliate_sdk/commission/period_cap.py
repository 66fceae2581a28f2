"""The period cap: an affiliate's commission in a period never exceeds the plan's cap. Pure.

An order's amounts are trimmed in order, each to what the cap still allows
(rounded down: never above the cap), measured in the cap's currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Final

from affiliate_sdk.money import Money

__all__ = ["trim_to_cap"]

_ZERO: Final = Decimal(0)


def trim_to_cap(
    amounts: Sequence[Money], cap: Money, paid: Decimal, rates: Sequence[Decimal]
) -> tuple[list[Money | None], Decimal]:
    """Each amount as the cap allows it (None: all of it), and the period's paid total after.

    ``paid`` is what the period had already paid in the cap's currency;
    ``rates`` convert each amount into it.
    """
    room = cap.amount - paid
    allowed_amounts: list[Money | None] = []
    for amount, fx in zip(amounts, rates, strict=True):
        wanted = amount.amount * fx
        allowed = max(min(wanted, room), _ZERO)
        kept: Money | None = None
        if allowed < wanted:
            kept = Money(allowed / fx, amount.currency).round(ROUND_DOWN)
        room -= (amount if kept is None else kept).amount * fx
        allowed_amounts.append(kept)
    return allowed_amounts, cap.amount - room
