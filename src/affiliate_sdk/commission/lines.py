"""Ledger lines of one amount: the affiliate's and the platform's take. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from affiliate_sdk.commission.calculator import CommissionSplit
from affiliate_sdk.commission.periods import join_id
from affiliate_sdk.errors import InvalidAmount
from affiliate_sdk.models import Commission
from affiliate_sdk.money import Money

__all__ = ["NewId", "split_lines"]

#: Makes a new, unique entry id.
NewId = Callable[[], str]


def split_lines(
    split: CommissionSplit,
    *,
    kind: str,
    event: tuple[str, ...],
    rate: Decimal,
    basis: Money,
    rule: str,
    tier: Mapping[str, object],
    common: Mapping[str, object],
    new_id: NewId,
) -> list[Commission]:
    """The affiliate's line (with ``tier`` fields) and the platform's, when its take is not zero.

    Event ids are ``<event parts>/<account>``. A ``commission`` is earned,
    never negative (``InvalidAmount``): money goes back only by reversals,
    clawbacks and the true-ups and bonus adjustments of a period.
    """
    if kind == "commission" and split.gross.amount < 0:
        raise InvalidAmount(split.gross, f"a commission cannot be negative ({rule})")
    lines = []
    for account, amount in (("affiliate", split.affiliate), ("platform", split.platform)):
        if account == "platform" and not amount:
            continue
        lines.append(
            Commission.model_validate(
                {
                    **common,
                    **(tier if account == "affiliate" else {}),
                    "entry_id": new_id(),
                    "event_id": join_id(*event, account),
                    "account": account,
                    "kind": kind,
                    "amount": amount,
                    "rate": rate,
                    "basis": basis,
                    "rule": rule,
                }
            )
        )
    return lines
