"""The storage contract: a ``Store``, its unit of work, and one repository per aggregate.

A service opens a unit of work, loads what a decision needs from the
repositories, calls the pure decision, and applies its result through the same
unit of work; leaving the ``with`` block commits, an exception rolls back::

    with store.transaction() as tx:
        order = tx.orders.get("m1", "o1")
        ...
        tx.ledger.append(lines)

Repositories do no business logic and raise ``StorageError`` subclasses only
(``DuplicateEntry`` for a unique key already present). Each is small and typed
(rows in ``storage.rows``); a backend may implement a subset and be composed
with another (``Store.counters`` may come from a different backend than the
rest). One contract suite per repository (``affiliate_sdk.testing.contract``)
runs against every backend, and a state machine checks that backends agree.

Velocity counters sit outside transactions: counts are observations, and a
rolled-back order does not un-see its clicks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Final, Protocol, runtime_checkable

from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.antifraud.velocity import CounterBuckets
from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.models import Affiliate, Campaign, Enforcement, Merchant, PlanVersion

from .rows import (
    BindingRow,
    ClickRow,
    CouponRow,
    DeadLetterRow,
    DeliveryCursor,
    DeliveryLogRow,
    ImpressionRow,
    JournalRow,
    LineFilter,
    LineRow,
    Mark,
    OrderRow,
    OutboxRow,
    PayoutRow,
    PeriodTotals,
    RefundRow,
    Standing,
    SubscriptionRow,
    ValueStats,
)

__all__ = [
    "MAX_CHAINS",
    "CatalogRepo",
    "ChangeSignals",
    "ClickClaims",
    "ClickRepo",
    "CounterRepo",
    "JournalRepo",
    "KeyRepo",
    "LeaseRepo",
    "LedgerRepo",
    "OrderRepo",
    "OutboxRepo",
    "PeriodRepo",
    "RiskRepo",
    "SanctionRepo",
    "Store",
    "UnitOfWork",
    "WebhookRepo",
]


class CatalogRepo(Protocol):
    """Campaigns and their plan versions, merchants, affiliates, coupons."""

    def put_campaign(self, campaign: Campaign) -> None:
        """Insert or replace the campaign with this ``(merchant_id, campaign_id)``."""
        ...

    def get_campaign(self, merchant_id: str, campaign_id: str) -> Campaign | None: ...

    def campaigns(
        self, *, merchant_id: str | None = None, campaign_id: str | None = None
    ) -> list[Campaign]:
        """Campaigns matching the filters, by ``(merchant_id, campaign_id)``."""
        ...

    def add_plan_version(self, merchant_id: str, version: PlanVersion) -> None:
        """Record a campaign's next plan version (``DuplicateEntry`` if that number exists)."""
        ...

    def plan_versions(self, merchant_id: str, campaign_id: str) -> list[PlanVersion]:
        """A campaign's plan versions, oldest first."""
        ...

    def put_merchant(self, merchant: Merchant) -> None: ...

    def get_merchant(self, merchant_id: str) -> Merchant | None: ...

    def put_affiliate(self, affiliate: Affiliate) -> None: ...

    def get_affiliate(self, affiliate_id: str) -> Affiliate | None: ...

    def channel_members(self, channel: str) -> list[str]:
        """The ids of the affiliates registered with this ``channel``, in id order."""
        ...

    def put_coupon(self, coupon: CouponRow) -> None:
        """Insert or replace the coupon with this ``(merchant_id, code)``."""
        ...

    def get_coupon(self, merchant_id: str, code: str) -> CouponRow | None: ...

    def revision(self) -> int:
        """A number that changes whenever anything above does, written by any process (and,
        on a file, by a hand edit too): a cache of the catalog that has seen this number is
        current while it stays the same."""
        ...


