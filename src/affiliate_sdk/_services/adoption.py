"""Adopting a ledger written before the journal was keyed and carried its projections.

A store migrated from an earlier schema holds ledger lines, order money,
period totals, marks, payouts and payout runs that no journal entry wrote
(their ``seq`` is 0), and a journal chained with plain SHA-256. Adopting it,
once, appends keyed ``ledger.adopted`` entries holding those rows' documents
(in pages; one entry per payout run, with its batches) and gives each row its
entry's seq. The entries are dated at the last unkeyed entry. The first keyed
entry binds every unkeyed one before it, so from then on the old journal
cannot be rewritten either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from affiliate_sdk.commission.calculator import COMMISSION_ROUNDING
from affiliate_sdk.commission.journal import JournalDraft, decode_entry
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineFilter, LineRow, Mark, OrderRow, PeriodTotals

from .journal import JournalWriter
from .projections import line_doc, mark_doc, order_doc, order_key, payout_doc, period_doc
from .verification import run_doc

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


def _unproven_runs(tx: UnitOfWork) -> list[str]:
    """The payout runs no journal entry recorded (their ``seq`` is 0), oldest first."""
    found: list[str] = []
    after: str | None = None
    while page := tx.ledger.runs(after=after, limit=ADOPT_PAGE):
        found += [run_id for run_id, seq in page if not seq]
        after = page[-1][0]
    return found


def _booked(totals: PeriodTotals) -> PeriodTotals:
    """Tier totals from before ``booked`` was kept: what was paid, as it was rounded."""
    if totals.key.startswith("tier/") and not totals.booked and totals.paid:
        return totals._replace(booked=totals.paid.quantize(_CENT, rounding=COMMISSION_ROUNDING))
    return totals


def _legacy_instant(tx: UnitOfWork) -> datetime | None:
    """The instant of the last unkeyed entry (None when there is none, or it has no instant)."""
    head = tx.journal.head()
    if head is None:
        return None
    try:
        return datetime.fromisoformat(str(decode_entry(head.body)["at"]))
    except (KeyError, ValueError):
        return None


def adopt(tx: UnitOfWork, writer: JournalWriter, *, at: datetime) -> int:
    """Prove every unproven projection row with keyed journal entries; how many rows.

    The entries are dated at the last unkeyed entry (``at`` only when it has no instant):
    they hold the ledger as it stood then, the journal stays in time order whatever the
    host's clock says, and a report window that covers the old journal reads the adopted
    lines in it.
    """
    at = _legacy_instant(tx) or at
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
    for run_id in _unproven_runs(tx):
        batches = tx.ledger.payouts(run_id=run_id)
        ids = [row.batch.payout_id for row in batches]
        draft = JournalDraft(
            f"ledger.adopted/{page + 1}",
            "ledger.adopted",
            at,
            (),
            {},
            {
                "payouts": {row.batch.payout_id: payout_doc(row) for row in batches},
                "runs": {run_id: run_doc(ids)},
            },
        )
        page += 1
        tx.ledger.prove_run(run_id, writer.append(tx, draft).seq)
        adopted += 1 + len(batches)
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
