"""``postgresql://``: the store for several app servers on one PostgreSQL database.

The repositories are the SQL repositories of ``storage.sqlite`` on ``PostgresDb``
(``_connection``), in a PostgreSQL schema of their own (``affiliate_sdk`` unless named),
migrated by ``_schema`` when the store opens (or by the host's pipeline with
``affiliate-sdk db upgrade``, then ``upgrade=False`` here). The velocity counters are
``PostgresCounters`` in the same schema, unless the store is composed with Redis's.

* ``transaction()``: nested calls join the outer one; an exception rolls back. A writer
  holds the schema's write lock from its first statement to its commit; a unit of work
  that only records clicks takes a lock on each click's visitor and link instead.
* ``reader()``: one ``REPEATABLE READ`` snapshot, writes refused.
* A forked child opens a pool of its own (the parent's connections are left alone).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Final

from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.commission.journal import GENESIS_HASH
from affiliate_sdk.errors import DuplicateEntry, StorageError, UnsupportedStore
from affiliate_sdk.storage._urls import redacted, scrubbed
from affiliate_sdk.storage.rows import (
    ClickRow,
    ImpressionRow,
    JournalRow,
    OutboxRow,
    PeriodTotals,
    Standing,
    ValueStats,
)
from affiliate_sdk.storage.sqlite import SqliteUnitOfWork
from affiliate_sdk.storage.sqlite.clicks import SqliteClicks
from affiliate_sdk.storage.sqlite.journal import SqliteJournal
from affiliate_sdk.storage.sqlite.outbox import OUTBOX_MARK, SqliteOutbox
from affiliate_sdk.storage.sqlite.periods import SqlitePeriods
from affiliate_sdk.storage.sqlite.risk import SqliteRisk

from ._connection import DRAW_SEQ, PostgresDb, PostgresSession
from ._pools import open_pool
from ._schema import (
    DEFAULT_SCHEMA,
    SCHEMA_VERSION,
    check_schema_name,
    journal_chains,
    lock_key,
    version_of,
)
from ._schema import upgrade as upgrade_schema
from .counters import PostgresCounters

__all__ = ["DEFAULT_POOL_SIZE", "PostgresStore", "PostgresUnitOfWork"]

#: Writes journal entries of one chain if its head is the one they follow (the place before
#: the first, and the tag ``previous``; a chain with no entry has the genesis tag).
_APPEND_AFTER_HEAD: Final = (
    "WITH head AS (SELECT pos, hash FROM journal WHERE chain = %s ORDER BY pos DESC LIMIT 1) "
    "INSERT INTO journal (seq, event_id, at_ms, body, hash, chain, pos) "
    "SELECT r.s, r.e, r.a, r.b, r.h, %s, r.p "
    "FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bytea[], %s::bytea[], "
    "%s::bigint[]) AS r(s, e, a, b, h, p) "
    "WHERE coalesce((SELECT pos FROM head), 0) = %s "
    "AND coalesce((SELECT hash FROM head), %s) = %s "
    "ON CONFLICT DO NOTHING RETURNING seq"
)
_TAKE_BACK: Final = "DELETE FROM journal WHERE seq = ANY(%s::bigint[]) RETURNING seq"
#: Moves the outbox's high-water mark by the events' number and writes them after it (an
#: event id already there is skipped: the caller undoes the rest, ``_UNDO_EVENTS``).
_ADD_EVENTS: Final = (
    "WITH mark AS (INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT (name) "
    "DO UPDATE SET value = (meta.value::bigint + %s)::text RETURNING value::bigint AS last) "
    "INSERT INTO outbox (seq, event_id, type, created_at_ms, data) "
    "SELECT mark.last - %s + r.n, r.e, r.t, r.c, r.d FROM mark, "
    "unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) WITH ORDINALITY AS r(e, t, c, d, n) "
    "ON CONFLICT DO NOTHING RETURNING seq, event_id"
)
#: Takes back what ``_ADD_EVENTS`` wrote and the mark it moved (the write lock is held: no
#: other writer moved the mark since, and no reader saw these numbers).
_UNDO_EVENTS: Final = (
    "WITH gone AS (DELETE FROM outbox WHERE seq = ANY(%s::bigint[])) "
    "UPDATE meta SET value = (value::bigint - %s)::text WHERE name = %s RETURNING value"
)

#: Connections a process keeps open to the database at most.
DEFAULT_POOL_SIZE: Final = 16
#: How long a writer waits for a lock another transaction holds before failing.
DEFAULT_LOCK_TIMEOUT: Final = timedelta(seconds=30)


class PostgresClicks(SqliteClicks):
    """Clicks on PostgreSQL: a click's check for the same visitor's click on the same link
    and its insert hold a lock on that visitor and link, not the write lock."""

    def __init__(self, db: PostgresDb) -> None:
        super().__init__(db, lambda: None, background=False, token=None)
        self._pg = db

    def record(self, click: ClickRow, *, dedupe_since_ms: int | None) -> tuple[ClickRow, bool]:
        """``ClickRepo.record``, under a lock on the visitor's link."""
        with self._pg.free():
            if dedupe_since_ms is not None:
                self._pg.claim(f"click/{click.merchant_id}/{click.visitor_id}/{click.link_id}")
            return super().record(click, dedupe_since_ms=dedupe_since_ms)

    def add_impression(self, impression: ImpressionRow) -> None:
        """``ClickRepo.add_impression`` (its key is its own: no lock)."""
        with self._pg.free():
            super().add_impression(impression)


