"""Sliding-window event counts shared by every process that uses one ``Store``.

The fraud engine's velocities (clicks per network, visitor and affiliate per
minute; per visitor and affiliate, and an affiliate's clicks and orders, per
day) must add up across app servers. Writing every click's counts to the
store would double the click path's cost, so each process counts in memory
and, at most every ``sync_ms`` of the caller's time, adds what it counted to
the store's buckets and reads back the shared totals of the keys it counted
since. A key's total is then the shared total at the last sync plus this
process's events since, so other processes' events show within ``sync_ms``.

Buckets are numbered by absolute time (``now_ms // width``), so processes
agree on them without talking; old buckets are pruned now and then. A key
idle for longer than a bucket's width counts from zero again until the next
sync refreshes it. Memory is bounded: at most ``max_keys`` shared totals are
kept, the least recently counted forgotten first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from affiliate_sdk.storage import Store

__all__ = ["DEFAULT_SYNC_MS", "SharedCounts"]

#: How often (of the caller's time) a process exchanges its counts with the store.
DEFAULT_SYNC_MS: Final = 1_000


class SharedCounts:
    """Events per key over the last ``window_ms``, counted by every process on ``store``."""

    __slots__ = (
        "_base",
        "_buckets",
        "_fresh",
        "_lock",
        "_max_keys",
        "_pending",
        "_prefix",
        "_pruned_ms",
        "_store",
        "_sync_ms",
        "_synced_ms",
        "_width",
    )

    def __init__(
        self,
        store: Store,
        namespace: str,
        window_ms: int,
        *,
        buckets: int = 6,
        max_keys: int = 100_000,
        sync_ms: int = DEFAULT_SYNC_MS,
    ) -> None:
        if window_ms <= 0 or buckets <= 0 or window_ms % buckets:
            raise ValueError("the window must be a positive multiple of the bucket count")
        if sync_ms <= 0 or max_keys <= 0:
            raise ValueError("sync_ms and max_keys must be positive")
        self._store = store
        self._prefix = f"{namespace}/"
        self._width = window_ms // buckets
        self._buckets = buckets
        self._max_keys = max_keys
        self._sync_ms = sync_ms
        self._synced_ms: int | None = None
        self._pruned_ms = 0
        self._pending: dict[tuple[str, int], int] = {}  # (key, bucket) -> not yet in the store
        self._fresh: dict[str, int] = {}  # key -> this process's events since the last sync
        self._base: OrderedDict[str, tuple[int, int]] = OrderedDict()  # key -> (total, synced at)
        self._lock = threading.Lock()

    def add(self, key: str, now_ms: int, count: int = 1) -> int:
        """Count ``count`` events for ``key`` at ``now_ms``; the window's total after them."""
        # Inlined: this runs several times on every click.
        with self._lock:
            synced = self._synced_ms
            if synced is None or now_ms - synced >= self._sync_ms:
                self._sync(now_ms)
            slot = (key, now_ms // self._width)
            pending = self._pending
            pending[slot] = pending.get(slot, 0) + count
            fresh = self._fresh
            total = fresh[key] = fresh.get(key, 0) + count
            base = self._base.get(key)
            if base is not None and now_ms - base[1] < self._width:
                total += base[0]
            return total

    def total(self, key: str, now_ms: int) -> int:
        """The window's total for ``key`` at ``now_ms``, read from the store if not known."""
        with self._lock:
            self._catch_up(now_ms)
            base = self._base.get(key)
            if base is None or now_ms - base[1] >= self._width:
                (found,) = self._store.sum_counts(
                    [self._prefix + key], since_bucket=self._first_bucket(now_ms)
                )
                self._remember(key, found, now_ms)
            return self._shared(key, now_ms) + self._fresh.get(key, 0)

    def flush(self, now_ms: int) -> None:
        """Write this process's unsaved counts to the store (say, before it stops)."""
        with self._lock:
            self._sync(now_ms)

    def __len__(self) -> int:
        """The number of keys whose shared total is kept."""
        return len(self._base)

    def _shared(self, key: str, now_ms: int) -> int:
        base = self._base.get(key)
        if base is None or now_ms - base[1] >= self._width:
            return 0
        return base[0]

    def _first_bucket(self, now_ms: int) -> int:
        return now_ms // self._width - self._buckets + 1

    def _remember(self, key: str, total: int, now_ms: int) -> None:
        base = self._base
        base[key] = (total, now_ms)
        base.move_to_end(key)
        if len(base) > self._max_keys:
            base.popitem(last=False)

    def _catch_up(self, now_ms: int) -> None:
        synced = self._synced_ms
        if synced is None or now_ms - synced >= self._sync_ms:
            self._sync(now_ms)

    def _sync(self, now_ms: int) -> None:
        """Add the pending counts to the store and read back the totals of the keys counted."""
        self._synced_ms = now_ms
        if not self._pending:
            return
        prefix = self._prefix
        store = self._store
        keys = list(self._fresh)
        with store.transaction():
            store.add_counts([(prefix + key, b, n) for (key, b), n in self._pending.items()])
            found = store.sum_counts(
                [prefix + key for key in keys], since_bucket=self._first_bucket(now_ms)
            )
            if now_ms - self._pruned_ms >= self._width:  # old buckets go once a bucket
                self._pruned_ms = now_ms
                store.prune_counts(prefix, before_bucket=self._first_bucket(now_ms))
        base = self._base
        for key, total in zip(keys, found, strict=True):
            base[key] = (total, now_ms)
            base.move_to_end(key)
        for _ in range(len(base) - self._max_keys):
            base.popitem(last=False)
        self._pending.clear()
        self._fresh.clear()
