"""The journal as one list per chain (place ``n`` at index ``n - 1``) and its checkpoints."""

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


class _Chain:
    __slots__ = ("at", "rows")

    def __init__(self) -> None:
        self.rows: list[JournalRow] = []
        self.at: list[int] = []  # at_ms of each entry, for bisect


class MemoryJournal:
    """``JournalRepo`` over a list of entries per chain, seq and event-id indexes and a list
    of checkpoints."""

    __slots__ = ("_chains", "_checkpoints", "_events", "_log", "_seqs", "_top")

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._chains: dict[int, _Chain] = {}
        self._seqs: dict[int, JournalRow] = {}
        self._events: dict[str, JournalRow] = {}
        self._checkpoints: list[Checkpoint] = []
        self._top = 0

    def head(self, chain: int = 0) -> JournalRow | None:
        """The chain's last entry, or None when it has none."""
        found = self._chains.get(chain)
        return found.rows[-1] if found is not None and found.rows else None

    def heads(self) -> dict[int, JournalRow]:
        """Every chain's last entry."""
        return {c: found.rows[-1] for c, found in sorted(self._chains.items()) if found.rows}

    def next_seq(self) -> int:
        """One past the highest seq (one writer at a time)."""
        return self._top + 1

    def append(self, rows: Sequence[JournalRow], *, previous: bytes | None = None) -> None:
        """Append entries continuing their chain: ``DuplicateEntry`` for a seq, place or
        event id already present, ``StorageError`` for a gap, rows of several chains or a
        head that is not ``previous``."""
        if not rows:
            return
        chain = rows[0].chain
        found = self._chains.get(chain)
        stored = found.rows if found is not None else []
        if previous is not None and (stored[-1].hash if stored else GENESIS_HASH) != previous:
            raise StorageError("the journal's head moved")
        _check_following(rows, chain, len(stored), self._seqs, self._events)
        if found is None:
            found = self._chains[chain] = _Chain()
        count, top = len(found.rows), self._top
        for row in rows:
            found.rows.append(row)
            found.at.append(row.at_ms)
            self._seqs[row.seq] = row
            self._events[row.event_id] = row
            self._top = max(self._top, row.seq)
        if self._log.active:
            self._log.record(lambda: self._truncate(chain, count, top))

    def _truncate(self, chain: int, count: int, top: int) -> None:
        found = self._chains[chain]
        for row in found.rows[count:]:
            del self._events[row.event_id]
            del self._seqs[row.seq]
        del found.rows[count:]
        del found.at[count:]
        self._top = top

    def get_many(self, seqs: Sequence[int]) -> dict[int, JournalRow]:
        """The entries with these seqs that exist."""
        found = self._seqs
        return {seq: found[seq] for seq in seqs if seq in found}

    def by_event(self, event_id: str) -> JournalRow | None:
        """The entry with this event id, if any."""
        return self._events.get(event_id)

    def scan(
        self, *, chain: int = 0, after: int = 0, until: int | None = None
    ) -> Iterator[JournalRow]:
        """The chain's entries with ``after < pos <= until``, in order, read in batches."""
        found = self._chains.get(chain)
        rows = found.rows if found is not None else []
        start = max(after, 0)
        while True:
            stop = len(rows) if until is None else min(until, len(rows))
            if start >= stop:
                return
            batch = rows[start : min(start + SCAN_BATCH, stop)]
            yield from batch
            start += len(batch)

    def first_at(self, at_ms: int, *, chain: int = 0) -> int | None:
        """The place of the chain's first entry at or after ``at_ms``, if any."""
        found = self._chains.get(chain)
        if found is None:
            return None
        at = bisect_left(found.at, at_ms)
        return at + 1 if at < len(found.at) else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint."""
        self._checkpoints.append(checkpoint)
        if self._log.active:
            self._log.record(self._checkpoints.pop)

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first."""
        return list(self._checkpoints)


def _check_following(
    rows: Sequence[JournalRow],
    chain: int,
    stored: int,
    seqs: dict[int, JournalRow],
    events: dict[str, JournalRow],
) -> None:
    """Whether ``rows`` continue a chain of ``stored`` entries with new seqs and event ids."""
    expected = stored + 1
    seen: set[str] = set()
    taken: set[int] = set()
    for row in rows:
        if row.chain != chain:
            raise StorageError("journal entries appended together must be of one chain")
        if row.pos < expected:
            raise DuplicateEntry("journal entry", f"{chain}/{row.pos}")
        if row.pos > expected:
            raise StorageError(f"journal entry {row.pos} does not follow {expected - 1}")
        if row.seq < 1:
            raise StorageError(f"journal seqs start at 1, not {row.seq}")
        if row.seq in seqs or row.seq in taken:
            raise DuplicateEntry("journal entry", str(row.seq))
        if row.event_id in events or row.event_id in seen:
            raise DuplicateEntry("journal event", row.event_id)
        seen.add(row.event_id)
        taken.add(row.seq)
        expected += 1
