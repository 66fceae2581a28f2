"""Every registered backend reads the same after the same random repository calls.

A Hypothesis state machine applies each write to every backend in one unit of
work each, and checks that all of them return the same value, or all refuse
it with the same kind of error (``DuplicateEntry`` or another
``StorageError``); after every step a set of reads must agree too. With one
backend registered, two independent stores of it are compared.

Ids come from small pools holding edge strings (``/``, ``%``, ``_``,
``\\uffff``, an astral character) so that keys collide, nest as prefixes
and meet the escaping and collation of each backend.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.models import Affiliate, Campaign, Commission, PayoutBatch, PlanVersion
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import (
    ClickRow,
    CouponRow,
    DeliveryCursor,
    ImpressionRow,
    JournalRow,
    LineFilter,
    LineMeasures,
    LineRow,
    Mark,
    OrderRow,
    OutboxRow,
    PayoutRow,
    PeriodTotals,
    RefundRow,
)

from .conftest import BACKENDS

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

MERCHANTS: Final = st.sampled_from(["m1", "m2"])
CAMPAIGNS: Final = st.sampled_from(["c1", "c2"])
AFFILIATES: Final = st.sampled_from(["a1", "a2", "a3"])
ORDER_IDS: Final = st.sampled_from(["o1", "o/1", "o%", "o_1", "\uffff", "o\U0001f600"])
TEXT_IDS: Final = st.sampled_from(["x", "x/", "x/y", "x%", "x_", "x\uffff", "\uffff", "y"])
VISITORS: Final = st.sampled_from(["v1", "v2", "v/%"])
STATUSES: Final = st.sampled_from(["pending", "approved", "frozen"])
ENTRY_IDS: Final = st.sampled_from([f"e{n}" for n in range(8)])
EVENT_IDS: Final = st.sampled_from([f"ev{n}" for n in range(8)])
TIMES: Final = st.integers(0, 40)
OPTIONAL_TIMES: Final = st.none() | TIMES
BOOKED: Final = st.none() | st.sampled_from(["0.10", "1.005", "-2"])
RUNS: Final = st.sampled_from(["r1", "r2", "r3", "r/%", "\uffff"])

#: One outcome of a call: ("ok", value) or ("refused", the kind of error).
Outcome = tuple[str, object]


def _at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _line(
    *,
    entry_id: str,
    event_id: str,
    merchant_id: str,
    order_id: str,
    affiliate_id: str,
    status: str,
    created_ms: int,
    hold_ms: int | None,
    booked: str | None = None,
) -> LineRow:
    line = Commission.model_validate(
        {
            "entry_id": entry_id,
            "event_id": event_id,
            "merchant_id": merchant_id,
            "order_id": order_id,
            "campaign_id": "c1",
            "affiliate_id": affiliate_id,
            "click_id": None,
            "account": "affiliate",
            "kind": "commission",
            "amount": Money("1.00", "CNY"),
            "status": status,
            "rate": Decimal("0.1"),
            "basis": Money("10.00", "CNY"),
            "created_at": _at(created_ms),
            "hold_until": None if hold_ms is None else _at(hold_ms),
        }
    )
    measures = None if booked is None else LineMeasures(tier_booked=Money(booked, "USD"))
    return LineRow(line, measures, created_ms)


class StoresAgree(RuleBasedStateMachine):
    """The same calls on every backend; the same answers from each."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="agreement-"))
        names = sorted(BACKENDS)
        if len(names) == 1:
            names = [names[0], names[0]]
        self.stores: list[tuple[str, Store]] = []
        for n, name in enumerate(names):
            place = self.directory / f"{n}-{name}"
            place.mkdir()
            self.stores.append((name, BACKENDS[name](place)))
        self.clicks = 0
        self.tick = 0  # strictly increasing, where ties would leave the order open
        self.journal_at = 0  # the journal and the outbox are written in time order
        self.seq = 1  # the next journal seq (places are per chain)
        self.outbox_at = 0
        self.orders: set[tuple[str, str]] = set()
        self.lines: set[str] = set()
        self.cursors: dict[str, str | None] = {}

    def teardown(self) -> None:
        for _, store in self.stores:
            store.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- running one call everywhere ------------------------------------------------------
    def each(self, call: Callable[[UnitOfWork], Any], *, fail: bool = False) -> Outcome:
        """Run ``call`` in a unit of work on every store; all must agree. With ``fail``,
        each unit of work raises after the call and so rolls back."""
        outcomes: list[tuple[str, Outcome]] = []
        for name, store in self.stores:
            outcomes.append((name, _outcome(store, call, fail=fail)))
        first_name, first = outcomes[0]
        for name, outcome in outcomes[1:]:
            assert outcome == first, f"{name} gave {outcome!r}, {first_name} gave {first!r}"
        return first

    # -- catalog ---------------------------------------------------------------------------
    @rule(merchant=MERCHANTS, campaign=CAMPAIGNS, rate=st.sampled_from(["5%", "10%"]))
    def put_campaign(self, merchant: str, campaign: str, rate: str) -> None:
        row = Campaign(
            campaign_id=campaign,
            merchant_id=merchant,
            plan=CommissionPlan(rate=rate),
            landing_domains=["shop.example.com"],
        )
        self.each(lambda tx: tx.catalog.put_campaign(row))

    @rule(merchant=MERCHANTS, campaign=CAMPAIGNS, version=st.integers(1, 3))
    def add_plan_version(self, merchant: str, campaign: str, version: int) -> None:
        plan = PlanVersion(
            campaign_id=campaign,
            version=version,
            effective_from=_at(version),
            plan=CommissionPlan(rate="10%"),
        )
        self.each(lambda tx: tx.catalog.add_plan_version(merchant, plan))
        self.each(lambda tx: tx.catalog.plan_versions(merchant, campaign))

    @rule(merchant=MERCHANTS, code=TEXT_IDS, affiliate=AFFILIATES)
    def put_coupon(self, merchant: str, code: str, affiliate: str) -> None:
        self.each(lambda tx: tx.catalog.put_coupon(CouponRow(merchant, code, affiliate, "c1")))
        self.each(lambda tx: tx.catalog.get_coupon(merchant, code))

    @rule(affiliate=AFFILIATES, channel=st.none() | TEXT_IDS)
    def put_affiliate(self, affiliate: str, channel: str | None) -> None:
        row = Affiliate(affiliate_id=affiliate, channel=channel)
        self.each(lambda tx: tx.catalog.put_affiliate(row))
        self.each(lambda tx: tx.catalog.get_affiliate(affiliate))

    @rule(channel=TEXT_IDS)
    def channel_members(self, channel: str) -> None:
        self.each(lambda tx: tx.catalog.channel_members(channel))

    @rule(merchant=st.none() | MERCHANTS, campaign=st.none() | CAMPAIGNS)
    def campaigns(self, merchant: str | None, campaign: str | None) -> None:
        self.each(lambda tx: tx.catalog.campaigns(merchant_id=merchant, campaign_id=campaign))

    # -- clicks ------------------------------------------------------------------------------
    @rule(
        merchant=MERCHANTS,
        visitor=VISITORS,
        link=st.sampled_from(["l1", "l2"]),
        affiliate=AFFILIATES,
        at_ms=TIMES,
        blocked=st.booleans(),
        dedupe=OPTIONAL_TIMES,
    )
    def record_click(
        self,
        *,
        merchant: str,
        visitor: str,
        link: str,
        affiliate: str,
        at_ms: int,
        blocked: bool,
        dedupe: int | None,
    ) -> None:
        self.clicks += 1
        click = ClickRow(
            click_id=f"k{self.clicks}",
            visitor_id=visitor,
            link_id=f"{merchant}-{link}",  # a link belongs to one merchant's campaign
            affiliate_id=affiliate,
            campaign_id="c1",
            merchant_id=merchant,
            landing_url="https://shop.example.com/",
            sub_fields=b"",
            clicked_at_ms=at_ms,
            ip_hash=None,
            ip_network=None,
            ua_hash=None,
            referrer_host=None,
            decision="block" if blocked else "allow",
            verdict_json="{}",
        )
        self.each(lambda tx: tx.clicks.record(click, dedupe_since_ms=dedupe))

    @rule(merchant=MERCHANTS, visitor=VISITORS, at_ms=TIMES, earns=st.booleans())
    def add_impression(self, merchant: str, visitor: str, at_ms: int, earns: bool) -> None:
        self.tick += 1
        row = ImpressionRow(f"i{self.tick}", merchant, visitor, "a1", "c1", at_ms, earns)
        self.each(lambda tx: tx.clicks.add_impression(row))

    @rule(merchant=MERCHANTS, customer=TEXT_IDS, visitor=VISITORS, limit=st.integers(1, 3))
    def link_visitor(self, merchant: str, customer: str, visitor: str, limit: int) -> None:
        self.tick += 1
        at_ms = self.tick
        self.each(lambda tx: tx.clicks.link_visitor(merchant, customer, visitor, at_ms=at_ms))
        self.each(lambda tx: tx.clicks.visitors_of(merchant, customer, limit=limit))

    @rule(merchant=MERCHANTS, visitor=VISITORS, since=TIMES, until=TIMES)
    def click_reads(self, merchant: str, visitor: str, since: int, until: int) -> None:
        window = {"since_ms": since, "until_ms": until}
        self.each(lambda tx: _by_time(tx.clicks.by_visitor(merchant, visitor, **window)))
        self.each(lambda tx: _by_time(tx.clicks.impressions(merchant, visitor, **window)))
        self.each(lambda tx: tx.clicks.count_unblocked(merchant, "c1", **window))

    # -- orders ------------------------------------------------------------------------------
    @rule(merchant=MERCHANTS, order_id=ORDER_IDS, total=st.integers(0, 999))
    def insert_order(self, merchant: str, order_id: str, total: int) -> None:
        row = OrderRow(merchant, order_id, "f", "CNY", total, 0, 1, 2, None, None, "{}")
        if self.each(lambda tx: tx.orders.insert(row))[0] == "ok":
            self.orders.add((merchant, order_id))

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data(), refunded=st.integers(0, 999), seq=st.integers(1, 9))
    def set_refunded(self, data: st.DataObject, refunded: int, seq: int) -> None:
        merchant, order_id = data.draw(st.sampled_from(sorted(self.orders)))
        self.each(lambda tx: tx.orders.set_refunded(merchant, order_id, refunded, seq))
        self.each(lambda tx: tx.orders.get(merchant, order_id))

    @rule(merchant=MERCHANTS, order_id=ORDER_IDS, refund_id=TEXT_IDS, amount=st.integers(1, 9))
    def insert_refund(self, merchant: str, order_id: str, refund_id: str, amount: int) -> None:
        row = RefundRow(merchant, order_id, refund_id, amount, 1, "{}")
        self.each(lambda tx: tx.orders.insert_refund(row))
        self.each(lambda tx: tx.orders.get_refund(merchant, order_id, refund_id))

    @rule(merchant=MERCHANTS, subscription=TEXT_IDS, click=st.sampled_from(["k1", "k2"]))
    def bind_renewals(self, merchant: str, subscription: str, click: str) -> None:
        self.each(lambda tx: tx.orders.bind_renewals(merchant, subscription, click))
        self.each(lambda tx: tx.orders.renewal_click(merchant, subscription))

    # -- ledger ------------------------------------------------------------------------------
    @rule(
        lines=st.lists(
            st.tuples(
                ENTRY_IDS,
                EVENT_IDS,
                MERCHANTS,
                ORDER_IDS,
                AFFILIATES,
                STATUSES,
                TIMES,
                OPTIONAL_TIMES,
                BOOKED,
            ),
            min_size=1,
            max_size=3,
        )
    )
    def append_lines(
        self, lines: list[tuple[str, str, str, str, str, str, int, int | None, str | None]]
    ) -> None:
        rows = [
            _line(
                entry_id=entry,
                event_id=event,
                merchant_id=merchant,
                order_id=order_id,
                affiliate_id=affiliate,
                status=status,
                created_ms=created,
                hold_ms=hold,
                booked=booked,
            )
            for entry, event, merchant, order_id, affiliate, status, created, hold, booked in lines
        ]
        if self.each(lambda tx: tx.ledger.append(rows))[0] == "ok":
            self.lines.update(row.line.entry_id for row in rows)

    @precondition(lambda self: bool(self.lines))
    @rule(data=st.data(), status=STATUSES, hold=OPTIONAL_TIMES)
    def update_line(self, data: st.DataObject, status: str, hold: int | None) -> None:
        entry_id = data.draw(st.sampled_from(sorted(self.lines)))

        def update(tx: UnitOfWork) -> None:
            (row,) = tx.ledger.get_many([entry_id])
            changes = {"status": status, "hold_until": None if hold is None else _at(hold)}
            tx.ledger.update([row._replace(line=row.line.model_copy(update=changes))])

        self.each(update)

    @rule(
        merchant=st.none() | MERCHANTS,
        affiliate=st.none() | AFFILIATES,
        order_id=st.none() | ORDER_IDS,
        status=st.none() | STATUSES,
        since=OPTIONAL_TIMES,
        before=OPTIONAL_TIMES,
        limit=st.integers(1, 4),
    )
    def query_pages(
        self,
        *,
        merchant: str | None,
        affiliate: str | None,
        order_id: str | None,
        status: str | None,
        since: int | None,
        before: int | None,
        limit: int,
    ) -> None:
        where = LineFilter(merchant, affiliate, order_id, status, None, since, before)
        self.each(lambda tx: _pages(lambda after: tx.ledger.query(where, after=after, limit=limit)))

    @rule(
        status=STATUSES,
        until=TIMES,
        limit=st.integers(1, 4),
        merchant=st.none() | MERCHANTS,
    )
    def due_pages(self, status: str, until: int, limit: int, merchant: str | None) -> None:
        def page(tx: UnitOfWork, after: str | None) -> list[LineRow]:
            return tx.ledger.due(
                status=status, until_ms=until, after=after, limit=limit, merchant_id=merchant
            )

        self.each(lambda tx: _pages(lambda after: page(tx, after)))

    @rule(merchant=MERCHANTS, order_id=ORDER_IDS, ids=st.lists(ENTRY_IDS, max_size=4))
    def line_reads(self, merchant: str, order_id: str, ids: list[str]) -> None:
        self.each(lambda tx: tx.ledger.by_order(merchant, order_id))
        self.each(lambda tx: tx.ledger.get_many(ids))

    @rule(orders=st.lists(st.tuples(MERCHANTS, ORDER_IDS), max_size=5))
    def lines_of_orders(self, orders: list[tuple[str, str]]) -> None:
        self.each(lambda tx: tx.ledger.by_orders(orders))

    @rule(limit=st.integers(1, 4))
    def order_pages(self, limit: int) -> None:
        self.each(
            lambda tx: _paged(
                lambda after: tx.orders.scan(after=after, limit=limit),
                lambda row: (row.merchant_id, row.order_id),
            )
        )

    @rule(run=RUNS, affiliates=st.lists(AFFILIATES, max_size=2), seq=st.integers(0, 9))
    def insert_payouts(self, run: str, affiliates: list[str], seq: int) -> None:
        rows = [
            PayoutRow(
                run,
                PayoutBatch(
                    payout_id=f"{run}-{n}",
                    affiliate_id=affiliate,
                    amount=Money("1.00", "CNY"),
                    entry_ids=[],
                    created_at=_at(n),
                ),
                n,
            )
            for n, affiliate in enumerate(affiliates)
        ]
        self.each(lambda tx: tx.ledger.insert_payouts(run, rows, seq=seq))

    @rule(
        run=st.none() | RUNS,
        affiliate=st.none() | AFFILIATES,
        limit=st.none() | st.integers(1, 3),
    )
    def payouts(self, run: str | None, affiliate: str | None, limit: int | None) -> None:
        self.each(lambda tx: tx.ledger.payouts(run_id=run, affiliate_id=affiliate))
        self.each(
            lambda tx: _paged(
                lambda after: tx.ledger.payouts(
                    run_id=run, affiliate_id=affiliate, after=after, limit=limit
                ),
                lambda row: row.batch.payout_id,
            )
        )
        self.each(lambda tx: [tx.ledger.has_run(r) for r in ("r1", "r2", "r3")])

    @rule(limit=st.integers(1, 3))
    def run_pages(self, limit: int) -> None:
        self.each(
            lambda tx: _paged(
                lambda after: tx.ledger.runs(after=after, limit=limit), lambda run: run[0]
            )
        )

    # -- journal -----------------------------------------------------------------------------
    @rule(
        count=st.integers(1, 3),
        offset=st.sampled_from([0, 0, 0, -1, 1]),
        event=EVENT_IDS,
        step=st.integers(0, 3),
        chain=st.sampled_from([0, 0, 2]),
    )
    def append_journal(self, count: int, offset: int, event: str, step: int, chain: int) -> None:
        def append(tx: UnitOfWork) -> None:
            head = tx.journal.head(chain)
            first = (0 if head is None else head.pos) + 1 + offset
            at_ms = self.journal_at + step
            rows = [
                JournalRow(self.seq + n, f"{event}.{n}", at_ms, b"body", b"hash", chain, first + n)
                for n in range(count)
            ]
            tx.journal.append(rows)

        if self.each(append)[0] == "ok":
            self.journal_at += step
            self.seq += count

    @rule(
        after=st.integers(0, 12),
        until=st.none() | st.integers(0, 12),
        at_ms=TIMES,
        chain=st.sampled_from([0, 2]),
    )
    def journal_reads(self, after: int, until: int | None, at_ms: int, chain: int) -> None:
        self.each(lambda tx: list(tx.journal.scan(chain=chain, after=after, until=until)))
        self.each(lambda tx: tx.journal.first_at(at_ms, chain=chain))
        self.each(lambda tx: tx.journal.heads())
        self.each(lambda tx: tx.journal.get_many([after, after + 1]))
        self.each(lambda tx: tx.journal.by_event("ev1.0"))

    # -- periods -----------------------------------------------------------------------------
    @rule(key=TEXT_IDS, volume=st.integers(0, 9), seq=st.integers(0, 9))
    def put_totals(self, key: str, volume: int, seq: int) -> None:
        row = PeriodTotals(key, volume=Decimal(volume) / 4, seq=seq)
        self.each(lambda tx: tx.periods.put([row]))

    @rule(
        prefix=TEXT_IDS | st.just(""),
        keys=st.lists(TEXT_IDS, max_size=3),
        limit=st.none() | st.integers(1, 3),
        start=st.none() | TEXT_IDS,
    )
    def period_reads(
        self, prefix: str, keys: list[str], limit: int | None, start: str | None
    ) -> None:
        self.each(lambda tx: tx.periods.scan(prefix))
        self.each(lambda tx: tx.periods.get_many(keys))
        self.each(lambda tx: tx.periods.scan(prefix, after=start, limit=limit))
        self.each(lambda tx: tx.periods.marks(prefix, after=start, limit=limit))
        self.each(
            lambda tx: _paged(
                lambda after: tx.periods.scan(prefix, after=after, limit=limit or 2),
                lambda row: row.key,
            )
        )
        self.each(
            lambda tx: _paged(
                lambda after: tx.periods.marks(prefix, after=after, limit=limit or 2),
                lambda mark: mark.key,
            )
        )

    @rule(key=TEXT_IDS, value=st.sampled_from(["1", "2"]), replace=st.booleans())
    def put_mark(self, key: str, value: str, replace: bool) -> None:
        self.each(lambda tx: tx.periods.put_mark(Mark(key, value, 1), replace=replace))
        self.each(lambda tx: tx.periods.get_mark(key))

    # -- risk and sanctions --------------------------------------------------------------------
    @rule(affiliate=AFFILIATES, orders=st.integers(0, 5))
    def put_history(self, affiliate: str, orders: int) -> None:
        self.each(lambda tx: tx.risk.put_history(affiliate, History(orders=orders)))

    @rule(affiliates=st.lists(AFFILIATES | TEXT_IDS, max_size=4))
    def histories_of(self, affiliates: list[str]) -> None:
        self.each(lambda tx: list(tx.risk.histories(affiliate_ids=affiliates)))

    @rule(key=TEXT_IDS, total=st.sampled_from(["1", "2"]), at_ms=TIMES, since=TIMES)
    def add_shape(self, key: str, total: str, at_ms: int, since: int) -> None:
        self.each(lambda tx: tx.risk.add_shape(key, total, at_ms, keep=3))
        self.each(lambda tx: tx.risk.recent_shapes(key, since_ms=since))

    @rule(kind=st.sampled_from(["payer", "network"]), key=TEXT_IDS, member=VISITORS)
    def add_distinct(self, kind: str, key: str, member: str) -> None:
        self.each(lambda tx: tx.risk.add_distinct(kind, key, member, keep=2))

    @rule(key=TEXT_IDS, deltas=st.lists(st.integers(-3, 3), max_size=3))
    def bump(self, key: str, deltas: list[int]) -> None:
        self.each(lambda tx: tx.risk.bump(key, deltas))
        self.each(lambda tx: tx.risk.tallies([key, "never"]))

    @rule(key=TEXT_IDS, reason=st.none() | st.sampled_from(["", "abuse"]))
    def put_blacklisted(self, key: str, reason: str | None) -> None:
        self.each(lambda tx: tx.sanctions.put_blacklisted(key, reason))

    # -- outbox and webhooks -------------------------------------------------------------------
    @rule(events=st.lists(EVENT_IDS, min_size=1, max_size=3), step=st.integers(0, 3))
    def add_events(self, events: list[str], step: int) -> None:
        at_ms = self.outbox_at + step
        rows = [OutboxRow(0, event, "t", at_ms, "{}") for event in events]
        if self.each(lambda tx: tx.outbox.add(rows))[0] == "ok":
            self.outbox_at = at_ms

    @rule(through=st.integers(0, 12), before=TIMES)
    def prune_events(self, through: int, before: int) -> None:
        self.each(lambda tx: tx.outbox.prune(through_seq=through, before_ms=before))

    @rule(after=st.integers(0, 12), limit=st.integers(1, 4), at_ms=TIMES, event=EVENT_IDS)
    def outbox_reads(self, after: int, limit: int, at_ms: int, event: str) -> None:
        self.each(lambda tx: tx.outbox.after(after, limit=limit))
        self.each(lambda tx: tx.outbox.first_since(at_ms))
        self.each(lambda tx: tx.outbox.get(event))

    @rule(
        scope=st.sampled_from(["", "m:m1"]),
        holder=st.sampled_from(["h1", "h2"]),
        now=TIMES,
        length=st.integers(0, 10),
        release=st.booleans(),
    )
    def lease(self, scope: str, holder: str, now: int, length: int, release: bool) -> None:
        if release:
            self.each(lambda tx: tx.webhooks.release_lease(scope, "s1", holder))
        else:
            self.each(
                lambda tx: tx.webhooks.take_lease(
                    scope, "s1", holder, now_ms=now, until_ms=now + length
                )
            )

    @rule(scope=st.sampled_from(["", "m:m1"]), cursor=st.integers(0, 9))
    def put_cursor(self, scope: str, cursor: int) -> None:
        self.each(lambda tx: tx.webhooks.put_cursor(scope, "s1", DeliveryCursor(cursor)))
        self.each(lambda tx: tx.webhooks.cursor(scope, "s1"))

    # -- rollbacks -----------------------------------------------------------------------------
    @rule(
        merchant=MERCHANTS,
        order_id=ORDER_IDS,
        entry=ENTRY_IDS,
        event=EVENT_IDS,
        key=TEXT_IDS,
    )
    def rolled_back(self, merchant: str, order_id: str, entry: str, event: str, key: str) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.orders.insert(OrderRow(merchant, order_id, "r", "CNY", 1, 0, 1, 1, None, None, ""))
            tx.ledger.append(
                [
                    _line(
                        entry_id=entry,
                        event_id=event,
                        merchant_id=merchant,
                        order_id=order_id,
                        affiliate_id="a1",
                        status="pending",
                        created_ms=1,
                        hold_ms=None,
                    )
                ]
            )
            tx.outbox.add([OutboxRow(0, event, "t", self.outbox_at, "{}")])
            tx.periods.put([PeriodTotals(key, volume=Decimal(99))])
            tx.periods.put_mark(Mark(key, "rolled back"), replace=True)
            tx.risk.add_distinct("payer", key, "rolled back", keep=2)

        self.each(write, fail=True)

    # -- reads after every step ----------------------------------------------------------------
    @invariant()
    def everything_reads_alike(self) -> None:
        self.each(
            lambda tx: (
                tx.catalog.campaigns(),
                tx.ledger.query(LineFilter(), limit=100),
                tx.ledger.payouts(),
                tx.ledger.runs(),
                tx.orders.scan(),
                tx.periods.marks(""),
                tx.journal.head(),
                tx.outbox.after(0, limit=100),
                tx.outbox.last_seq(),
                tx.periods.scan(""),
                list(tx.risk.histories()),
                tx.sanctions.blacklist(),
                [tx.orders.get(m, o) for m, o in sorted(self.orders)],
            )
        )


