"""Cash-out counts: orders whose commission was approved, and those refunded after it.

The counts live in the store's tallies (``RiskRepo.tallies`` and ``bump``), per campaign
(``scope``: merchant and campaign, as ``_services.sources`` names it) and per affiliate on
it, written in the unit of work of the approval or of the refund:

- ``ap/{scope}[/{affiliate}]``: (orders whose commission was approved, of those the ones
  refunded or cancelled after approval);
- ``apx/{scope}/{affiliate}/{line}``: the order's commission line (``line``, its entry id)
  was counted refunded after approval, so a later partial refund of the same order does not
  count it again (a refund replayed by its id books nothing at all);
- ``flagged/source.cash_out/{scope}/{affiliate}``: the rule flagged the source, which stays
  flagged (``_services.sources.earlier_of`` sets it; the order path reads it with the other
  source flags, and reviews the source's later orders).

An order's commission line is approved once (an approved line never returns to pending: a
reviewer approving it again after a freeze finds its ``approved_at`` set and counts nothing).
A refund counts the order's lines that were approved before it (``approved_at`` set) and
still hold money. When the rule (``antifraud.cashout``) fires on a refund, the source is
flagged and, the first time, its commission on the campaign that is still pending or
approved but unpaid is frozen for review, in the refund's unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final, NamedTuple

from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.antifraud import cashout
from affiliate_sdk.antifraud.cashout import CashOutCounts
from affiliate_sdk.commission.lifecycle import EARNING_KINDS, OPEN_STATUSES
from affiliate_sdk.models import Commission, CommissionStatus, FraudThresholds, Reason
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineFilter, LineRow

from .sources import SourceOrder, earlier_of

if TYPE_CHECKING:
    from .review import ReviewService

__all__ = ["CashOutSource", "count_approvals", "count_reversals", "freeze_cash_out", "judge"]

_PAGE: Final = 500


class CashOutSource(NamedTuple):
    """A source a refund counted, with its counts and its campaign's after the refund."""

    merchant_id: str
    campaign_id: str
    affiliate_id: str
    mine: CashOutCounts
    campaign: CashOutCounts

    @property
    def scope(self) -> str:
        return path_key(self.merchant_id, self.campaign_id)


def _order_line(line: Commission) -> bool:
    """Whether ``line`` is an order's commission for the affiliate credited with it (not the
    platform's take, a parent's share, a correction, or commission of clicks)."""
    return (
        line.kind == "commission"
        and line.account == "affiliate"
        and line.event_id.startswith("order/")
    )


def count_approvals(tx: UnitOfWork, lines: Iterable[LineRow]) -> None:
    """Count the orders whose commission ``lines`` (about to be approved) approve for the
    first time, one bump per source and per campaign."""
    deltas: dict[str, int] = {}
    for row in lines:
        line = row.line
        if line.approved_at is not None or not _order_line(line):
            continue
        scope = path_key(line.merchant_id, line.campaign_id)
        for key in (f"ap/{scope}/{line.affiliate_id}", f"ap/{scope}", _counted(line)):
            deltas[key] = deltas.get(key, 0) + 1
    for key, count in deltas.items():
        tx.risk.bump(key, [count])


def count_reversals(tx: UnitOfWork, rows: Sequence[LineRow]) -> list[CashOutSource]:
    """Count a refund of the order whose lines (as they were before it) are ``rows`` in the
    sources whose commission on it was approved; those sources, with their counts after."""
    counted: list[CashOutSource] = []
    for row in rows:
        line = row.line
        if line.approved_at is None or line.status not in OPEN_STATUSES:
            continue
        if not _order_line(line):
            continue
        scope = path_key(line.merchant_id, line.campaign_id)
        marker = f"apx/{scope}/{line.affiliate_id}/{path_key(line.entry_id)}"
        if tx.risk.tallies([_counted(line)])[0][:1] != (1,):
            continue  # approved before approvals were counted: no reversal of a counted one
        if tx.risk.bump(marker, [1])[0] != 1:
            continue  # an earlier refund of the order counted it
        mine = tx.risk.bump(f"ap/{scope}/{line.affiliate_id}", [0, 1])
        campaign = tx.risk.bump(f"ap/{scope}", [0, 1])
        counted.append(
            CashOutSource(
                line.merchant_id,
                line.campaign_id,
                line.affiliate_id,
                CashOutCounts(*mine[:2]),
                CashOutCounts(*campaign[:2]),
            )
        )
    return counted


def _counted(line: Commission) -> str:
    """The tally that marks ``line``'s approval counted in ``ap/...``."""
    return f"apc/{path_key(line.merchant_id, line.entry_id)}"


def judge(source: CashOutSource, limits: FraudThresholds) -> Reason | None:
    """The cash-out rule on a source's counts."""
    return cashout.cash_out_reason(source.mine, source.campaign, limits)


def freeze_cash_out(
    tx: UnitOfWork,
    review: ReviewService,
    source: CashOutSource,
    reason: Reason,
    *,
    at: datetime,
) -> list[str]:
    """Flag the source; the first time, freeze its commission on the campaign that is still
    pending (``earlier_of``) or approved and unpaid. The entry ids frozen."""
    order = SourceOrder(source.scope, source.affiliate_id, 0, None, None, None)
    pending = earlier_of(tx, order, source.merchant_id, source.campaign_id, {reason.code})
    if not pending and tx.risk.tallies([_flag(source)])[0][:1] != (1,):
        return []  # flagged before: what was unpaid then was frozen then
    approved = _approved(tx, source)
    note = f"fraud review: {reason.code}: {reason.message}"
    frozen: list[str] = []
    held: tuple[tuple[CommissionStatus, list[LineRow]], ...] = (
        ("pending", pending),
        ("approved", approved),
    )
    for status, rows in held:
        moved = review.transition(
            tx, rows, status, "frozen", at=at, kind="commission.frozen", reason=note
        )
        frozen += [row.line.entry_id for row in moved]
    return frozen


def _flag(source: CashOutSource) -> str:
    return f"flagged/{cashout.CODE}/{source.scope}/{source.affiliate_id}"


def _approved(tx: UnitOfWork, source: CashOutSource) -> list[LineRow]:
    """Every approved (unpaid) earning line of the source's orders on its campaign (not a
    clawback: a payout nets those at once; not another affiliate's share of an order)."""
    orders: dict[str, None] = {}
    for row in _lines(tx, source.merchant_id, source.affiliate_id, "approved"):
        if row.line.campaign_id == source.campaign_id:
            orders.setdefault(row.line.order_id)
    held: list[LineRow] = []
    for order_id in orders:
        where = LineFilter(merchant_id=source.merchant_id, order_id=order_id, status="approved")
        held += [
            row
            for row in tx.ledger.query(where, limit=_PAGE)
            if row.line.kind in EARNING_KINDS and row.line.affiliate_id == source.affiliate_id
        ]
    return held


def _lines(tx: UnitOfWork, merchant_id: str, affiliate_id: str, status: str) -> Iterator[LineRow]:
    where = LineFilter(merchant_id=merchant_id, affiliate_id=affiliate_id, status=status)
    after: str | None = None
    while page := tx.ledger.query(where, after=after, limit=_PAGE):
        yield from page
        after = page[-1].line.entry_id