class ClickRepo(Protocol):
    """Clicks, impressions, and the visitors (devices) a customer ordered from."""

    def record(self, click: ClickRow, *, dedupe_since_ms: int | None) -> tuple[ClickRow, bool]:
        """Store ``click``, or return the visitor's latest click on the same link.

        With ``dedupe_since_ms`` set, a click with the same ``visitor_id`` and
        ``link_id`` at or after that instant is returned as ``(existing, False)``
        and nothing is written; otherwise ``(click, True)`` after storing it.
        A backend may write clicks in the background; every read sees them.
        """
        ...

    def get(self, click_id: str) -> ClickRow | None: ...

    def by_visitor(
        self, merchant_id: str, visitor_id: str, *, since_ms: int, until_ms: int
    ) -> list[ClickRow]:
        """The visitor's clicks on the merchant's campaigns, ``since_ms <= t <= until_ms``,
        oldest first."""
        ...

    def count_unblocked(
        self, merchant_id: str, campaign_id: str, *, since_ms: int, until_ms: int
    ) -> dict[str, int]:
        """Affiliate id -> clicks not blocked in the campaign, ``since_ms <= t < until_ms``."""
        ...

    def add_impression(self, impression: ImpressionRow) -> None: ...

    def impressions(
        self, merchant_id: str, visitor_id: str, *, since_ms: int, until_ms: int
    ) -> list[ImpressionRow]:
        """The visitor's impressions of the merchant's campaigns, ``since_ms <= t <= until_ms``,
        oldest first."""
        ...

    def link_visitor(
        self, merchant_id: str, customer_id: str, visitor_id: str, *, at_ms: int
    ) -> None:
        """Remember that the customer ordered from this visitor id (the first time is kept)."""
        ...

    def visitors_of(self, merchant_id: str, customer_id: str, *, limit: int) -> list[str]:
        """The customer's ``limit`` most recently linked visitor ids, oldest first."""
        ...


class ChangeSignals(Protocol):
    """Announcements that something every process caches changed (``catalog``,
    ``blacklist``): what a counters backend shared at once may offer as ``changes``
    (``storage.redis.changes``), so caches ask the store again at once."""

    def announce(self, topic: str) -> None:
        """Tell every process that ``topic`` changed."""
        ...

    def heard(self, topic: str) -> int:
        """A number that moves whenever ``topic`` may have changed."""
        ...


class LeaseRepo(Protocol):
    """Webhook subscriptions' leases outside the store's transactions: what a counters
    backend shared at once may offer as ``leases`` (``storage.redis.leases``); the rule is
    ``WebhookRepo.take_lease``'s."""

    def take_lease(
        self, scope: str, subscription_id: str, holder: str, *, now_ms: int, until_ms: int
    ) -> bool: ...

    def release_lease(self, scope: str, subscription_id: str, holder: str) -> None: ...


class ClickClaims(Protocol):
    """A visitor's first click per link, where every process sees it the moment it is
    recorded: what a counters backend shared at once may offer as ``click_claims``
    (``storage.redis.clicks``), so a repeat is found before the store has the first click.
    Its calls do not raise: when its server fails, repeats are the store's to find."""

    def claim(self, row: ClickRow, *, since_ms: int) -> ClickRow | None:
        """The visitor's click on the link at or after ``since_ms``, if there is one;
        otherwise ``row`` takes its place and None is returned."""
        ...

    def keep(self, row: ClickRow, *, since_ms: int) -> None:
        """Name ``row`` as the visitor's first click on the link since ``since_ms``."""
        ...

    def forget(self, row: ClickRow) -> None:
        """Take a claim back while it still names ``row`` (its click was not stored)."""
        ...


class OrderRepo(Protocol):
    """Orders, refunds, renewals and customer bindings."""

    def get(self, merchant_id: str, order_id: str) -> OrderRow | None: ...

    def insert(self, order: OrderRow) -> None:
        """Insert an order (``DuplicateEntry`` when its ids exist)."""
        ...

    def set_refunded(self, merchant_id: str, order_id: str, refunded_minor: int, seq: int) -> None:
        """Update what was refunded, and the journal entry that booked it."""
        ...

    def get_refund(self, merchant_id: str, order_id: str, refund_id: str) -> RefundRow | None: ...

    def insert_refund(self, refund: RefundRow) -> None:
        """Insert a refund (``DuplicateEntry`` when its ids exist)."""
        ...

    def scan(self, *, after: tuple[str, str] | None = None, limit: int = 1000) -> list[OrderRow]:
        """Up to ``limit`` orders by ``(merchant_id, order_id)`` after ``after`` (keyset pages)."""
        ...

    def bind_renewals(self, merchant_id: str, subscription_id: str, click_id: str) -> None:
        """Remember which click earned a subscription's first order (the first binding wins)."""
        ...

    def renewal_click(self, merchant_id: str, subscription_id: str) -> str | None: ...

    def get_binding(self, merchant_id: str, customer_id: str) -> BindingRow | None: ...

    def put_binding(self, binding: BindingRow) -> None:
        """Insert or replace the customer's binding."""
        ...


