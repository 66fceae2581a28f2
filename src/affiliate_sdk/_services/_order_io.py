"""The reads and writes around an order's decisions: pricing, booking, credits, events."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from hmac import compare_digest
from typing import Any, Final

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
from affiliate_sdk.models import (
    Commission,
    Credit,
    Order,
    PlanVersion,
    TouchNote,
    Verdict,
)
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import (
    LineMeasures,
    LineRow,
    OutboxRow,
    PeriodTotals,
)
from affiliate_sdk.tracking.attribution import WEIGHT_PLACES, Decision, Touch, rounded_weights
from affiliate_sdk.tracking.clicks import IpPseudonymizer
from affiliate_sdk.tracking.links import decode_sub_ids
from affiliate_sdk.webhooks.events import order_events as build_order_events

from .catalog import CatalogService
from .journal import JournalWriter
from .projections import Proof, line_doc, period_doc

__all__ = [
    "FINGERPRINT_CONTEXT",
    "credits_of",
    "fingerprint",
    "line_measures",
    "load_totals",
    "measures_of",
    "order_events",
    "price_order",
    "same_order",
    "touch_note",
    "write_booking",
]


#: What an order's content is prefixed with before it is hashed under the pseudonym key, so
#: its digest never equals that of an IP, a user agent or an identity detail.
FINGERPRINT_CONTEXT: Final = b"affiliate_sdk/order-fingerprint\x00"


def _content(order: Order) -> bytes:
    """The order as the host gave it, in JSON (a defaulted ``placed_at`` is left out)."""
    exclude = None if "placed_at" in order.model_fields_set else {"placed_at"}
    return order.model_dump_json(exclude=exclude).encode()


def fingerprint(order: Order, pseudonyms: IpPseudonymizer) -> str:
    """A keyed digest of the order as the host gave it, to tell a retry from a conflict.

    The order holds the customer's email, phone and payment details, so its
    digest is keyed (BLAKE2b under the pseudonymisation key, like IPs): whoever
    reads the database cannot confirm a guessed email against it.
    """
    return pseudonyms.digest(FINGERPRINT_CONTEXT + _content(order))


def same_order(stored: str, order: Order, pseudonyms: IpPseudonymizer) -> bool:
    """Whether ``stored`` is the fingerprint of ``order``: under the pseudonymisation key or
    a previous one, or the unkeyed SHA-256 of orders recorded before fingerprints were keyed."""
    content = _content(order)
    keyed = pseudonyms.digests(FINGERPRINT_CONTEXT + content)
    legacy = hashlib.sha256(content).hexdigest()
    return any(compare_digest(stored, digest) for digest in (*keyed, legacy))


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
    if not keys:
        return {}
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
    extra_rows: Mapping[str, Mapping[str, Any]] | None = None,
    events: list[OutboxRow] | None = None,
    chain: int = 0,
) -> tuple[int, list[LineRow]]:
    """Apply a booking: its journal entry, then its lines and period totals with the
    entry's seq. ``extra_rows`` adds projection documents (the order's money)."""
    pending = [LineRow(b.line, line_measures(b.measures), 0) for b in booking.lines]
    totals = [
        PeriodTotals(key, t.volume, t.tier_base, t.rate, t.paid, t.booked)
        for key, t in booking.totals.items()
    ]
    rows: dict[str, Mapping[str, Any]] = {
        "lines": {r.line.entry_id: line_doc(r) for r in pending},
        "periods": {t.key: period_doc(t) for t in totals},
        **(extra_rows or {}),
    }
    lines: list[Commission] = list(booking.commissions)
    draft = JournalDraft(
        booking.event_id, "commission.booked", at, booking.postings, _refs(lines), rows
    )
    entry = writer.append(tx, draft, lines, events=events, chain=chain)
    written = [row._replace(seq=entry.seq) for row in pending]
    tx.ledger.append(written)
    if totals:
        tx.periods.put([t._replace(seq=entry.seq) for t in totals])
    return entry.seq, written


_ZERO: Final = Decimal(0)


def _refs(lines: Sequence[Commission]) -> dict[str, object]:
    return {"lines": [line.entry_id for line in lines]}


def credits_of(
    decision: Decision, order: Order
) -> tuple[list[Credit], list[tuple[Party, Decimal]]]:
    """The decision's shares as public credits and as weighted parties (weights to 1)."""
    weights = rounded_weights([share.weight for share in decision.shares])
    credits: list[Credit] = []
    parties: list[tuple[Party, Decimal]] = []
    for share, weight in zip(decision.shares, weights, strict=True):
        click_id = None if share.click is None else share.click.click_id
        parties.append(
            (Party(share.affiliate_id, share.campaign_id, order.merchant_id, click_id), weight)
        )
        credits.append(
            Credit(
                affiliate_id=share.affiliate_id,
                campaign_id=share.campaign_id,
                click_id=click_id,
                weight=weight,
                clicked_at=None
                if share.click is None
                else from_timestamp(share.click.clicked_at_ms / 1000),
                signal=share.signal,
                coupon_code=share.coupon_code,
            )
        )
    return credits, parties


def order_events(
    order: Order,
    placed_at: datetime,
    verdict: Verdict,
    decision: Decision,
    *,
    credits: Sequence[Credit],
    lines: Sequence[Commission],
    now: datetime,
) -> list[OutboxRow]:
    """The order's ``order.attributed`` and, unless it was blocked, its ``click.attributed``."""
    earned: dict[str, Decimal] = {}
    for line in lines:
        if line.account == "affiliate":
            earned[line.affiliate_id] = earned.get(line.affiliate_id, _ZERO) + line.amount.amount
    sub_ids = {
        share.click.click_id: decode_sub_ids(share.click.sub_fields)
        for share in decision.shares
        if share.click is not None
    }
    pairs = [
        (
            {
                "affiliate_id": credit.affiliate_id,
                "campaign_id": credit.campaign_id,
                "click_id": credit.click_id if verdict.decision != "block" else None,
                "weight": str(credit.weight),
                "signal": credit.signal,
            },
            sub_ids.get(credit.click_id or "", {}),
        )
        for credit in credits
    ]
    return build_order_events(
        merchant_id=order.merchant_id,
        order_id=order.order_id,
        total=(str(order.total.amount), order.total.currency),
        placed_at=placed_at,
        decision=verdict.decision,
        credits=pairs,
        commissions={affiliate: str(amount) for affiliate, amount in earned.items()},
        at=now,
    )


_WEIGHT_UNIT: Final = Decimal(1).scaleb(-WEIGHT_PLACES)


def touch_note(touch: Touch) -> TouchNote:
    """A touch as the outcome explains it."""
    weight = touch.weight
    shown = None
    if weight is not None:
        shown = (
            Decimal(weight.numerator)
            if weight.denominator == 1
            else (Decimal(weight.numerator) / Decimal(weight.denominator)).quantize(_WEIGHT_UNIT)
        )
    return TouchNote(
        signal=touch.signal,
        affiliate_id=touch.affiliate_id,
        campaign_id=touch.campaign_id,
        click_id=touch.click_id,
        coupon_code=touch.coupon_code,
        at=None if touch.at_ms is None else from_timestamp(touch.at_ms / 1000),
        counted=touch.counted,
        weight=shown,
        reason=touch.reason,
    )
