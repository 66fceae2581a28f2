"""``sqlite:///path.db``: the embedded default store (schema v5). Durable, no server.

* WAL with ``synchronous=NORMAL``: readers never block the writer, and a
  commit survives a process crash (a power cut may lose the last commits).
* One connection per thread, and per process after a fork (``_connection``).
  ``transaction()`` is ``BEGIN IMMEDIATE`` at its first statement, so writers
  queue on SQLite's lock (waiting up to ``busy_timeout``) and a duplicate is
  seen inside the lock; nested calls join the outer one; an exception rolls
  back. ``reader()`` is a deferred read transaction: one consistent snapshot.
* The schema is versioned with ``PRAGMA user_version``; opening a file applies
  the migrations it lacks in one transaction and refuses a newer file
  (``_schema``).
* Clicks, the one write on every redirect, go to a background writer thread
  that commits them in batches (``click_commit="background"``, the default):
  the unit of work that records a click hands it over when it ends, this
  process sees it at once, other processes once it is committed, and
  ``close()`` (or interpreter exit) waits for the queue. A crash loses only
  the clicks still queued. ``click_commit="immediate"`` writes each click in
  its unit of work.
* WAL checkpoints run on a thread of their own every ``WAL_CHECKPOINT_EVERY``
  commits (``_wal``), so a request never pays for one.
"""

from __future__ import annotations

import atexit
import os
import secrets
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal

from affiliate_sdk.errors import StorageError

from ._click_writer import BATCH_EVERY_S, MAX_QUEUED_CLICKS, ClickWriter
from ._connection import DEFAULT_BUSY_TIMEOUT, Connections, Db, Session, SqliteDb
from ._dialect import BEGIN_READ
from ._schema import SCHEMA_VERSION, migrate
from ._wal import WAL_CHECKPOINT_EVERY, WalCheckpointer
from .catalog import SqliteCatalog
from .clicks import INSERT_CLICKS, SqliteClicks
from .counters import SqliteCounters
from .journal import SqliteJournal
from .keys import SqliteKeys
from .ledger import SqliteLedger
from .orders import SqliteOrders
from .outbox import SqliteOutbox
from .periods import SqlitePeriods
from .risk import SqliteRisk
from .sanctions import SqliteSanctions
from .webhooks import SqliteWebhooks

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "MAX_QUEUED_CLICKS",
    "SCHEMA_VERSION",
    "WAL_CHECKPOINT_EVERY",
    "ClickCommit",
    "SQLiteStore",
    "SqliteUnitOfWork",
]

ClickCommit = Literal["background", "immediate"]

# Stores the host never closed: their queued clicks are written out at exit.
_OPEN_STORES: Final[weakref.WeakSet[SQLiteStore]] = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    for store in list(_OPEN_STORES):
        store.close()


class SqliteUnitOfWork:
    """The repositories of this store; each call runs in the calling thread's unit of work."""

    def __init__(self, db: Db, clicks: SqliteClicks) -> None:
        self.catalog = SqliteCatalog(db)
        self.clicks = clicks
        self.orders = SqliteOrders(db)
        self.ledger = SqliteLedger(db)
        self.journal = SqliteJournal(db)
        self.periods = SqlitePeriods(db)
        self.risk = SqliteRisk(db)
        self.sanctions = SqliteSanctions(db)
        self.outbox = SqliteOutbox(db)
        self.webhooks = SqliteWebhooks(db)
        self.keys = SqliteKeys(db)


