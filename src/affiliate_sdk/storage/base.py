"""The ``Store`` protocol every backend implements.

One contract test suite (``tests/storage/test_contract.py``) runs against every
backend. A store does no business logic: the ``Alliance`` decides, the store
keeps. ``transaction()`` makes a group of calls atomic and isolated; a call
made outside one is atomic on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.ledger import JournalRow
from affiliate_sdk.commission.tiers import TierState
from affiliate_sdk.models import (
    Affiliate,
    Campaign,
    Commission,
    Merchant,
    PayoutBatch,
    PlanVersion,
)

from .records import ClickRecord, OrderRecord, OutboxRow, RefundRecord

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    def transaction(self) -> AbstractContextManager[None]:
        """Run the calls inside as one atomic, isolated unit (re-entrant)."""
        ...

    def close(self) -> None: ...

    # campaigns
    def put_campaign(self, campaign: Campaign) -> None:
        """Insert or replace the campaign with this id."""
        ...

    def get_campaign(self, campaign_id: str) -> Campaign | None: ...

    def list_campaigns(self) -> list[Campaign]: ...

    def put_merchant(self, merchant: Merchant) -> None:
        """Insert or replace the merchant with this id."""
        ...

    def get_merchant(self, merchant_id: str) -> Merchant | None: ...

    def put_affiliate(self, affiliate: Affiliate) -> None:
        """Insert or replace the affiliate with this id."""
        ...

    def get_affiliate(self, affiliate_id: str) -> Affiliate | None: ...

    def add_plan_version(self, version: PlanVersion) -> None:
        """Record a campaign's next plan version (its number must be the next one)."""
        ...

    def plan_versions(self, campaign_id: str) -> list[PlanVersion]:
        """A campaign's plan versions, oldest first."""
        ...

    # clicks
    def record_click(
        self, click: ClickRecord, *, dedupe_since_ms: int | None
    ) -> tuple[ClickRecord, bool]:
        """Store ``click``, or return the visitor's latest click on the same link.

        With ``dedupe_since_ms`` set, a click with the same ``visitor_id`` and
        ``link_id`` at or after that instant is returned as ``(existing, False)``
        and nothing is written; otherwise ``(click, True)`` after storing it.
        """
        ...

    def get_click(self, click_id: str) -> ClickRecord | None: ...

    def visitor_clicks(self, visitor_id: str, *, since_ms: int, until_ms: int) -> list[ClickRecord]:
        """The visitor's clicks with ``since_ms <= clicked_at_ms <= until_ms``, oldest first."""
        ...

    def count_clicks(self, campaign_id: str, *, since_ms: int, until_ms: int) -> dict[str, int]:
        """Affiliate id -> clicks not blocked in the campaign, ``since_ms <= t < until_ms``."""
        ...

    # orders and refunds
    def get_order(self, merchant_id: str, order_id: str) -> OrderRecord | None: ...

    def insert_order(self, order: OrderRecord) -> None: ...

    def set_order_refunded(self, merchant_id: str, order_id: str, refunded_minor: int) -> None: ...

    def get_refund(
        self, merchant_id: str, order_id: str, refund_id: str
    ) -> RefundRecord | None: ...

    def insert_refund(self, refund: RefundRecord) -> None: ...

    # ledger
    def add_entries(self, entries: Sequence[Commission]) -> None:
        """Append ledger entries; an entry whose ``event_id`` exists is an error."""
        ...

    def update_entries(self, entries: Sequence[Commission]) -> None:
        """Replace stored entries (same ``entry_id``) with new versions, keeping their order."""
        ...

    def entries(
        self,
        *,
        merchant_id: str | None = None,
        affiliate_id: str | None = None,
        order_id: str | None = None,
        status: str | None = None,
    ) -> list[Commission]:
        """Ledger entries matching every given filter, in booking order."""
        ...

    # subscriptions
    def bind_subscription(self, merchant_id: str, subscription_id: str, click_id: str) -> None:
        """Remember which click earned a subscription's first order (first binding wins)."""
        ...

    def subscription_click(self, merchant_id: str, subscription_id: str) -> str | None: ...

    # keyed records (coupons, customer bindings, customer devices)
    def put_record(self, kind: str, key: str, data: str, *, replace: bool = True) -> bool:
        """Store ``data`` under ``(kind, key)``; without ``replace`` an existing one is kept.

        Returns whether ``data`` was written.
        """
        ...

    def get_record(self, kind: str, key: str) -> str | None: ...

    def records(self, kind: str, prefix: str) -> list[tuple[str, str]]:
        """``(key, data)`` of the records of ``kind`` whose key starts with ``prefix``, by key."""
        ...

    # the outbox: events written with the state change that causes them
    def add_events(self, rows: Sequence[OutboxRow]) -> None:
        """Append events (their ``seq`` is assigned here, in order); an event id already
        present raises ``StorageError``."""
        ...

    def events_after(self, seq: int, *, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` events with a ``seq`` above ``seq``, in order."""
        ...

    def get_event(self, event_id: str) -> OutboxRow | None: ...

    def first_event_since(self, created_at_ms: int) -> int | None:
        """The ``seq`` of the first event created at or after ``created_at_ms``, if any."""
        ...

    def last_event_seq(self) -> int:
        """The ``seq`` of the newest event (0 when there is none)."""
        ...

    def prune_events(self, *, through_seq: int, before_ms: int) -> int:
        """Delete events with ``seq <= through_seq`` created before ``before_ms``; how many."""
        ...

    # shared counters (the fraud engine's sliding windows)
    def add_counts(self, rows: Sequence[tuple[str, int, int]]) -> None:
        """Add each ``(key, bucket, count)``'s count to that bucket of that key (one unit)."""
        ...

    def sum_counts(self, keys: Sequence[str], *, since_bucket: int) -> list[int]:
        """Per key, in order, the sum of its buckets numbered ``since_bucket`` or more."""
        ...

    def prune_counts(self, prefix: str, *, before_bucket: int) -> None:
        """Forget the buckets numbered below ``before_bucket`` of keys starting with ``prefix``."""
        ...

    # tier totals
    def get_tier_state(self, key: str) -> TierState | None:
        """A tier scope's period totals, or None before its first order."""
        ...

    def put_tier_state(self, key: str, state: TierState) -> None: ...

    def tier_states(self, prefix: str) -> dict[str, TierState]:
        """Every period total whose key starts with ``prefix``."""
        ...

    # payouts
    def insert_payouts(self, run_id: str, batches: Sequence[PayoutBatch]) -> None:
        """Record a payout run's batches (an empty run is recorded too)."""
        ...

    def payouts(
        self, *, run_id: str | None = None, affiliate_id: str | None = None
    ) -> list[PayoutBatch]:
        """Payout batches matching the filters, oldest run first."""
        ...

    # checkpoints
    def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first."""
        ...

    # journal
    def journal_head(self) -> tuple[int, bytes] | None:
        """The last journal entry's sequence number and hash; None when empty."""
        ...

    def append_journal(self, rows: Sequence[JournalRow]) -> None:
        """Append rows that continue the chain from the head (call inside a transaction)."""
        ...

    def journal(self, *, after_seq: int = 0) -> Iterator[JournalRow]:
        """Journal rows with ``seq > after_seq``, in order."""
        ...

    def journal_links(self) -> Iterator[tuple[bytes, bytes]]:
        """``(body, hash)`` of every journal row in sequence order: what verification reads."""
        ...