class PostgresOutbox(SqliteOutbox):
    """The outbox on PostgreSQL: a call's events and the high-water mark in one statement."""

    def __init__(self, db: PostgresDb) -> None:
        super().__init__(db)
        self._pg = db

    def add(self, rows: Sequence[OutboxRow]) -> None:
        """``OutboxRepo.add``: numbered after the high-water mark, which moves by as many; an
        event id already there (or twice in ``rows``) is ``DuplicateEntry`` and writes
        nothing."""
        if not rows:
            return
        ids = [row.event_id for row in rows]
        seen: set[str] = set()
        for event_id in ids:
            if event_id in seen:
                raise DuplicateEntry("outbox event", event_id)
            seen.add(event_id)
        n = len(rows)
        written = self._pg.returning(
            _ADD_EVENTS,
            (
                OUTBOX_MARK,
                str(n),
                n,
                n,
                ids,
                [row.type for row in rows],
                [row.created_at_ms for row in rows],
                [row.data for row in rows],
            ),
        )
        if len(written) == n:
            return
        self._pg.returning(_UNDO_EVENTS, ([seq for seq, _ in written], n, OUTBOX_MARK))
        made = {str(event_id) for _, event_id in written}
        raise DuplicateEntry("outbox event", next(i for i in ids if i not in made))


class PostgresJournal(SqliteJournal):
    """The journal on PostgreSQL: seqs from a sequence (drawn once the unit of work holds
    every lock its rows need, so writers of one row draw in the order they commit); an
    append that names the head it follows checks it in the insert itself (one round trip,
    not two); a unit of work of one chain appends to that chain only."""

    def __init__(self, db: PostgresDb) -> None:
        super().__init__(db)
        self._pg = db

    def next_seq(self) -> int:
        """``JournalRepo.next_seq``: the sequence's next value, drawn with the unit of work's
        locks when it has not been used yet (no round trip of its own)."""
        drawn = self._pg.drawn_seq()
        if drawn is not None:
            return drawn
        found = self._pg.row(DRAW_SEQ)
        self._pg.session.drawn = None  # a draw sent before this one is lower: not for later
        assert found is not None
        return int(str(found[0]))

    def append(self, rows: Sequence[JournalRow], *, previous: bytes | None = None) -> None:
        """``JournalRepo.append``; when the fast insert writes nothing (the head is not
        ``previous``, a seq or event id is taken), the SQLite path names why."""
        if not rows:
            return
        chain = rows[0].chain
        scope = self._pg.session.chain
        if scope is not None and chain != scope:
            raise StorageError(
                f"a unit of work of journal chain {scope} cannot append to chain {chain}"
            )
        places = [row.pos for row in rows]
        if previous is None or places != list(range(places[0], places[0] + len(rows))):
            super().append(rows, previous=previous)
            return
        written = self._pg.returning(
            _APPEND_AFTER_HEAD,
            (
                chain,
                chain,
                [row.seq for row in rows],
                [row.event_id for row in rows],
                [row.at_ms for row in rows],
                [row.body for row in rows],
                [row.hash for row in rows],
                places,
                places[0] - 1,
                GENESIS_HASH,
                previous,
            ),
        )
        if len(written) == len(rows):
            return
        if written:  # an event id was taken: take back the rest
            self._pg.returning(_TAKE_BACK, ([seq for (seq,) in written],))
        super().append(rows, previous=previous)


