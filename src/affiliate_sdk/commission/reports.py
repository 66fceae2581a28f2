"""Statements, invoices and the reconciliation from the journal's documents. Pure.

The reports read decoded journal entries (``decode_entry``) of a window, or
an affiliate's ledger lines and payout batches; nothing here touches storage
or the clock. A line is *created* in a window when the first entry that
writes its document falls inside it (later entries, an approval or a payout,
write the same line again and add nothing).

``commission.settlement`` holds the older functions over whole documents and
``Commission`` lines; those that fit are re-exported here (``build_statements``
for every affiliate's statements, the payout exports), so this module is the
one place reports are imported from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from affiliate_sdk._kernel.instants import to_ms
from affiliate_sdk.commission.journal import postings_of
from affiliate_sdk.commission.settlement import (
    PAYOUT_CSV_COLUMNS,
    build_statements,
    payouts_csv,
    payouts_json,
)
from affiliate_sdk.models import Commission, Invoice, PayoutBatch, ReconciliationRow, Statement
from affiliate_sdk.money import Money

__all__ = [
    "FIGURES",
    "PAYOUT_CSV_COLUMNS",
    "CostByMerchant",
    "EarnedByAccount",
    "add_merchant_cost",
    "affiliate_statements",
    "build_statements",
    "invoices_from_lines",
    "payouts_csv",
    "payouts_json",
    "reconcile_window",
    "reconciliation_rows",
    "window_lines",
]

#: Statement figures, in the order ``Statement`` lists them.
FIGURES: Final = ("opening", "earned", "reversed", "clawed_back", "paid")
#: Which statement figure a line of each kind adds to (and with which sign).
_FIGURE_OF_KIND: Final[Mapping[str, tuple[str, int]]] = {
    "commission": ("earned", 1),
    "trueup": ("earned", 1),
    "bonus": ("earned", 1),
    "reversal": ("reversed", -1),
    "clawback": ("clawed_back", -1),
}
#: The accounts a merchant's cost is split into, as ``ReconciliationRow`` names them.
_EARNING_ACCOUNTS: Final = ("affiliate", "parent", "platform")

#: ``(merchant_id, currency)`` -> what the merchant's payable account gave up.
CostByMerchant = dict[tuple[str, str], Money]
#: ``(merchant_id, currency, account)`` -> what lines of that account were booked for.
EarnedByAccount = dict[tuple[str, str, str], Money]


def affiliate_statements(
    affiliate_id: str,
    lines: Iterable[Commission],
    batches: Iterable[PayoutBatch],
    *,
    start: datetime,
    end: datetime,
) -> list[Statement]:
    """An affiliate's statements for ``start <= t < end`` from its lines and payouts.

    A line is booked (or, for reversals and clawbacks, taken back) by the entry
    that created it, at its ``created_at``; a payout takes the batch amount out
    of the unpaid balance at the batch's ``created_at``. Moves between unpaid
    states (approve, freeze, release) change no figure. The platform's take is
    no affiliate's money and is left out.
    """
    figures: dict[str, dict[str, Money]] = {}

    def row(currency: str) -> dict[str, Money]:
        return figures.setdefault(currency, dict.fromkeys(FIGURES, Money.zero(currency)))

    for line in lines:
        if line.account == "platform" or line.created_at >= end:
            continue
        figure, sign = _FIGURE_OF_KIND[line.kind]
        current = row(line.amount.currency)
        if line.created_at < start:
            current["opening"] += line.amount
        else:
            current[figure] += line.amount * sign
    for batch in batches:
        if batch.created_at >= end:
            continue
        current = row(batch.amount.currency)
        if batch.created_at < start:
            current["opening"] -= batch.amount
        else:
            current["paid"] += batch.amount
    return [
        Statement(
            affiliate_id=affiliate_id,
            currency=currency,
            start=start,
            end=end,
            closing=f["opening"] + f["earned"] - f["reversed"] - f["clawed_back"] - f["paid"],
            **f,
        )
        for currency, f in sorted(figures.items())
    ]


def add_merchant_cost(document: Mapping[str, Any], cost: CostByMerchant) -> None:
    """Add what the merchants' payable accounts gave up in one entry to ``cost``."""
    for posting in postings_of(document):
        parts = posting.account.split("/")
        if parts[0] == "merchant":
            key = (parts[1], posting.amount.currency)
            cost[key] = cost.get(key, Money.zero(key[1])) - posting.amount


