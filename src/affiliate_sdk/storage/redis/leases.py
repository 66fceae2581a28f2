"""Webhook dispatchers' leases on Redis: one deliverer per subscription, whichever app server
runs it, without a store transaction per attempt.

``{prefix}lease:{digest of scope and subscription}`` holds ``{until_ms}|{holder}``. Taking or
renewing is one Lua script, atomic on the server, with the store's rule: the holder renews
its own lease, anyone takes one held until ``now_ms`` or before. The instants are the
dispatcher's clock's (the server's expiry only forgets a lease nobody renewed). A lease
guards nothing by itself: a subscription's cursor still moves only from where a run left it
(``webhooks._state``), so a dispatcher that lost its lease mid-attempt cannot deliver twice.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from affiliate_sdk.errors import StorageError

__all__ = ["RedisLeases"]

_TAKE: Final = """
local found = redis.call('GET', KEYS[1])
if found then
  local bar = string.find(found, '|', 1, true)
  if string.sub(found, bar + 1) ~= ARGV[1]
     and tonumber(string.sub(found, 1, bar - 1)) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[3] .. '|' .. ARGV[1], 'PX', ARGV[4])
return 1
"""

_RELEASE: Final = """
local found = redis.call('GET', KEYS[1])
if found and string.sub(found, string.find(found, '|', 1, true) + 1) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeases:
    """Leases of webhook subscriptions on the counters' Redis server."""

    def __init__(
        self, client: Any, *, prefix: str, url: str, errors: tuple[type[BaseException], ...]
    ) -> None:
        self._prefix = prefix
        self._url = url
        self._errors = errors
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)

    def _key(self, scope: str, subscription_id: str) -> str:
        ids = f"{scope}\x1f{subscription_id}".encode()
        return f"{self._prefix}lease:{hashlib.blake2b(ids, digest_size=16).hexdigest()}"

    def take_lease(
        self, scope: str, subscription_id: str, holder: str, *, now_ms: int, until_ms: int
    ) -> bool:
        """Take or renew the lease for ``holder`` unless another holds it past ``now_ms``."""
        args = [holder, now_ms, until_ms, max(until_ms - now_ms, 1)]
        try:
            return bool(self._take(keys=[self._key(scope, subscription_id)], args=args))
        except self._errors as exc:
            raise StorageError(f"cannot take a lease on {self._url}: {exc}") from exc

    def release_lease(self, scope: str, subscription_id: str, holder: str) -> None:
        """Give the lease up if ``holder`` has it."""
        try:
            self._release(keys=[self._key(scope, subscription_id)], args=[holder])
        except self._errors as exc:
            raise StorageError(f"cannot release a lease on {self._url}: {exc}") from exc
