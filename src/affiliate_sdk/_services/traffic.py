"""Commission not tied to one order: CPC clicks, CPM impressions, and period closes.

Each operation loads the marks and period totals it depends on (proven
against the journal), decides with ``commission.booking.book_traffic`` and
``commission.periods.settle_period``, and applies: every line, period total
and mark is written with a journal entry holding its document, under that
entry's seq.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from affiliate_sdk._kernel.fields import check_identifier
from affiliate_sdk._kernel.instants import from_ms, to_ms
from affiliate_sdk.commission.journal import JournalDraft, Posting
from affiliate_sdk.commission.lines import NewId
from affiliate_sdk.commission.periods import (
    ScopeKind,
    Totals,
    closed_key,
    join_id,
    parse_scope,
    settle_period,
    settling_instant,
)
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.commission.traffic import TrafficBooking, TrafficHome, book_traffic
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.ids import new_id
from affiliate_sdk.models import Campaign, Commission, PlanVersion
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineRow, Mark, PeriodTotals

from .context import ServiceContext
from .journal import JournalWriter
from .projections import Proof, line_doc, mark_doc, period_doc

__all__ = ["PERIOD_PATTERN", "CampaignView", "Catalog", "TrafficService"]

#: Impressions are paid per this many.
IMPRESSIONS_PER_MILLE: Final = 1000
#: A period as ``close_period`` takes it: a year, a month or a quarter (``period_key``'s keys).
PERIOD_PATTERN: Final = re.compile(r"[0-9]{4}(?:-(?:0[1-9]|1[0-2])|-Q[1-4])?")
#: The period scopes a close settles, in order.
_CLOSING: Final[tuple[ScopeKind, ...]] = ("tier", "target")
#: Journal entry kinds of changes that book no line.
_MARKED: Final = "traffic.marked"
_SETTLED: Final = "period.settled"


class CampaignView(Protocol):
    """A campaign as the catalog serves it, with its plan versions."""

    @property
    def campaign(self) -> Campaign: ...

    def plan_at(self, instant: datetime) -> PlanVersion:
        """The plan version in force at ``instant``."""
        ...


class Catalog(Protocol):
    """What traffic needs from the catalog service."""

    def campaign_view(self, merchant_id: str | None, campaign_id: str) -> CampaignView:
        """The campaign (of ``merchant_id``, when given); ``UnknownCampaign`` otherwise."""
        ...


class TrafficService:
    """Books CPC and CPM commission and closes periods."""

    __slots__ = ("_catalog", "_ctx", "_writer")

    def __init__(self, ctx: ServiceContext, writer: JournalWriter, catalog: Catalog) -> None:
        self._ctx = ctx
        self._writer = writer
        self._catalog = catalog

    def settle_clicks(
        self,
        campaign_id: str,
        *,
        start: datetime,
        end: datetime,
        merchant_id: str | None = None,
    ) -> list[Commission]:
        """Book CPC commission for the campaign's clicks in ``start <= t < end``.

        Each affiliate earns the plan's ``per_click`` for every click that was
        not blocked. Windows must follow each other: each starts where the
        previous one ended, so no click is paid twice or skipped.
        """
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise InvalidInput("settle_clicks needs an aware start before an aware end")
        start_ms, end_ms = to_ms(start), to_ms(end)
        now = self._ctx.clock.now()
        with self._ctx.store.transaction() as tx:
            view = self._catalog.campaign_view(merchant_id, campaign_id)
            campaign = view.campaign
            key = join_id("cpc-settled", campaign.merchant_id, campaign_id)
            settled = self._mark(tx, key)
            if settled is not None and int(settled.value) != start_ms:
                raise InvalidInput(
                    f"clicks of {campaign_id} are settled up to "
                    f"{from_ms(int(settled.value)).isoformat()}; start there"
                )
            per_click = view.plan_at(start).plan.per_click
            counts = (
                {}
                if per_click is None
                else tx.clicks.count_unblocked(
                    campaign.merchant_id, campaign_id, since_ms=start_ms, until_ms=end_ms
                )
            )
            bookings = [
                book_traffic(
                    self._home(tx, view, affiliate_id, now),
                    per_click * count,
                    rule=f"cpc {per_click} x {count}",
                    reference=f"cpc/{campaign_id}/{affiliate_id}/{start_ms}-{end_ms}",
                    now=now,
                    new_id=self._new_id(now),
                )
                for affiliate_id, count in sorted(counts.items())
                if per_click is not None and count
            ]
            return self._apply(tx, bookings, marks=[Mark(key, str(end_ms))], at=now)

    def count_impressions(
        self,
        campaign_id: str,
        *,
        affiliate_id: str,
        count: int,
        batch_id: str,
        merchant_id: str | None = None,
    ) -> list[Commission]:
        """Count impressions; book the plan's ``per_mille`` for each completed thousand.

        Impressions short of a thousand carry over to the next batch. The same
        ``batch_id`` again counts nothing.
        """
        check_identifier("affiliate_id", affiliate_id)
        check_identifier("batch_id", batch_id)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidInput("count must be a whole number, not negative")
        now = self._ctx.clock.now()
        with self._ctx.store.transaction() as tx:
            view = self._catalog.campaign_view(merchant_id, campaign_id)
            merchant = view.campaign.merchant_id
            seen = join_id("impressions-batch", merchant, campaign_id, batch_id)
            if self._mark(tx, seen) is not None:
                return []
            key = join_id("impressions", merchant, campaign_id, affiliate_id)
            totals = tx.periods.get_many([key]).get(key) or PeriodTotals(key)
            self._proof(tx).periods([totals] if totals.seq else [])
            before = int(totals.volume)
            counted = totals._replace(volume=Decimal(before + count))
            thousands = (before + count) // IMPRESSIONS_PER_MILLE - before // IMPRESSIONS_PER_MILLE
            per_mille = view.plan_at(now).plan.per_mille
            bookings = []
            if per_mille is not None and thousands:
                booking = book_traffic(
                    self._home(tx, view, affiliate_id, now),
                    per_mille * thousands,
                    rule=f"cpm {per_mille} x {thousands}",
                    reference=f"cpm/{campaign_id}/{affiliate_id}/{batch_id}",
                    now=now,
                    new_id=self._new_id(now),
                )
                bookings.append(booking)
            marks = [Mark(seen, str(count))]
            return self._apply(tx, bookings, totals=[counted], marks=marks, at=now)

    def close_period(
        self, campaign_id: str, period: str, merchant_id: str | None = None
    ) -> list[Commission]:
        """Settle a period once it is over: book what refunds changed since.

        For each affiliate, closing books the true-up (kind ``trueup``) that
        makes the period's retroactive tier commission the net volume times the
        rate of the band finally reached, and the bonus adjustment (kind
        ``bonus``) that makes the bonus what the net volume earns. Closing
        twice books nothing more. ``period`` is a year, month or quarter
        (``"2026"``, ``"2026-03"``, ``"2026-Q1"``; ``InvalidInput`` otherwise).
        """
        if not isinstance(period, str) or not PERIOD_PATTERN.fullmatch(period):
            raise InvalidInput(
                f"period {period!r} must be a year, month or quarter: '2026', '2026-03', '2026-Q1'"
            )
        now = self._ctx.clock.now()
        with self._ctx.store.transaction() as tx:
            view = self._catalog.campaign_view(merchant_id, campaign_id)
            closed = closed_key(campaign_id, period)
            if self._mark(tx, closed) is not None:
                return []
            instant = _settling_instant(period, view.campaign.timezone)
            plan = view.plan_at(instant).plan
            booked: list[Commission] = []
            for what in _CLOSING:
                prefix = join_id(what, "campaign", campaign_id) + "/"
                rows = tx.periods.scan(prefix)
                self._proof(tx).periods(rows)
                for row in rows:
                    booked += self._settle(
                        tx, view, plan=plan, what=what, row=row, period=period, now=now
                    )
            self._apply(tx, [], marks=[Mark(closed, period)], at=now)
            return booked

    def _settle(
        self,
        tx: UnitOfWork,
        view: CampaignView,
        *,
        plan: CommissionPlan,
        what: ScopeKind,
        row: PeriodTotals,
        period: str,
        now: datetime,
    ) -> list[Commission]:
        """Settle one period scope: its new totals and, when it owes, the adjusting line."""
        scope = parse_scope(row.key)
        if scope is None or scope.period != period:
            return []
        totals = Totals(row.volume, row.tier_base, row.rate, row.paid, row.booked)
        settled = settle_period(plan, what, totals)
        if settled is None:
            return []
        bookings = []
        if settled.amount:
            campaign_id, affiliate_id = scope.campaign_id, scope.affiliate_id
            booking = book_traffic(
                self._home(tx, view, affiliate_id, now),
                settled.amount,
                rule=f"{settled.rule}; period {period} closed",
                reference=f"{what}-close/{campaign_id}/{affiliate_id}/{period}",
                now=now,
                new_id=self._new_id(now),
                kind="trueup" if what == "tier" else "bonus",
            )
            bookings.append(booking)
        after = PeriodTotals(row.key, *settled.totals, seq=row.seq)
        return self._apply(tx, bookings, totals=[after], at=now, kind=_SETTLED)

    # -- load and apply ----------------------------------------------------------------------
    def _proof(self, tx: UnitOfWork) -> Proof:
        """The check of rows against the journal of ``tx``."""
        return Proof(tx.journal, self._ctx.chain)

    def _mark(self, tx: UnitOfWork, key: str) -> Mark | None:
        """The mark under ``key``, proven against the entry that wrote it."""
        mark = tx.periods.get_mark(key)
        if mark is not None:
            self._proof(tx).marks([mark])
        return mark

    def _home(
        self, tx: UnitOfWork, view: CampaignView, affiliate_id: str, now: datetime
    ) -> TrafficHome:
        """Where the affiliate's traffic commission is booked, under the plan in force now."""
        campaign = view.campaign
        version = view.plan_at(now)
        take = version.plan.platform_take
        if take is None:
            merchant = tx.catalog.get_merchant(campaign.merchant_id)
            take = merchant.platform_take if merchant is not None else None
        return TrafficHome(
            merchant_id=campaign.merchant_id,
            campaign_id=campaign.campaign_id,
            affiliate_id=affiliate_id,
            plan_version=version.version,
            hold_days=version.plan.hold_days,
            take=self._ctx.settings.platform_take if take is None else take,
        )

    @staticmethod
    def _new_id(now: datetime) -> NewId:
        """Fresh line ids stamped with ``now``."""
        now_ms = to_ms(now)
        return lambda: new_id(now_ms)

    def _apply(
        self,
        tx: UnitOfWork,
        bookings: Sequence[TrafficBooking],
        *,
        at: datetime,
        totals: Sequence[PeriodTotals] = (),
        marks: Sequence[Mark] = (),
        kind: str = _MARKED,
    ) -> list[Commission]:
        """One journal entry per booking; the totals and marks go with the last one (or
        with an entry of their own, ``kind``, when nothing is booked)."""
        booked: list[Commission] = []
        for number, booking in enumerate(bookings, start=1):
            last = number == len(bookings)
            self._write(
                tx,
                booking.event_id,
                "commission.booked",
                at=at,
                postings=booking.postings,
                lines=booking.lines,
                totals=totals if last else (),
                marks=marks if last else (),
            )
            booked += booking.lines
        if not bookings and (totals or marks):
            keys = [row.key for row in totals] + [f"{m.key}={m.value}" for m in marks]
            event_id = join_id(kind, *keys)
            self._write(
                tx, event_id, kind, at=at, postings=(), lines=(), totals=totals, marks=marks
            )
        return booked

    def _write(
        self,
        tx: UnitOfWork,
        event_id: str,
        kind: str,
        *,
        at: datetime,
        postings: Iterable[tuple[str, Money]],
        lines: Sequence[Commission],
        totals: Sequence[PeriodTotals],
        marks: Sequence[Mark],
    ) -> None:
        """Append one entry holding the documents of the rows, then write them with its seq."""
        rows: dict[str, dict[str, Any]] = {}
        if lines:
            rows["lines"] = {line.entry_id: line_doc(LineRow(line, None, 0)) for line in lines}
        if totals:
            rows["periods"] = {row.key: period_doc(row) for row in totals}
        if marks:
            rows["marks"] = {mark.key: mark_doc(mark) for mark in marks}
        refs = {"lines": [line.entry_id for line in lines]}
        moves = [Posting(account, amount) for account, amount in postings]
        draft = JournalDraft(event_id, kind, at, moves, refs, rows)
        chain = self._ctx.chain_for(line.merchant_id for line in lines)
        entry = self._writer.append(tx, draft, lines, chain=chain)
        if lines:
            tx.ledger.append([LineRow(line, None, entry.seq) for line in lines])
        if totals:
            tx.periods.put([row._replace(seq=entry.seq) for row in totals])
        for mark in marks:
            tx.periods.put_mark(mark._replace(seq=entry.seq), replace=True)


def _settling_instant(period: str, timezone: str) -> datetime:
    """``settling_instant`` of a well-formed period; ``InvalidInput`` for one outside the
    calendar (year 0, or one that ends after year 9999)."""
    try:
        return settling_instant(period, timezone)
    except (ValueError, OverflowError):
        raise InvalidInput(f"period {period!r} lies outside the calendar") from None