class PostgresRisk(SqliteRisk):
    """Risk state on PostgreSQL: an affiliate's history, an order shape and a distinct set
    are shared by every merchant's bookings, so a unit of work of one chain locks each
    before reading it; a booking's history and statistics writes go with its next statement
    (nobody reads their answer)."""

    def __init__(self, db: PostgresDb) -> None:
        super().__init__(db)
        self._pg = db

    def history(self, affiliate_id: str) -> History | None:
        """``RiskRepo.history``, the affiliate's history locked first."""
        self._pg.guard([f"risk/history/{affiliate_id}"])
        return super().history(affiliate_id)

    def put_history(self, affiliate_id: str, history: History) -> None:
        """``RiskRepo.put_history``, sent with the next statement."""
        self._pg.guard([f"risk/history/{affiliate_id}"])
        with self._pg.deferred():
            super().put_history(affiliate_id, history)

    def standing(
        self,
        affiliate_id: str,
        stats_key: str,
        tallies: Sequence[str] = (),
        *,
        reads: Sequence[str] = (),
    ) -> Standing:
        """``RiskRepo.standing``, the affiliate's history locked first. The tallies read with
        it are the booking merchant's own (every key names the merchant), and a merchant's
        bookings already take turns on its chain's lock: they are not locked apart."""
        self._pg.guard([f"risk/history/{affiliate_id}"])
        return super().standing(affiliate_id, stats_key, tallies, reads=reads)

    def put_tallies(self, tallies: Mapping[str, Sequence[int]]) -> None:
        """``record_standing``'s tallies (the merchant's own), sent with the next statement."""
        with self._pg.deferred():
            super().put_tallies(tallies)

    def put_value_stats(self, stats: ValueStats) -> None:
        """``RiskRepo.put_value_stats``, sent with the next statement."""
        with self._pg.deferred():
            super().put_value_stats(stats)

    def recent_shapes(self, key: str, *, since_ms: int) -> list[tuple[str, int]]:
        """``RiskRepo.recent_shapes``, the shape locked first."""
        self._pg.guard([f"risk/shape/{key}"])
        return super().recent_shapes(key, since_ms=since_ms)

    def add_shape(self, key: str, total: str, at_ms: int, *, keep: int) -> None:
        """``RiskRepo.add_shape``, the shape locked first."""
        self._pg.guard([f"risk/shape/{key}"])
        super().add_shape(key, total, at_ms, keep=keep)

    def add_distinct(self, kind: str, key: str, member: str, *, keep: int) -> int:
        """``RiskRepo.add_distinct``, the set locked first."""
        self._pg.guard([f"risk/set/{kind}/{key}"])
        return super().add_distinct(kind, key, member, keep=keep)

    def tallies(self, keys: Sequence[str]) -> list[tuple[int, ...]]:
        """``RiskRepo.tallies``, each tally locked first."""
        self._pg.guard([f"risk/tally/{key}" for key in keys])
        return super().tallies(keys)

    def bump(self, key: str, deltas: Sequence[int]) -> tuple[int, ...]:
        """``RiskRepo.bump``, the tally locked first."""
        self._pg.guard([f"risk/tally/{key}"])
        return super().bump(key, deltas)


class PostgresPeriods(SqlitePeriods):
    """Period totals on PostgreSQL: some are an affiliate's across merchants (membership
    levels), so a unit of work of one chain locks the totals it reads or writes first."""

    def __init__(self, db: PostgresDb) -> None:
        super().__init__(db)
        self._pg = db

    def get_many(self, keys: Sequence[str]) -> dict[str, PeriodTotals]:
        """``PeriodRepo.get_many``, the keys locked first."""
        self._pg.guard([f"period/{key}" for key in keys])
        return super().get_many(keys)

    def put(self, totals: Sequence[PeriodTotals]) -> None:
        """``PeriodRepo.put``; in a unit of work of one chain, only totals it read (and so
        locked) before its journal entry drew its seq: one locked later could have been
        written by another chain's entry with a higher seq meanwhile."""
        unread = self._pg.unclaimed([f"period/{t.key}" for t in totals])
        if unread:
            raise StorageError(
                f"period totals {unread[0]!r} written by a unit of work of one journal chain "
                "that did not read them first"
            )
        super().put(totals)


class PostgresUnitOfWork(SqliteUnitOfWork):
    """The SQL repositories on PostgreSQL, with its own clicks and outbox; each call runs in
    the calling thread's unit of work."""

    def __init__(self, db: PostgresDb) -> None:
        super().__init__(db, PostgresClicks(db))
        self.outbox = PostgresOutbox(db)
        self.journal = PostgresJournal(db)
        self.risk = PostgresRisk(db)
        self.periods = PostgresPeriods(db)


