"""Pooled connections, this thread's unit of work, and the statements repositories run.

A unit of work leases one connection from the pool at its first statement and gives it
back when it ends. A writer's transaction is ``READ COMMITTED`` and starts by taking the
schema's write lock (a transaction-scoped advisory lock, released at commit or rollback),
so the check-then-write steps of a booking see every earlier booking and no other
booking's half (the same order of writers SQLite's lock gives). A click takes only a lock
on its visitor's link (``claim``): clicks never queue behind bookings. A reader is one
``REPEATABLE READ READ ONLY`` snapshot. The statements that begin a transaction are sent
with its first query, in one pipeline: one round trip, not two.

The repositories' SQL is the portable SQL of ``storage.sqlite``: ``?`` parameters become
``%s`` here. An insert that names what it inserts is sent with ``ON CONFLICT DO NOTHING``
and a row it did not insert raises ``DuplicateEntry``, so a duplicate never aborts the
transaction around it (PostgreSQL refuses every statement after an error).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage._urls import redacted, scrubbed
from affiliate_sdk.storage.sqlite._connection import Session

from ._pools import LazyPool

__all__ = ["BEGIN_READ", "DRAW_SEQ", "PostgresDb", "PostgresSession"]

Params = Sequence[object]

#: Starts a reader's snapshot.
BEGIN_READ: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_CACHED_SQL: Final = 4096
#: The journal's next seq, drawn with a writer's locks (so writers of one row draw in the
#: order they hold it, which is the order they commit).
DRAW_SEQ: Final = "SELECT nextval('journal_seq')"
_CLAIM: Final = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
_DOOMED: Final = (
    "an earlier statement of this unit of work failed (or a repository call wrote only part "
    "of its rows): the unit of work can only roll back"
)


class PostgresSession(Session):
    """This thread's unit of work, with its leased connection and the locks it holds."""

    __slots__ = (
        "begun",
        "chain",
        "claimed",
        "conn",
        "deferred",
        "deferring",
        "doomed",
        "drawn",
        "free",
        "locked",
        "pending",
        "writes",
    )

    def __init__(self) -> None:
        super().__init__()
        self.conn: Any = None
        #: Inside a click repository call: statements do not take the write lock.
        self.free = 0
        self.locked = False
        #: Write statements that succeeded, and whether a repository call failed after some.
        self.writes = 0
        self.doomed = False
        #: Statements that begin the transaction, sent with the next one (one round trip),
        #: and whether BEGIN has reached the server.
        self.pending: tuple[tuple[str, Params | None], ...] = ()
        self.begun = False
        #: Inside a call whose writes need no answer: they wait in ``pending`` for the next
        #: statement or the commit; how many wait.
        self.deferring = 0
        self.deferred = 0
        #: The journal chain a writer is confined to (None: the whole schema), and the keys
        #: of shared rows it holds a lock on.
        self.chain: int | None = None
        self.claimed: set[str] = set()
        #: A journal seq drawn once the unit of work held its locks, not yet used.
        self.drawn: int | None = None

    def reset(self) -> None:
        super().reset()
        self.chain = None
        self.claimed = set()
        self.drawn = None
        self.conn = None
        self.free = 0
        self.locked = False
        self.writes = 0
        self.doomed = False
        self.pending = ()
        self.begun = False
        self.deferring = 0
        self.deferred = 0


class _Local(threading.local):
    session: PostgresSession | None = None


