"""Commission not tied to one order (CPC, CPM, period closes and corrections). Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import attrs

from affiliate_sdk.commission.calculator import COMMISSION_ROUNDING, split_commission
from affiliate_sdk.commission.ledger import Posting
from affiliate_sdk.commission.lifecycle import from_merchant
from affiliate_sdk.commission.lines import NewId, split_lines
from affiliate_sdk.commission.periods import join_id
from affiliate_sdk.models import Commission
from affiliate_sdk.money import Money

__all__ = ["TrafficBooking", "TrafficHome", "book_traffic", "home_lines"]

_ZERO: Final = Decimal(0)


@attrs.frozen(kw_only=True, slots=True)
class TrafficHome:
    """Where commission not tied to one order is booked, and under which plan version."""

    merchant_id: str
    campaign_id: str
    affiliate_id: str
    plan_version: int
    hold_days: int
    take: Decimal = _ZERO


@attrs.frozen(slots=True)
class TrafficBooking:
    """Lines for CPC, CPM or a period close, and their journal entry (``commission.booked``)."""

    lines: tuple[Commission, ...]
    event_id: str
    postings: tuple[Posting, ...]


def home_lines(
    home: TrafficHome,
    amount: Money,
    *,
    kind: str,
    order_id: str,
    event: tuple[str, ...],
    rule: str,
    now: datetime,
    new_id: NewId,
) -> list[Commission]:
    """Pending lines for ``amount`` (rounded once) for ``home``'s affiliate, the take split off."""
    common = {
        "merchant_id": home.merchant_id,
        "order_id": order_id,
        "campaign_id": home.campaign_id,
        "affiliate_id": home.affiliate_id,
        "click_id": None,
        "status": "pending",
        "plan_version": home.plan_version,
        "created_at": now,
        "hold_until": now + timedelta(days=home.hold_days),
    }
    return split_lines(
        split_commission(amount.round(COMMISSION_ROUNDING), home.take),
        kind=kind,
        event=event,
        rate=_ZERO,
        basis=amount,
        rule=rule,
        tier={},
        common=common,
        new_id=new_id,
    )


def book_traffic(
    home: TrafficHome,
    amount: Money,
    *,
    rule: str,
    reference: str,
    now: datetime,
    new_id: NewId,
    kind: str = "commission",
) -> TrafficBooking:
    """CPC, CPM or period-close commission: lines under ``reference``, and their journal entry.

    The lines' ``order_id`` is ``reference``; the entry's event id is
    ``traffic/<reference>`` (escaped) and each line's that plus its account.
    """
    lines = home_lines(
        home,
        amount,
        kind=kind,
        order_id=reference,
        event=("traffic", reference),
        rule=rule,
        now=now,
        new_id=new_id,
    )
    return TrafficBooking(
        tuple(lines),
        join_id("traffic", reference),
        tuple(from_merchant(home.merchant_id, lines)),
    )
