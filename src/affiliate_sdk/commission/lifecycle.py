"""How a commission line moves through its states, as journal postings. Pure.

A line's money sits in the account of its state: ``affiliate/{id}/{state}``
or ``platform/{state}``. Booking moves it from the merchant's payable into
``pending``; approval moves it to ``approved``; a payout to ``paid``; freezing
parks it in ``frozen``; a reversal or rejection sends it back to the merchant.
What a line holds is its amount plus the (negative) reversals booked against
it: its *live* amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from affiliate_sdk.commission.ledger import (
    Posting,
    affiliate_account,
    merchant_account,
    platform_account,
)
from affiliate_sdk.models import Commission
from affiliate_sdk.money import Money

__all__ = [
    "EARNING_KINDS",
    "OPEN_STATUSES",
    "from_merchant",
    "live_amounts",
    "move",
    "state_account",
    "to_merchant",
]

#: Kinds of line that earn money and move through the lifecycle themselves
#: (reversals and clawbacks only adjust them).
EARNING_KINDS: Final = frozenset({"commission", "trueup", "bonus"})

#: Statuses whose lines still hold money that refunds can reverse.
OPEN_STATUSES: Final = frozenset({"pending", "frozen", "approved", "paid"})


def state_account(line: Commission, state: str) -> str:
    """The account that holds ``line``'s money in ``state``."""
    if line.account == "platform":
        return platform_account(state)
    return affiliate_account(line.affiliate_id, state)  # a parent's share is its own earning


def live_amounts(lines: Iterable[Commission]) -> dict[str, Money]:
    """Earning line id -> its amount net of the reversals booked against it."""
    lines = list(lines)
    live: dict[str, Money] = {
        line.entry_id: line.amount for line in lines if line.kind in EARNING_KINDS
    }
    for line in lines:
        if line.kind == "reversal" and line.reverses in live:
            live[line.reverses] = live[line.reverses] + line.amount
    return live


def move(line: Commission, amount: Money, source: str, target: str) -> list[Posting]:
    """Postings that move ``amount`` of ``line`` from state ``source`` to ``target``."""
    return [
        Posting(state_account(line, source), -amount),
        Posting(state_account(line, target), amount),
    ]


def from_merchant(merchant_id: str, lines: Iterable[Commission]) -> list[Posting]:
    """Postings that book new ``lines`` into ``pending``, paid for by their merchant."""
    postings: list[Posting] = []
    owed: dict[str, Money] = {}
    for line in lines:
        postings.append(Posting(state_account(line, "pending"), line.amount))
        currency = line.amount.currency
        owed[currency] = owed.get(currency, Money.zero(currency)) + line.amount
    postings.extend(Posting(merchant_account(merchant_id), -total) for total in owed.values())
    return postings


def to_merchant(parts: Mapping[str, list[tuple[Commission, str, Money]]]) -> list[Posting]:
    """Postings that take money out of lines' state accounts back to their merchants.

    ``parts`` maps a merchant id to ``(line, state, amount)`` triples, each
    ``amount`` positive: what leaves the line's ``state`` account.
    """
    postings: list[Posting] = []
    for merchant_id, triples in parts.items():
        totals: dict[str, Money] = {}
        for line, state, amount in triples:
            postings.append(Posting(state_account(line, state), -amount))
            totals[amount.currency] = (
                totals.get(amount.currency, Money.zero(amount.currency)) + amount
            )
        postings.extend(Posting(merchant_account(merchant_id), total) for total in totals.values())
    return postings
