"""The journal as a list in seq order (seq ``n`` at index ``n - 1``) and its checkpoints."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Final

from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.journal import GENESIS_HASH
from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage.rows import JournalRow

from ._undo import UndoLog

__all__ = ["MemoryJournal"]

#: How many entries ``scan`` reads at a time.
SCAN_BATCH: Final = 1000


class MemoryJournal:
    """``JournalRepo`` over a list of entries, an event-id index and a list of checkpoints."""

    __slots__ = ("_at", "_checkpoints", "_events", "_log", "_rows")

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._rows: list[JournalRow] = []
        self._at: list[int] = []  # at_ms of each entry, for bisect
        self._events: dict[str, JournalRow] = {}
        self._checkpoints: list[Checkpoint] = []

    def head(self) -> JournalRow | None:
        """The last entry, or None when the journal is empty."""
        return self._rows[-1] if self._rows else None

    def append(self, rows: Sequence[JournalRow], *, previous: bytes | None = None) -> None:
        """Append entries continuing the chain: ``DuplicateEntry`` for a seq or event id
        already present, ``StorageError`` for a seq that leaves a gap or a head that is
        not ``previous``."""
        if previous is not None:
            head = self._rows[-1].hash if self._rows else GENESIS_HASH
            if head != previous:
                raise StorageError("the journal's head moved")
        expected = len(self._rows) + 1
        seen: set[str] = set()
        for row in rows:
            if row.seq < expected:
                raise DuplicateEntry("journal entry", str(row.seq))
            if row.seq > expected:
                raise StorageError(f"journal entry {row.seq} does not follow {expected - 1}")
            if row.event_id in self._events or row.event_id in seen:
                raise DuplicateEntry("journal event", row.event_id)
            seen.add(row.event_id)
            expected += 1
        count = len(self._rows)
        for row in rows:
            self._rows.append(row)
            self._at.append(row.at_ms)
            self._events[row.event_id] = row
        if self._log.active and rows:
            self._log.record(lambda: self._truncate(count))

    def _truncate(self, count: int) -> None:
        for row in self._rows[count:]:
            del self._events[row.event_id]
        del self._rows[count:]
        del self._at[count:]

    def get_many(self, seqs: Sequence[int]) -> dict[int, JournalRow]:
        """The entries at these sequence numbers that exist."""
        rows = self._rows
        count = len(rows)
        return {seq: rows[seq - 1] for seq in seqs if 0 < seq <= count}

    def by_event(self, event_id: str) -> JournalRow | None:
        """The entry with this event id, if any."""
        return self._events.get(event_id)

    def scan(self, *, after_seq: int = 0, until_seq: int | None = None) -> Iterator[JournalRow]:
        """Entries with ``after_seq < seq <= until_seq``, in order, read in batches."""
        start = max(after_seq, 0)
        while True:
            stop = len(self._rows) if until_seq is None else min(until_seq, len(self._rows))
            if start >= stop:
                return
            batch = self._rows[start : min(start + SCAN_BATCH, stop)]
            yield from batch
            start += len(batch)

    def first_at(self, at_ms: int) -> int | None:
        """The seq of the first entry at or after ``at_ms``, if any."""
        at = bisect_left(self._at, at_ms)
        return at + 1 if at < len(self._at) else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint."""
        self._checkpoints.append(checkpoint)
        if self._log.active:
            self._log.record(self._checkpoints.pop)

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first."""
        return list(self._checkpoints)
