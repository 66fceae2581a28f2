"""Paying approved commission: one batch per affiliate and currency, once per run id.

``pay_approved`` streams the approved lines in keyset pages, proves each page
(and the lines of its orders, for amounts net of reversals) against the
journal, sums each affiliate's payable balance per currency, and pays each
balance with one journal entry that writes the paid lines' documents and the
payout's. A last entry records the run (family ``runs``), so the same run id
again pays nothing and returns what it paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from affiliate_sdk._kernel.fields import check_identifier, check_texts
from affiliate_sdk._kernel.instants import check_aware
from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.commission.journal import JournalDraft, Posting, affiliate_account
from affiliate_sdk.commission.lifecycle import EARNING_KINDS
from affiliate_sdk.commission.settlement import payouts_csv, payouts_json
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.models import Commission, PayoutBatch
from affiliate_sdk.money import Money
from affiliate_sdk.settings import DEFAULT_SETTLE_AFTER
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineFilter, LineRow, OutboxRow, PayoutRow
from affiliate_sdk.webhooks.events import payout_event

from .context import ServiceContext
from .grading import GradeHolds
from .journal import JournalWriter
from .ledger import LedgerService, run_doc
from .projections import line_doc, payout_doc

__all__ = ["PAYOUT_PAGE", "PayoutService"]

#: Approved lines read per keyset page.
PAYOUT_PAGE: Final = 1000
_APPROVED: Final = LineFilter(status="approved")


class _Payable:
    """What one affiliate is owed in one currency, and the lines that make it up."""

    __slots__ = ("balance", "entry_ids")

    def __init__(self, currency: str) -> None:
        self.balance = Money.zero(currency)
        self.entry_ids: list[str] = []

    def add(self, entry_id: str, amount: Money) -> None:
        """Count a line's live amount towards the balance."""
        self.balance += amount
        self.entry_ids.append(entry_id)


