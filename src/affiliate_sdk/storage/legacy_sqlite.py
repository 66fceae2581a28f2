"""``sqlite:///path.db``: the embedded default. Durable, no server.

* WAL journal with ``synchronous=NORMAL``: readers never block the writer and
  a commit survives a process crash (a power cut may lose the last commits).
* One connection per thread (and per process after a fork); a transaction
  is ``BEGIN IMMEDIATE`` so writers queue on SQLite's lock, waiting up to
  ``busy_timeout``, and duplicate bookings are seen inside the lock.
* The schema is versioned with ``PRAGMA user_version``; opening a file applies
  the migrations it lacks, in one transaction, and refuses a newer file.
* Clicks, the one write on every redirect, are committed by a background
  writer thread in batches (``click_commit="background"``, the default):
  ``track_click`` returns once the click is queued, the queue is committed
  continuously (a batch is whatever arrived while the previous one was being
  written), this process sees queued clicks at once, other processes as soon
  as they commit, and ``close()`` (or interpreter exit) waits for the queue.
  A crash loses only the clicks still queued. ``click_commit="immediate"``
  commits every click before ``track_click`` returns. Orders, refunds and
  ledger entries are always committed before the call returns.
* WAL checkpoints (copying committed pages back into the database file) run
  on a thread of their own every ``CHECKPOINT_EVERY`` commits, so a request
  never pays for one; SQLite's own automatic checkpoint stays as a backstop
  at ``BACKSTOP_PAGES`` should that thread fall behind.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import timedelta
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Final, Literal

from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.ledger import JournalRow
from affiliate_sdk.commission.tiers import TierState
from affiliate_sdk.errors import SchemaVersionError, StorageError
from affiliate_sdk.models import (
    Affiliate,
    Campaign,
    Commission,
    Merchant,
    PayoutBatch,
    PlanVersion,
)

from .records import ClickRecord, OrderRecord, OutboxRow, RefundRecord

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "MAX_QUEUED_CLICKS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ClickCommit",
    "SQLiteStore",
]

#: How long a writer waits for another writer's transaction before failing.
DEFAULT_BUSY_TIMEOUT: Final = timedelta(seconds=30)
#: Clicks queued for the background writer before ``track_click`` waits for it.
MAX_QUEUED_CLICKS: Final = 4096
#: Commits between two background WAL checkpoints.
CHECKPOINT_EVERY: Final = 200
#: WAL pages at which a committing connection checkpoints by itself (a backstop).
BACKSTOP_PAGES: Final = 16384

ClickCommit = Literal["background", "immediate"]

#: Each migration is a list of statements; its position + 1 is its version.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE campaigns (
            campaign_id TEXT PRIMARY KEY,
            merchant_id TEXT NOT NULL,
            data TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE clicks (
            click_id TEXT PRIMARY KEY,
            visitor_id TEXT NOT NULL,
            link_id TEXT NOT NULL,
            affiliate_id TEXT NOT NULL,
            campaign_id TEXT NOT NULL,
            merchant_id TEXT NOT NULL,
            landing_url TEXT NOT NULL,
            sub_fields BLOB NOT NULL,
            clicked_at_ms INTEGER NOT NULL,
            ip_hash TEXT,
            ip_network TEXT,
            ua_hash TEXT,
            referrer_host TEXT,
            decision TEXT NOT NULL,
            verdict_json TEXT NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX clicks_by_visitor ON clicks (visitor_id, clicked_at_ms)",
        # Orders and refunds carry their outcome as JSON (kilobytes): rowid tables
        # appended at the right edge, found through small unique indexes, write
        # fewer pages than clustering the wide rows by key.
        """CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            merchant_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            currency TEXT NOT NULL,
            total_minor INTEGER NOT NULL,
            refunded_minor INTEGER NOT NULL,
            placed_at_ms INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL,
            ip_hash TEXT,
            ip_network TEXT,
            outcome_json TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX orders_by_key ON orders (merchant_id, order_id)",
        """CREATE TABLE refunds (
            id INTEGER PRIMARY KEY,
            merchant_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            refund_id TEXT NOT NULL,
            amount_minor INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL,
            outcome_json TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX refunds_by_key ON refunds (merchant_id, order_id, refund_id)",
        # Ledger lines in booking order (the rowid). An order's lines sit together in
        # ledger_by_order, which also finds a line by id and checks event ids.
        """CREATE TABLE ledger (
            seq INTEGER PRIMARY KEY,
            merchant_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            affiliate_id TEXT NOT NULL,
            status TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX ledger_by_order ON ledger (merchant_id, order_id, entry_id)",
        "CREATE INDEX ledger_by_affiliate ON ledger (affiliate_id)",
        "CREATE INDEX ledger_by_status ON ledger (status)",
        # The journal: one B-tree, appended at its right edge.
        """CREATE TABLE journal (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL,
            body BLOB NOT NULL,
            hash BLOB NOT NULL
        )""",
        """CREATE TABLE payout_runs (
            run_id TEXT PRIMARY KEY,
            created_seq INTEGER NOT NULL
        )""",
        """CREATE TABLE payouts (
            payout_id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES payout_runs (run_id),
            affiliate_id TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX payouts_by_run ON payouts (run_id)",
        "CREATE INDEX payouts_by_affiliate ON payouts (affiliate_id)",
        """CREATE TABLE tier_states (
            key TEXT PRIMARY KEY,
            volume TEXT NOT NULL,
            tier_base TEXT NOT NULL,
            rate TEXT NOT NULL,
            paid TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE checkpoints (
            id INTEGER PRIMARY KEY,
            data TEXT NOT NULL
        )""",
        """CREATE TABLE affiliates (
            affiliate_id TEXT PRIMARY KEY,
            data TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE subscriptions (
            merchant_id TEXT NOT NULL,
            subscription_id TEXT NOT NULL,
            click_id TEXT NOT NULL,
            PRIMARY KEY (merchant_id, subscription_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE merchants (
            merchant_id TEXT PRIMARY KEY,
            data TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE plan_versions (
            campaign_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (campaign_id, version)
        ) WITHOUT ROWID""",
    ),
    (
        """CREATE TABLE records (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        ) WITHOUT ROWID""",
    ),
    (
        """CREATE TABLE counters (
            key TEXT NOT NULL,
            bucket INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (key, bucket)
        ) WITHOUT ROWID""",
    ),
    (
        "ALTER TABLE clicks ADD COLUMN country TEXT",
        # The outbox: appended at its right edge, read in order from a cursor.
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            created_at_ms INTEGER NOT NULL,
            data TEXT NOT NULL
        )""",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

_CLICK_COLUMNS: Final = ", ".join(ClickRecord._fields)
_INSERT_CLICK: Final = (
    f"INSERT INTO clicks ({_CLICK_COLUMNS}) VALUES ({', '.join('?' * len(ClickRecord._fields))})"
)
_SELECT_CLICK: Final = f"SELECT {_CLICK_COLUMNS} FROM clicks"
_DEDUPE: Final = (
    f"{_SELECT_CLICK} WHERE visitor_id = ? AND clicked_at_ms >= ? AND link_id = ? "
    "ORDER BY clicked_at_ms DESC LIMIT 1"
)
_ORDER_COLUMNS: Final = ", ".join(OrderRecord._fields)
_REFUND_COLUMNS: Final = ", ".join(RefundRecord._fields)


def _placeholders(fields: Sequence[str]) -> str:
    return ", ".join("?" * len(fields))


class _ClickWriter:
    """Commits queued clicks on a thread of its own, in batches.

    ``lock`` guards the queue: ``pending`` (not yet taken) and ``in_flight``
    (being written). A click leaves ``in_flight`` only after its batch has
    committed, so a reader that checks the queue under the lock and then the
    database never misses it.
    """

    def __init__(self, store: SQLiteStore, max_queued: int) -> None:
        self._store = store
        self._max = max_queued
        self.lock = threading.Lock()
        self._wake = threading.Condition(self.lock)
        self._room = threading.Condition(self.lock)
        self.pending: list[ClickRecord] = []
        self.in_flight: list[ClickRecord] = []
        self._error: StorageError | None = None
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name=f"affiliate-sdk clicks {store.path.name}", daemon=True
        )
        self._thread.start()

    def queued(self) -> list[ClickRecord]:
        """Queued clicks, oldest first (call with ``lock`` held)."""
        return self.in_flight + self.pending

    def submit(self, click: ClickRecord) -> None:
        """Queue a click (call with ``lock`` held)."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        while len(self.pending) >= self._max:
            self._room.wait()
        self.pending.append(click)
        self._wake.notify()

    def stop(self) -> None:
        with self.lock:
            self._stopping = True
            self._wake.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        conn = self._store.open_connection()
        try:
            while True:
                with self.lock:
                    while not self.pending and not self._stopping:
                        self._wake.wait()
                    if not self.pending:
                        return
                    batch, self.pending = self.pending, []
                    self.in_flight = batch
                    self._room.notify_all()
                failure: StorageError | None = None
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany(_INSERT_CLICK, batch)
                    conn.execute("COMMIT")
                    self._store.committed()
                except Exception as exc:  # kept for the caller: this thread has no one to tell
                    try:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    failure = StorageError(
                        f"{len(batch)} clicks could not be written to {self._store.path}: {exc}"
                    )
                with self.lock:
                    self.in_flight = []
                    if failure is not None:
                        self._error = failure
        finally:
            conn.close()


class _Checkpointer:
    """Runs passive WAL checkpoints on a thread of its own when asked to.

    A passive checkpoint never waits for readers or writers; what it cannot
    copy yet is copied by the next one.
    """

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name=f"affiliate-sdk checkpoints {store.path.name}", daemon=True
        )
        self._thread.start()

    def request(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        conn = self._store.open_connection()
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                with suppress(sqlite3.Error):  # the next request, or the backstop, retries
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()


class _Guard:
    """Lends the thread's connection; SQLite errors leave as ``StorageError``."""

    __slots__ = ("_store",)

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        return self._store._connect()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, sqlite3.IntegrityError):
            raise StorageError(f"constraint violated in {self._store.path}: {exc}") from exc
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"SQLite error on {self._store.path}: {exc}") from exc


_OPEN_STORES: Final[weakref.WeakSet[SQLiteStore]] = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    """Write out queued clicks of stores the host never closed."""
    for store in list(_OPEN_STORES):
        store.close()


class _Local(threading.local):
    connection: sqlite3.Connection | None = None
    depth: int = 0


class SQLiteStore:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT,
        click_commit: ClickCommit = "background",
        max_queued_clicks: int = MAX_QUEUED_CLICKS,
    ):
        self.path = Path(path)
        if str(path) in ("", ":memory:"):
            raise StorageError("an SQLite store needs a file path; use 'memory://' for memory")
        if not self.path.parent.is_dir():
            raise StorageError(
                f"cannot open {self.path}: directory {self.path.parent} does not exist"
            )
        if click_commit not in ("background", "immediate"):
            raise StorageError(
                f"click_commit must be 'background' or 'immediate', not {click_commit!r}"
            )
        self.click_commit: ClickCommit = click_commit
        self._max_queued = max_queued_clicks
        self._busy_ms = int(busy_timeout.total_seconds() * 1000)
        self._local = _Local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer: _ClickWriter | None = None
        self._writer_lock = threading.Lock()
        self._checkpointer: _Checkpointer | None = None
        self._commits = 0
        self._guard_instance = _Guard(self)
        self._closed = False
        self._migrate()
        _OPEN_STORES.add(self)
        this = weakref.ref(self)

        def after_fork_in_child() -> None:
            store = this()
            if store is not None:
                store._forget_parent()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's connections, thread and queue are not ours."""
        self._local = _Local()
        self._all = []
        self._all_lock = threading.Lock()
        self._writer = None
        self._writer_lock = threading.Lock()
        self._checkpointer = None

    # -- connections -----------------------------------------------------------------
    def open_connection(self) -> sqlite3.Connection:
        """A new connection with the store's settings (autocommit, WAL, busy timeout)."""
        if self._closed:
            raise StorageError("the store is closed")
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = self._local.connection
        if conn is not None:
            return conn
        conn = self.open_connection()
        self._local.connection, self._local.depth = conn, 0
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _click_writer(self) -> _ClickWriter:
        writer = self._writer
        if writer is None:
            with self._writer_lock:
                if self._closed:
                    raise StorageError("the store is closed")
                writer = self._writer
                if writer is None:
                    writer = self._writer = _ClickWriter(self, self._max_queued)
        return writer

    def _migrate(self) -> None:
        with self.transaction():
            conn = self._connect()
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(found, SCHEMA_VERSION)
            for statements in MIGRATIONS[found:]:
                for statement in statements:
                    conn.execute(statement)
            if found < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        return int(self._connect().execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._connect()
        local = self._local
        if local.depth:
            local.depth += 1
            try:
                yield
            finally:
                local.depth -= 1
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot start a transaction on {self.path}: {exc}") from exc
        local.depth = 1
        try:
            yield
        except BaseException:
            local.depth = 0
            conn.execute("ROLLBACK")
            raise
        local.depth = 0
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StorageError(f"commit failed on {self.path}: {exc}") from exc
        self.committed()

    def committed(self) -> None:
        """Count a commit; every ``CHECKPOINT_EVERY`` commits, ask for a checkpoint."""
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY:
            return
        checkpointer = self._checkpointer
        if checkpointer is None:
            with self._writer_lock:
                if self._closed:
                    return
                checkpointer = self._checkpointer
                if checkpointer is None:
                    checkpointer = self._checkpointer = _Checkpointer(self)
        checkpointer.request()

    def close(self) -> None:
        """Write out queued clicks, then close every connection. Idempotent."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
            checkpointer, self._checkpointer = self._checkpointer, None
            self._closed = True
        _OPEN_STORES.discard(self)
        if writer is not None:
            writer.stop()
        if checkpointer is not None:
            checkpointer.stop()
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = _Local()

    def _guard(self) -> _Guard:
        return self._guard_instance

    # -- campaigns -----------------------------------------------------------------------
    def put_campaign(self, campaign: Campaign) -> None:
        with self._guard() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO campaigns (campaign_id, merchant_id, data) "
                "VALUES (?, ?, ?)",
                (campaign.campaign_id, campaign.merchant_id, campaign.model_dump_json()),
            )

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT data FROM campaigns WHERE campaign_id = ?", (campaign_id,)
            ).fetchone()
        return None if row is None else Campaign.model_validate_json(row[0])

    def list_campaigns(self) -> list[Campaign]:
        with self._guard() as conn:
            rows = conn.execute("SELECT data FROM campaigns ORDER BY campaign_id").fetchall()
        return [Campaign.model_validate_json(row[0]) for row in rows]

    def put_merchant(self, merchant: Merchant) -> None:
        with self._guard() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO merchants (merchant_id, data) VALUES (?, ?)",
                (merchant.merchant_id, merchant.model_dump_json()),
            )

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT data FROM merchants WHERE merchant_id = ?", (merchant_id,)
            ).fetchone()
        return None if row is None else Merchant.model_validate_json(row[0])

    def put_affiliate(self, affiliate: Affiliate) -> None:
        with self._guard() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO affiliates (affiliate_id, data) VALUES (?, ?)",
                (affiliate.affiliate_id, affiliate.model_dump_json()),
            )

    def get_affiliate(self, affiliate_id: str) -> Affiliate | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT data FROM affiliates WHERE affiliate_id = ?", (affiliate_id,)
            ).fetchone()
        return None if row is None else Affiliate.model_validate_json(row[0])

    def add_plan_version(self, version: PlanVersion) -> None:
        with self.transaction(), self._guard() as conn:
            last = conn.execute(
                "SELECT max(version) FROM plan_versions WHERE campaign_id = ?",
                (version.campaign_id,),
            ).fetchone()[0]
            if version.version != (last or 0) + 1:
                raise StorageError(f"plan version {version.version} does not follow {last or 0}")
            conn.execute(
                "INSERT INTO plan_versions (campaign_id, version, data) VALUES (?, ?, ?)",
                (version.campaign_id, version.version, version.model_dump_json()),
            )

    def plan_versions(self, campaign_id: str) -> list[PlanVersion]:
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT data FROM plan_versions WHERE campaign_id = ? ORDER BY version",
                (campaign_id,),
            ).fetchall()
        return [PlanVersion.model_validate_json(row[0]) for row in rows]

    # -- clicks ----------------------------------------------------------------------------
    def record_click(
        self, click: ClickRecord, *, dedupe_since_ms: int | None
    ) -> tuple[ClickRecord, bool]:
        # The click path: plain try/except rather than _guard, to keep it short.
        try:
            if self.click_commit == "background" and not self._local.depth:
                writer = self._click_writer()
                with writer.lock:
                    if dedupe_since_ms is not None:
                        earlier = self._earlier_click(click, dedupe_since_ms, writer.queued())
                        if earlier is not None:
                            return earlier, False
                    writer.submit(click)
                return click, True
            if dedupe_since_ms is None and not self._local.depth:
                self._connect().execute(_INSERT_CLICK, click)
                return click, True
            with self.transaction():  # inside a caller's transaction: part of it
                if dedupe_since_ms is not None:
                    earlier = self._earlier_click(click, dedupe_since_ms, self._queued_clicks())
                    if earlier is not None:
                        return earlier, False
                self._connect().execute(_INSERT_CLICK, click)
            return click, True
        except sqlite3.Error as exc:
            raise StorageError(f"cannot record click in {self.path}: {exc}") from exc

    def _earlier_click(
        self, click: ClickRecord, since_ms: int, queued: Sequence[ClickRecord]
    ) -> ClickRecord | None:
        for earlier in reversed(queued):
            if (
                earlier.visitor_id == click.visitor_id
                and earlier.link_id == click.link_id
                and earlier.clicked_at_ms >= since_ms
            ):
                return earlier
        row = (
            self._connect().execute(_DEDUPE, (click.visitor_id, since_ms, click.link_id)).fetchone()
        )
        return None if row is None else ClickRecord._make(row)

    def _queued_clicks(self) -> list[ClickRecord]:
        writer = self._writer
        if writer is None:
            return []
        with writer.lock:
            return writer.queued()

    def get_click(self, click_id: str) -> ClickRecord | None:
        # The queue first: a click leaves it only once it is committed.
        for queued in self._queued_clicks():
            if queued.click_id == click_id:
                return queued
        with self._guard() as conn:
            row = conn.execute(f"{_SELECT_CLICK} WHERE click_id = ?", (click_id,)).fetchone()
        return None if row is None else ClickRecord._make(row)

    def visitor_clicks(self, visitor_id: str, *, since_ms: int, until_ms: int) -> list[ClickRecord]:
        queued = [
            c
            for c in self._queued_clicks()
            if c.visitor_id == visitor_id and since_ms <= c.clicked_at_ms <= until_ms
        ]
        with self._guard() as conn:
            rows = conn.execute(
                f"{_SELECT_CLICK} WHERE visitor_id = ? AND clicked_at_ms BETWEEN ? AND ? "
                "ORDER BY clicked_at_ms, click_id",
                (visitor_id, since_ms, until_ms),
            ).fetchall()
        found = {c.click_id: c for c in map(ClickRecord._make, rows)}
        for click in queued:
            found.setdefault(click.click_id, click)
        return sorted(found.values(), key=lambda c: (c.clicked_at_ms, c.click_id))

    def count_clicks(self, campaign_id: str, *, since_ms: int, until_ms: int) -> dict[str, int]:
        queued = {
            click.click_id: click.affiliate_id
            for click in self._queued_clicks()
            if click.campaign_id == campaign_id
            and since_ms <= click.clicked_at_ms < until_ms
            and click.decision != "block"
        }
        counts: dict[str, int] = {}
        # One transaction, so both reads see the same committed clicks.
        with self.transaction(), self._guard() as conn:
            rows = conn.execute(
                "SELECT affiliate_id, count(*) FROM clicks WHERE campaign_id = ? "
                "AND clicked_at_ms >= ? AND clicked_at_ms < ? AND decision != 'block' "
                "GROUP BY affiliate_id",
                (campaign_id, since_ms, until_ms),
            ).fetchall()
            # A queued click may have been committed since the queue was read: count it once.
            ids = list(queued)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                written = conn.execute(
                    f"SELECT click_id FROM clicks WHERE click_id IN ({_placeholders(chunk)})",
                    chunk,
                ).fetchall()
                for (click_id,) in written:
                    del queued[click_id]
        for affiliate_id, count in rows:
            counts[affiliate_id] = counts.get(affiliate_id, 0) + int(count)
        for affiliate_id in queued.values():
            counts[affiliate_id] = counts.get(affiliate_id, 0) + 1
        return counts

    # -- orders ------------------------------------------------------------------------------
    def get_order(self, merchant_id: str, order_id: str) -> OrderRecord | None:
        with self._guard() as conn:
            row = conn.execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE merchant_id = ? AND order_id = ?",
                (merchant_id, order_id),
            ).fetchone()
        return None if row is None else OrderRecord._make(row)

    def insert_order(self, order: OrderRecord) -> None:
        with self._guard() as conn:
            conn.execute(
                f"INSERT INTO orders ({_ORDER_COLUMNS}) "
                f"VALUES ({_placeholders(OrderRecord._fields)})",
                order,
            )

    def set_order_refunded(self, merchant_id: str, order_id: str, refunded_minor: int) -> None:
        with self._guard() as conn:
            conn.execute(
                "UPDATE orders SET refunded_minor = ? WHERE merchant_id = ? AND order_id = ?",
                (refunded_minor, merchant_id, order_id),
            )

    def get_refund(self, merchant_id: str, order_id: str, refund_id: str) -> RefundRecord | None:
        with self._guard() as conn:
            row = conn.execute(
                f"SELECT {_REFUND_COLUMNS} FROM refunds "
                "WHERE merchant_id = ? AND order_id = ? AND refund_id = ?",
                (merchant_id, order_id, refund_id),
            ).fetchone()
        return None if row is None else RefundRecord._make(row)

    def insert_refund(self, refund: RefundRecord) -> None:
        with self._guard() as conn:
            conn.execute(
                f"INSERT INTO refunds ({_REFUND_COLUMNS}) "
                f"VALUES ({_placeholders(RefundRecord._fields)})",
                refund,
            )

    # -- ledger -------------------------------------------------------------------------------
    def add_entries(self, entries: Sequence[Commission]) -> None:
        with self.transaction(), self._guard() as conn:
            new = [e.event_id for e in entries]
            for merchant_id, order_id in sorted({(e.merchant_id, e.order_id) for e in entries}):
                taken = conn.execute(
                    "SELECT event_id FROM ledger WHERE merchant_id = ? AND order_id = ?",
                    (merchant_id, order_id),
                ).fetchall()
                if len(set(new)) != len(new) or {row[0] for row in taken}.intersection(new):
                    raise StorageError("ledger event ids must be unique")
            conn.executemany(
                "INSERT INTO ledger "
                "(entry_id, event_id, merchant_id, order_id, affiliate_id, status, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.entry_id,
                        e.event_id,
                        e.merchant_id,
                        e.order_id,
                        e.affiliate_id,
                        e.status,
                        e.model_dump_json(),
                    )
                    for e in entries
                ],
            )

    def update_entries(self, entries: Sequence[Commission]) -> None:
        with self.transaction(), self._guard() as conn:
            for e in entries:
                changed = conn.execute(
                    "UPDATE ledger SET status = ?, data = ? "
                    "WHERE merchant_id = ? AND order_id = ? AND entry_id = ?",
                    (e.status, e.model_dump_json(), e.merchant_id, e.order_id, e.entry_id),
                ).rowcount
                if changed != 1:
                    raise StorageError(f"no ledger entry {e.entry_id!r} to update")

    def entries(
        self,
        *,
        merchant_id: str | None = None,
        affiliate_id: str | None = None,
        order_id: str | None = None,
        status: str | None = None,
    ) -> list[Commission]:
        clauses: list[str] = []
        params: list[str] = []
        for column, value in (
            ("merchant_id", merchant_id),
            ("affiliate_id", affiliate_id),
            ("order_id", order_id),
            ("status", status),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._guard() as conn:
            rows = conn.execute(f"SELECT data FROM ledger{where} ORDER BY seq", params).fetchall()
        return [Commission.model_validate_json(row[0]) for row in rows]

    # -- keyed records ---------------------------------------------------------------------------
    def put_record(self, kind: str, key: str, data: str, *, replace: bool = True) -> bool:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._guard() as conn:
            cursor = conn.execute(
                f"{verb} INTO records (kind, key, data) VALUES (?, ?, ?)", (kind, key, data)
            )
        return cursor.rowcount > 0

    def get_record(self, kind: str, key: str) -> str | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT data FROM records WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        return None if row is None else str(row[0])

    def records(self, kind: str, prefix: str) -> list[tuple[str, str]]:
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT key, data FROM records WHERE kind = ? AND key >= ? AND key < ? "
                "ORDER BY key",
                (kind, prefix, prefix + "\uffff"),
            ).fetchall()
        return [(str(k), str(d)) for k, d in rows]

    # -- the outbox --------------------------------------------------------------------------------
    def add_events(self, rows: Sequence[OutboxRow]) -> None:
        with self.transaction(), self._guard() as conn:
            conn.executemany(
                "INSERT INTO outbox (event_id, type, created_at_ms, data) VALUES (?, ?, ?, ?)",
                [(row.event_id, row.type, row.created_at_ms, row.data) for row in rows],
            )

    def events_after(self, seq: int, *, limit: int) -> list[OutboxRow]:
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT seq, event_id, type, created_at_ms, data FROM outbox WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def get_event(self, event_id: str) -> OutboxRow | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT seq, event_id, type, created_at_ms, data FROM outbox WHERE event_id = ?",
                (event_id,),
            ).fetchone()
        return None if row is None else OutboxRow(*row)

    def first_event_since(self, created_at_ms: int) -> int | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT min(seq) FROM outbox WHERE created_at_ms >= ?", (created_at_ms,)
            ).fetchone()
        return None if row[0] is None else int(row[0])

    def last_event_seq(self) -> int:
        with self._guard() as conn:
            row = conn.execute("SELECT max(seq) FROM outbox").fetchone()
            if row[0] is not None:
                return int(row[0])
            # An emptied outbox: AUTOINCREMENT-like memory of the highest seq handed out.
            found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return 0 if found is None else int(found[0])

    def prune_events(self, *, through_seq: int, before_ms: int) -> int:
        with self.transaction(), self._guard() as conn:
            cursor = conn.execute(
                "DELETE FROM outbox WHERE seq <= ? AND created_at_ms < ?", (through_seq, before_ms)
            )
        return cursor.rowcount

    # -- shared counters -------------------------------------------------------------------------
    def add_counts(self, rows: Sequence[tuple[str, int, int]]) -> None:
        with self.transaction(), self._guard() as conn:
            conn.executemany(
                "INSERT INTO counters (key, bucket, count) VALUES (?, ?, ?) "
                "ON CONFLICT (key, bucket) DO UPDATE SET count = count + excluded.count",
                rows,
            )

    def sum_counts(self, keys: Sequence[str], *, since_bucket: int) -> list[int]:
        found: dict[str, int] = {}
        with self._guard() as conn:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                rows = conn.execute(
                    f"SELECT key, sum(count) FROM counters WHERE key IN ({_placeholders(chunk)}) "
                    "AND bucket >= ? GROUP BY key",
                    [*chunk, since_bucket],
                ).fetchall()
                found.update((str(key), int(total)) for key, total in rows)
        return [found.get(key, 0) for key in keys]

    def prune_counts(self, prefix: str, *, before_bucket: int) -> None:
        with self._guard() as conn:
            conn.execute(
                "DELETE FROM counters WHERE key >= ? AND key < ? AND bucket < ?",
                (prefix, prefix + "\uffff", before_bucket),
            )

    # -- subscriptions ---------------------------------------------------------------------------
    def bind_subscription(self, merchant_id: str, subscription_id: str, click_id: str) -> None:
        with self._guard() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO subscriptions (merchant_id, subscription_id, click_id) "
                "VALUES (?, ?, ?)",
                (merchant_id, subscription_id, click_id),
            )

    def subscription_click(self, merchant_id: str, subscription_id: str) -> str | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT click_id FROM subscriptions WHERE merchant_id = ? AND subscription_id = ?",
                (merchant_id, subscription_id),
            ).fetchone()
        return None if row is None else str(row[0])

    # -- tier totals ---------------------------------------------------------------------------
    def get_tier_state(self, key: str) -> TierState | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT volume, tier_base, rate, paid FROM tier_states WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else TierState(*(Decimal(value) for value in row))

    def put_tier_state(self, key: str, state: TierState) -> None:
        with self._guard() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO tier_states (key, volume, tier_base, rate, paid) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, *(str(value) for value in state)),
            )

    def tier_states(self, prefix: str) -> dict[str, TierState]:
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT key, volume, tier_base, rate, paid FROM tier_states "
                "WHERE key >= ? AND key < ? ORDER BY key",
                (prefix, prefix + "\uffff"),
            ).fetchall()
        return {row[0]: TierState(*(Decimal(value) for value in row[1:])) for row in rows}

    # -- payouts ---------------------------------------------------------------------------------
    def insert_payouts(self, run_id: str, batches: Sequence[PayoutBatch]) -> None:
        with self.transaction(), self._guard() as conn:
            conn.execute(
                "INSERT INTO payout_runs (run_id, created_seq) "
                "VALUES (?, (SELECT count(*) FROM payout_runs))",
                (run_id,),
            )
            conn.executemany(
                "INSERT INTO payouts (payout_id, run_id, affiliate_id, data) VALUES (?, ?, ?, ?)",
                [(b.payout_id, run_id, b.affiliate_id, b.model_dump_json()) for b in batches],
            )

    def payouts(
        self, *, run_id: str | None = None, affiliate_id: str | None = None
    ) -> list[PayoutBatch]:
        clauses: list[str] = []
        params: list[str] = []
        if run_id is not None:
            clauses.append("p.run_id = ?")
            params.append(run_id)
        if affiliate_id is not None:
            clauses.append("p.affiliate_id = ?")
            params.append(affiliate_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT p.data FROM payouts p JOIN payout_runs r USING (run_id)"
                f"{where} ORDER BY r.created_seq, p.payout_id",
                params,
            ).fetchall()
        return [PayoutBatch.model_validate_json(row[0]) for row in rows]

    # -- checkpoints ---------------------------------------------------------------------------
    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._guard() as conn:
            conn.execute(
                "INSERT INTO checkpoints (data) VALUES (?)", (checkpoint.model_dump_json(),)
            )

    def checkpoints(self) -> list[Checkpoint]:
        with self._guard() as conn:
            rows = conn.execute("SELECT data FROM checkpoints ORDER BY id").fetchall()
        return [Checkpoint.model_validate_json(row[0]) for row in rows]

    # -- journal -------------------------------------------------------------------------------
    def journal_head(self) -> tuple[int, bytes] | None:
        with self._guard() as conn:
            row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def append_journal(self, rows: Sequence[JournalRow]) -> None:
        with self.transaction(), self._guard() as conn:
            head = conn.execute("SELECT max(seq) FROM journal").fetchone()[0] or 0
            if [row.seq for row in rows] != list(range(head + 1, head + 1 + len(rows))):
                raise StorageError("journal rows do not follow the head")
            conn.executemany(
                "INSERT INTO journal (seq, event_id, body, hash) VALUES (?, ?, ?, ?)", rows
            )

    def journal_links(self) -> Iterator[tuple[bytes, bytes]]:
        """Plain row tuples, fetched in large batches on a connection of its own."""
        return chain.from_iterable(self._journal_batches())

    def _journal_batches(self) -> Iterator[list[tuple[bytes, bytes]]]:
        conn = self.open_connection()
        try:
            cursor = conn.execute("SELECT body, hash FROM journal ORDER BY seq")
            while batch := cursor.fetchmany(16384):
                yield batch
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the journal of {self.path}: {exc}") from exc
        finally:
            conn.close()

    def journal(self, *, after_seq: int = 0) -> Iterator[JournalRow]:
        """Rows in batches on a connection of its own, so a long scan holds no lock."""
        conn = self.open_connection()
        try:
            cursor = conn.execute(
                "SELECT seq, event_id, body, hash FROM journal WHERE seq > ? ORDER BY seq",
                (after_seq,),
            )
            while batch := cursor.fetchmany(4096):
                yield from map(JournalRow._make, batch)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the journal of {self.path}: {exc}") from exc
        finally:
            conn.close()
