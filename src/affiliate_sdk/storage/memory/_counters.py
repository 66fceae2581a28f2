"""Time-bucketed counts for the velocity windows, seen by this process alone.

Outside transactions: a rollback does not take counts back (they are
observations, not bookings). Keys are kept sorted so a prune by namespace is a
bisect and a walk over the keys it touches.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["MemoryCounters"]


class MemoryCounters:
    """``CounterRepo`` over ``key -> bucket -> count`` dictionaries, under its own lock."""

    __slots__ = ("_counts", "_keys", "_lock", "_writers")

    #: Other processes do not see these counts.
    shared: bool = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[int, int]] = {}
        self._keys: list[str] = []  # sorted
        # namespace -> writer -> the latest bucket it added to
        self._writers: dict[str, dict[str, int]] = {}

    def exchange(
        self,
        namespace: str,
        writer: str,
        rows: Sequence[tuple[str, int, int]],
        keys: Sequence[str],
        *,
        since_bucket: int,
    ) -> list[tuple[int, int]] | None:
        """``CounterRepo.exchange``, under the lock."""
        with self._lock:
            counts = self._counts
            for key, bucket, count in rows:
                buckets = counts.get(key)
                if buckets is None:
                    buckets = counts[key] = {}
                    sorted_keys = self._keys
                    sorted_keys.insert(bisect_left(sorted_keys, key), key)
                buckets[bucket] = buckets.get(bucket, 0) + count
            writers = self._writers.setdefault(namespace, {})
            if rows:
                latest = max(bucket for _, bucket, _ in rows)
                writers[writer] = max(writers.get(writer, latest), latest)
            if not any(w != writer and b >= since_bucket for w, b in writers.items()):
                return None
            sums: list[tuple[int, int]] = []
            for key in keys:
                total = rest = 0
                for bucket, n in counts.get(key, {}).items():
                    if bucket >= since_bucket:
                        total += n
                        if bucket > since_bucket:
                            rest += n
                sums.append((total, rest))
            return sums

    def prune(self, namespace: str, *, before_bucket: int) -> None:
        """``CounterRepo.prune``, under the lock."""
        prefix = f"{namespace}/"
        with self._lock:
            writers = self._writers.get(namespace, {})
            for writer in [w for w, b in writers.items() if b < before_bucket]:
                del writers[writer]
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
