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

from datetime import datetime
from typing import NamedTuple

from affiliate_sdk._kernel.fields import check_texts
from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.antifraud.verdicts import ALLOW, merge
from affiliate_sdk.commission.booking import (
    Booking,
    Party,
)
from affiliate_sdk.commission.journal import JournalDraft
from affiliate_sdk.errors import (
    ConflictingOrder,
    InvalidInput,
)
from affiliate_sdk.fx import FxRates
from affiliate_sdk.models import (
    Campaign,
    Commission,
    Credit,
    ItemCommission,
    Order,
    OrderOutcome,
    RefundOutcome,
    Verdict,
)
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import (
    LineRow,
    OrderRow,
    OutboxRow,
)
from affiliate_sdk.tracking.attribution import Decision

from ._attribution import attribute, bind_customer, renewal
from ._order_io import (
    credits_of,
    fingerprint,
    order_events,
    price_order,
    same_order,
    touch_note,
    write_booking,
)
from .budgets import count_cost
from .catalog import CatalogService
from .context import ServiceContext
from .fraud import FraudService, OrderRisk, judge_order_risk
from .journal import JournalWriter
from .projections import Proof, order_doc, order_key
from .refunds import RefundService
from .review import ReviewService
from .sources import AFFILIATE_RULES, NETWORK_RULES, earlier_of

