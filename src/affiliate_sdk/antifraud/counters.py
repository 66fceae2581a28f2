"""Sliding-window event counts per key, in bounded memory, for one process.

The ``Alliance`` counts velocities with these on a ``memory://`` store (which
lives in one process anyway) and with ``SharedCounts`` on stores that
processes share. Pure: the caller passes the time. A window is cut into equal buckets; a key
keeps one count per bucket, so adding an event and reading the window's total
are O(buckets) and a key's memory is fixed. At most ``max_keys`` keys are
kept; past that, the key counted least recently is forgotten first, so busy
keys (an affiliate, a network) outlive a stream of one-off visitors.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol

__all__ = ["Counts", "SlidingCounts"]


class Counts(Protocol):
    """What the click and order paths need of a velocity window."""

    def add(self, key: str, now_ms: int, count: int = 1) -> int: ...

    def total(self, key: str, now_ms: int) -> int: ...

    def flush(self, now_ms: int) -> None: ...


class SlidingCounts:
    """Events per key over the last ``window_ms`` (to a bucket's width)."""

    __slots__ = ("_buckets", "_keys", "_lock", "_max_keys", "_width")

    def __init__(self, window_ms: int, *, buckets: int = 6, max_keys: int = 200_000) -> None:
        if window_ms <= 0 or buckets <= 0 or window_ms % buckets:
            raise ValueError("the window must be a positive multiple of the bucket count")
        self._width = window_ms // buckets
        self._buckets = buckets
        self._max_keys = max_keys
        # key -> [last bucket index, count per bucket...]; ordered so the oldest leaves in O(1)
        self._keys: OrderedDict[str, list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, now_ms: int, count: int = 1) -> int:
        """Count ``count`` events for ``key`` at ``now_ms``; the window's total after them."""
        index = now_ms // self._width
        size = self._buckets
        with self._lock:
            slots = self._keys.get(key)
            if slots is None:
                if len(self._keys) >= self._max_keys:
                    self._keys.popitem(last=False)
                slots = self._keys[key] = [index] + [0] * size
            else:
                self._keys.move_to_end(key)
                last = slots[0]
                if index - last >= size:
                    slots[1:] = [0] * size
                elif index > last:
                    for step in range(last + 1, index + 1):
                        slots[1 + step % size] = 0
                if index > last:
                    slots[0] = index
            if index >= slots[0] - size + 1:  # late events older than the window are ignored
                slots[1 + index % size] += count
            return sum(slots[1:])

    def total(self, key: str, now_ms: int) -> int:
        """The window's total for ``key`` at ``now_ms`` without counting anything."""
        if key not in self._keys:
            return 0
        return self.add(key, now_ms, 0)

    def flush(self, now_ms: int) -> None:
        """Nothing to write: the counts live in this process only."""

    def __len__(self) -> int:
        return len(self._keys)
