"""Statements, invoices and the reconciliation, computed from the journal. Pure.

Everything here reads decoded journal entries (``decode_entry``) and ledger
lines; nothing touches storage or the clock.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from affiliate_sdk.commission.ledger import postings_of
from affiliate_sdk.models import PayoutBatch, Statement
from affiliate_sdk.money import Money

__all__ = [
    "PAYOUT_CSV_COLUMNS",
    "build_statements",
    "payouts_csv",
    "payouts_json",
]

#: Columns of ``payouts_csv``, in order.
PAYOUT_CSV_COLUMNS: Final = (
    "payout_id",
    "affiliate_id",
    "currency",
    "amount",
    "lines",
    "created_at",
)

_UNPAID_STATES = ("pending", "frozen", "approved")


def _at(document: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(document["at"])


def build_statements(
    documents: Iterable[Mapping[str, Any]], *, start: datetime, end: datetime
) -> list[Statement]:
    """One statement per affiliate and currency for ``start <= at < end``.

    The balance is what the alliance owes the affiliate and has not paid:
    its pending, frozen and approved accounts. ``earned`` is commission
    booked in the period, ``reversed`` refunds and rejections before payment,
    ``clawed_back`` refunds after payment, ``paid`` payouts.
    """
    rows: dict[tuple[str, str], dict[str, Money]] = {}

    def row(affiliate_id: str, currency: str) -> dict[str, Money]:
        zero = Money.zero(currency)
        return rows.setdefault(
            (affiliate_id, currency),
            dict.fromkeys(("opening", "earned", "reversed", "clawed_back", "paid"), zero),
        )

    for document in documents:
        at = _at(document)
        if at >= end:
            continue
        kind = document["kind"]
        for posting in postings_of(document):
            parts = posting.account.split("/")
            if parts[0] != "affiliate":
                continue
            affiliate_id, state = parts[1], parts[2]
            line = row(affiliate_id, posting.amount.currency)
            unpaid = state in _UNPAID_STATES
            if at < start:
                if unpaid:
                    line["opening"] += posting.amount
                continue
            if kind == "commission.booked":
                line["earned"] += posting.amount
            elif kind in ("commission.reversed", "commission.rejected") and unpaid:
                line["reversed"] -= posting.amount
            elif kind == "commission.clawed_back":
                line["clawed_back"] -= posting.amount
            elif kind == "payout" and unpaid:
                line["paid"] -= posting.amount
    statements = []
    for (affiliate_id, currency), line in sorted(rows.items()):
        closing = (
            line["opening"] + line["earned"] - line["reversed"] - line["clawed_back"] - line["paid"]
        )
        statements.append(
            Statement(
                affiliate_id=affiliate_id,
                currency=currency,
                start=start,
                end=end,
                closing=closing,
                **line,
            )
        )
    return statements


def payouts_csv(batches: Iterable[PayoutBatch]) -> str:
    """Payout batches as CSV for a bank or payment provider upload (amounts as decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PAYOUT_CSV_COLUMNS)
    for batch in batches:
        writer.writerow(
            (
                batch.payout_id,
                batch.affiliate_id,
                batch.amount.currency,
                str(batch.amount.amount),
                len(batch.entry_ids),
                batch.created_at.isoformat(),
            )
        )
    return out.getvalue()


def payouts_json(batches: Iterable[PayoutBatch]) -> str:
    """Payout batches as a JSON array, each with the ledger lines it settles."""
    return json.dumps([batch.model_dump(mode="json") for batch in batches], indent=2)
