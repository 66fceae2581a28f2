"""The commission lifecycle by hand and by the clock: approve, freeze, release, reject.

Every change is load -> decide -> apply: the lines and the lines of their
orders are loaded and proven against the journal, ``_decide`` works out the
new lines and the postings that move their money (``commission.lifecycle``),
and one journal entry, holding the new documents, is appended before the
lines are written with its ``seq``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from affiliate_sdk._kernel.fields import check_texts
from affiliate_sdk._kernel.instants import check_aware, to_ms
from affiliate_sdk.commission.journal import JournalDraft, Posting
from affiliate_sdk.commission.lifecycle import EARNING_KINDS, move, to_merchant
from affiliate_sdk.errors import CommissionStateError, UnknownCommission
from affiliate_sdk.ids import new_id
from affiliate_sdk.models import Commission, CommissionStatus
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineFilter, LineRow, OutboxRow

from .cashout import count_approvals
from .context import ServiceContext
from .grading import GradeHolds
from .journal import JournalWriter
from .ledger import LedgerService
from .projections import line_doc

__all__ = ["APPROVE_PAGE", "ReviewService"]

#: Due lines approved per journal entry by ``approve_due`` (and read per page).
APPROVE_PAGE: Final = 500


class _Change(NamedTuple):
    """A decided status change: the lines' new versions, new lines, and the postings."""

    updated: list[LineRow]
    created: list[LineRow]
    postings: list[Posting]


