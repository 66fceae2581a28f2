"""Projection rows as the journal records them, and the check made before money moves.

Every row that money is read from is written together with a journal entry
holding the row's document (``line_doc``, ``order_doc``, ``period_doc``,
``mark_doc``, ``payout_doc``), and keeps that entry's ``seq``. ``Proof``
compares rows with their entries: the entry's tag must verify under the
journal key and its copy of the row must equal the row. A row edited, moved
to another entry, or left unproven (``seq`` 0) raises ``LedgerTampered``
naming it, and nothing is moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.commission.journal import ChainKey, decode_entry
from affiliate_sdk.errors import LedgerTampered
from affiliate_sdk.storage.contract import JournalRepo
from affiliate_sdk.storage.rows import LineRow, Mark, OrderRow, PayoutRow, PeriodTotals

__all__ = [
    "Proof",
    "line_doc",
    "mark_doc",
    "number",
    "order_doc",
    "order_key",
    "payout_doc",
    "period_doc",
]

_UNPROVEN: Final = "it has no journal entry (seq 0)"


def number(value: Decimal | None) -> str | None:
    """A decimal as canonical text: ``19.90`` and ``19.9`` are both ``"19.9"``."""
    return None if value is None else f"{value.normalize():f}"


def _ms(instant: datetime | None) -> int | None:
    return None if instant is None else int(instant.timestamp() * 1000)


def line_doc(row: LineRow) -> dict[str, Any]:
    """A ledger line and its measures as the journal keeps them."""
    line, measures = row.line, row.measures
    doc: dict[str, Any] = {
        "entry_id": line.entry_id,
        "event_id": line.event_id,
        "merchant_id": line.merchant_id,
        "order_id": line.order_id,
        "campaign_id": line.campaign_id,
        "affiliate_id": line.affiliate_id,
        "click_id": line.click_id,
        "account": line.account,
        "kind": line.kind,
        "amount": number(line.amount.amount),
        "currency": line.amount.currency,
        "status": line.status,
        "rate": number(line.rate),
        "basis": number(line.basis.amount),
        "basis_currency": line.basis.currency,
        "rule": line.rule,
        "plan_version": line.plan_version,
        "refund_id": line.refund_id,
        "reverses": line.reverses,
        "reason": line.reason,
        "created_at": _ms(line.created_at),
        "hold_until": _ms(line.hold_until),
        "approved_at": _ms(line.approved_at),
        "paid_at": _ms(line.paid_at),
        "payout_id": line.payout_id,
    }
    if measures is not None:
        doc["measures"] = [
            measures.tier_key,
            number(measures.tier_measure),
            number(measures.tier_base),
            number(measures.tier_paid),
            number(measures.fx_rate),
            [[key, number(value)] for key, value in measures.counts],
            None if measures.tier_booked is None else str(measures.tier_booked),
        ]
    return doc


def order_key(merchant_id: str, order_id: str) -> str:
    return path_key(merchant_id, order_id)


def order_doc(row: OrderRow) -> dict[str, Any]:
    """An order's money as the journal keeps it."""
    return {
        "currency": row.currency,
        "total_minor": row.total_minor,
        "refunded_minor": row.refunded_minor,
        "fingerprint": row.fingerprint,
    }


def period_doc(totals: PeriodTotals) -> list[str | None]:
    """Period totals as the journal keeps them."""
    return [
        number(totals.volume),
        number(totals.tier_base),
        number(totals.rate),
        number(totals.paid),
        number(totals.booked),
    ]


def mark_doc(mark: Mark) -> str:
    return mark.value


def payout_doc(row: PayoutRow) -> dict[str, Any]:
    """A payout batch as the journal keeps it."""
    batch = row.batch
    return {
        "run_id": row.run_id,
        "affiliate_id": batch.affiliate_id,
        "amount": number(batch.amount.amount),
        "currency": batch.amount.currency,
        "entry_ids": list(batch.entry_ids),
        "created_at": _ms(batch.created_at),
    }


class Proof:
    """Checks projection rows against the journal entries that wrote them.

    Entries are read once per call (by seq, in one round trip) and their tags
    verified before their copies are trusted.
    """

    __slots__ = ("_chain", "_journal")

    def __init__(self, journal: JournalRepo, chain: ChainKey) -> None:
        self._journal = journal
        self._chain = chain

    def check(self, family: str, items: Iterable[tuple[str, int, Any]]) -> None:
        """Each ``(key, seq, document)`` must be what entry ``seq`` wrote for ``key``."""
        wanted = list(items)
        if not wanted:
            return
        entries = self._entries({seq for _, seq, _ in wanted if seq})
        for key, seq, document in wanted:
            if not seq:
                raise LedgerTampered(family, key, None, _UNPROVEN)
            entry = entries.get(seq)
            if entry is None:
                raise LedgerTampered(family, key, seq, "its journal entry is missing or altered")
            recorded = entry.get("rows", {}).get(family, {})
            if key not in recorded:
                raise LedgerTampered(family, key, seq, "its journal entry did not write it")
            if recorded[key] != document:
                raise LedgerTampered(family, key, seq, "it differs from its journal entry")

    def _entries(self, seqs: set[int]) -> dict[int, Mapping[str, Any]]:
        found = self._journal.get_many(sorted(seqs))
        decoded: dict[int, Mapping[str, Any]] = {}
        for seq, row in found.items():
            try:
                document = decode_entry(row.body)
                previous = bytes.fromhex(str(document.get("prev", "")))
            except ValueError:  # not even JSON any more (UnicodeDecodeError is a ValueError)
                continue
            if row.seq != seq or document.get("seq") != seq:
                continue
            if self._chain.link(previous, row.body) != row.hash:
                continue
            decoded[seq] = document
        return decoded

    def lines(self, rows: Sequence[LineRow]) -> None:
        self.check("lines", ((r.line.entry_id, r.seq, line_doc(r)) for r in rows))

    def orders(self, rows: Sequence[OrderRow]) -> None:
        self.check(
            "orders",
            ((order_key(r.merchant_id, r.order_id), r.seq or 0, order_doc(r)) for r in rows),
        )

    def periods(self, rows: Iterable[PeriodTotals]) -> None:
        self.check("periods", ((r.key, r.seq, period_doc(r)) for r in rows))

    def marks(self, rows: Iterable[Mark]) -> None:
        self.check("marks", ((r.key, r.seq, mark_doc(r)) for r in rows))

    def payouts(self, rows: Sequence[PayoutRow]) -> None:
        self.check("payouts", ((r.batch.payout_id, r.seq, payout_doc(r)) for r in rows))
