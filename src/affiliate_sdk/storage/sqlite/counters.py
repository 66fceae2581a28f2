"""``CounterRepo`` on SQLite: time-bucketed velocity counts, outside transactions.

Counts are observations: they are written on a connection of their own, so a
rolled-back unit of work does not un-see them. What is written while this
thread's unit of work holds the write lock waits until that ends (committed
or not), so the two connections never wait on each other; this thread's sums
include the counts held back meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

from ._connection import Connections
from ._dialect import BEGIN_WRITE, chunks, placeholders, prefix_bounds

__all__ = ["SqliteCounters"]

_ADD: Final = (
    "INSERT INTO counters (key, bucket, count) VALUES (?, ?, ?) "
    "ON CONFLICT (key, bucket) DO UPDATE SET count = counters.count + excluded.count"
)


class SqliteCounters:
    """Velocity counts shared by every process on this file."""

    #: Other processes on the same file see these counts.
    shared: bool = True

    def __init__(self, own: Connections, work: Connections) -> None:
        self._own = own
        self._work = work

    def add(self, rows: Sequence[tuple[str, int, int]]) -> None:
        """Add each ``(key, bucket, count)``'s count to that bucket of that key, atomically."""
        if rows:
            self._write(_ADD, list(rows))

    def sum(self, keys: Sequence[str], *, since_bucket: int) -> list[int]:
        """Per key, in order, the sum of its buckets numbered ``since_bucket`` or more."""
        found: dict[str, int] = {}
        conn = self._own.current()
        try:
            for chunk in chunks(list(dict.fromkeys(keys))):
                rows = conn.execute(
                    "SELECT key, sum(count) FROM counters "
                    f"WHERE key IN ({placeholders(len(chunk))}) AND bucket >= ? GROUP BY key",
                    [*chunk, since_bucket],
                ).fetchall()
                found.update((str(key), int(total)) for key, total in rows)
        except sqlite3.Error as exc:
            raise self._own.error(exc, "cannot read counters") from exc
        wanted = set(keys)
        for sql, held in self._work.session().counter_ops:
            for key, bucket, count in held if sql == _ADD else ():
                if key in wanted and int(str(bucket)) >= since_bucket:
                    found[str(key)] = found.get(str(key), 0) + int(str(count))
        return [found.get(key, 0) for key in keys]

    def prune(self, prefix: str, *, before_bucket: int) -> None:
        """Forget buckets numbered below ``before_bucket`` of keys starting with ``prefix``."""
        low, high = prefix_bounds(prefix)
        if high is None:
            self._write(
                "DELETE FROM counters WHERE key >= ? AND bucket < ?", [(low, before_bucket)]
            )
        else:
            self._write(
                "DELETE FROM counters WHERE key >= ? AND key < ? AND bucket < ?",
                [(low, high, before_bucket)],
            )

    def flush(self, ops: Sequence[tuple[str, list[Sequence[object]]]]) -> None:
        """Write what was held back while a unit of work had the write lock."""
        for sql, rows in ops:
            self._commit(sql, rows)

    def _write(self, sql: str, rows: list[Sequence[object]]) -> None:
        session = self._work.session()
        if session.started and session.writable:
            session.counter_ops.append((sql, rows))
        else:
            self._commit(sql, rows)

    def _commit(self, sql: str, rows: list[Sequence[object]]) -> None:
        conn = self._own.current()
        try:
            conn.execute(BEGIN_WRITE)
            try:
                conn.executemany(sql, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._own.error(exc, "cannot write counters") from exc
