"""Refunds: prove what the order booked, reverse it (``commission.refunds``), apply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from affiliate_sdk._kernel.fields import check_identifier, check_texts
from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.clock import from_timestamp
from affiliate_sdk.commission.booking import (
    TrafficHome,
)
from affiliate_sdk.commission.journal import JournalDraft
from affiliate_sdk.commission.periods import closed_key, parse_scope, settling_instant
from affiliate_sdk.commission.refunds import (
    ClosedPeriod,
    RefundFacts,
    Reversal,
    refund_keys,
    reverse,
)
from affiliate_sdk.errors import (
    AffiliateError,
    ConflictingRefund,
    CurrencyMismatch,
    InvalidAmount,
    InvalidInput,
    RefundExceedsOrder,
    UnknownOrder,
)
from affiliate_sdk.ids import new_id
from affiliate_sdk.models import (
    Commission,
    RefundOutcome,
)
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import (
    LineRow,
    OrderRow,
    PeriodTotals,
    RefundRow,
)

from . import cashout
from ._order_io import load_totals, measures_of
from .budgets import count_cost
from .catalog import CatalogService
from .context import ServiceContext
from .journal import JournalWriter
from .projections import Proof, line_doc, order_doc, order_key, period_doc
from .review import ReviewService

__all__ = ["RefundService"]


class RefundService:
    """Refunds of recorded orders, the reversals they book, and the cash-out rule they feed
    (``_services.cashout``: refunds after approval that concentrate on one source)."""

    def __init__(
        self,
        ctx: ServiceContext,
        catalog: CatalogService,
        writer: JournalWriter,
        review: ReviewService,
    ) -> None:
        self._ctx = ctx
        self._catalog = catalog
        self._writer = writer
        self._review = review

    def refund(
        self,
        merchant_id: str,
        order_id: str,
        amount: Money | None = None,
        *,
        refund_id: str | None = None,
    ) -> RefundOutcome:
        """Refund an order in full (no ``amount``) or in part, reversing commission.

        Each commission line of the order is reversed in proportion to the
        refund; refunds that add up to the order total reverse it exactly. With
        a ``refund_id`` the call is idempotent: the same id again returns the
        first outcome and books nothing.
        """
        check_identifier("merchant_id", merchant_id)
        check_texts(order_id=order_id)
        if refund_id is not None:
            check_identifier("refund_id", refund_id)
        now_ms = self._ctx.now_ms()
        with self._ctx.store.transaction() as tx:
            order = tx.orders.get(merchant_id, order_id)
            if order is None:
                raise UnknownOrder(merchant_id, order_id)
            if refund_id is not None:
                done = tx.orders.get_refund(merchant_id, order_id, refund_id)
                if done is not None:
                    replay = RefundOutcome.model_validate_json(done.outcome_json)
                    if amount is not None and amount != replay.amount:
                        raise ConflictingRefund(order_id, refund_id)
                    return replay
            amount = _refund_amount(order, amount)
            return self._reverse(tx, order, amount, refund_id or new_id(now_ms), now_ms)

    def _reverse(
        self, tx: UnitOfWork, order: OrderRow, amount: Money, refund_id: str, now_ms: int
    ) -> RefundOutcome:
        proof = Proof(tx.journal, self._ctx.chain)
        rows = tx.ledger.by_order(order.merchant_id, order.order_id)
        proof.lines(rows)
        if rows or order.seq is not None:
            proof.orders([order])
        lines = [row.line for row in rows]
        measures = {
            row.line.entry_id: m for row in rows if (m := measures_of(row.measures)) is not None
        }
        keys = refund_keys(lines, measures)
        now = from_timestamp(now_ms / 1000)
        total = Money.from_minor(order.total_minor, order.currency)
        before = Money.from_minor(order.refunded_minor, order.currency)
        facts = RefundFacts(
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            refund_id=refund_id,
            total=total,
            before=before,
            amount=amount,
            now=now,
            measures=measures,
            totals=load_totals(tx, proof, keys),
            closed=self._closed(tx, proof, keys, order.merchant_id),
        )
        reversal = reverse(lines, facts, new_id=lambda: new_id(now_ms))
        refunded = before + amount
        outcome = RefundOutcome(
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            refund_id=refund_id,
            amount=amount,
            refunded_total=refunded,
            remaining=total - refunded,
            reversals=list(reversal.lines),
        )
        changed = order._replace(refunded_minor=refunded.to_minor())
        seq = self._write_reversal(tx, changed, reversal, refund_id, now)
        for affiliate_id in reversal.refund_counted:
            history = tx.risk.history(affiliate_id)
            if history is not None and history.orders:
                tx.risk.put_history(affiliate_id, history._replace(refunds=history.refunds + 1))
        tx.orders.set_refunded(order.merchant_id, order.order_id, changed.refunded_minor, seq)
        tx.orders.insert_refund(
            RefundRow(
                order.merchant_id,
                order.order_id,
                refund_id,
                amount.to_minor(),
                now_ms,
                outcome.model_dump_json(),
            )
        )
        self._cash_out(tx, rows, now)
        self._take_back_cost(tx, reversal.lines, now)
        return outcome

    def _take_back_cost(self, tx: UnitOfWork, lines: Sequence[Commission], now: datetime) -> None:
        """Take the reversals off their campaigns' cost (``budgets``): a budget's cost is
        net of refunds."""
        by_campaign: dict[tuple[str, str], list[Commission]] = {}
        for line in lines:
            by_campaign.setdefault((line.merchant_id, line.campaign_id), []).append(line)
        for (merchant_id, campaign_id), taken in by_campaign.items():
            view = self._catalog.view(merchant_id, campaign_id, now.timestamp())
            count_cost(tx, view.campaign, taken, now)

    def _cash_out(self, tx: UnitOfWork, rows: Sequence[LineRow], now: datetime) -> None:
        """Count the refund in the cash-out counts of the sources whose commission on the
        order (``rows``, its lines before the refund) was approved, and judge them: a source
        the rule flags has its unpaid commission on the campaign frozen for review."""
        for source in cashout.count_reversals(tx, rows):
            try:
                view = self._catalog.view(source.merchant_id, source.campaign_id, now.timestamp())
                limits = view.fraud
            except AffiliateError:  # a campaign no longer there: the alliance's thresholds
                limits = self._ctx.settings.fraud
            reason = cashout.judge(source, limits)
            if reason is not None:
                cashout.freeze_cash_out(tx, self._review, source, reason, at=now)

    def _closed(
        self, tx: UnitOfWork, proof: Proof, keys: Sequence[str], merchant_id: str
    ) -> dict[str, ClosedPeriod]:
        """Which of the period totals ``keys`` belong to a period already closed."""
        closed: dict[str, ClosedPeriod] = {}
        now = self._ctx.clock.now()
        for key in keys:
            scope = parse_scope(key)
            if scope is None or scope.what not in ("tier", "target"):
                continue
            mark = tx.periods.get_mark(closed_key(scope.campaign_id, scope.period))
            if mark is None:
                continue
            proof.marks([mark])
            view = self._catalog.view(merchant_id, scope.campaign_id, now.timestamp())
            current = view.plan_at(now)
            settling = view.plan_at(settling_instant(scope.period, view.campaign.timezone))
            closed[key] = ClosedPeriod(
                what="tier" if scope.what == "tier" else "target",
                period=scope.period,
                plan=settling.plan,
                home=TrafficHome(
                    merchant_id=merchant_id,
                    campaign_id=scope.campaign_id,
                    affiliate_id=scope.affiliate_id,
                    plan_version=current.version,
                    hold_days=current.plan.hold_days,
                    take=self._catalog.take(tx, current.plan, merchant_id),
                ),
            )
        return closed

    def _write_reversal(
        self, tx: UnitOfWork, order: OrderRow, reversal: Reversal, refund_id: str, now: datetime
    ) -> int:
        """The refund's journal entries; the last one carries every row the refund wrote."""
        new = [LineRow(line, None, 0) for line in reversal.lines]
        emptied = {line.entry_id: line for line in reversal.emptied}
        before = {r.line.entry_id: r for r in tx.ledger.get_many(list(emptied))}
        changed = [before[i]._replace(line=line) for i, line in emptied.items() if i in before]
        totals = [
            PeriodTotals(key, t.volume, t.tier_base, t.rate, t.paid, t.booked)
            for key, t in reversal.totals.items()
        ]
        rows: dict[str, Mapping[str, Any]] = {
            "lines": {r.line.entry_id: line_doc(r) for r in (*new, *changed)},
            "periods": {t.key: period_doc(t) for t in totals},
            "orders": {order_key(order.merchant_id, order.order_id): order_doc(order)},
        }
        groups = list(reversal.journal)
        chain = self._ctx.chain_for([order.merchant_id])
        if not groups:  # nothing to reverse: the order's money still changes
            event = path_key("refund", order.merchant_id, order.order_id, refund_id)
            draft = JournalDraft(event, "order.refunded", now, (), {"lines": []}, rows)
            seq = self._writer.append(tx, draft, chain=chain).seq
        for index, group in enumerate(groups):
            last = index == len(groups) - 1
            draft = JournalDraft(
                group.event_id,
                group.kind,
                now,
                group.postings,
                {"lines": [line.entry_id for line in group.lines]},
                rows if last else {},
            )
            seq = self._writer.append(tx, draft, group.lines, chain=chain).seq
        tx.ledger.append([r._replace(seq=seq) for r in new])
        tx.ledger.update([r._replace(seq=seq) for r in changed])
        tx.periods.put([t._replace(seq=seq) for t in totals])
        return seq


def _refund_amount(order: OrderRow, amount: Money | None) -> Money:
    """The refund's amount, checked against what is left to refund."""
    currency = order.currency
    remaining = Money.from_minor(order.total_minor - order.refunded_minor, currency)
    if amount is None:
        amount = remaining
    if not isinstance(amount, Money):
        raise InvalidInput("amount must be Money")
    if amount.currency != currency:
        raise CurrencyMismatch(currency, amount.currency)
    if not amount.is_rounded or amount.amount <= 0:
        raise InvalidAmount(
            amount.amount, f"a refund is a positive amount of whole {currency} minor units"
        )
    if amount > remaining:
        raise RefundExceedsOrder(order.order_id, amount, remaining)
    return amount.round()