__all__ = ["OrderService"]


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
        self._refunds = RefundService(ctx, catalog, writer, review)

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
        check_texts(visitor_id=visitor_id, click_id=click_id)
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
            fingerprint(order, self._ctx.pseudonyms),
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
        judged: list[
            tuple[str, str]
        ] = []  # whose orders of the day count this one, once it is recorded
        paused: list[Campaign] = []  # campaigns this booking took over budget
        chain = self._ctx.chain_for([order.merchant_id])
        with self._ctx.store.transaction(chain=chain) as tx:
            existing = tx.orders.get(order.merchant_id, order.order_id)
            if existing is not None:
                if existing.fingerprint != request.fingerprint and not same_order(
                    existing.fingerprint, order, self._ctx.pseudonyms
                ):
                    raise ConflictingOrder(order.merchant_id, order.order_id)
                return OrderOutcome.model_validate_json(existing.outcome_json)
            decision = self._credit(tx, request)
            events: list[OutboxRow] = []  # written in one call, with the order
            result = self._settle(tx, request, decision, events, (judged, paused))
            if order.customer_id is not None and visitor_id is not None:
                tx.clicks.link_visitor(
                    order.merchant_id, order.customer_id, visitor_id, at_ms=request.placed_ms
                )
            if result.credits:
                events += order_events(
                    order,
                    request.placed_at,
                    result.verdict,
                    decision,
                    credits=result.credits,
                    lines=result.lines,
                    now=request.now,
                )
            outcome = _outcome(request, decision, result)
            seq = result.seq or self._journal_order(tx, request, events, chain)
            tx.orders.insert(
                request.row()._replace(outcome_json=outcome.model_dump_json(), seq=seq)
            )
            if events:  # last: the outbox's number is held from here to the commit
                tx.outbox.add(events)
        for scope, affiliate_id in judged:
            self._fraud.count_order(affiliate_id, request.placed_ms, scope=scope)
        for campaign in paused:  # its budget passed the alarm: paused once the booking is in
            if campaign.active:
                self._catalog.add_campaign(campaign.model_copy(update={"active": False}))
        return outcome

    def _journal_order(
        self, tx: UnitOfWork, request: _Request, events: list[OutboxRow], chain: int
    ) -> int:
        """An order that booked nothing still has its money in the journal (no postings)."""
        order = request.order
        key = order_key(order.merchant_id, order.order_id)
        event = path_key("order", order.merchant_id, order.order_id)
        rows = {"orders": {key: order_doc(request.row())}}
        draft = JournalDraft(event, "order.recorded", request.now, (), {}, rows)
        return self._writer.append(tx, draft, events=events, chain=chain).seq

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

    def _settle(
        self,
        tx: UnitOfWork,
        request: _Request,
        decision: Decision,
        events: list[OutboxRow],
        after: tuple[list[tuple[str, str]], list[Campaign]],
    ) -> _Result:
        """Judge and book an attributed order (nothing for an unattributed one); the
        affiliate whose order rules judged it joins the first of ``after``, a campaign the
        booking took over budget with ``pause_over_budget`` the second."""
        judged, paused = after
        order, notes = request.order, decision.notes
        credits, parties = credits_of(decision, order)
        verdict = request.request_verdict
        if not parties:
            return _Result(credits, [], verdict, [], None)
        primary = max(parties, key=lambda pw: pw[1])[0]  # the first of equal weights
        self._bind(tx, request, decision, primary)
        if verdict.decision != "block":
            verdict = self._judge(tx, request, decision, primary, verdict, events=events)
            judged.append((path_key(order.merchant_id, primary.campaign_id), primary.affiliate_id))
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
        seq, lines = self._apply(
            tx, request, booking, verdict, notes=notes, events=events, paused=paused
        )
        return _Result(credits, [r.line for r in lines], verdict, list(booking.items), seq)

    def _apply(
        self,
        tx: UnitOfWork,
        request: _Request,
        booking: Booking,
        verdict: Verdict,
        *,
        notes: list[str],
        events: list[OutboxRow],
        paused: list[Campaign],
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
            events=events,
            chain=self._ctx.chain_for([order.merchant_id]),
        )
        campaign = self._catalog.view(
            order.merchant_id, rows[0].line.campaign_id, request.now.timestamp()
        ).campaign
        alarm, pause = count_cost(tx, campaign, (row.line for row in rows), request.now)
        events += alarm  # written with the order's, last
        if pause:
            paused.append(campaign)
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
            events=events,  # with the order's: the outbox is written last
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
        *,
        events: list[OutboxRow],
    ) -> Verdict:
        """The order rules' verdict on an attributed order, merged with the request's; a
        source flagged for the first time has its earlier pending commission frozen too."""
        share = next((s for s in decision.shares if s.affiliate_id == primary.affiliate_id), None)
        coupon_alone = decision.signal == "coupon" and not any(
            t.signal == "click" and t.affiliate_id == primary.affiliate_id for t in decision.touches
        )
        view = self._catalog.view(
            request.order.merchant_id, primary.campaign_id, request.now.timestamp()
        )
        limits, allowed = view.fraud, view.campaign.allowed_channels
        if allowed is not None:
            member = self._catalog.member(tx, primary.affiliate_id)
            allowed = [] if member is None or member.channel not in allowed else allowed
        risk = OrderRisk(
            primary.affiliate_id,
            None if share is None else share.click,
            coupon_alone,
            request.visitor_id,
            request.ip_network,
            request.placed_ms,
            primary.campaign_id,
            allowed is None or bool(allowed),
        )
        judged = merge(
            verdict, judge_order_risk(self._fraud, tx, request.order, risk, limits), limits
        )
        codes = {reason.code for reason in judged.reasons}
        if judged.decision == "review" and codes & (AFFILIATE_RULES | NETWORK_RULES):
            self._freeze_earlier(tx, request, risk, codes, events)
        return judged

    def _freeze_earlier(
        self,
        tx: UnitOfWork,
        request: _Request,
        risk: OrderRisk,
        codes: set[str],
        events: list[OutboxRow],
    ) -> None:
        """Freeze the pending commission of a source a source rule flags for the first time
        (``_services.sources.earlier_of``), as the order that flagged it is frozen."""
        order = request.order
        source = risk.source(order.merchant_id, None, None)
        held = earlier_of(tx, source, order.merchant_id, risk.campaign_id, codes)
        if held:
            flagged = ", ".join(sorted(codes & (AFFILIATE_RULES | NETWORK_RULES)))
            self._review.transition(
                tx,
                held,
                "pending",
                "frozen",
                at=self._ctx.clock.now(),
                kind="commission.frozen",
                reason=f"fraud review: the source was flagged later ({flagged})",
                events=events,
            )

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
        return self._refunds.refund(merchant_id, order_id, amount, refund_id=refund_id)


def _outcome(request: _Request, decision: Decision, result: _Result) -> OrderOutcome:
    """What ``record`` returns (and stores, for the same order sent again)."""
    order = request.order
    return OrderOutcome(
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