class SQLiteStore:
    """The SQLite backend of ``affiliate_sdk.storage.contract.Store``."""

    scheme: str = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        click_commit: ClickCommit = "background",
        busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT,
        max_queued_clicks: int = MAX_QUEUED_CLICKS,
        click_batch_every: timedelta = timedelta(seconds=BATCH_EVERY_S),
    ) -> None:
        if str(path) in ("", ":memory:"):
            raise StorageError("an SQLite store needs a file path; use 'memory://' for memory")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise StorageError(f"cannot open {self.path}: directory {self.path.parent} is missing")
        if click_commit not in ("background", "immediate"):
            raise StorageError(
                f"click_commit must be 'background' or 'immediate', not {click_commit!r}"
            )
        self.click_commit: ClickCommit = click_commit
        self._busy_timeout = busy_timeout
        self._max_queued = max_queued_clicks
        if click_batch_every < timedelta(0):
            raise StorageError(f"click_batch_every must not be negative, not {click_batch_every}")
        self._batch_every_s = click_batch_every.total_seconds()
        self._start_fresh()
        self._migrate()
        _OPEN_STORES.add(self)
        this = weakref.ref(self)

        def before_fork() -> None:
            store = this()
            if store is not None:
                store._hold_threads()

        def after_fork_in_parent() -> None:
            store = this()
            if store is not None:
                store._release_threads()

        def after_fork_in_child() -> None:
            store = this()
            if store is not None:
                store._start_fresh()

        os.register_at_fork(
            before=before_fork,
            after_in_parent=after_fork_in_parent,
            after_in_child=after_fork_in_child,
        )

    def _start_fresh(self) -> None:
        """Connections, threads and queue of this process (a forked child's are not ours)."""
        self._conns = Connections(self.path, busy_timeout=self._busy_timeout)
        self._counter_conns = Connections(self.path, busy_timeout=self._busy_timeout)
        self._db = SqliteDb(self._conns)
        self._lock = threading.Lock()
        self._held: list[threading.Lock] = []
        self._writer: ClickWriter | None = None
        self._checkpointer: WalCheckpointer | None = None
        self._commits = 0
        self._closed = False
        #: This store's name among the file's click writers (a forked child takes its own).
        self._token = secrets.token_hex(8)
        clicks = SqliteClicks(
            self._db,
            self._current_writer,
            background=self.click_commit == "background",
            token=self._token,
        )
        self._uow = SqliteUnitOfWork(self._db, clicks)
        writer = self._click_writer if self.click_commit == "background" else lambda: None
        if getattr(self, "_counters", None) is None:
            self._counters = SqliteCounters(self._counter_conns, self._conns, writer)
        else:  # a forked child: the windows hold this object; it takes the child's parts
            self._counters.rebind(self._counter_conns, self._conns, writer)

    def _migrate(self) -> None:
        with self.transaction():
            migrate(self._db.connection())

    @property
    def schema_version(self) -> int:
        """The file's ``PRAGMA user_version``."""
        return int(self._conns.current().execute("PRAGMA user_version").fetchone()[0])

    @property
    def counters(self) -> SqliteCounters:
        """Velocity counts, outside transactions."""
        return self._counters

    def _hold_threads(self) -> None:
        """Before a fork: wait until this store's threads are outside SQLite, and keep them so
        (a child inheriting SQLite's locks mid-call would hang on its first connection)."""
        held: list[threading.Lock] = []
        for worker in (self._writer, self._checkpointer):
            if worker is not None:
                worker.guard.acquire()
                held.append(worker.guard)
        self._held = held

    def _release_threads(self) -> None:
        """After a fork, in the parent: let the threads go on."""
        for guard in self._held:
            guard.release()
        self._held = []

    def _current_writer(self) -> ClickWriter | None:
        return self._writer

    def _click_writer(self) -> ClickWriter:
        writer = self._writer
        if writer is None:
            with self._lock:
                if self._closed:
                    raise StorageError(f"the store at {self.path} is closed")
                writer = self._writer
                if writer is None:
                    writer = self._writer = ClickWriter(
                        self._conns.open,
                        INSERT_CLICKS,
                        on_commit=self._committed,
                        name=f"affiliate-sdk clicks {self.path.name}",
                        token=self._token,
                        max_queued=self._max_queued,
                        batch_every_s=self._batch_every_s,
                    )
        return writer

    @property
    def chains(self) -> int:
        """One chain: one writer holds the file at a time, so more would only spread it."""
        return 1

    @contextmanager
    def transaction(self, *, chain: int | None = None) -> Iterator[SqliteUnitOfWork]:
        """A unit of work: atomic and isolated (whatever its ``chain``: one writer holds the
        file); nested calls join the outer one."""
        session = self._conns.session()
        if session.depth:
            with session.joined(self._uow, writing=True) as joined:
                yield joined
            return
        if self._closed:
            raise StorageError(f"the store at {self.path} is closed")
        session.depth = 1
        try:
            yield self._uow
        except BaseException:
            self._end(session, commit=False)
            raise
        self._end(session, commit=True)

    def _end(self, session: Session, *, commit: bool) -> None:
        """Commit or roll back; then hand clicks to the writer and write held-back counts."""
        clicks, ops, started = session.clicks, session.counter_ops, session.started
        gate, session.gate = session.gate, None
        session.reset()
        conn = self._conns.current()
        try:
            if started:
                try:
                    conn.execute("COMMIT" if commit else "ROLLBACK")
                except sqlite3.Error as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise self._conns.error(exc, "commit failed") from exc
                if commit:
                    self._committed()
            if commit and clicks:
                self._click_writer().submit(clicks)
        finally:
            if gate is not None:
                gate.release()
            self._counters.flush(ops)

    @contextmanager
    def reader(self) -> Iterator[SqliteUnitOfWork]:
        """A read-only unit of work over one consistent snapshot (inside a transaction: that
        transaction's view)."""
        session = self._conns.session()
        if session.depth:
            with session.joined(self._uow, writing=False) as joined:
                yield joined
            return
        conn = self._conns.current()
        session.depth, session.writable = 1, False
        try:
            self._snapshot(session, conn)
            yield self._uow
        finally:
            session.reset()
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("PRAGMA query_only = 0")
            except sqlite3.Error:
                pass

    def _snapshot(self, session: Session, conn: sqlite3.Connection) -> None:
        """Copy the click queue, then take the snapshot (what the queue lacks is in it)."""
        writer = self._writer
        if writer is None:
            session.queued = []
        else:
            with writer.lock:
                session.queued = writer.queued()
        try:
            conn.execute("PRAGMA query_only = 1")
            conn.execute(BEGIN_READ)
            conn.execute("SELECT count(*) FROM meta").fetchone()
        except sqlite3.Error as exc:
            raise self._conns.error(exc, "cannot start a read") from exc
        session.started = True

    def _committed(self) -> None:
        """Count a commit; every ``WAL_CHECKPOINT_EVERY`` commits, ask for a checkpoint."""
        self._commits += 1
        if self._commits % WAL_CHECKPOINT_EVERY:
            return
        checkpointer = self._checkpointer
        if checkpointer is None:
            with self._lock:
                if self._closed:
                    return
                checkpointer = self._checkpointer
                if checkpointer is None:
                    checkpointer = self._checkpointer = WalCheckpointer(
                        self._conns.open, name=f"affiliate-sdk wal {self.path.name}"
                    )
        checkpointer.request()

    def close(self) -> None:
        """Write out queued clicks, stop the threads, close every connection. Idempotent."""
        with self._lock:
            writer, self._writer = self._writer, None
            checkpointer, self._checkpointer = self._checkpointer, None
            self._closed = True
        _OPEN_STORES.discard(self)
        try:
            if writer is not None:
                writer.stop()
        finally:
            if checkpointer is not None:
                checkpointer.stop()
            self._conns.close_all()
            self._counter_conns.close_all()
