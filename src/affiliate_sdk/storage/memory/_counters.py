"""Time-bucketed counts for the velocity windows, seen by this process alone.

Outside transactions: a rollback does not take counts back (they are
observations, not bookings). Keys are kept sorted so a prune by prefix is a
bisect and a walk over the keys it touches.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["MemoryCounters"]


class MemoryCounters:
    """``CounterRepo`` over ``key -> bucket -> count`` dictionaries, under its own lock."""

    __slots__ = ("_counts", "_keys", "_lock")

    #: Other processes do not see these counts.
    shared: bool = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[int, int]] = {}
        self._keys: list[str] = []  # sorted

    def add(self, rows: Sequence[tuple[str, int, int]]) -> None:
        """Add each ``(key, bucket, count)``'s count to that bucket of that key, atomically."""
        with self._lock:
            counts = self._counts
            for key, bucket, count in rows:
                buckets = counts.get(key)
                if buckets is None:
                    buckets = counts[key] = {}
                    keys = self._keys
                    keys.insert(bisect_left(keys, key), key)
                buckets[bucket] = buckets.get(bucket, 0) + count

    def sum(self, keys: Sequence[str], *, since_bucket: int) -> list[int]:
        """Per key, in order, the sum of its buckets numbered ``since_bucket`` or more."""
        with self._lock:
            counts = self._counts
            sums: list[int] = []
            for key in keys:
                buckets = counts.get(key)
                if buckets:
                    sums.append(sum([n for b, n in buckets.items() if b >= since_bucket]))
                else:
                    sums.append(0)
            return sums

    def prune(self, prefix: str, *, before_bucket: int) -> None:
        """Forget buckets numbered below ``before_bucket`` of keys starting with ``prefix``."""
        with self._lock:
            counts, keys = self._counts, self._keys
            start = end = bisect_left(keys, prefix)
            emptied: list[int] = []
            while end < len(keys) and keys[end].startswith(prefix):
                buckets = counts[keys[end]]
                for bucket in [b for b in buckets if b < before_bucket]:
                    del buckets[bucket]
                if not buckets:
                    del counts[keys[end]]
                    emptied.append(end)
                end += 1
            if emptied:
                gone = set(emptied)
                keys[start:end] = [keys[i] for i in range(start, end) if i not in gone]
