"""Adopting a ledger written before the journal was keyed and carried its projections.

A store migrated from an earlier schema holds ledger lines, order money,
period totals and marks that no journal entry wrote (their ``seq`` is 0), and
a journal chained with plain SHA-256. Adopting it, once, appends keyed
``ledger.adopted`` entries holding those rows' documents (in pages) and gives
each row its entry's seq. The first keyed entry binds every unkeyed one
before it, so from then on the old journal cannot be rewritten either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from affiliate_sdk.commission.calculator import COMMISSION_ROUNDING
from affiliate_sdk.commission.journal import JournalDraft
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineFilter, LineRow, Mark, OrderRow, PeriodTotals

from .journal import JournalWriter
from .projections import line_doc, mark_doc, order_doc, order_key, period_doc

__all__ = ["ADOPT_PAGE", "adopt", "needs_adoption"]

#: Rows per ``ledger.adopted`` entry.
ADOPT_PAGE: Final = 500
_V1_SUFFIX: Final = b'"v":1}'
_CENT: Final = Decimal("0.01")
_T = TypeVar("_T")


def needs_adoption(tx: UnitOfWork) -> bool:
    """Whether the journal ends with an unkeyed entry: a ledger from an earlier schema."""
    head = tx.journal.head()
    return head is not None and head.body.endswith(_V1_SUFFIX)


def _lines(tx: UnitOfWork) -> Iterator[LineRow]:
    after: str | None = None
    while page := tx.ledger.query(LineFilter(), after=after, limit=ADOPT_PAGE):
        yield from (row for row in page if not row.seq)
        after = page[-1].line.entry_id


def _orders(tx: UnitOfWork) -> Iterator[OrderRow]:
    after: tuple[str, str] | None = None
    while page := tx.orders.scan(after=after, limit=ADOPT_PAGE):
        yield from (row for row in page if row.seq == 0)
        after = (page[-1].merchant_id, page[-1].order_id)


def _booked(totals: PeriodTotals) -> PeriodTotals:
    """Tier totals from before ``booked`` was kept: what was paid, as it was rounded."""
    if totals.key.startswith("tier/") and not totals.booked and totals.paid:
        return totals._replace(booked=totals.paid.quantize(_CENT, rounding=COMMISSION_ROUNDING))
    return totals


def adopt(tx: UnitOfWork, writer: JournalWriter, *, at: datetime) -> int:
    """Prove every unproven projection row with keyed journal entries; how many rows."""
    adopted = 0
    page = 0

    def entry(family: str, docs: Mapping[str, Any]) -> int:
        nonlocal page
        page += 1
        draft = JournalDraft(f"ledger.adopted/{page}", "ledger.adopted", at, (), {}, {family: docs})
        return writer.append(tx, draft).seq

    for lines in _chunks(_lines(tx)):
        seq = entry("lines", {r.line.entry_id: line_doc(r) for r in lines})
        tx.ledger.update([r._replace(seq=seq) for r in lines])
        adopted += len(lines)
    for orders in _chunks(_orders(tx)):
        seq = entry("orders", {order_key(r.merchant_id, r.order_id): order_doc(r) for r in orders})
        for r in orders:
            tx.orders.set_refunded(r.merchant_id, r.order_id, r.refunded_minor, seq)
        adopted += len(orders)
    unproven = [_booked(t) for t in tx.periods.scan("") if not t.seq]
    for totals in _chunks(iter(unproven)):
        seq = entry("periods", {t.key: period_doc(t) for t in totals})
        tx.periods.put([t._replace(seq=seq) for t in totals])
        adopted += len(totals)
    unmarked: list[Mark] = [m for m in tx.periods.marks("") if not m.seq]
    for marks in _chunks(iter(unmarked)):
        seq = entry("marks", {m.key: mark_doc(m) for m in marks})
        for mark in marks:
            tx.periods.put_mark(mark._replace(seq=seq), replace=True)
        adopted += len(marks)
    if not page:  # nothing to adopt: one keyed entry still binds the old journal
        entry("marks", {})
    return adopted


def _chunks(rows: Iterator[_T]) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == ADOPT_PAGE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
