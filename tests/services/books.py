"""Writing test lines into the ledger the way the SDK does: a journal entry first.

The order service books lines in production; here ``Books.book`` books
pending lines with one ``commission.booked`` entry holding their documents,
``Books.refund`` books a reversal (before payment) or a clawback (after), and
``Books.forge_*`` edit or remove stored rows behind the SDK's back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import attrs

from affiliate_sdk._kernel.instants import to_ms
from affiliate_sdk._services.context import ServiceContext
from affiliate_sdk._services.journal import JournalWriter
from affiliate_sdk._services.ledger import LedgerService
from affiliate_sdk._services.payouts import PayoutService
from affiliate_sdk._services.projections import line_doc
from affiliate_sdk._services.review import ReviewService
from affiliate_sdk.commission.journal import JournalDraft, Posting, decode_entry
from affiliate_sdk.commission.lifecycle import from_merchant, to_merchant
from affiliate_sdk.errors import UnknownCampaign
from affiliate_sdk.ids import new_id
from affiliate_sdk.models import Campaign, Commission, PlanVersion
from affiliate_sdk.money import Money
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.storage.rows import JournalRow, LineRow
from affiliate_sdk.testing import FakeClock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOLD = timedelta(days=7)


def line(
    amount: str,
    *,
    order_id: str = "o1",
    merchant_id: str = "m1",
    affiliate_id: str = "a1",
    account: str = "affiliate",
    currency: str = "CNY",
    created_at: datetime = START,
    hold: timedelta | None = HOLD,
) -> Commission:
    """A pending commission line of ``amount``."""
    entry_id = new_id(to_ms(created_at))
    return Commission(
        entry_id=entry_id,
        event_id=f"test/{entry_id}",
        merchant_id=merchant_id,
        order_id=order_id,
        campaign_id="c1",
        affiliate_id=affiliate_id,
        click_id=None,
        account=account,
        kind="commission",
        amount=Money(amount, currency),
        status="pending",
        rate=Decimal("0.1"),
        basis=Money(Decimal(amount) * 10, currency),
        created_at=created_at,
        hold_until=None if hold is None else created_at + hold,
    )


def _postings(items: Sequence[tuple[str, Money]]) -> list[Posting]:
    return [Posting(account, amount) for account, amount in items]


@attrs.frozen(kw_only=True)
class Books:
    """The services under test and the store behind them."""

    store: MemoryStore
    ctx: ServiceContext
    writer: JournalWriter
    ledger: LedgerService
    review: ReviewService
    payouts: PayoutService

    @property
    def clock(self) -> FakeClock:
        clock = self.ctx.clock
        assert isinstance(clock, FakeClock)
        return clock

    def write(
        self,
        kind: str,
        postings: Sequence[Posting],
        rows: Sequence[LineRow],
        *,
        at: datetime,
        extra: dict[str, dict[str, Any]] | None = None,
        update: Sequence[LineRow] = (),
    ) -> JournalRow:
        """One entry holding the documents of ``rows`` (appended) and ``update`` (replaced)."""
        documents = {r.line.entry_id: line_doc(r) for r in [*rows, *update]}
        draft = JournalDraft(
            f"{kind}/{new_id(to_ms(at))}",
            kind,
            at,
            postings,
            {"lines": list(documents)},
            {"lines": documents, **(extra or {})},
        )
        with self.store.transaction() as tx:
            entry = self.writer.append(tx, draft, [r.line for r in rows])
            if rows:
                tx.ledger.append([r._replace(seq=entry.seq) for r in rows])
            if update:
                tx.ledger.update([r._replace(seq=entry.seq) for r in update])
        return entry

    def book(self, *lines: Commission) -> list[Commission]:
        """Book pending lines (all of one merchant) with one journal entry."""
        merchant_id = lines[0].merchant_id
        postings = _postings(from_merchant(merchant_id, lines))
        rows = [LineRow(x, None, 0) for x in lines]
        self.write("commission.booked", postings, rows, at=lines[0].created_at)
        return list(lines)

    def refund(self, original: Commission, amount: str, *, at: datetime) -> Commission:
        """Take ``amount`` back from a line: a reversal before payment, a clawback after."""
        paid = original.status == "paid"
        state = "approved" if paid else original.status
        back = Money(amount, original.amount.currency)
        reversal = original.model_copy(
            update={
                "entry_id": new_id(to_ms(at)),
                "event_id": f"refund/{original.entry_id}/{to_ms(at)}",
                "kind": "clawback" if paid else "reversal",
                "amount": -back,
                "status": "approved" if paid else "reversed",
                "reverses": original.entry_id,
                "reason": "refund",
                "created_at": at,
                "hold_until": None,
                "approved_at": at if paid else None,
                "paid_at": None,
                "payout_id": None,
            }
        )
        postings = _postings(to_merchant({original.merchant_id: [(original, state, back)]}))
        kind = "commission.clawed_back" if paid else "commission.reversed"
        self.write(kind, postings, [LineRow(reversal, None, 0)], at=at)
        return reversal

    def row(self, entry_id: str) -> LineRow:
        with self.store.reader() as tx:
            (found,) = tx.ledger.get_many([entry_id])
        return found

    def forge(self, row: LineRow) -> None:
        """Replace a stored line behind the SDK's back (no journal entry)."""
        with self.store.transaction() as tx:
            tx.ledger.update([row])

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The decoded journal entries (of one kind)."""
        with self.store.reader() as tx:
            documents = [decode_entry(row.body) for row in tx.journal.scan()]
        return [d for d in documents if kind is None or d["kind"] == kind]

    def head(self) -> JournalRow | None:
        with self.store.reader() as tx:
            return tx.journal.head()


class CampaignShelf:
    """A catalog of fixed campaigns, each with one plan version in force since long ago."""

    def __init__(self, *campaigns: Campaign) -> None:
        self._campaigns = {(c.merchant_id, c.campaign_id): c for c in campaigns}

    def campaign_view(self, merchant_id: str | None, campaign_id: str) -> ShelvedCampaign:
        for (owner, name), campaign in self._campaigns.items():
            if name == campaign_id and merchant_id in (None, owner):
                return ShelvedCampaign(campaign)
        raise UnknownCampaign(campaign_id)


class ShelvedCampaign(NamedTuple):
    campaign: Campaign

    def plan_at(self, instant: datetime) -> PlanVersion:
        return PlanVersion(
            campaign_id=self.campaign.campaign_id,
            version=1,
            effective_from=START - timedelta(days=365),
            plan=self.campaign.plan,
        )