class _Rollback(Exception):
    """Raised to roll a unit of work back."""


def _outcome(store: Store, call: Callable[[UnitOfWork], Any], *, fail: bool) -> Outcome:
    try:
        with store.transaction() as tx:
            value = call(tx)
            if fail:
                raise _Rollback
    except _Rollback:
        return ("rolled back", None)
    except DuplicateEntry:
        return ("refused", "DuplicateEntry")
    except StorageError:
        return ("refused", "StorageError")
    return ("ok", value)


_Row = TypeVar("_Row")
_Key = TypeVar("_Key")


def _pages(read: Callable[[str | None], list[LineRow]]) -> list[list[LineRow]]:
    """Every page of a keyset query of lines, first to last."""
    return _paged(read, lambda row: row.line.entry_id)


def _paged(
    read: Callable[[_Key | None], list[_Row]], key: Callable[[_Row], _Key]
) -> list[list[_Row]]:
    """Every page of a keyset query, first to last: each starts after the last row's key."""
    pages: list[list[_Row]] = []
    after: _Key | None = None
    while page := read(after):
        pages.append(page)
        after = key(page[-1])
        assert len(pages) < 100, "paging does not end"
    return pages


def _by_time(rows: list[ClickRow] | list[ImpressionRow]) -> list[tuple[int, str]]:
    """``(instant, id)`` of rows that must come oldest first; rows of equal instants are put
    in id order, as the contract leaves their order open (an impression's id says whether it
    earns)."""
    found = [
        (r.clicked_at_ms, r.click_id)
        if isinstance(r, ClickRow)
        else (r.at_ms, f"{r.impression_id}/{r.earns}")
        for r in rows
    ]
    instants = [at for at, _ in found]
    assert instants == sorted(instants), f"not oldest first: {instants}"
    return sorted(found)


StoresAgree.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestStoresAgree = StoresAgree.TestCase
