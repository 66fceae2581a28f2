"""Affiliate grades S/A/B/C from their history. Pure.

An affiliate with at least ``MIN_GRADED_ORDERS`` attributed orders gets the
best grade whose limits both its fraud rate (orders judged ``review`` or
``block``) and its refund rate stay under:

| grade | fraud rate below | refund rate below |
|---|---|---|
| S | 1% | 5% |
| A | 3% | 10% |
| B | 10% | 25% |
| C | otherwise | |

Fewer orders: no grade yet. A channel is graded the same way, from the pooled
history of its affiliates (``pooled``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, NamedTuple

__all__ = ["GRADE_LIMITS", "MIN_GRADED_ORDERS", "Grade", "History", "grade", "pooled"]

Grade = Literal["S", "A", "B", "C"]
MIN_GRADED_ORDERS: Final = 20
#: (grade, fraud rate below, refund rate below), best first.
GRADE_LIMITS: Final[tuple[tuple[Grade, float, float], ...]] = (
    ("S", 0.01, 0.05),
    ("A", 0.03, 0.10),
    ("B", 0.10, 0.25),
)


class History(NamedTuple):
    """An affiliate's attributed orders, the refunded ones, the ones judged suspect, and of
    those that came through a click, how many and how many came late (hours after it)."""

    orders: int = 0
    refunds: int = 0
    flagged: int = 0
    timed: int = 0
    late: int = 0

    @property
    def refund_rate(self) -> float:
        return self.refunds / self.orders if self.orders else 0.0

    @property
    def fraud_rate(self) -> float:
        return self.flagged / self.orders if self.orders else 0.0


def grade(history: History) -> Grade | None:
    """The affiliate's grade, or None before ``MIN_GRADED_ORDERS`` orders."""
    if history.orders < MIN_GRADED_ORDERS:
        return None
    for name, fraud_below, refunds_below in GRADE_LIMITS:
        if history.fraud_rate < fraud_below and history.refund_rate < refunds_below:
            return name
    return "C"


def pooled(histories: Iterable[History]) -> History:
    """The histories added up, count by count: a channel's, from its affiliates'."""
    total = [0] * len(History._fields)
    for history in histories:
        total = [a + b for a, b in zip(total, history, strict=True)]
    return History(*total)
