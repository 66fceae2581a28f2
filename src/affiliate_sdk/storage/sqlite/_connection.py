"""Connections (one per thread, and per process after a fork), their pragmas, and the
per-thread state of a unit of work.

Every connection runs in autocommit mode with WAL and ``synchronous=NORMAL``:
readers never block the writer, and a commit survives a process crash. A unit
of work's SQL transaction starts at its first statement (``BEGIN IMMEDIATE``
for a writer, so writers queue on SQLite's lock, waiting up to
``busy_timeout``); a unit of work that only queues clicks never takes the lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Final, Protocol, TypeVar

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage.held import HeldClick
from affiliate_sdk.storage.rows import ClickRow

from ._dialect import BEGIN_READ, BEGIN_WRITE, is_busy, is_unique_violation
from ._wal import BACKSTOP_PAGES

__all__ = ["DEFAULT_BUSY_TIMEOUT", "Connections", "Db", "Session", "SqliteDb"]

#: How long a writer waits for another writer's transaction before failing.
DEFAULT_BUSY_TIMEOUT: Final = timedelta(seconds=30)

Params = Sequence[object]
_U = TypeVar("_U")


class Session:
    """This thread's unit of work: its depth, whether it writes, whether its SQL
    transaction has begun, the clicks it will queue on commit, and (for a reader)
    the click queue as it stood when its snapshot was taken."""

    __slots__ = ("clicks", "counter_ops", "depth", "gate", "queued", "started", "writable")

    def __init__(self) -> None:
        #: The lock that makes a click's duplicate check and its hand-over to the
        #: writer one step, held by this unit of work (None: not held).
        self.gate: threading.Lock | None = None
        self.depth = 0
        self.writable = True
        self.started = False
        self.clicks: list[ClickRow] = []
        self.counter_ops: list[tuple[str, list[Sequence[object]]]] = []
        self.queued: list[HeldClick] | None = None

    @contextmanager
    def joined(self, uow: _U, *, writing: bool) -> Iterator[_U]:
        """A unit of work opened inside this one: it joins it (a writer may not join a
        reader)."""
        if writing and not self.writable:
            raise StorageError("a write transaction cannot start inside a reader")
        self.depth += 1
        try:
            yield uow
        finally:
            self.depth -= 1

    def reset(self) -> None:
        """Back to no unit of work (the click gate is released by whoever ends it)."""
        self.depth = 0
        self.writable = True
        self.started = False
        self.clicks = []
        self.counter_ops = []
        self.queued = None


class _Local(threading.local):
    connection: sqlite3.Connection | None = None
    session: Session | None = None


class Connections:
    """Opens connections with the store's settings and lends each thread its own."""

    def __init__(self, path: Path, *, busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        self._busy_ms = int(busy_timeout.total_seconds() * 1000)
        self._local = _Local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.closed = False

    def open(self) -> sqlite3.Connection:
        """A new connection: autocommit, WAL, ``synchronous=NORMAL``, the busy timeout."""
        if self.closed:
            raise StorageError(f"the store at {self.path} is closed")
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
        return conn

    def current(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = self._local.connection
        if conn is None:
            conn = self.open()
            self._local.connection = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def session(self) -> Session:
        """This thread's unit-of-work state."""
        session = self._local.session
        if session is None:
            session = self._local.session = Session()
        return session

    def forget(self) -> None:
        """In a forked child: the parent's connections are not ours (never close them here)."""
        self._local = _Local()
        self._all = []
        self._lock = threading.Lock()

    def close_all(self) -> None:
        """Close every connection this process opened. Idempotent."""
        self.closed = True
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = _Local()

    def begin(self, session: Session) -> sqlite3.Connection:
        """Start the session's SQL transaction unless it has (the first statement does)."""
        conn = self.current()
        if not session.started:
            if not session.depth:
                raise StorageError("a repository was used outside its unit of work")
            try:
                conn.execute(BEGIN_WRITE if session.writable else BEGIN_READ)
            except sqlite3.Error as exc:
                raise self.error(exc, "cannot start a transaction") from exc
            session.started = True
        return conn

    def error(self, exc: sqlite3.Error, doing: str) -> StorageError:
        """The ``StorageError`` to raise for ``exc``."""
        if is_busy(exc):
            return StorageError(
                f"{doing} on {self.path}: the database stayed locked by another writer "
                f"for {self._busy_ms} ms ({exc})"
            )
        if isinstance(exc, sqlite3.IntegrityError):
            return StorageError(f"{doing} on {self.path}: constraint violated ({exc})")
        return StorageError(f"{doing} on {self.path}: SQLite error ({exc})")


class Db(Protocol):
    """The statements repositories run, inside the calling thread's unit of work: what the
    SQL repositories need of an engine (``SqliteDb`` here, ``PostgresDb`` on PostgreSQL).

    Parameters are ``?``; a unique key already present, on a write that names what it
    writes (``what``, ``key``), raises ``DuplicateEntry``; every other engine error
    ``StorageError``.
    """

    @property
    def session(self) -> Session: ...

    def connection(self) -> object:
        """Begin the unit of work's transaction unless it has begun."""
        ...

    def rows(self, sql: str, params: Params = ()) -> list[tuple[object, ...]]: ...

    def row(self, sql: str, params: Params = ()) -> tuple[object, ...] | None: ...

    def run(self, sql: str, params: Params = (), *, what: str = "", key: str = "") -> int: ...

    def many(
        self, sql: str, params: Iterable[Params], *, what: str = "", key: str = ""
    ) -> None: ...

    def peek(self, sql: str, params: Params = ()) -> tuple[object, ...] | None: ...

    def atomic(self) -> AbstractContextManager[None]: ...


class SqliteDb:
    """The statements repositories run, inside the calling thread's unit of work.

    SQLite errors leave as ``StorageError``; a unique key already present, on an
    insert that names what it inserts, as ``DuplicateEntry``.
    """

    __slots__ = ("_conns",)

    def __init__(self, connections: Connections) -> None:
        self._conns = connections

    @property
    def session(self) -> Session:
        """This thread's unit-of-work state."""
        return self._conns.session()

    def connection(self) -> sqlite3.Connection:
        """The connection, its transaction begun."""
        return self._conns.begin(self._conns.session())

    def rows(self, sql: str, params: Params = ()) -> list[tuple[object, ...]]:
        """Every row the query returns."""
        conn = self.connection()
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._conns.error(exc, "a read failed") from exc

    def row(self, sql: str, params: Params = ()) -> tuple[object, ...] | None:
        """The query's first row, if any."""
        conn = self.connection()
        try:
            found: tuple[object, ...] | None = conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise self._conns.error(exc, "a read failed") from exc
        return found

    def run(self, sql: str, params: Params = (), *, what: str = "", key: str = "") -> int:
        """Run a write; how many rows it changed."""
        conn = self.connection()
        try:
            return conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise self._mapped(exc, what, key) from exc

    def many(self, sql: str, params: Iterable[Params], *, what: str = "", key: str = "") -> None:
        """Run a write once per parameter row."""
        conn = self.connection()
        try:
            conn.executemany(sql, params)
        except sqlite3.Error as exc:
            raise self._mapped(exc, what, key) from exc

    def peek(self, sql: str, params: Params = ()) -> tuple[object, ...] | None:
        """The query's first row: inside the transaction once it has begun, else as a
        statement of its own (no write lock taken: the click path's de-duplication)."""
        session = self._conns.session()
        if session.started or not session.depth:
            return self.row(sql, params)
        try:
            found: tuple[object, ...] | None = self._conns.current().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise self._conns.error(exc, "a read failed") from exc
        return found

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A savepoint: a repository call that writes several rows writes all or none."""
        conn = self.connection()
        try:
            conn.execute("SAVEPOINT repository_call")
        except sqlite3.Error as exc:
            raise self._conns.error(exc, "cannot open a savepoint") from exc
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO repository_call")
            conn.execute("RELEASE repository_call")
            raise
        conn.execute("RELEASE repository_call")

    def _mapped(self, exc: sqlite3.Error, what: str, key: str) -> StorageError:
        if what and is_unique_violation(exc):
            return DuplicateEntry(what, key)
        return self._conns.error(exc, "a write failed")
