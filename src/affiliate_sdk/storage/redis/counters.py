"""``CounterRepo`` on Redis: the velocity windows' buckets, shared by every process at once.

Per namespace (a hash tag, so one namespace lives in one slot of a cluster):

* ``{prefix}{namespace}:c:{key}`` — a hash of ``bucket -> count`` per counted key;
* ``{prefix}{namespace}:i`` — a sorted set of every ``(bucket, key)`` counted, by bucket,
  which ``prune`` walks from the oldest to drop what has left the windows (a hash left
  empty is gone with its last field);
* ``{prefix}{namespace}:w`` — a hash of ``writer -> latest bucket`` added to.

``exchange`` is one Lua script, atomic on the server: it adds the rows and sums the asked
keys in one round trip. ``prune``'s script finds the hashes by the names the index holds
(all of a namespace's keys share its hash tag, so they live in one slot of a cluster).
Counts are observations outside every unit of work of the store they are composed with (a
rollback there does not take them back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from affiliate_sdk.errors import StorageError, UnsupportedStore
from affiliate_sdk.storage._urls import redacted

from .changes import RedisChanges
from .clicks import RedisClickClaims
from .leases import RedisLeases
from .windows import RedisWindow, count_on_server

__all__ = ["PRUNE_STEP", "TIMEOUT_S", "RedisCounters"]

#: Seconds a call waits for the server (to connect, or for an answer) unless the URL says.
TIMEOUT_S: Final = 0.5
#: Buckets a single prune call drops at most (a script blocks the server while it runs).
PRUNE_STEP: Final = 1_000

_EXCHANGE: Final = """
local writer, since, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local latest = nil
for i = 1, n do
  local key, bucket = KEYS[2 + i], ARGV[2 + 2 * i]
  local b = tonumber(bucket)
  redis.call('HINCRBY', key, bucket, ARGV[3 + 2 * i])
  redis.call('ZADD', KEYS[2], b, bucket .. ' ' .. key)
  if latest == nil or b > latest then latest = b end
end
if latest ~= nil then
  local before = tonumber(redis.call('HGET', KEYS[1], writer) or latest)
  redis.call('HSET', KEYS[1], writer, math.max(before, latest))
end
local others = false
local writers = redis.call('HGETALL', KEYS[1])
for j = 1, #writers, 2 do
  if writers[j] ~= writer and tonumber(writers[j + 1]) >= since then others = true end
end
if not others then return false end
local sums = {}
for i = 3 + n, #KEYS do
  local total, rest = 0, 0
  local fields = redis.call('HGETALL', KEYS[i])
  for j = 1, #fields, 2 do
    local b, count = tonumber(fields[j]), tonumber(fields[j + 1])
    if b >= since then
      total = total + count
      if b > since then rest = rest + count end
    end
  end
  sums[#sums + 1] = total
  sums[#sums + 1] = rest
end
return sums
"""

_PRUNE: Final = """
local before, step = tonumber(ARGV[1]), tonumber(ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. before, 'LIMIT', 0, step)
for _, member in ipairs(old) do
  local space = string.find(member, ' ', 1, true)
  redis.call('HDEL', string.sub(member, space + 1), string.sub(member, 1, space - 1))
  redis.call('ZREM', KEYS[2], member)
end
local writers = redis.call('HGETALL', KEYS[1])
for j = 1, #writers, 2 do
  if tonumber(writers[j + 1]) < before then redis.call('HDEL', KEYS[1], writers[j]) end
end
return #old
"""


class RedisCounters:
    """Velocity counts on a Redis server, seen by every process on it as they are added."""

    #: Every process on the server sees these counts.
    shared: bool = True

    def __init__(self, url: str, *, prefix: str = "affiliate-sdk:") -> None:
        try:
            import redis
        except ImportError as exc:  # the optional extra is not installed
            raise UnsupportedStore(redacted(url), "it with the redis extra installed") from exc
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._prefix = prefix
        try:  # a slow server costs a click at most this much (the URL may say otherwise)
            self._client: Any = redis.Redis.from_url(
                url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
            )
        except ValueError as exc:
            raise UnsupportedStore(redacted(url), "'redis://host:6379/0'") from exc
        self._exchange = self._client.register_script(_EXCHANGE)
        self._prune = self._client.register_script(_PRUNE)
        #: The server's URL, its password left out (for messages).
        self.url = redacted(url)
        #: Visitors' first clicks per link, claimed on this server (``storage.redis.clicks``).
        self.click_claims = RedisClickClaims(
            self._client, prefix=prefix, url=self.url, errors=self._errors
        )
        #: Webhook dispatchers' leases (``storage.redis.leases``).
        self.leases = RedisLeases(self._client, prefix=prefix, url=self.url, errors=self._errors)
        #: Catalog and blacklist changes announced to every process (``storage.redis.changes``).
        self.changes = RedisChanges(
            self._client, url, prefix=prefix, redacted_url=self.url, errors=self._errors
        )

    def exchange(
        self,
        namespace: str,
        writer: str,
        rows: Sequence[tuple[str, int, int]],
        keys: Sequence[str],
        *,
        since_bucket: int,
    ) -> list[tuple[int, int]] | None:
        """``CounterRepo.exchange``: one script, atomic on the server."""
        base = self._base(namespace)
        names = [f"{base}:w", f"{base}:i"]
        names += [f"{base}:c:{key}" for key, _, _ in rows]
        names += [f"{base}:c:{key}" for key in keys]
        args: list[str | int] = [writer, since_bucket, len(rows)]
        for _, bucket, count in rows:
            args += [bucket, count]
        try:
            found = self._exchange(keys=names, args=args)
        except self._errors as exc:
            raise StorageError(f"cannot exchange counters on {self.url}: {exc}") from exc
        if found is None:
            return None
        sums = [int(value) for value in found]
        return list(zip(sums[0::2], sums[1::2], strict=True))

    def prune(self, namespace: str, *, before_bucket: int) -> None:
        """``CounterRepo.prune``, ``PRUNE_STEP`` buckets a script call."""
        base = self._base(namespace)
        try:
            while self._prune(keys=[f"{base}:w", f"{base}:i"], args=[before_bucket, PRUNE_STEP]):
                pass
        except self._errors as exc:
            raise StorageError(f"cannot prune counters on {self.url}: {exc}") from exc

    def window(self, namespace: str, window_ms: int, *, buckets: int) -> RedisWindow:
        """A velocity window counted on this server, exact across processes (see
        ``storage.redis.windows``); its keys are ``namespace/key``."""
        return RedisWindow(
            self._client,
            url=self.url,
            prefix=self._prefix,
            namespace=namespace,
            window_ms=window_ms,
            buckets=buckets,
        )

    def count_many(self, items: Sequence[tuple[Any, str, int]], now_ms: int) -> list[int]:
        """Count each ``(window, key, count)`` of this server's windows in one round trip."""
        return count_on_server(items, now_ms)

    def close(self) -> None:
        """Close the connections to the server."""
        self.changes.close()
        self._client.close()

    def _base(self, namespace: str) -> str:
        return f"{self._prefix}{{{namespace}}}"