class LedgerRepo(Protocol):
    """The ledger lines (a projection of the journal) and the payout batches."""

    def append(self, lines: Sequence[LineRow]) -> None:
        """Add lines (``DuplicateEntry`` when an ``entry_id`` or ``event_id`` exists)."""
        ...

    def update(self, lines: Sequence[LineRow]) -> None:
        """Replace lines by ``entry_id`` with new versions; they keep their place."""
        ...

    def get_many(self, entry_ids: Sequence[str]) -> list[LineRow]:
        """The lines with these ids that exist, in booking order."""
        ...

    def by_order(self, merchant_id: str, order_id: str) -> list[LineRow]:
        """An order's lines, in booking order."""
        ...

    def by_orders(self, orders: Sequence[tuple[str, str]]) -> list[LineRow]:
        """The lines of these ``(merchant_id, order_id)`` orders, in booking order (one
        round trip however many orders)."""
        ...

    def query(
        self, where: LineFilter, *, after: str | None = None, limit: int = 1000
    ) -> list[LineRow]:
        """Up to ``limit`` lines matching every field of ``where``, in booking order,
        starting after the line ``after`` (keyset pages: pass the last ``entry_id``)."""
        ...

    def due(
        self,
        *,
        status: str,
        until_ms: int,
        after: str | None,
        limit: int,
        merchant_id: str | None = None,
    ) -> list[LineRow]:
        """Up to ``limit`` lines of ``status`` held until ``until_ms`` or earlier (or not held),
        of one merchant or all: what ``approve_due`` settles. Lines not held come first,
        then by the end of their hold, lines due at the same instant in booking order; a
        page starts after the line ``after`` in that order. Costs O(lines returned), not
        O(lines of that status)."""
        ...

    def insert_payouts(self, run_id: str, payouts: Sequence[PayoutRow], *, seq: int) -> None:
        """Record a payout run, written by journal entry ``seq``, and its batches (an empty
        run is recorded too); ``DuplicateEntry`` when the run exists."""
        ...

    def payouts(
        self,
        *,
        run_id: str | None = None,
        affiliate_id: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[PayoutRow]:
        """Payout batches matching the filters, oldest run first, in keyset pages after the
        batch ``after`` (a ``payout_id``); no ``limit``: all of them."""
        ...

    def runs(self, *, after: str | None = None, limit: int = 1000) -> list[tuple[str, int]]:
        """``(run_id, seq)`` of up to ``limit`` payout runs, oldest first, after run ``after``."""
        ...

    def has_run(self, run_id: str) -> bool: ...

    def prove_run(self, run_id: str, seq: int) -> None:
        """Give a run and its batches ``seq``: the entry that now holds their documents
        (adopting payouts recorded before the journal carried them)."""
        ...


#: The most chains a journal may be split into.
MAX_CHAINS: Final = 1024


class JournalRepo(Protocol):
    """The hash-chained journal (one chain or several) and its signed checkpoints.

    Places (``pos``) count 1, 2, ... within a chain; seqs are unique in the journal
    and given out by ``next_seq``.
    """

    def head(self, chain: int = 0) -> JournalRow | None:
        """The chain's last entry, or None when it has none."""
        ...

    def heads(self) -> dict[int, JournalRow]:
        """Every chain's last entry, by chain (empty for an empty journal)."""
        ...

    def next_seq(self) -> int:
        """A seq no entry has, above every seq an entry that could write the same rows
        took before (a store with one writer at a time: one past the highest)."""
        ...

    def append(self, rows: Sequence[JournalRow], *, previous: bytes | None = None) -> None:
        """Append entries of one chain continuing it (``DuplicateEntry`` for a seq, a place
        or an event id already present, ``StorageError`` for a gap or rows of several
        chains). With ``previous``, the chain's head tag must be it (``GENESIS_HASH`` for
        a chain with no entry), else ``StorageError``: the head moved since the caller read
        it."""
        ...

    def get_many(self, seqs: Sequence[int]) -> dict[int, JournalRow]:
        """The entries with these seqs that exist."""
        ...

    def by_event(self, event_id: str) -> JournalRow | None: ...

    def scan(
        self, *, chain: int = 0, after: int = 0, until: int | None = None
    ) -> Iterator[JournalRow]:
        """The chain's entries with ``after < pos <= until``, in order, read in batches."""
        ...

    def first_at(self, at_ms: int, *, chain: int = 0) -> int | None:
        """The place of the chain's first entry at or after ``at_ms``, if any (a chain's
        entries are in time order)."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first."""
        ...


class PeriodRepo(Protocol):
    """Period totals (tiers, targets, caps, levels, traffic counts) and idempotency marks."""

    def get_many(self, keys: Sequence[str]) -> dict[str, PeriodTotals]:
        """The totals kept under these keys (absent keys are left out)."""
        ...

    def put(self, totals: Sequence[PeriodTotals]) -> None:
        """Insert or replace totals by key."""
        ...

    def scan(
        self, prefix: str, *, after: str | None = None, limit: int | None = None
    ) -> list[PeriodTotals]:
        """Totals whose key starts with ``prefix``, by key, after the key ``after``; no
        ``limit``: all of them."""
        ...

    def marks(
        self, prefix: str, *, after: str | None = None, limit: int | None = None
    ) -> list[Mark]:
        """Marks whose key starts with ``prefix``, by key, after the key ``after``; no
        ``limit``: all of them."""
        ...

    def get_mark(self, key: str) -> Mark | None: ...

    def put_mark(self, mark: Mark, *, replace: bool = False) -> bool:
        """Set a mark; without ``replace`` an existing one is kept. Whether it was written."""
        ...


class RiskRepo(Protocol):
    """What the order-fraud signals remember between orders."""

    def history(self, affiliate_id: str) -> History | None: ...

    def put_history(self, affiliate_id: str, history: History) -> None: ...

    def histories(
        self, *, affiliate_ids: Sequence[str] | None = None
    ) -> Iterator[tuple[str, History]]:
        """Every affiliate's history (of ``affiliate_ids`` alone, when given: those that
        have one), by affiliate id."""
        ...

    def recent_shapes(self, key: str, *, since_ms: int) -> list[tuple[str, int]]:
        """``(total, at_ms)`` of the orders seen with this shape key since ``since_ms``,
        oldest first."""
        ...

    def add_shape(self, key: str, total: str, at_ms: int, *, keep: int) -> None:
        """Remember an order of this shape, keeping the newest ``keep``."""
        ...

    def value_stats(self, key: str) -> ValueStats | None: ...

    def standing(
        self,
        affiliate_id: str,
        stats_key: str,
        tallies: Sequence[str] = (),
        *,
        reads: Sequence[str] = (),
    ) -> Standing:
        """An affiliate's history, a merchant's value statistics and the counts of
        ``tallies`` (which the unit of work will write) and of ``reads`` (only read), in that
        order, in one call (what every attributed order reads). The tallies are the booking
        merchant's own: a store that runs several merchants' bookings at once need not lock
        them apart from the merchant's other bookings."""
        ...

    def record_standing(
        self,
        affiliate_id: str,
        history: History,
        stats: ValueStats,
        tallies: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        """Insert or replace the history, the statistics and the counts of each tally
        given, in one call (what every attributed order writes)."""
        ...

    def put_value_stats(self, stats: ValueStats) -> None: ...

    def add_distinct(self, kind: str, key: str, member: str, *, keep: int) -> int:
        """Add ``member`` to the set ``(kind, key)`` (keeping the newest ``keep``); its size."""
        ...

    def tallies(self, keys: Sequence[str]) -> list[tuple[int, ...]]:
        """The counts kept under each of ``keys``, in order (``()`` for a key never bumped)."""
        ...

    def bump(self, key: str, deltas: Sequence[int]) -> tuple[int, ...]:
        """Add ``deltas`` to the counts kept under ``key``, place by place (a key never
        bumped holds none; the longer of the two gives the length); the counts after."""
        ...


class SanctionRepo(Protocol):
    """Platform-level sanctions: the shared blacklist, complaints, enforcement steps."""

    def put_blacklisted(self, key: str, reason: str | None) -> None:
        """List ``key`` with a reason, or take it off with None."""
        ...

    def blacklist(self) -> dict[str, str]:
        """Every listed key -> its reason."""
        ...

    def blacklist_revision(self) -> int:
        """A number that changes whenever the blacklist does (see ``CatalogRepo.revision``)."""
        ...

    def add_complaint(self, target: str, complaint_id: str, reason: str, *, at_ms: int) -> None: ...

    def complaints_since(self, target: str, *, since_ms: int) -> int:
        """How many complaints about ``target`` came after ``since_ms``."""
        ...

    def add_enforcement(self, step: Enforcement) -> None: ...

    def enforcements(self, affiliate_id: str) -> list[Enforcement]:
        """An affiliate's enforcement steps, oldest first."""
        ...


class OutboxRepo(Protocol):
    """Events written with the state change that causes them."""

    def add(self, rows: Sequence[OutboxRow]) -> None:
        """Append events (their ``seq`` is assigned here, in order, never reused);
        ``DuplicateEntry`` when an event id exists."""
        ...

    def after(self, seq: int, *, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` events with a ``seq`` above ``seq``, in order."""
        ...

    def get(self, event_id: str) -> OutboxRow | None: ...

    def first_since(self, created_at_ms: int) -> int | None:
        """The ``seq`` of the first event created at or after ``created_at_ms``, if any."""
        ...

    def last_seq(self) -> int:
        """The ``seq`` of the newest event ever written (0 when there is none)."""
        ...

    def prune(self, *, through_seq: int, before_ms: int) -> int:
        """Delete events with ``seq <= through_seq`` created before ``before_ms``; how many."""
        ...


class WebhookRepo(Protocol):
    """Subscriptions and their delivery state, log and dead letters."""

    def put_subscription(self, row: SubscriptionRow) -> None: ...

    def get_subscription(self, scope: str, subscription_id: str) -> SubscriptionRow | None: ...

    def subscriptions(self, *, scope: str | None = None) -> list[SubscriptionRow]:
        """Subscriptions (of one scope, or all), by scope and id."""
        ...

    def cursor(self, scope: str, subscription_id: str) -> DeliveryCursor | None: ...

    def put_cursor(self, scope: str, subscription_id: str, cursor: DeliveryCursor) -> None: ...

    def take_lease(
        self, scope: str, subscription_id: str, holder: str, *, now_ms: int, until_ms: int
    ) -> bool:
        """Take or renew the lease for ``holder`` unless another holds it past ``now_ms``."""
        ...

    def release_lease(self, scope: str, subscription_id: str, holder: str) -> None: ...

    def log_attempt(self, scope: str, subscription_id: str, row: DeliveryLogRow) -> None: ...

    def attempts(
        self, scope: str, subscription_id: str, *, event_id: str | None = None
    ) -> list[DeliveryLogRow]:
        """Logged attempts, oldest first."""
        ...

    def add_dead_letter(self, scope: str, subscription_id: str, row: DeadLetterRow) -> None: ...

    def dead_letters(self, scope: str, subscription_id: str) -> list[DeadLetterRow]: ...


class KeyRepo(Protocol):
    """Sealed secrets the alliance keeps beside its data (never usable without the keyring)."""

    def get_sealed(self, name: str) -> str | None: ...

    def put_sealed(self, name: str, sealed: str, *, replace: bool = False) -> str:
        """Keep ``sealed`` under ``name``; without ``replace`` a value already there wins.
        Returns the value now kept."""
        ...


#: Shared, time-bucketed counts for the velocity windows (outside transactions): the
#: protocol the windows are written against (``antifraud.velocity.CounterBuckets``).
CounterRepo = CounterBuckets


class UnitOfWork(Protocol):
    """The repositories of one transaction (read-only attributes)."""

    @property
    def catalog(self) -> CatalogRepo: ...

    @property
    def clicks(self) -> ClickRepo: ...

    @property
    def orders(self) -> OrderRepo: ...

    @property
    def ledger(self) -> LedgerRepo: ...

    @property
    def journal(self) -> JournalRepo: ...

    @property
    def periods(self) -> PeriodRepo: ...

    @property
    def risk(self) -> RiskRepo: ...

    @property
    def sanctions(self) -> SanctionRepo: ...

    @property
    def outbox(self) -> OutboxRepo: ...

    @property
    def webhooks(self) -> WebhookRepo: ...

    @property
    def keys(self) -> KeyRepo: ...


@runtime_checkable
class Store(Protocol):
    """A backend: units of work, shared counters, and its lifecycle."""

    #: The URL scheme it was opened with (``memory``, ``sqlite``, ...).
    scheme: str

    @property
    def counters(self) -> CounterRepo: ...

    @property
    def chains(self) -> int:
        """How many chains the journal is split into (fixed for the store's life)."""
        ...

    def transaction(self, *, chain: int | None = None) -> AbstractContextManager[UnitOfWork]:
        """A unit of work: atomic and isolated; nested calls join the outer one.

        With ``chain``, the unit of work promises to write journal entries of that chain
        only, and rows that only entries of that chain write (one merchant's orders,
        lines and totals, see ``chain_of``), besides shared state each store guards on
        its own (risk, the outbox): a store may then let units of work of different
        chains run at once.
        """
        ...

    def reader(self) -> AbstractContextManager[UnitOfWork]:
        """A unit of work for reads only (may see a consistent snapshot; writes are refused)."""
        ...

    def close(self) -> None: ...
