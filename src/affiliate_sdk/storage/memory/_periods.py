"""Period totals by key (with a sorted key list for prefix scans) and idempotency marks."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from affiliate_sdk.storage.rows import Mark, PeriodTotals

from ._undo import UndoLog, set_item

__all__ = ["MemoryPeriods"]


class MemoryPeriods:
    """``PeriodRepo`` over a dictionary of totals, their keys kept sorted, and marks."""

    __slots__ = ("_keys", "_log", "_marks", "_totals")

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._totals: dict[str, PeriodTotals] = {}
        self._keys: list[str] = []  # sorted: a prefix scan is a bisect and a walk
        self._marks: dict[str, Mark] = {}

    def get_many(self, keys: Sequence[str]) -> dict[str, PeriodTotals]:
        """The totals kept under these keys (absent keys are left out)."""
        totals = self._totals
        return {key: totals[key] for key in keys if key in totals}

    def put(self, totals: Sequence[PeriodTotals]) -> None:
        """Insert or replace totals by key."""
        for row in totals:
            if row.key not in self._totals:
                self._add_key(row.key)
            set_item(self._log, self._totals, row.key, row)

    def _add_key(self, key: str) -> None:
        keys = self._keys
        at = bisect_left(keys, key)
        keys.insert(at, key)
        if self._log.active:
            self._log.record(lambda: keys.pop(at))

    def scan(self, prefix: str) -> list[PeriodTotals]:
        """Every total whose key starts with ``prefix``, by key."""
        keys, totals = self._keys, self._totals
        found: list[PeriodTotals] = []
        for at in range(bisect_left(keys, prefix), len(keys)):
            key = keys[at]
            if not key.startswith(prefix):
                break
            found.append(totals[key])
        return found

    def get_mark(self, key: str) -> Mark | None:
        """The mark under ``key``, if set."""
        return self._marks.get(key)

    def put_mark(self, mark: Mark, *, replace: bool = False) -> bool:
        """Set a mark; without ``replace`` an existing one is kept. Whether it was written."""
        if not replace and mark.key in self._marks:
            return False
        set_item(self._log, self._marks, mark.key, mark)
        return True
