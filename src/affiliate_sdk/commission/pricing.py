"""What an order is priced with (``PricingFacts``) and what booking it gives (``Booking``).

The values the service loads for ``commission.booking.book_order`` and gets
back from it; pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final, NamedTuple

import attrs

from affiliate_sdk.commission.ledger import Posting
from affiliate_sdk.commission.periods import Totals
from affiliate_sdk.fx import FxRates
from affiliate_sdk.models import Affiliate, Commission, ItemCommission, Order, PlanVersion
from affiliate_sdk.money import Money

__all__ = ["BookedLine", "Booking", "Measures", "Party", "PeriodKeys", "PricingFacts"]

_ZERO: Final = Decimal(0)


class Party(NamedTuple):
    """Who an order (or a share of it) is credited to, and through which click."""

    affiliate_id: str
    campaign_id: str
    merchant_id: str
    click_id: str | None


@attrs.frozen(slots=True)
class PeriodKeys:
    """The period totals an order counts towards under its plan (None: the plan has none)."""

    tier: str | None = None
    target: str | None = None
    level: str | None = None
    cap: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every key set: the totals the service loads before ``book_order``."""
        return tuple(k for k in (self.tier, self.target, self.level, self.cap) if k is not None)


@attrs.frozen(slots=True)
class Measures:
    """What a line added to its period totals, so a refund can take the refunded share back.

    ``tier_key`` names the tier period; ``tier_measure`` is what the order
    added to its volume; ``tier_base``, ``tier_paid`` the value it paid tier
    rates on and the exact tier commission it earned; ``tier_booked`` that
    commission as booked (rounded once, in the tiers' currency); ``fx_rate``
    the rate into the tiers' currency; ``counts`` the other period totals
    (targets, levels) it added to, and by how much.
    """

    tier_key: str | None = None
    tier_measure: Decimal | None = None
    tier_base: Decimal | None = None
    tier_paid: Decimal | None = None
    tier_booked: Money | None = None
    fx_rate: Decimal | None = None
    counts: tuple[tuple[str, Decimal], ...] = ()


@attrs.frozen(slots=True)
class BookedLine:
    """A ledger line and, for the lines that counted towards period totals, its measures."""

    line: Commission
    measures: Measures | None = None


@attrs.frozen(kw_only=True, slots=True)
class PricingFacts:
    """Everything an order is priced with, loaded beforehand.

    ``parties`` are the weighted credits (weights sum to 1); ``primary`` the
    one whose campaign's plan prices the order and whose period totals count
    it. ``affiliate`` is the primary's registration; ``others`` those of the
    other parties (their recruiters earn a ``parent_share``). ``take`` is the
    platform's share, resolved (plan, else merchant, else alliance default).
    ``totals`` holds the loaded totals of ``period_keys(...)`` (a missing key
    is zero). ``now`` is the booking instant (the lines' ``created_at``).
    """

    order: Order
    placed_at: datetime
    now: datetime
    plan: PlanVersion
    timezone: str
    primary: Party
    parties: tuple[tuple[Party, Decimal], ...]
    affiliate: Affiliate | None = None
    others: Mapping[str, Affiliate] = attrs.field(factory=dict)
    take: Decimal = _ZERO
    totals: Mapping[str, Totals] = attrs.field(factory=dict)
    fx: FxRates | None = None


@attrs.frozen(slots=True)
class Booking:
    """What booking an order changes.

    ``lines`` are new ``pending`` lines; ``totals`` the full new value of
    every period total written; ``items`` the breakdown before rounding;
    ``paid_renewal`` is None for an order that is not a renewal, False when
    the plan does not pay this renewal (nothing is booked), True otherwise.
    ``event_id`` and ``postings`` make the journal entry (``commission.booked``).
    """

    lines: tuple[BookedLine, ...]
    totals: Mapping[str, Totals]
    items: tuple[ItemCommission, ...]
    paid_renewal: bool | None
    event_id: str
    postings: tuple[Posting, ...]
    rule: str | None = None

    @property
    def commissions(self) -> tuple[Commission, ...]:
        """The ledger lines alone."""
        return tuple(booked.line for booked in self.lines)