class PayoutService:
    """Pays approved commission and lists, exports the payout batches."""

    __slots__ = ("_ctx", "_ledger", "_writer")

    def __init__(self, ctx: ServiceContext, writer: JournalWriter, ledger: LedgerService) -> None:
        self._ctx = ctx
        self._writer = writer
        self._ledger = ledger

    def pay_approved(
        self,
        *,
        run_id: str,
        now: datetime | None = None,
        minimum: Mapping[str, Money] | None = None,
        settle_after: timedelta = DEFAULT_SETTLE_AFTER,
    ) -> list[PayoutBatch]:
        """Pay each affiliate's approved balance, one batch per affiliate and currency.

        A commission is payable ``settle_after`` its approval (T+1 by default).
        An affiliate whose payable balance (clawbacks included) is not positive,
        or is below ``minimum[currency]``, is not paid: the balance carries
        forward. ``run_id`` makes the run idempotent: the same id again returns
        the batches it made and pays nothing twice. Every line is proven
        against the journal first; a line that disagrees raises
        ``LedgerTampered`` and nothing is paid. Affiliates graded C, or whose channel
        is, are paid after everyone else in the run.
        """
        check_identifier("run_id", run_id)
        at = self._ctx.clock.now() if now is None else check_aware("now", now)
        if settle_after < timedelta(0):
            raise InvalidInput(f"settle_after must not be negative, not {settle_after!r}")
        with self._ctx.store.transaction() as tx:
            if tx.ledger.has_run(run_id):
                done = tx.ledger.payouts(run_id=run_id)
                self._ledger.proof(tx).payouts(done)
                return [row.batch for row in done]
            floors = minimum or {}
            paid: list[PayoutRow] = []
            holds = GradeHolds(tx)
            payable = sorted(self._payable(tx, at, settle_after))
            payable.sort(key=lambda item: holds.held(item[0][0]))  # C last
            for (affiliate_id, currency), owed in payable:
                floor = floors.get(currency, Money.zero(currency))
                if owed.balance.amount > 0 and owed.balance >= floor:
                    paid.append(self._pay(tx, run_id, affiliate_id, owed, at))
            self._record_run(tx, run_id, paid, at)
        return [row.batch for row in paid]

    def _payable(
        self, tx: UnitOfWork, at: datetime, settle_after: timedelta
    ) -> list[tuple[tuple[str, str], _Payable]]:
        """Per affiliate and currency, the payable lines and their live balance."""
        owed: dict[tuple[str, str], _Payable] = {}
        after: str | None = None
        while True:
            page = tx.ledger.query(_APPROVED, after=after, limit=PAYOUT_PAGE)
            eligible = [row for row in page if _settled(row.line, at, settle_after)]
            live = self._ledger.live(tx, eligible)
            for row in eligible:
                line = row.line
                currency = line.amount.currency
                payable = owed.get((line.affiliate_id, currency))
                if payable is None:
                    payable = owed[line.affiliate_id, currency] = _Payable(currency)
                payable.add(line.entry_id, live.get(line.entry_id, line.amount))
            if len(page) < PAYOUT_PAGE:
                return list(owed.items())
            after = page[-1].line.entry_id

    def _pay(
        self, tx: UnitOfWork, run_id: str, affiliate_id: str, owed: _Payable, at: datetime
    ) -> PayoutRow:
        """One batch: the paid lines and the payout, written with one journal entry."""
        balance = owed.balance
        payout_id = path_key("payout", run_id, affiliate_id, balance.currency)
        changes = {"status": "paid", "paid_at": at, "payout_id": payout_id}
        paid = [
            LineRow(row.line.model_copy(update=changes), row.measures, 0)
            for row in tx.ledger.get_many(owed.entry_ids)
        ]
        batch = PayoutBatch(
            payout_id=payout_id,
            affiliate_id=affiliate_id,
            amount=balance,
            entry_ids=list(owed.entry_ids),
            created_at=at,
        )
        payout = PayoutRow(run_id, batch, 0)
        draft = JournalDraft(
            payout_id,
            "payout",
            at,
            [
                Posting(affiliate_account(affiliate_id, "approved"), -balance),
                Posting(affiliate_account(affiliate_id, "paid"), balance),
            ],
            {"lines": batch.entry_ids},
            {
                "lines": {row.line.entry_id: line_doc(row) for row in paid},
                "payouts": {payout_id: payout_doc(payout)},
            },
        )
        entry = self._writer.append(tx, draft, [row.line for row in paid])
        tx.ledger.update([row._replace(seq=entry.seq) for row in paid])
        tx.outbox.add([OutboxRow(*payout_event(batch))])
        return payout._replace(seq=entry.seq)

    def _record_run(
        self, tx: UnitOfWork, run_id: str, paid: Sequence[PayoutRow], at: datetime
    ) -> None:
        """The run and its batches (an empty run too), written with its own journal entry."""
        payout_ids = [row.batch.payout_id for row in paid]
        draft = JournalDraft(
            path_key("payout-run", run_id),
            "payout.run",
            at,
            [],
            {"payouts": payout_ids},
            {"runs": {run_id: run_doc(payout_ids)}},
        )
        entry = self._writer.append(tx, draft)
        tx.ledger.insert_payouts(run_id, paid, seq=entry.seq)

    def payouts(
        self, *, run_id: str | None = None, affiliate_id: str | None = None
    ) -> list[PayoutBatch]:
        """Payout batches made so far, oldest run first, each proven against the journal."""
        check_texts(run_id=run_id, affiliate_id=affiliate_id)
        with self._ctx.store.reader() as tx:
            rows = tx.ledger.payouts(run_id=run_id, affiliate_id=affiliate_id)
            self._ledger.proof(tx).payouts(rows)
        return [row.batch for row in rows]

    def payouts_csv(self, *, run_id: str | None = None, affiliate_id: str | None = None) -> str:
        """The payout batches as CSV for a bank or payment provider upload."""
        return payouts_csv(self.payouts(run_id=run_id, affiliate_id=affiliate_id))

    def payouts_json(self, *, run_id: str | None = None, affiliate_id: str | None = None) -> str:
        """The payout batches as a JSON array, each with the lines it settles."""
        return payouts_json(self.payouts(run_id=run_id, affiliate_id=affiliate_id))


def _settled(line: Commission, at: datetime, settle_after: timedelta) -> bool:
    """Whether an approved line is payable at ``at``: never the platform's take; an earning
    line once ``settle_after`` has passed since its approval; a clawback at once."""
    if line.account == "platform":
        return False
    if line.kind not in EARNING_KINDS:
        return True
    # ``at - approved_at``: a difference of two instants cannot overflow, a sum can
    return line.approved_at is not None and at - line.approved_at >= settle_after