def window_lines(
    documents: Iterable[Mapping[str, Any]],
    start: datetime,
    end: datetime,
    *,
    cost: CostByMerchant | None = None,
) -> Iterator[Mapping[str, Any]]:
    """The documents of the lines created in ``start <= t < end``.

    ``documents`` are the decoded entries from the first one at or after
    ``start`` on, in journal order. With ``cost``, the merchants' cost of the
    window's entries is added to it as the entries go by.
    """
    start_ms = to_ms(start)
    seen: set[str] = set()
    for document in documents:
        at = datetime.fromisoformat(document["at"])
        inside = start <= at < end
        if inside and cost is not None:
            add_merchant_cost(document, cost)
        for entry_id, line in document.get("rows", {}).get("lines", {}).items():
            if entry_id in seen or (line["created_at"] or 0) < start_ms:
                continue
            seen.add(entry_id)
            if inside:
                yield line


def invoices_from_lines(
    lines: Iterable[Mapping[str, Any]], *, start: datetime, end: datetime
) -> list[Invoice]:
    """What each merchant owes, per currency, for the line documents of a window.

    The platform's take is invoiced apart; a parent's share is commission.
    """
    totals: dict[tuple[str, str], dict[str, Money]] = {}
    for line in lines:
        currency = line["currency"]
        zero = Money.zero(currency)
        row = totals.setdefault(
            (line["merchant_id"], currency), {"commission": zero, "platform_take": zero}
        )
        field = "platform_take" if line["account"] == "platform" else "commission"
        row[field] += Money(line["amount"], currency)
    return [
        Invoice(
            merchant_id=merchant_id,
            currency=currency,
            start=start,
            end=end,
            commission=row["commission"],
            platform_take=row["platform_take"],
            total=row["commission"] + row["platform_take"],
        )
        for (merchant_id, currency), row in sorted(totals.items())
    ]


def reconcile_window(
    documents: Iterable[Mapping[str, Any]], *, start: datetime, end: datetime
) -> list[ReconciliationRow]:
    """Merchant cost against the lines created in ``start <= t < end``, in one pass.

    ``documents`` are as ``window_lines`` reads them. The rows that do not
    balance have ``balanced`` false; raising is the caller's choice.
    """
    cost: CostByMerchant = {}
    earned: EarnedByAccount = {}
    for line in window_lines(documents, start, end, cost=cost):
        key = (line["merchant_id"], line["currency"], line["account"])
        earned[key] = earned.get(key, Money.zero(key[1])) + Money(line["amount"], key[1])
    return reconciliation_rows(cost, earned)


def reconciliation_rows(
    cost: Mapping[tuple[str, str], Money], earned: Mapping[tuple[str, str, str], Money]
) -> list[ReconciliationRow]:
    """One row per merchant and currency: its cost, the earnings of each account, and
    the difference, which is zero to the cent when the books balance."""
    rows = []
    for merchant_id, currency in sorted(set(cost) | {(m, c) for m, c, _ in earned}):
        zero = Money.zero(currency)
        affiliate, parent, platform = (
            earned.get((merchant_id, currency, account), zero) for account in _EARNING_ACCOUNTS
        )
        merchant_cost = cost.get((merchant_id, currency), zero)
        difference = merchant_cost - affiliate - parent - platform
        rows.append(
            ReconciliationRow(
                merchant_id=merchant_id,
                currency=currency,
                merchant_cost=merchant_cost,
                affiliate_earnings=affiliate,
                parent_earnings=parent,
                platform_take=platform,
                difference=difference,
                balanced=not difference,
            )
        )
    return rows
