"""Orders and refunds: load the facts, call the pure decisions, apply in one unit of work.

``record`` attributes an order (``tracking.attribution``), judges it
(``antifraud.signals``), prices it (``commission.booking``) and applies the
result: one journal entry holding the new ledger lines, period totals and the
order's money, then those projection rows with the entry's ``seq``, the order's
events, and the review freeze when the order was judged ``review``. ``refund``
reverses an order's lines the same way (``commission.refunds``), after proving
the rows it reads against the journal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from affiliate_sdk.clock import from_timestamp
from affiliate_sdk.commission.booking import (
    Booking,
    Measures,
    Party,
    PricingFacts,
    book_order,
    period_keys,
)
from affiliate_sdk.commission.journal import JournalDraft
from affiliate_sdk.commission.periods import Totals
from affiliate_sdk.fx import FxRates
from affiliate_sdk.ids import new_id
from affiliate_sdk.models import Commission, Order, PlanVersion
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineMeasures, LineRow, PeriodTotals

from .catalog import CatalogService
from .journal import JournalWriter
from .projections import Proof, line_doc, period_doc

__all__ = [
    "fingerprint",
    "line_measures",
    "load_totals",
    "measures_of",
    "price_order",
    "write_booking",
]


def fingerprint(order: Order) -> str:
    """A digest of the order as the host gave it (a defaulted ``placed_at`` is left out)."""
    exclude = None if "placed_at" in order.model_fields_set else {"placed_at"}
    return hashlib.sha256(order.model_dump_json(exclude=exclude).encode()).hexdigest()


def line_measures(measures: Measures | None) -> LineMeasures | None:
    """A booking's measures as the ledger projection keeps them."""
    if measures is None:
        return None
    return LineMeasures(
        tier_key=measures.tier_key,
        tier_measure=measures.tier_measure,
        tier_base=measures.tier_base,
        tier_paid=measures.tier_paid,
        fx_rate=measures.fx_rate,
        counts=tuple(measures.counts),
        tier_booked=measures.tier_booked,
    )


def measures_of(row: LineMeasures | None) -> Measures | None:
    """Stored measures as the refund rules read them."""
    if row is None:
        return None
    return Measures(
        tier_key=row.tier_key,
        tier_measure=row.tier_measure,
        tier_base=row.tier_base,
        tier_paid=row.tier_paid,
        tier_booked=row.tier_booked,
        fx_rate=row.fx_rate,
        counts=row.counts,
    )


def load_totals(tx: UnitOfWork, proof: Proof, keys: Sequence[str]) -> dict[str, Totals]:
    """The period totals under ``keys``, proven against the journal (absent ones are zero)."""
    found = tx.periods.get_many(list(keys))
    proof.periods(found.values())
    return {
        key: Totals(row.volume, row.tier_base, row.rate, row.paid, row.booked)
        for key, row in found.items()
    }


def price_order(
    tx: UnitOfWork,
    catalog: CatalogService,
    proof: Proof,
    *,
    order: Order,
    version: PlanVersion,
    timezone: str,
    parties: Sequence[tuple[Party, Decimal]],
    placed_at: datetime,
    now_ms: int,
    fx: FxRates | None,
) -> Booking:
    """Load what pricing needs (registrations, take, proven period totals) and price."""
    primary = max(parties, key=lambda pw: pw[1])[0]  # the first of equal weights
    keys = period_keys(version.plan, primary, placed_at=placed_at, timezone=timezone)
    others = {
        party.affiliate_id: member
        for party, _ in parties
        if (member := catalog.member(tx, party.affiliate_id)) is not None
    }
    facts = PricingFacts(
        order=order,
        placed_at=placed_at,
        now=from_timestamp(now_ms / 1000),
        plan=version,
        timezone=timezone,
        primary=primary,
        parties=tuple(parties),
        affiliate=others.get(primary.affiliate_id),
        others=others,
        take=catalog.take(tx, version.plan, order.merchant_id),
        totals=load_totals(tx, proof, keys.names),
        fx=fx,
    )
    return book_order(facts, new_id=lambda: new_id(now_ms))


def write_booking(
    tx: UnitOfWork,
    writer: JournalWriter,
    booking: Booking,
    *,
    at: datetime,
    extra_rows: Mapping[str, Mapping[str, object]] | None = None,
) -> tuple[int, list[LineRow]]:
    """Apply a booking: its journal entry, then its lines and period totals with the
    entry's seq. ``extra_rows`` adds projection documents (the order's money)."""
    pending = [LineRow(b.line, line_measures(b.measures), 0) for b in booking.lines]
    totals = [
        PeriodTotals(key, t.volume, t.tier_base, t.rate, t.paid, t.booked)
        for key, t in booking.totals.items()
    ]
    rows: dict[str, Mapping[str, object]] = {
        "lines": {r.line.entry_id: line_doc(r) for r in pending},
        "periods": {t.key: period_doc(t) for t in totals},
        **(extra_rows or {}),
    }
    lines: list[Commission] = list(booking.commissions)
    draft = JournalDraft(
        booking.event_id, "commission.booked", at, booking.postings, _refs(lines), rows
    )
    entry = writer.append(tx, draft, lines)
    written = [row._replace(seq=entry.seq) for row in pending]
    tx.ledger.append(written)
    tx.periods.put([t._replace(seq=entry.seq) for t in totals])
    return entry.seq, written


def _refs(lines: Sequence[Commission]) -> dict[str, object]:
    return {"lines": [line.entry_id for line in lines]}
