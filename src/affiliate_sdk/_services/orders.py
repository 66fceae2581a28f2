"""Orders and refunds: load the facts, call the pure decisions, apply in one unit of work.

``record`` attributes an order (``tracking.attribution``), judges it
(``antifraud.signals``), prices it (``commission.booking``) and applies the
result: one journal entry holding the new ledger lines, period totals and the
order's money, then those projection rows with the entry's ``seq``, the order's
events, and the review freeze when the order was judged ``review``. ``refund``
reverses an order's lines the same way (``commission.refunds``), after proving
the rows it reads against the journal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

from affiliate_sdk._kernel.fields import check_identifier
from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.antifraud.verdicts import ALLOW, merge
from affiliate_sdk.clock import from_timestamp
from affiliate_sdk.commission.booking import (
    Booking,
    Measures,
    Party,
    PricingFacts,
    TrafficHome,
    book_order,
    period_keys,
)
from affiliate_sdk.commission.journal import JournalDraft
from affiliate_sdk.commission.periods import Totals, closed_key, parse_scope, settling_instant
from affiliate_sdk.commission.refunds import (
    ClosedPeriod,
    RefundFacts,
    Reversal,
    refund_keys,
    reverse,
)
from affiliate_sdk.errors import (
    ConflictingOrder,
    ConflictingRefund,
    CurrencyMismatch,
    InvalidAmount,
    InvalidInput,
    RefundExceedsOrder,
    UnknownOrder,
)
from affiliate_sdk.fx import FxRates
from affiliate_sdk.ids import new_id
from affiliate_sdk.models import (
    Commission,
    Credit,
    ItemCommission,
    Order,
    OrderOutcome,
    PlanVersion,
    RefundOutcome,
    TouchNote,
    Verdict,
)
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import (
    LineMeasures,
    LineRow,
    OrderRow,
    OutboxRow,
    PeriodTotals,
    RefundRow,
)
from affiliate_sdk.tracking.attribution import WEIGHT_PLACES, Decision, Touch, rounded_weights
from affiliate_sdk.tracking.links import decode_sub_ids
from affiliate_sdk.webhooks.events import order_events as build_order_events

from ._attribution import attribute, bind_customer, renewal
from .catalog import CatalogService
from .context import ServiceContext
from .fraud import FraudService, OrderRisk, judge_order_risk
from .journal import JournalWriter
from .projections import Proof, line_doc, order_doc, order_key, period_doc
from .review import ReviewService

__all__ = [
    "OrderService",
    "fingerprint",
    "line_measures",
    "load_totals",
    "measures_of",
    "price_order",
    "write_booking",
]


def fingerprint(order: Order) -> str:
    """A digest of the order as the host gave it (a defaulted ``placed_at`` is left out)."""
    exclude = None if "placed_at" in order.model_fields_set else {"placed_at"}
    return hashlib.sha256(order.model_dump_json(exclude=exclude).encode()).hexdigest()


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
    entry = writer.append(tx, draft, lines)
    written = [row._replace(seq=entry.seq) for row in pending]
    tx.ledger.append(written)
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


class _Request(NamedTuple):
    """An order as recorded: the host's order and what the SDK derived from the call."""

    order: Order
    placed_at: datetime
    placed_ms: int
    now: datetime
    now_ms: int
    fingerprint: str
    request_verdict: Verdict
    visitor_id: str | None
    click_id: str | None
    ip_hash: str | None
    ip_network: str | None

    def row(self) -> OrderRow:
        order = self.order
        return OrderRow(
            order.merchant_id,
            order.order_id,
            self.fingerprint,
            order.total.currency,
            order.total.to_minor(),
            0,
            self.placed_ms,
            self.now_ms,
            self.ip_hash,
            self.ip_network,
            "",
        )


class _Result(NamedTuple):
    credits: list[Credit]
    lines: list[Commission]
    verdict: Verdict
    breakdown: list[ItemCommission]
    seq: int | None


