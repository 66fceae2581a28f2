"""Velocity windows counted on the Redis server itself: exact across processes, at once.

Each counted key is a hash of ``bucket -> count`` (``{prefix}v:{namespace}/{key}``), kept
for a window and a bucket after its last count. One Lua script counts every key of a call
(a click's five, in both windows): for each it adds the event, drops the buckets that left
the window and sums the rest, atomic on the server, in one round trip. The script is loaded
once and called by its digest (``EVALSHA``), loaded again if the server has forgotten it.

While the server cannot be reached, each window counts in this process alone (a
``LocalCounts``) and says so once in the log; clicks go on, judged on this process's counts,
and the server is asked again every ``RETRY_S`` seconds, not at every click. Velocity is a
signal, not a booking: it fails open.
Its keys may lie in different slots, so on a Redis Cluster the counters need a single
node (or a proxy that keeps them on one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Final

from affiliate_sdk.antifraud.velocity import LocalCounts

__all__ = ["RETRY_S", "RedisWindow", "count_on_server"]

#: While the server is unreachable, how long the windows count here before asking it again.
RETRY_S: Final = 1.0

_LOG: Final = logging.getLogger("affiliate_sdk.storage.redis")

_COUNT: Final = """
local totals = {}
for i = 1, #KEYS do
  local at = 4 * (i - 1)
  local key, bucket = KEYS[i], ARGV[at + 1]
  local count, first = tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  if count ~= 0 then redis.call('HINCRBY', key, bucket, count) end
  local total = 0
  local fields = redis.call('HGETALL', key)
  for j = 1, #fields, 2 do
    if tonumber(fields[j]) >= first then
      total = total + tonumber(fields[j + 1])
    else
      redis.call('HDEL', key, fields[j])
    end
  end
  if count ~= 0 then redis.call('PEXPIRE', key, ARGV[at + 4]) end
  totals[i] = total
end
return totals
"""


class RedisWindow:
    """Events per key over the last ``window_ms`` (to a bucket's width), on the server."""

    __slots__ = (
        "_buckets",
        "_client",
        "_errors",
        "_failing",
        "_local",
        "_name",
        "_retry_at",
        "_script",
        "_ttl_ms",
        "_url",
        "_width",
    )

    def __init__(
        self, client: Any, *, url: str, prefix: str, namespace: str, window_ms: int, buckets: int
    ) -> None:
        import redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._client = client
        self._script = client.register_script(_COUNT)
        self._url = url
        self._name = f"{prefix}v:{namespace}/"
        self._width = window_ms // buckets
        self._buckets = buckets
        self._ttl_ms = window_ms + self._width
        self._local = LocalCounts(window_ms, buckets=buckets)  # while the server is away
        self._failing = False
        self._retry_at = 0.0  # monotonic time from which the server is asked again

    def add(self, key: str, now_ms: int, count: int = 1) -> int:
        """Count ``count`` events for ``key`` at ``now_ms``; the window's total after them
        (every process's)."""
        (total,) = count_on_server([(self, key, count)], now_ms)
        return total

    def total(self, key: str, now_ms: int) -> int:
        """The window's total for ``key`` at ``now_ms``, counting nothing."""
        return self.add(key, now_ms, 0)

    def flush(self, now_ms: int) -> None:
        """Nothing to write: every count is on the server already."""

    def _args(self, key: str, count: int, now_ms: int, names: list[str], args: list[int]) -> None:
        index = now_ms // self._width
        names.append(self._name + key)
        args += (index, count, index - self._buckets + 1, self._ttl_ms)


def count_on_server(items: Sequence[tuple[RedisWindow, str, int]], now_ms: int) -> list[int]:
    """Count each ``(window, key, count)`` at ``now_ms`` in one round trip (the windows on one
    server); each key's total after its count, in order."""
    if not items:
        return []
    names: list[str] = []
    args: list[int] = []
    for window, key, count in items:
        window._args(key, count, now_ms, names, args)
    first = items[0][0]
    if first._failing and time.monotonic() < first._retry_at:
        return [window._local.add(key, now_ms, count) for window, key, count in items]
    try:
        totals = [int(total) for total in first._script(keys=names, args=args)]
    except first._errors as exc:
        if not first._failing:
            _LOG.warning("cannot count on %s (%s); counting in this process", first._url, exc)
        retry_at = time.monotonic() + RETRY_S
        for window, _, _ in items:
            window._failing, window._retry_at = True, retry_at
        return [window._local.add(key, now_ms, count) for window, key, count in items]
    if first._failing:
        _LOG.info("counting on %s again", first._url)
        for window, _, _ in items:
            window._failing = False
    return totals
