"""The outbox: events in seq order, an event-id index, and the highest seq ever given."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.storage.rows import OutboxRow

from ._undo import UndoLog

__all__ = ["MemoryOutbox"]


class MemoryOutbox:
    """``OutboxRepo`` over a list in seq order; seqs are never reused, even after a prune.

    ``first_since`` bisects on ``created_at_ms``: events are added in time order.
    """

    __slots__ = ("_by_id", "_last_seq", "_log", "_rows")

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._rows: list[OutboxRow] = []
        self._by_id: dict[str, OutboxRow] = {}
        self._last_seq = 0

    def add(self, rows: Sequence[OutboxRow]) -> None:
        """Append events, giving each the next ``seq`` (``DuplicateEntry`` when an event id
        exists)."""
        seen: set[str] = set()
        for row in rows:
            if row.event_id in self._by_id or row.event_id in seen:
                raise DuplicateEntry("outbox event", row.event_id)
            seen.add(row.event_id)
        count, last = len(self._rows), self._last_seq
        for seq, row in enumerate(rows, last + 1):
            stored = row._replace(seq=seq)
            self._rows.append(stored)
            self._by_id[row.event_id] = stored
        self._last_seq = last + len(rows)
        if self._log.active and rows:
            self._log.record(lambda: self._unadd(count, last))

    def _unadd(self, count: int, last: int) -> None:
        for row in self._rows[count:]:
            del self._by_id[row.event_id]
        del self._rows[count:]
        self._last_seq = last

    def after(self, seq: int, *, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` events with a ``seq`` above ``seq``, in order."""
        if limit <= 0:
            return []
        start = bisect_right(self._rows, seq, key=_seq)
        return self._rows[start : start + limit]

    def get(self, event_id: str) -> OutboxRow | None:
        """The event with this id, if still kept."""
        return self._by_id.get(event_id)

    def first_since(self, created_at_ms: int) -> int | None:
        """The ``seq`` of the first event created at or after ``created_at_ms``, if any."""
        at = bisect_left(self._rows, created_at_ms, key=_created_at)
        return self._rows[at].seq if at < len(self._rows) else None

    def last_seq(self) -> int:
        """The ``seq`` of the newest event ever written (0 when there is none)."""
        return self._last_seq

    def prune(self, *, through_seq: int, before_ms: int) -> int:
        """Delete events with ``seq <= through_seq`` created before ``before_ms``; how many."""
        rows = self._rows
        end = bisect_right(rows, through_seq, key=_seq)
        if not end:
            return 0
        old = rows[:end]
        kept = [row for row in old if row.created_at_ms >= before_ms]
        gone = len(old) - len(kept)
        if not gone:
            return 0
        rows[:end] = kept
        for row in old:
            if row.created_at_ms < before_ms:
                del self._by_id[row.event_id]
        if self._log.active:
            self._log.record(lambda: self._unprune(len(kept), old))
        return gone

    def _unprune(self, kept: int, old: list[OutboxRow]) -> None:
        self._rows[:kept] = old
        for row in old:
            self._by_id[row.event_id] = row


def _seq(row: OutboxRow) -> int:
    return row.seq


def _created_at(row: OutboxRow) -> int:
    return row.created_at_ms