class OrderService:
    """Recording orders and refunds."""

    def __init__(
        self,
        ctx: ServiceContext,
        catalog: CatalogService,
        fraud: FraudService,
        writer: JournalWriter,
        review: ReviewService,
        *,
        fx: FxRates | None = None,
    ) -> None:
        self._ctx = ctx
        self._catalog = catalog
        self._fraud = fraud
        self._writer = writer
        self._review = review
        self._fx = fx

    def _request(
        self,
        order: Order,
        visitor_id: str | None,
        click_id: str | None,
        ip: str | None,
        user_agent: str | None,
    ) -> _Request:
        if not isinstance(order, Order):
            raise InvalidInput("record_order takes an Order")
        now = self._ctx.clock.now()
        placed_at = order.placed_at or now
        verdict = ALLOW if user_agent is None else self._fraud.user_agent(user_agent).verdict
        ip_hash, ip_network = self._ctx.pseudonyms.pseudonymize(ip) if ip else (None, None)
        return _Request(
            order,
            placed_at,
            int(placed_at.timestamp() * 1000),
            now,
            int(now.timestamp() * 1000),
            fingerprint(order),
            verdict,
            visitor_id,
            click_id,
            ip_hash,
            ip_network,
        )

    def record(
        self,
        order: Order,
        *,
        visitor_id: str | None = None,
        click_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> OrderOutcome:
        """Attribute an order and book its commission, exactly once.

        Recording the same ``(merchant_id, order_id)`` again returns the first
        outcome and books nothing; different content under the same ids raises
        ``ConflictingOrder``.
        """
        request = self._request(order, visitor_id, click_id, ip, user_agent)
        with self._ctx.store.transaction() as tx:
            existing = tx.orders.get(order.merchant_id, order.order_id)
            if existing is not None:
                if existing.fingerprint != request.fingerprint:
                    raise ConflictingOrder(order.merchant_id, order.order_id)
                return OrderOutcome.model_validate_json(existing.outcome_json)
            decision = self._credit(tx, request)
            result = self._settle(tx, request, decision)
            if order.customer_id is not None and visitor_id is not None:
                tx.clicks.link_visitor(
                    order.merchant_id, order.customer_id, visitor_id, at_ms=request.placed_ms
                )
            if result.credits:
                tx.outbox.add(
                    order_events(
                        order,
                        request.placed_at,
                        result.verdict,
                        decision,
                        credits=result.credits,
                        lines=result.lines,
                        now=request.now,
                    )
                )
            outcome = OrderOutcome(
                merchant_id=order.merchant_id,
                order_id=order.order_id,
                total=order.total,
                placed_at=request.placed_at,
                credits=result.credits,
                commissions=result.lines,
                verdict=result.verdict,
                notes=decision.notes,
                breakdown=result.breakdown,
                model=decision.model,
                touches=[touch_note(touch) for touch in decision.touches],
            )
            seq = result.seq if result.seq is not None else self._journal_order(tx, request)
            tx.orders.insert(
                request.row()._replace(outcome_json=outcome.model_dump_json(), seq=seq)
            )
        return outcome

    def _journal_order(self, tx: UnitOfWork, request: _Request) -> int:
        """An order that booked nothing still has its money in the journal (no postings)."""
        order = request.order
        key = order_key(order.merchant_id, order.order_id)
        event = path_key("order", order.merchant_id, order.order_id)
        rows = {"orders": {key: order_doc(request.row())}}
        draft = JournalDraft(event, "order.recorded", request.now, (), {}, rows)
        return self._writer.append(tx, draft).seq

    def _credit(self, tx: UnitOfWork, request: _Request) -> Decision:
        order = request.order
        if order.renewal and order.subscription_id is not None:
            return renewal(tx, order, order.subscription_id)
        return attribute(
            tx,
            self._catalog,
            order,
            placed_ms=request.placed_ms,
            visitor_id=request.visitor_id,
            click_id=request.click_id,
            now=request.now.timestamp(),
        )

    def _settle(self, tx: UnitOfWork, request: _Request, decision: Decision) -> _Result:
        """Judge and book an attributed order (nothing for an unattributed one)."""
        order, notes = request.order, decision.notes
        credits, parties = credits_of(decision, order)
        verdict = request.request_verdict
        if not parties:
            return _Result(credits, [], verdict, [], None)
        primary = max(parties, key=lambda pw: pw[1])[0]  # the first of equal weights
        self._bind(tx, request, decision, primary)
        if verdict.decision != "block":
            verdict = self._judge(tx, request, decision, primary, verdict)
        if verdict.decision == "block":
            notes.append("no commission: the order was judged invalid")
            return _Result(credits, [], verdict, [], None)
        now_ts = request.now.timestamp()
        view = self._catalog.view(order.merchant_id, primary.campaign_id, now_ts)
        booking = price_order(
            tx,
            self._catalog,
            Proof(tx.journal, self._ctx.chain),
            order=order,
            version=view.plan_at(request.placed_at),
            timezone=view.campaign.timezone,
            parties=parties,
            placed_at=request.placed_at,
            now_ms=request.now_ms,
            fx=self._fx,
        )
        if booking.paid_renewal is False:
            notes.append(f"no commission: the plan does not pay renewal {order.renewal}")
            return _Result(credits, [], verdict, [], None)
        if not booking.lines:
            return _Result(credits, [], verdict, list(booking.items), None)
        seq, lines = self._apply(tx, request, booking, verdict, notes)
        return _Result(credits, [r.line for r in lines], verdict, list(booking.items), seq)

    def _apply(
        self,
        tx: UnitOfWork,
        request: _Request,
        booking: Booking,
        verdict: Verdict,
        notes: list[str],
    ) -> tuple[int, list[LineRow]]:
        """Book the lines (one journal entry with the order's money), then freeze them for
        review when the order was judged so. Returns the booking entry's seq and the lines."""
        order = request.order
        key = order_key(order.merchant_id, order.order_id)
        seq, rows = write_booking(
            tx,
            self._writer,
            booking,
            at=booking.lines[0].line.created_at,
            extra_rows={"orders": {key: order_doc(request.row())}},
        )
        if verdict.decision != "review":
            return seq, rows
        codes = ", ".join(reason.code for reason in verdict.reasons)
        frozen = self._review.transition(
            tx,
            rows,
            "pending",
            "frozen",
            at=self._ctx.clock.now(),
            kind="commission.frozen",
            reason=f"fraud review: {codes}",
        )
        notes.append(f"commission frozen for review: {codes}")
        return seq, frozen

    def _bind(self, tx: UnitOfWork, request: _Request, decision: Decision, primary: Party) -> None:
        """Remember a subscription's first click and bind the customer where the policy says."""
        order = request.order
        subscription = order.subscription_id
        if subscription is not None and not order.renewal and primary.click_id:
            tx.orders.bind_renewals(order.merchant_id, subscription, primary.click_id)
        if decision.campaign_id is not None:
            bind_customer(
                tx,
                self._catalog,
                order,
                (primary.affiliate_id, primary.campaign_id, primary.click_id),
                campaign_id=decision.campaign_id,
                placed_ms=request.placed_ms,
                now=self._ctx.clock.timestamp(),
            )

    def _judge(
        self,
        tx: UnitOfWork,
        request: _Request,
        decision: Decision,
        primary: Party,
        verdict: Verdict,
    ) -> Verdict:
        """The order rules' verdict on an attributed order, merged with the request's."""
        share = next((s for s in decision.shares if s.affiliate_id == primary.affiliate_id), None)
        coupon_alone = decision.signal == "coupon" and not any(
            t.signal == "click" and t.affiliate_id == primary.affiliate_id for t in decision.touches
        )
        limits = self._catalog.view(
            request.order.merchant_id, primary.campaign_id, request.now.timestamp()
        ).fraud
        risk = OrderRisk(
            primary.affiliate_id,
            None if share is None else share.click,
            coupon_alone,
            request.visitor_id,
            request.ip_network,
            request.placed_ms,
        )
        judged = judge_order_risk(self._fraud, tx, request.order, risk, limits)
        return merge(verdict, judged, limits)

    # -- refunds -----------------------------------------------------------------------------
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
        return outcome

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
        if not groups:  # nothing to reverse: the order's money still changes
            event = path_key("refund", order.merchant_id, order.order_id, refund_id)
            draft = JournalDraft(event, "order.refunded", now, (), {"lines": []}, rows)
            seq = self._writer.append(tx, draft).seq
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
            seq = self._writer.append(tx, draft, group.lines).seq
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
