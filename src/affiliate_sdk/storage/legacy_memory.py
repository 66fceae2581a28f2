"""``memory://``: everything in dictionaries, for tests and simulations.

Thread-safe: one re-entrant lock serialises calls, and a transaction holds it
throughout. A transaction that raises is rolled back from an undo log.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.ledger import JournalRow
from affiliate_sdk.commission.tiers import TierState
from affiliate_sdk.errors import StorageError
from affiliate_sdk.models import (
    Affiliate,
    Campaign,
    Commission,
    Merchant,
    PayoutBatch,
    PlanVersion,
)

from .records import ClickRecord, OrderRecord, OutboxRow, RefundRecord

__all__ = ["MemoryStore"]


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._undo: list[Callable[[], object]] | None = None
        self._campaigns: dict[str, Campaign] = {}
        self._plans: dict[str, list[PlanVersion]] = {}
        self._affiliates: dict[str, Affiliate] = {}
        self._merchants: dict[str, Merchant] = {}
        self._clicks: dict[str, ClickRecord] = {}
        self._by_visitor: dict[str, list[ClickRecord]] = {}
        self._orders: dict[tuple[str, str], OrderRecord] = {}
        self._refunds: dict[tuple[str, str, str], RefundRecord] = {}
        self._entries: list[Commission] = []
        self._entry_index: dict[str, int] = {}
        self._event_ids: set[str] = set()
        self._tiers: dict[str, TierState] = {}
        self._subscriptions: dict[str, str] = {}
        self._records: dict[str, dict[str, str]] = {}
        self._outbox: list[OutboxRow] = []
        self._outbox_ids: dict[str, int] = {}
        self._outbox_pruned = 0  # the highest seq ever pruned: seqs never go back
        self._counts: dict[str, dict[int, int]] = {}
        self._count_groups: dict[str, set[str]] = {}  # pruned prefix -> its keys
        self._payouts: list[tuple[str, PayoutBatch]] = []
        self._payout_runs: set[str] = set()
        self._journal: list[JournalRow] = []
        self._checkpoints: list[Checkpoint] = []
        self._journal_events: set[str] = set()

    # -- transactions ----------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._undo is not None:  # nested: the outer one commits
                yield
                return
            self._undo = []
            try:
                yield
            except BaseException:
                for undo in reversed(self._undo):
                    undo()
                raise
            finally:
                self._undo = None

    def _on_rollback(self, undo: Callable[[], object]) -> None:
        if self._undo is not None:
            self._undo.append(undo)

    def close(self) -> None:
        pass

    # -- campaigns ---------------------------------------------------------------
    def put_campaign(self, campaign: Campaign) -> None:
        self._put(self._campaigns, campaign.campaign_id, campaign)

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        return self._campaigns.get(campaign_id)

    def list_campaigns(self) -> list[Campaign]:
        with self._lock:
            return sorted(self._campaigns.values(), key=lambda c: c.campaign_id)

    def _put(self, table: dict[str, Any], key: str, value: object) -> None:
        with self._lock:
            previous = table.get(key)
            table[key] = value

            def undo() -> None:
                if previous is None:
                    del table[key]
                else:
                    table[key] = previous

            self._on_rollback(undo)

    def put_merchant(self, merchant: Merchant) -> None:
        self._put(self._merchants, merchant.merchant_id, merchant)

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        return self._merchants.get(merchant_id)

    def put_affiliate(self, affiliate: Affiliate) -> None:
        self._put(self._affiliates, affiliate.affiliate_id, affiliate)

    def get_affiliate(self, affiliate_id: str) -> Affiliate | None:
        return self._affiliates.get(affiliate_id)

    def add_plan_version(self, version: PlanVersion) -> None:
        with self._lock:
            versions = self._plans.setdefault(version.campaign_id, [])
            if version.version != len(versions) + 1:
                raise StorageError(
                    f"plan version {version.version} does not follow {len(versions)}"
                )
            versions.append(version)
            self._on_rollback(versions.pop)

    def plan_versions(self, campaign_id: str) -> list[PlanVersion]:
        with self._lock:
            return list(self._plans.get(campaign_id, ()))

    # -- clicks --------------------------------------------------------------------
    def record_click(
        self, click: ClickRecord, *, dedupe_since_ms: int | None
    ) -> tuple[ClickRecord, bool]:
        with self._lock:
            history = self._by_visitor.get(click.visitor_id)
            if history is None:
                history = self._by_visitor[click.visitor_id] = []
            elif dedupe_since_ms is not None:
                for earlier in reversed(history):
                    if earlier.clicked_at_ms < dedupe_since_ms:
                        break
                    if earlier.link_id == click.link_id:
                        return earlier, False
            self._clicks[click.click_id] = click
            history.append(click)
            if self._undo is not None:

                def undo() -> None:
                    del self._clicks[click.click_id]
                    history.remove(click)

                self._on_rollback(undo)
            return click, True

    def get_click(self, click_id: str) -> ClickRecord | None:
        return self._clicks.get(click_id)

    def visitor_clicks(self, visitor_id: str, *, since_ms: int, until_ms: int) -> list[ClickRecord]:
        with self._lock:
            return [
                c
                for c in self._by_visitor.get(visitor_id, ())
                if since_ms <= c.clicked_at_ms <= until_ms
            ]

    def count_clicks(self, campaign_id: str, *, since_ms: int, until_ms: int) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for click in self._clicks.values():
                if (
                    click.campaign_id == campaign_id
                    and since_ms <= click.clicked_at_ms < until_ms
                    and click.decision != "block"
                ):
                    counts[click.affiliate_id] = counts.get(click.affiliate_id, 0) + 1
            return counts

    # -- orders --------------------------------------------------------------------
    def get_order(self, merchant_id: str, order_id: str) -> OrderRecord | None:
        return self._orders.get((merchant_id, order_id))

    def insert_order(self, order: OrderRecord) -> None:
        key = (order.merchant_id, order.order_id)
        with self._lock:
            if key in self._orders:
                raise StorageError(f"order {key} already stored")
            self._orders[key] = order
            self._on_rollback(lambda: self._orders.pop(key))

    def set_order_refunded(self, merchant_id: str, order_id: str, refunded_minor: int) -> None:
        key = (merchant_id, order_id)
        with self._lock:
            previous = self._orders[key]
            self._orders[key] = previous._replace(refunded_minor=refunded_minor)
            self._on_rollback(lambda: self._orders.__setitem__(key, previous))

    def get_refund(self, merchant_id: str, order_id: str, refund_id: str) -> RefundRecord | None:
        return self._refunds.get((merchant_id, order_id, refund_id))

    def insert_refund(self, refund: RefundRecord) -> None:
        key = (refund.merchant_id, refund.order_id, refund.refund_id)
        with self._lock:
            if key in self._refunds:
                raise StorageError(f"refund {key} already stored")
            self._refunds[key] = refund
            self._on_rollback(lambda: self._refunds.pop(key))

    # -- ledger --------------------------------------------------------------------
    def add_entries(self, entries: Sequence[Commission]) -> None:
        with self._lock:
            new_ids = [e.event_id for e in entries]
            if len(set(new_ids)) != len(new_ids) or self._event_ids.intersection(new_ids):
                raise StorageError("ledger event ids must be unique")
            count = len(self._entries)
            self._entries.extend(entries)
            self._event_ids.update(new_ids)
            for at, entry in enumerate(entries, count):
                self._entry_index[entry.entry_id] = at

            def undo() -> None:
                for entry in self._entries[count:]:
                    del self._entry_index[entry.entry_id]
                del self._entries[count:]
                self._event_ids.difference_update(new_ids)

            self._on_rollback(undo)

    def update_entries(self, entries: Sequence[Commission]) -> None:
        with self._lock:
            for entry in entries:
                if entry.entry_id not in self._entry_index:
                    raise StorageError(f"no ledger entry {entry.entry_id!r} to update")
            at = [self._entry_index[entry.entry_id] for entry in entries]
            previous = [self._entries[i] for i in at]
            for i, entry in zip(at, entries, strict=True):
                self._entries[i] = entry

            def undo() -> None:
                for i, entry in zip(at, previous, strict=True):
                    self._entries[i] = entry

            self._on_rollback(undo)

    def entries(
        self,
        *,
        merchant_id: str | None = None,
        affiliate_id: str | None = None,
        order_id: str | None = None,
        status: str | None = None,
    ) -> list[Commission]:
        with self._lock:
            return [
                e
                for e in self._entries
                if (merchant_id is None or e.merchant_id == merchant_id)
                and (affiliate_id is None or e.affiliate_id == affiliate_id)
                and (order_id is None or e.order_id == order_id)
                and (status is None or e.status == status)
            ]

    # -- keyed records -------------------------------------------------------------------
    def put_record(self, kind: str, key: str, data: str, *, replace: bool = True) -> bool:
        with self._lock:
            table = self._records.setdefault(kind, {})
            if not replace and key in table:
                return False
            self._put(table, key, data)
            return True

    def get_record(self, kind: str, key: str) -> str | None:
        return self._records.get(kind, {}).get(key)

    def records(self, kind: str, prefix: str) -> list[tuple[str, str]]:
        with self._lock:
            table = self._records.get(kind, {})
            return sorted((k, v) for k, v in table.items() if k.startswith(prefix))

    # -- the outbox ------------------------------------------------------------------------
    def add_events(self, rows: Sequence[OutboxRow]) -> None:
        with self._lock:
            seen = set()
            for row in rows:
                if row.event_id in self._outbox_ids or row.event_id in seen:
                    raise StorageError(f"event {row.event_id!r} is already in the outbox")
                seen.add(row.event_id)
            count = len(self._outbox)
            for row in rows:
                seq = (self._outbox[-1].seq if self._outbox else self._outbox_pruned) + 1
                self._outbox.append(row._replace(seq=seq))
                self._outbox_ids[row.event_id] = seq

            def undo() -> None:
                for row in self._outbox[count:]:
                    del self._outbox_ids[row.event_id]
                del self._outbox[count:]

            self._on_rollback(undo)

    def events_after(self, seq: int, *, limit: int) -> list[OutboxRow]:
        with self._lock:
            start = bisect_right(self._outbox, seq, key=_seq)
            return self._outbox[start : start + limit]

    def get_event(self, event_id: str) -> OutboxRow | None:
        with self._lock:
            seq = self._outbox_ids.get(event_id)
            if seq is None:
                return None
            return self._outbox[bisect_left(self._outbox, seq, key=_seq)]

    def first_event_since(self, created_at_ms: int) -> int | None:
        with self._lock:
            return next(
                (row.seq for row in self._outbox if row.created_at_ms >= created_at_ms), None
            )

    def last_event_seq(self) -> int:
        with self._lock:
            return self._outbox[-1].seq if self._outbox else self._outbox_pruned

    def prune_events(self, *, through_seq: int, before_ms: int) -> int:
        with self._lock:
            keep = [
                row
                for row in self._outbox
                if row.seq > through_seq or row.created_at_ms >= before_ms
            ]
            gone = len(self._outbox) - len(keep)
            if self._outbox and gone:
                self._outbox_pruned = max(self._outbox_pruned, self._outbox[-1].seq)
            for row in self._outbox:
                if row.seq <= through_seq and row.created_at_ms < before_ms:
                    del self._outbox_ids[row.event_id]
            self._outbox = keep
            return gone

    # -- shared counters ---------------------------------------------------------------
    # Not undone by a rolled-back transaction: counts are observations, not bookings.
    def add_counts(self, rows: Sequence[tuple[str, int, int]]) -> None:
        with self._lock:
            counts = self._counts
            for key, bucket, count in rows:
                buckets = counts.get(key)
                if buckets is None:
                    buckets = counts[key] = {}
                    for prefix, group in self._count_groups.items():
                        if key.startswith(prefix):
                            group.add(key)
                buckets[bucket] = buckets.get(bucket, 0) + count

    def sum_counts(self, keys: Sequence[str], *, since_bucket: int) -> list[int]:
        with self._lock:
            counts = self._counts
            return [
                sum([n for b, n in buckets.items() if b >= since_bucket])
                if (buckets := counts.get(key))
                else 0
                for key in keys
            ]

    def prune_counts(self, prefix: str, *, before_bucket: int) -> None:
        with self._lock:
            counts, groups = self._counts, self._count_groups
            group = groups.get(prefix)
            if group is None:  # the first prune of a prefix finds its keys; later adds join
                group = groups[prefix] = {k for k in counts if k.startswith(prefix)}
            for key in list(group):
                buckets = counts[key]
                for bucket in [b for b in buckets if b < before_bucket]:
                    del buckets[bucket]
                if not buckets:
                    del counts[key]
                    for other in groups.values():
                        other.discard(key)

    # -- subscriptions -----------------------------------------------------------------
    def bind_subscription(self, merchant_id: str, subscription_id: str, click_id: str) -> None:
        key = f"{merchant_id}\x1f{subscription_id}"
        if key not in self._subscriptions:
            self._put(self._subscriptions, key, click_id)

    def subscription_click(self, merchant_id: str, subscription_id: str) -> str | None:
        return self._subscriptions.get(f"{merchant_id}\x1f{subscription_id}")

    # -- tier totals ----------------------------------------------------------------
    def get_tier_state(self, key: str) -> TierState | None:
        return self._tiers.get(key)

    def put_tier_state(self, key: str, state: TierState) -> None:
        self._put(self._tiers, key, state)

    def tier_states(self, prefix: str) -> dict[str, TierState]:
        with self._lock:
            return {k: v for k, v in self._tiers.items() if k.startswith(prefix)}

    # -- payouts -------------------------------------------------------------------
    def insert_payouts(self, run_id: str, batches: Sequence[PayoutBatch]) -> None:
        with self._lock:
            if run_id in self._payout_runs:
                raise StorageError(f"payout run {run_id!r} already stored")
            count = len(self._payouts)
            self._payout_runs.add(run_id)
            self._payouts.extend((run_id, batch) for batch in batches)

            def undo() -> None:
                del self._payouts[count:]
                self._payout_runs.discard(run_id)

            self._on_rollback(undo)

    def payouts(
        self, *, run_id: str | None = None, affiliate_id: str | None = None
    ) -> list[PayoutBatch]:
        with self._lock:
            return [
                batch
                for run, batch in self._payouts
                if (run_id is None or run == run_id)
                and (affiliate_id is None or batch.affiliate_id == affiliate_id)
            ]

    # -- checkpoints ------------------------------------------------------------------
    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._lock:
            self._checkpoints.append(checkpoint)
            self._on_rollback(self._checkpoints.pop)

    def checkpoints(self) -> list[Checkpoint]:
        with self._lock:
            return list(self._checkpoints)

    # -- journal -------------------------------------------------------------------
    def journal_head(self) -> tuple[int, bytes] | None:
        with self._lock:
            return (self._journal[-1].seq, self._journal[-1].hash) if self._journal else None

    def append_journal(self, rows: Sequence[JournalRow]) -> None:
        with self._lock:
            seq = self._journal[-1].seq if self._journal else 0
            for row in rows:
                seq += 1
                if row.seq != seq or row.event_id in self._journal_events:
                    raise StorageError(f"journal row {row.seq} does not follow the head")
                self._journal_events.add(row.event_id)
            count = len(self._journal)
            self._journal.extend(rows)

            def undo() -> None:
                for row in self._journal[count:]:
                    self._journal_events.discard(row.event_id)
                del self._journal[count:]

            self._on_rollback(undo)

    def journal_links(self) -> Iterator[tuple[bytes, bytes]]:
        with self._lock:
            rows = list(self._journal)
        return ((row.body, row.hash) for row in rows)

    def journal(self, *, after_seq: int = 0) -> Iterator[JournalRow]:
        with self._lock:
            rows = list(self._journal)
        return iter([row for row in rows if row.seq > after_seq])


def _seq(row: OutboxRow) -> int:
    return row.seq
