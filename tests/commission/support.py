"""Plain values for the pure commission tests: no alliance, no store."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from affiliate_sdk import CommissionPlan, Money, Order
from affiliate_sdk.commission.booking import (
    Booking,
    Party,
    PricingFacts,
    book_order,
    period_keys,
)
from affiliate_sdk.commission.periods import Totals
from affiliate_sdk.fx import FxRates
from affiliate_sdk.models import Affiliate, PlanVersion

NOW = datetime(2026, 5, 10, 4, 0, tzinfo=UTC)
ZONE = "Asia/Shanghai"
A1 = Party("a1", "c1", "m1", "k1")
BANDS: list[dict[str, Any]] = [
    {"from": 0, "to": 100_000, "rate": "15%"},
    {"from": 100_000, "rate": "20%"},
]


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def ids(prefix: str = "e") -> Callable[[], str]:
    """A deterministic id source."""
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):04d}"


def plan(**data: Any) -> CommissionPlan:
    return CommissionPlan.model_validate(data)


def version(of: CommissionPlan) -> PlanVersion:
    return PlanVersion(campaign_id="c1", version=1, effective_from=NOW.replace(year=2025), plan=of)


def order(order_id: str, total: str, currency: str = "CNY", **extra: Any) -> Order:
    return Order(order_id=order_id, merchant_id="m1", total=Money(total, currency), **extra)


def facts(
    of: CommissionPlan,
    sold: Order,
    *,
    totals: Mapping[str, Totals] | None = None,
    parties: tuple[tuple[Party, Decimal], ...] = ((A1, Decimal(1)),),
    affiliate: Affiliate | None = None,
    others: Mapping[str, Affiliate] | None = None,
    take: Decimal = Decimal(0),
    fx: FxRates | None = None,
) -> PricingFacts:
    return PricingFacts(
        order=sold,
        placed_at=sold.placed_at or NOW,
        now=NOW,
        plan=version(of),
        timezone=ZONE,
        primary=max(parties, key=lambda pw: pw[1])[0],
        parties=parties,
        affiliate=affiliate,
        others=others or {},
        take=take,
        totals=totals or {},
        fx=fx,
    )


class Book:
    """Books orders one after the other, carrying the period totals forward."""

    def __init__(self, of: CommissionPlan, **options: Any) -> None:
        self.plan = of
        self.options = options
        self.totals: dict[str, Totals] = dict(options.pop("totals", {}))
        self.new_id = ids()

    def __call__(self, sold: Order) -> Booking:
        wanted = period_keys(self.plan, A1, placed_at=sold.placed_at or NOW, timezone=ZONE)
        loaded = {key: self.totals[key] for key in wanted.names if key in self.totals}
        booking = book_order(
            facts(self.plan, sold, totals=loaded, **self.options), new_id=self.new_id
        )
        self.totals.update(booking.totals)
        return booking


def amounts(booking: Booking) -> list[tuple[str, str, Money]]:
    return [(x.account, x.kind, x.amount) for x in booking.commissions]