class ReviewService:
    """Approves, freezes, releases and rejects commission lines.

    Every method takes an optional ``merchant_id``: lines of another merchant
    are then refused as unknown (``UnknownCommission``), or left alone by
    ``approve_due``.
    """

    __slots__ = ("_ctx", "_ledger", "_writer")

    def __init__(self, ctx: ServiceContext, writer: JournalWriter, ledger: LedgerService) -> None:
        self._ctx = ctx
        self._writer = writer
        self._ledger = ledger

    def approve_due(
        self, now: datetime | None = None, *, merchant_id: str | None = None
    ) -> list[Commission]:
        """Approve every pending commission whose hold period has ended by ``now``.

        Due lines (of ``merchant_id`` alone, when given: the store filters
        them) are read in keyset pages of ``APPROVE_PAGE``, each page approved
        by one journal entry, all in one unit of work. The amounts moved are
        net of reversals, read for each page's orders in one query. The lines of
        affiliates graded C, or whose channel is, are reviewed before settlement:
        frozen instead (while ``freeze_grade_c`` is on), with the reason
        (``grading``), for a reviewer to approve, release or reject.
        """
        check_texts(merchant_id=merchant_id)
        at = self._ctx.clock.now() if now is None else check_aware("now", now)
        until_ms = to_ms(at)
        approved: list[Commission] = []
        freeze = self._ctx.settings.fraud.freeze_grade_c
        with self._ctx.store.transaction() as tx:
            holds = GradeHolds(tx)
            after: str | None = None
            while True:
                page = tx.ledger.due(
                    status="pending",
                    until_ms=until_ms,
                    after=after,
                    limit=APPROVE_PAGE,
                    merchant_id=merchant_id,
                )
                due = [row for row in page if _is_due(row.line, at, merchant_id)]
                if freeze:
                    due = self._hold(tx, due, holds, at)
                moved = self.transition(
                    tx, due, "pending", "approved", at=at, kind="commission.approved"
                )
                approved += [row.line for row in moved]
                if len(page) < APPROVE_PAGE:
                    return approved
                after = page[-1].line.entry_id

    def _hold(
        self, tx: UnitOfWork, due: list[LineRow], holds: GradeHolds, at: datetime
    ) -> list[LineRow]:
        """Freeze the due lines of affiliates held for a grade (one journal entry per
        reason); the lines left to approve."""
        held: dict[str, list[LineRow]] = {}
        left: list[LineRow] = []
        for row in due:
            reason = holds.reason(row.line.affiliate_id)
            if reason is None:
                left.append(row)
            else:
                held.setdefault(reason, []).append(row)
        for reason, rows in held.items():
            self.transition(tx, rows, "pending", "frozen", at=at,
                            kind="commission.frozen", reason=reason)  # fmt: skip
        return left

    def approve(
        self, entry_ids: Iterable[str], *, merchant_id: str | None = None
    ) -> list[Commission]:
        """Approve pending commissions now, whatever their hold period; a reviewer
        approving frozen commissions clears and approves them in one step."""
        return self._by_hand(
            entry_ids,
            ("pending", "frozen"),
            "approved",
            kind="commission.approved",
            merchant_id=merchant_id,
        )

    def freeze(
        self, entry_ids: Iterable[str], *, reason: str, merchant_id: str | None = None
    ) -> list[Commission]:
        """Hold pending commissions for review: they cannot be approved or paid."""
        return self._by_hand(
            entry_ids,
            ("pending",),
            "frozen",
            kind="commission.frozen",
            reason=reason,
            merchant_id=merchant_id,
        )

    def release(
        self, entry_ids: Iterable[str], *, merchant_id: str | None = None
    ) -> list[Commission]:
        """Return frozen commissions to pending, where their hold period resumes."""
        return self._by_hand(
            entry_ids, ("frozen",), "pending", kind="commission.released", merchant_id=merchant_id
        )

    def reject(
        self, entry_ids: Iterable[str], *, reason: str, merchant_id: str | None = None
    ) -> list[Commission]:
        """Reject frozen commissions: their money goes back to the merchant."""
        return self._by_hand(
            entry_ids,
            ("frozen",),
            "rejected",
            kind="commission.rejected",
            reason=reason,
            merchant_id=merchant_id,
        )

    def review_queue(self, *, merchant_id: str | None = None) -> list[Commission]:
        """Frozen commissions waiting for a reviewer, oldest first; each line's
        ``reason`` says why it was frozen."""
        check_texts(merchant_id=merchant_id)
        where = LineFilter(merchant_id=merchant_id, status="frozen")
        with self._ctx.store.reader() as tx:
            return [row.line for row in self._ledger.lines(tx, where)]

    def _by_hand(
        self,
        entry_ids: Iterable[str],
        sources: tuple[CommissionStatus, ...],
        target: CommissionStatus,
        *,
        kind: str,
        reason: str | None = None,
        merchant_id: str | None = None,
    ) -> list[Commission]:
        """Move the lines from (one of) ``sources`` to ``target``, all or none."""
        wanted = list(dict.fromkeys(entry_ids))
        check_texts(reason=reason, merchant_id=merchant_id)
        for entry_id in wanted:
            check_texts(entry_id=entry_id)
        with self._ctx.store.transaction() as tx:
            found = {
                row.line.entry_id: row
                for row in tx.ledger.get_many(wanted)
                if merchant_id is None or row.line.merchant_id == merchant_id
            }
            missing = [entry_id for entry_id in wanted if entry_id not in found]
            if missing:
                raise UnknownCommission(missing[0])
            self._ledger.proof(tx).lines(list(found.values()))
            wrong = [row.line for row in found.values() if row.line.status not in sources]
            if wrong:
                raise CommissionStateError(wrong[0].entry_id, wrong[0].status, target)
            at = self._ctx.clock.now()
            moved: dict[str, Commission] = {}
            for status in sources:  # one journal entry per status the lines leave
                lines = [found[i] for i in wanted if found[i].line.status == status]
                for row in self.transition(
                    tx, lines, status, target, at=at, kind=kind, reason=reason
                ):
                    moved[row.line.entry_id] = row.line
            return [moved[i] for i in wanted]

    def transition(
        self,
        tx: UnitOfWork,
        lines: Sequence[LineRow],
        source: CommissionStatus,
        target: CommissionStatus,
        *,
        at: datetime,
        kind: str,
        reason: str | None = None,
        events: list[OutboxRow] | None = None,
    ) -> list[LineRow]:
        """Move ``lines`` from ``source`` to ``target`` inside the caller's unit of work
        (with ``events``, its events are added there for the caller to write).

        Loads the lines of their orders (for amounts net of reversals) and
        proves them with ``lines``; a rejection books a reversal line for
        what each line still holds and returns that money to the merchant.
        One journal entry of ``kind`` carries the new documents; the lines
        are written with its seq. Returns the lines' new versions.
        """
        if not lines:
            return []
        for row in lines:
            if row.line.status != source:
                raise CommissionStateError(row.line.entry_id, row.line.status, target)
        if target == "approved":
            count_approvals(tx, lines)  # the orders approved for the first time (cash-out)
        live = self._ledger.live(tx, lines)
        change = _decide(lines, live, source=source, target=target, at=at, reason=reason)
        return self._apply(tx, change, kind=kind, at=at, reason=reason, events=events)

    def _apply(
        self,
        tx: UnitOfWork,
        change: _Change,
        *,
        kind: str,
        at: datetime,
        reason: str | None,
        events: list[OutboxRow] | None = None,
    ) -> list[LineRow]:
        """Append the change's journal entry, then write its lines with the entry's seq."""
        written = [*change.updated, *change.created]
        refs: dict[str, Any] = {"lines": [row.line.entry_id for row in written]}
        if reason is not None:
            refs["reason"] = reason
        documents = {row.line.entry_id: line_doc(row) for row in written}
        event_id = f"{kind}/{new_id(to_ms(at))}"
        draft = JournalDraft(event_id, kind, at, change.postings, refs, {"lines": documents})
        chain = self._ctx.chain_for(row.line.merchant_id for row in written)
        lines = [row.line for row in written]
        entry = self._writer.append(tx, draft, lines, events=events, chain=chain)
        updated = [row._replace(seq=entry.seq) for row in change.updated]
        tx.ledger.update(updated)
        if change.created:
            tx.ledger.append([row._replace(seq=entry.seq) for row in change.created])
        return updated