class PostgresStore:
    """The PostgreSQL backend of ``affiliate_sdk.storage.contract.Store``."""

    scheme: str = "postgresql"

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = DEFAULT_POOL_SIZE,
        lock_timeout: timedelta = DEFAULT_LOCK_TIMEOUT,
        upgrade: bool = True,
        chains: int | None = None,
    ) -> None:
        try:
            import psycopg
            import psycopg_pool  # noqa: F401  (the extra's other half)
        except ImportError as exc:  # the optional extra is not installed
            raise UnsupportedStore(redacted(conninfo), "it with the postgres extra") from exc
        self.schema = check_schema_name(schema)
        if pool_size < 1:
            raise StorageError(f"pool_size must be at least 1, not {pool_size}")
        self.url = redacted(conninfo)
        self._conninfo = conninfo
        self._pool_size = pool_size
        self._lock_ms = max(int(lock_timeout.total_seconds() * 1000), 1)
        self._errors: type[Exception] = psycopg.Error
        self._chains = self._prepare(upgrade=upgrade, chains=chains)
        self._db = PostgresDb(
            self._open_pool,
            conninfo=conninfo,
            write_lock=lock_key(schema, "write"),
            chain_locks=[lock_key(schema, f"chain/{c}") for c in range(self._chains)],
            errors=psycopg.Error,
        )
        self._db.pool()  # connect now: a wrong URL fails here, not at the first click
        self._uow = PostgresUnitOfWork(self._db)
        self._counters: PostgresCounters | None = None  # opened when first asked for
        self._counters_lock = threading.Lock()
        self._closed = False
        this = weakref.ref(self)

        def after_fork_in_child() -> None:
            store = this()
            if store is not None:
                store._start_fresh()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _prepare(self, *, upgrade: bool, chains: int | None) -> int:
        """Migrate the schema (``upgrade``) or check that it is at this SDK's version; the
        journal's number of chains (``chains`` sets it for a schema this call makes)."""
        import psycopg

        try:
            with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10) as conn:
                if upgrade:
                    upgrade_schema(conn, self.schema, chains=chains)
                found = version_of(conn, self.schema)
                if found == SCHEMA_VERSION:
                    return journal_chains(conn, self.schema, chains)
        except self._errors as exc:
            raise StorageError(
                f"cannot open PostgreSQL store {self.url}: {scrubbed(str(exc), self._conninfo)}"
            ) from exc
        raise StorageError(
            f"schema {self.schema} of {self.url} is at version {found}, this SDK reads "
            f"{SCHEMA_VERSION}: run 'affiliate-sdk db upgrade --url ...' first"
        )

    def _open_pool(self) -> Any:
        settings = f"SET search_path TO {self.schema}; SET lock_timeout = {self._lock_ms}"

        def configure(conn: Any) -> None:
            conn.execute(settings)

        return open_pool(
            self._conninfo,
            max_size=self._pool_size,
            autocommit=True,
            doing="open PostgreSQL store",
            configure=configure,
            name=f"affiliate-sdk {self.schema}",
        )

    def _start_fresh(self) -> None:
        """In a forked child: pools of its own at first use (an error then reaches the
        caller); the parent's are kept, unused."""
        if self._closed:
            return
        self._db.forget()
        self._counters_lock = threading.Lock()
        if self._counters is not None:
            self._counters.reopen()

    @property
    def schema_version(self) -> int:
        """The schema's migration version."""
        with self._db.pool().connection() as conn:
            return version_of(conn, self.schema)

    @property
    def counters(self) -> PostgresCounters:
        """Velocity counts, in the same schema."""
        counters = self._counters
        if counters is None:
            with self._counters_lock:
                self._check_open()
                counters = self._counters
                if counters is None:
                    counters = PostgresCounters(self._conninfo, schema=self.schema, create=False)
                    self._counters = counters
        return counters

    @property
    def chains(self) -> int:
        """How many chains the journal is split into (kept in the schema)."""
        return self._chains

    @contextmanager
    def transaction(self, *, chain: int | None = None) -> Iterator[PostgresUnitOfWork]:
        """A unit of work: atomic and isolated; nested calls join the outer one.

        A writer holds the schema's write lock from its first statement to its end; with
        ``chain``, it holds that lock shared and its chain's lock instead, so units of work
        of different chains run at once (each locks the shared rows it reads first).
        """
        session = self._db.session
        if session.depth:
            if chain is not None and session.chain is not None and chain != session.chain:
                raise StorageError(
                    f"a unit of work of journal chain {chain} cannot join one of chain "
                    f"{session.chain}"
                )
            with session.joined(self._uow, writing=True) as joined:
                yield joined
            return
        self._check_open()
        if chain is not None and not 0 <= chain < self._chains:
            raise StorageError(f"the journal has chains 0 to {self._chains - 1}, not {chain}")
        session.depth, session.chain = 1, chain
        try:
            yield self._uow
        except BaseException:
            self._db.end(session, commit=False)
            raise
        self._db.end(session, commit=True)

    @contextmanager
    def reader(self) -> Iterator[PostgresUnitOfWork]:
        """A read-only unit of work over one snapshot (inside a transaction: its view)."""
        session: PostgresSession = self._db.session
        if session.depth:
            with session.joined(self._uow, writing=False) as joined:
                yield joined
            return
        self._check_open()
        session.depth, session.writable = 1, False
        try:
            yield self._uow
        finally:
            self._db.end(session, commit=False)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the store at {self.url} is closed")

    def close(self) -> None:
        """Close the pools. Idempotent."""
        self._closed = True
        self._db.close()
        with self._counters_lock:
            if self._counters is not None:
                self._counters.close()