class PostgresDb:
    """``storage.sqlite.Db`` on a psycopg pool (connections in autocommit mode: each unit
    of work opens and ends its transaction itself)."""

    def __init__(
        self,
        open_pool: Callable[[], Any],
        *,
        conninfo: str,
        write_lock: int,
        chain_locks: Sequence[int] = (),
        errors: type[Exception],
    ) -> None:
        self._pool = LazyPool(open_pool)
        self._conninfo = conninfo
        self.url = redacted(conninfo)
        self._lock = f"SELECT pg_advisory_xact_lock({int(write_lock)})"
        self._shared = f"SELECT pg_advisory_xact_lock_shared({int(write_lock)})"
        self._chain_locks = tuple(
            f"SELECT pg_advisory_xact_lock({int(key)})" for key in chain_locks
        )
        self._errors = errors
        self._local = _Local()
        self._sql: dict[str, str] = {}
        import psycopg.errors

        self._unique: type[Exception] = psycopg.errors.UniqueViolation

    @property
    def session(self) -> PostgresSession:
        """This thread's unit-of-work state."""
        session = self._local.session
        if session is None:
            session = self._local.session = PostgresSession()
        return session

    def pool(self) -> Any:
        """The connection pool, opened on first use (in a forked child: its own)."""
        return self._pool.get()

    def forget(self) -> None:
        """In a forked child: no unit of work, and a pool of its own at first use."""
        self._pool.forget()
        self._local = _Local()

    def close(self) -> None:
        """Close the pool, if open."""
        self._pool.close()

    # -- the transaction ----------------------------------------------------------------------
    def connection(self) -> Any:
        """The leased connection, its transaction begun (and the write lock taken, for a
        writer outside a click call)."""
        session = self.session
        if session.doomed:
            raise StorageError(_DOOMED)
        if not session.started:
            if not session.depth:
                raise StorageError("a repository was used outside its unit of work")
            conn = self._lease(session)
            if not session.writable:
                session.pending = ((BEGIN_READ, None),)
            else:
                session.pending = (("BEGIN", None),)
                if not session.free:
                    self._take_locks(session)
            session.started = True
            return conn
        if session.writable and not session.locked and not session.free:
            self._take_locks(session)
        return session.conn

    def _take_locks(self, session: PostgresSession) -> None:
        """A writer's locks, sent with its next statement: the schema's write lock, or for a
        unit of work of one chain, that lock shared and the chain's own."""
        if session.chain is None:
            session.pending += ((self._lock, None),)
        else:
            session.pending += (
                (self._shared, None),
                (self._chain_locks[session.chain], None),
                (DRAW_SEQ, None),
            )
        session.locked = True

    def guard(self, keys: Iterable[str]) -> None:
        """In a unit of work of one chain, hold a lock on each of ``keys`` (rows other chains'
        units of work may write too) until it ends, taken in key order; elsewhere the
        schema's write lock already holds them."""
        session = self.session
        if session.chain is None or not session.writable:
            return
        claimed = sorted(set(keys) - session.claimed)
        for key in claimed:
            self.claim(key)
            session.claimed.add(key)
        if claimed:  # a seq drawn before these locks could be lower than another writer's
            session.pending += ((DRAW_SEQ, None),)
            session.drawn = None

    def unclaimed(self, keys: Iterable[str]) -> list[str]:
        """Of ``keys``, those a unit of work of one chain holds no lock on (elsewhere none:
        the schema's write lock holds them all)."""
        session = self.session
        if session.chain is None or not session.writable:
            return []
        return [key for key in keys if key not in session.claimed]

    def drawn_seq(self) -> int | None:
        """The journal seq drawn once the unit of work held every lock it has claimed, once
        (None: none is, or its draw is still to be sent)."""
        session = self.session
        if any(statement == DRAW_SEQ for statement, _ in session.pending):
            return None
        drawn, session.drawn = session.drawn, None
        return drawn

    def _lease(self, session: PostgresSession) -> Any:
        try:
            session.conn = self.pool().getconn()
        except Exception as exc:
            raise StorageError(f"no connection to {self.url}: {self._said(exc)}") from exc
        return session.conn

    def end(self, session: PostgresSession, *, commit: bool) -> None:
        """Commit or roll back the session's transaction and give its connection back."""
        conn, doomed, begun = session.conn, session.doomed, session.begun
        waiting = session.pending if session.deferred else ()
        session.reset()
        if conn is None:
            return
        try:
            if (begun or waiting) and commit and not doomed:
                try:
                    with conn.pipeline():  # the writes still waiting go with the commit
                        for statement, values in waiting:
                            conn.execute(statement, values)
                        conn.execute("COMMIT")
                except self._errors as exc:
                    _quietly_roll_back(conn)
                    raise StorageError(f"commit failed on {self.url}: {self._said(exc)}") from exc
            elif begun:  # a failed rollback must not hide why the unit of work ended
                _quietly_roll_back(conn)
        finally:
            self.pool().putconn(conn)
        if commit and doomed:
            raise StorageError(_DOOMED)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Writes inside whose answer nobody reads are sent with the next statement (or the
        commit); an error of theirs fails that statement and the unit of work."""
        session = self.session
        session.deferring += 1
        try:
            yield
        finally:
            session.deferring -= 1

    @contextmanager
    def free(self) -> Iterator[None]:
        """Statements inside take no write lock (a click's own rows, under ``claim``)."""
        session = self.session
        session.free += 1
        try:
            yield
        finally:
            session.free -= 1

    def claim(self, key: str) -> None:
        """Hold a lock on ``key`` until the unit of work ends (others claiming it wait); sent
        with the next statement, which runs once the lock is held."""
        self.connection()
        self.session.pending += ((_CLAIM, (key,)),)

    # -- statements ---------------------------------------------------------------------------
    def rows(self, sql: str, params: Params = ()) -> list[tuple[object, ...]]:
        """Every row the query returns."""
        cur = self._execute(self.connection(), self._translated(sql), params, "a read failed")
        found: list[tuple[object, ...]] = cur.fetchall()
        return found

    def row(self, sql: str, params: Params = ()) -> tuple[object, ...] | None:
        """The query's first row, if any."""
        cur = self._execute(self.connection(), self._translated(sql), params, "a read failed")
        found: tuple[object, ...] | None = cur.fetchone()
        return found

    peek = row

    def run(self, sql: str, params: Params = (), *, what: str = "", key: str = "") -> int:
        """Run a write; how many rows it changed (inside ``deferred``: -1, not known yet)."""
        conn = self.connection()
        session = self.session
        if session.deferring and not what:
            session.pending += ((self._translated(sql), params),)
            session.deferred += 1
            session.writes += 1
            return -1
        if what and _plain_insert(sql):
            cur = self._execute(conn, self._translated(sql, guarded=True), params, "a write failed")
            if cur.rowcount == 0:
                raise DuplicateEntry(what, key)
        elif what:
            with self._savepoint(conn):
                cur = self._write(conn, sql, params, what, key)
        else:
            cur = self._execute(conn, self._translated(sql), params, "a write failed")
        self.session.writes += 1
        return int(cur.rowcount)

    def many(self, sql: str, params: Iterable[Params], *, what: str = "", key: str = "") -> None:
        """Run a write once per parameter row."""
        conn = self.connection()
        rows = list(params)
        if not rows:
            return
        guarded = bool(what) and _plain_insert(sql)
        pending = self._take_pending()
        try:
            cur = conn.cursor()
            with conn.pipeline():
                draw = self._send(conn, pending)
                cur.executemany(self._translated(sql, guarded=guarded), rows)
            self._keep_drawn(draw)
        except self._errors as exc:
            self._failed(conn)
            raise self._mapped(exc, what, key) from exc
        if guarded and cur.rowcount < len(rows):
            if cur.rowcount:
                self.session.doomed = True  # some rows are written, not all
            raise DuplicateEntry(what, key)
        self.session.writes += 1

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A repository call that writes several rows writes all or none: one that fails
        after writing some leaves the unit of work able only to roll back (every later
        statement, and the commit, raise ``StorageError``), as PostgreSQL itself does after
        an error, without a savepoint's two round trips on every call."""
        session = self.session
        self.connection()
        before = session.writes
        try:
            yield
        except BaseException:
            if session.writes != before:
                session.doomed = True
            raise

    @contextmanager
    def _savepoint(self, conn: Any) -> Iterator[None]:
        """A savepoint around a write whose error must not end the transaction."""
        self._execute(conn, "SAVEPOINT repository_call", None, "cannot open a savepoint")
        doomed = self.session.doomed
        try:
            yield
        except BaseException:
            self._execute(
                conn,
                "ROLLBACK TO SAVEPOINT repository_call; RELEASE SAVEPOINT repository_call",
                None,
                "cannot roll back a savepoint",
            )
            self.session.doomed = doomed  # the savepoint undid the failed write
            raise
        self._execute(conn, "RELEASE SAVEPOINT repository_call", None, "cannot end a savepoint")

    def returning(self, sql: str, params: Params) -> list[tuple[object, ...]]:
        """Run a write of PostgreSQL's own SQL (``%s`` parameters) and return its rows."""
        cur = self._execute(self.connection(), sql, params, "a write failed")
        self.session.writes += 1
        found: list[tuple[object, ...]] = cur.fetchall()
        return found

    def _write(self, conn: Any, sql: str, params: Params, what: str, key: str) -> Any:
        try:
            return conn.execute(self._translated(sql), params)
        except self._errors as exc:
            self._failed(conn)
            raise self._mapped(exc, what, key) from exc

    def _execute(self, conn: Any, sql: str, params: Params | None, doing: str) -> Any:
        try:
            if not self.session.pending:
                return conn.execute(sql, params)
            pending = self._take_pending()
            with conn.pipeline():  # the transaction's first statements and this one, sent once
                draw = self._send(conn, pending)
                cur = conn.execute(sql, params)
            self._keep_drawn(draw)
        except self._errors as exc:
            self._failed(conn)
            raise StorageError(f"{doing} on {self.url}: {self._said(exc)}") from exc
        return cur

    @staticmethod
    def _send(conn: Any, pending: Sequence[tuple[str, Params | None]]) -> Any:
        """Send the waiting statements; the cursor of the last seq drawn among them."""
        draw = None
        for statement, values in pending:
            cur = conn.execute(statement, values)
            if statement == DRAW_SEQ:
                draw = cur
        return draw

    def _keep_drawn(self, draw: Any) -> None:
        if draw is not None:
            self.session.drawn = int(draw.fetchone()[0])

    def _take_pending(self) -> tuple[tuple[str, Params | None], ...]:
        """The statements that begin the transaction, to be sent now."""
        session = self.session
        pending, session.pending = session.pending, ()
        session.deferred = 0
        if pending:
            session.begun = True
        return pending

    def _failed(self, conn: Any) -> None:
        """After an error: a transaction PostgreSQL aborted can only roll back (its commit
        would roll back without a word)."""
        from psycopg.pq import TransactionStatus

        if conn.info.transaction_status == TransactionStatus.INERROR:
            self.session.doomed = True

    def _mapped(self, exc: Exception, what: str, key: str) -> StorageError:
        if what and isinstance(exc, self._unique):
            return DuplicateEntry(what, key)
        return StorageError(f"a write failed on {self.url}: {self._said(exc)}")

    def _said(self, exc: BaseException) -> str:
        """The first line of an error, without the URL's password."""
        text = str(exc).strip()
        line = text.splitlines()[0] if text else type(exc).__name__
        return scrubbed(line, self._conninfo)

    def _translated(self, sql: str, *, guarded: bool = False) -> str:
        """``sql`` with psycopg's ``%s`` parameters (and, ``guarded``, ``ON CONFLICT DO
        NOTHING``)."""
        cache_key = f"+{sql}" if guarded else sql
        found = self._sql.get(cache_key)
        if found is None:
            found = sql.replace("%", "%%").replace("?", "%s")
            if guarded:
                found += " ON CONFLICT DO NOTHING"
            if len(self._sql) >= _CACHED_SQL:
                self._sql.clear()
            self._sql[cache_key] = found
        return found


def _plain_insert(sql: str) -> bool:
    """An ``INSERT`` without a conflict clause of its own."""
    return sql.lstrip().upper().startswith("INSERT") and "ON CONFLICT" not in sql.upper()


def _quietly_roll_back(conn: Any) -> None:
    try:
        conn.execute("ROLLBACK")
    except Exception:  # the connection is gone; the pool discards it
        return