def _postings(moves: Iterable[tuple[str, Money]]) -> list[Posting]:
    """Journal postings from ``(account, amount)`` pairs."""
    return [Posting(account, amount) for account, amount in moves]


def _is_due(line: Commission, at: datetime, merchant_id: str | None) -> bool:
    """Whether a pending line is an earning line of the merchant, no longer held at ``at``."""
    return (
        line.kind in EARNING_KINDS
        and (line.hold_until is None or line.hold_until <= at)
        and (merchant_id is None or line.merchant_id == merchant_id)
    )


def _decide(
    lines: Sequence[LineRow],
    live: Mapping[str, Money],
    *,
    source: CommissionStatus,
    target: CommissionStatus,
    at: datetime,
    reason: str | None,
) -> _Change:
    """The new versions of ``lines``, the reversals a rejection books, and the postings."""
    now_ms = to_ms(at)
    changes: dict[str, object] = {"status": target}
    if target == "approved":
        changes["approved_at"] = at
    if reason is not None:
        changes["reason"] = reason
    updated: list[LineRow] = []
    created: list[LineRow] = []
    postings: list[Posting] = []
    returned: dict[str, list[tuple[Commission, str, Money]]] = {}
    for row in lines:
        line = row.line
        updated.append(LineRow(line.model_copy(update=changes), row.measures, 0))
        amount = live.get(line.entry_id, line.amount)
        if target != "rejected":
            if amount:
                postings += _postings(move(line, amount, source, target))
            continue
        if amount:
            returned.setdefault(line.merchant_id, []).append((line, source, amount))
            reversal = line.model_copy(
                update={
                    "entry_id": new_id(now_ms),
                    "event_id": f"reject/{line.entry_id}",
                    "kind": "reversal",
                    "amount": -amount,
                    "status": "reversed",
                    "reverses": line.entry_id,
                    "reason": reason,
                    "created_at": at,
                    "hold_until": None,
                }
            )
            created.append(LineRow(reversal, None, 0))
    postings += _postings(to_merchant(returned))
    return _Change(updated, created, postings)
