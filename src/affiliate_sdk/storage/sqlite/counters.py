"""``CounterRepo`` on SQLite: time-bucketed velocity counts, outside transactions.

Counts are observations: they are written outside units of work, so a
rolled-back one does not un-see them. With background click writes they are
written on the click writer's thread, in its next batch's transaction (see
``ClickWriter.call``), so this process's background writes never wait on each
other for the lock; otherwise on a connection of their own. What is written
while this thread's unit of work holds the write lock waits until that ends
(committed or not), so the connections never wait on each other; this
thread's sums include the counts held back meanwhile.

``counter_writers`` keeps, per namespace, the latest bucket each writer added
to: an exchange whose namespace no other writer has added to within the
window reads nothing back (the sums would be the caller's own).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Final, TypeVar

from ._click_writer import ClickWriter
from ._connection import Connections
from ._dialect import BEGIN_WRITE, chunks, insert_rows, placeholders

__all__ = ["SqliteCounters"]

_T = TypeVar("_T")

_ADD_ROWS: Final = (
    "INSERT INTO counters (key, bucket, count)",
    "ON CONFLICT (key, bucket) DO UPDATE SET count = counters.count + excluded.count",
)
_ADD: Final = f"{_ADD_ROWS[0]} VALUES (?, ?, ?) {_ADD_ROWS[1]}"
_WROTE: Final = (
    "INSERT INTO counter_writers (namespace, writer, bucket) VALUES (?, ?, ?) "
    "ON CONFLICT (namespace, writer) DO UPDATE SET bucket = max(bucket, excluded.bucket)"
)
_OTHERS: Final = (
    "SELECT 1 FROM counter_writers WHERE namespace = ? AND writer != ? AND bucket >= ? LIMIT 1"
)

Ops = list[tuple[str, list[Sequence[object]]]]


class SqliteCounters:
    """Velocity counts shared by every process on this file."""

    #: Other processes on the same file see these counts.
    shared: bool = True

    def __init__(
        self, own: Connections, work: Connections, writer: Callable[[], ClickWriter | None]
    ) -> None:
        self.rebind(own, work, writer)

    def rebind(
        self, own: Connections, work: Connections, writer: Callable[[], ClickWriter | None]
    ) -> None:
        """Use these connections and this writer (a forked child's: the velocity windows keep
        this repository across the fork)."""
        self._own = own
        self._work = work
        self._writer = writer

    def exchange(
        self,
        namespace: str,
        writer: str,
        rows: Sequence[tuple[str, int, int]],
        keys: Sequence[str],
        *,
        since_bucket: int,
    ) -> list[tuple[int, int]] | None:
        """``CounterRepo.exchange``: the rows added in the transaction the sums are read in;
        a call that adds nothing reads without the write lock."""
        ops: Ops = []
        if rows:
            ops.append((_ADD, list(rows)))
            ops.append((_WROTE, [(namespace, writer, max(map(itemgetter(1), rows)))]))
        others = (namespace, writer, since_bucket)
        session = self._work.session()
        try:
            if ops and not (session.started and session.writable):
                found = self._apply(lambda conn: _exchange(conn, ops, others, keys))
            else:  # a read (no write lock needed), or this thread holds the write lock: the
                session.counter_ops.extend(ops)  # rows wait for its unit of work's end
                conn = self._own.current()
                found = _sums(conn, keys, since_bucket) if _others(conn, others) else None
                if found is not None:
                    for sql, held in session.counter_ops:
                        if sql == _ADD:
                            _add_held(found, held, since_bucket)
        except sqlite3.Error as exc:
            raise self._own.error(exc, "cannot exchange counters") from exc
        return None if found is None else [found[key] for key in keys]

    def prune(self, namespace: str, *, before_bucket: int) -> None:
        """``CounterRepo.prune`` (held back like the rows while this thread's unit of work
        has the write lock)."""
        ops: Ops = [
            (  # the keys from "namespace/" up to "namespace0", the next character after "/"
                "DELETE FROM counters WHERE key >= ? AND key < ? AND bucket < ?",
                [(f"{namespace}/", f"{namespace}0", before_bucket)],
            ),
            (
                "DELETE FROM counter_writers WHERE namespace = ? AND bucket < ?",
                [(namespace, before_bucket)],
            ),
        ]
        session = self._work.session()
        if session.started and session.writable:
            session.counter_ops.extend(ops)
        else:
            self.flush(ops)

    def flush(self, ops: Sequence[tuple[str, list[Sequence[object]]]]) -> None:
        """Write what was held back while a unit of work had the write lock."""
        if ops:
            try:
                self._apply(lambda conn: _write(conn, ops))
            except sqlite3.Error as exc:
                raise self._own.error(exc, "cannot write counters") from exc

    def _apply(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work`` in a write transaction: the click writer's next one, if it runs, else
        one of this repository's connection."""
        writer = self._writer()
        if writer is not None:
            return writer.call(work)
        conn = self._own.current()
        conn.execute(BEGIN_WRITE)
        try:
            done = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return done


def _write(conn: sqlite3.Connection, ops: Sequence[tuple[str, list[Sequence[object]]]]) -> None:
    for sql, rows in ops:
        if sql == _ADD:
            insert_rows(conn, _ADD_ROWS[0], rows, _ADD_ROWS[1])
        else:
            conn.executemany(sql, rows)


def _others(conn: sqlite3.Connection, others: tuple[str, str, int]) -> bool:
    """Whether a writer other than the caller added to the namespace since the bucket."""
    return conn.execute(_OTHERS, others).fetchone() is not None


def _exchange(
    conn: sqlite3.Connection, ops: Ops, others: tuple[str, str, int], keys: Sequence[str]
) -> dict[str, tuple[int, int]] | None:
    _write(conn, ops)
    return _sums(conn, keys, others[2]) if _others(conn, others) else None


def _add_held(
    found: dict[str, tuple[int, int]], held: Sequence[Sequence[object]], since: int
) -> None:
    """Add counts held back (not yet written) to the sums ``found`` of their keys."""
    for row in held:
        key, bucket, count = str(row[0]), int(str(row[1])), int(str(row[2]))
        if key in found and bucket >= since:
            total, rest = found[key]
            found[key] = (total + count, rest + (count if bucket > since else 0))


def _sums(conn: sqlite3.Connection, keys: Sequence[str], since: int) -> dict[str, tuple[int, int]]:
    """Per distinct key, the sums of its buckets from ``since`` and from ``since + 1``."""
    found = dict.fromkeys(keys, (0, 0))
    for chunk in chunks(list(found)):
        rows = conn.execute(
            "SELECT key, sum(count), sum(CASE WHEN bucket > ? THEN count ELSE 0 END) "
            f"FROM counters WHERE key IN ({placeholders(len(chunk))}) AND bucket >= ? "
            "GROUP BY key",
            [since, *chunk, since],
        ).fetchall()
        found.update((str(key), (int(total), int(rest))) for key, total, rest in rows)
    return found
