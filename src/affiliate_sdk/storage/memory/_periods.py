"""Period totals by key and idempotency marks, each with a sorted key list: a prefix scan
(or a page of one) is a bisect and a walk."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from typing import TypeVar

from affiliate_sdk.storage.rows import Mark, PeriodTotals

from ._undo import UndoLog, set_item

__all__ = ["MemoryPeriods"]

_V = TypeVar("_V")


class MemoryPeriods:
    """``PeriodRepo`` over a dictionary of totals, their keys kept sorted, and marks."""

    __slots__ = ("_keys", "_log", "_mark_keys", "_marks", "_totals")

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._totals: dict[str, PeriodTotals] = {}
        self._keys: list[str] = []  # sorted: a prefix scan is a bisect and a walk
        self._marks: dict[str, Mark] = {}
        self._mark_keys: list[str] = []  # sorted, likewise

    def get_many(self, keys: Sequence[str]) -> dict[str, PeriodTotals]:
        """The totals kept under these keys (absent keys are left out)."""
        totals = self._totals
        return {key: totals[key] for key in keys if key in totals}

    def put(self, totals: Sequence[PeriodTotals]) -> None:
        """Insert or replace totals by key."""
        for row in totals:
            if row.key not in self._totals:
                self._add_key(self._keys, row.key)
            set_item(self._log, self._totals, row.key, row)

    def _add_key(self, keys: list[str], key: str) -> None:
        at = bisect_left(keys, key)
        keys.insert(at, key)
        if self._log.active:
            self._log.record(lambda: keys.pop(at))

    def scan(
        self, prefix: str, *, after: str | None = None, limit: int | None = None
    ) -> list[PeriodTotals]:
        """Totals whose key starts with ``prefix``, by key, after the key ``after``; no
        ``limit``: all of them."""
        return _prefixed(self._keys, self._totals, prefix, after, limit)

    def marks(
        self, prefix: str, *, after: str | None = None, limit: int | None = None
    ) -> list[Mark]:
        """Marks whose key starts with ``prefix``, by key, after the key ``after``; no
        ``limit``: all of them."""
        return _prefixed(self._mark_keys, self._marks, prefix, after, limit)

    def get_mark(self, key: str) -> Mark | None:
        """The mark under ``key``, if set."""
        return self._marks.get(key)

    def put_mark(self, mark: Mark, *, replace: bool = False) -> bool:
        """Set a mark; without ``replace`` an existing one is kept. Whether it was written."""
        if mark.key in self._marks:
            if not replace:
                return False
        else:
            self._add_key(self._mark_keys, mark.key)
        set_item(self._log, self._marks, mark.key, mark)
        return True


def _prefixed(
    keys: list[str], rows: Mapping[str, _V], prefix: str, after: str | None, limit: int | None
) -> list[_V]:
    """The rows under the sorted ``keys`` that start with ``prefix``, after ``after``, at
    most ``limit`` of them."""
    start = bisect_left(keys, prefix)
    if after is not None:
        start = max(start, bisect_right(keys, after))
    wanted = len(keys) if limit is None else limit
    found: list[_V] = []
    for at in range(start, len(keys)):
        key = keys[at]
        if len(found) >= wanted or not key.startswith(prefix):
            break
        found.append(rows[key])
    return found
