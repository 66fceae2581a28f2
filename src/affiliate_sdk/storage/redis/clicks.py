"""Repeated clicks found on Redis: a visitor's first click on a link, seen by every process
the moment it is recorded.

A store that writes clicks in the background (SQLite's click writer) or on several servers
finds a repeat only once the first click is stored where the other process reads; a repeat
that comes sooner is recorded as a new click. With the counters on Redis, the click
repository of each unit of work first *claims* the visitor's link on the server:

* ``{prefix}click:{digest}`` (the digest of the merchant, visitor and link ids) holds the
  first click of the window, as ``{clicked_at_ms}|{row}``, expiring with the window;
* the claim is one Lua script, atomic on the server: the click there is returned when it is
  inside the window (``at >= since``), otherwise the new click takes the key.

The store is still asked (it may hold a first click from before the counters moved to
Redis, or from a process without them); the key then names the click the store returned.
A unit of work that rolls back takes back the claims it made (the key is deleted only while
it still names that unit of work's click).

A server that does not answer makes repeats the store's to find, as if nothing were claimed:
the claims are asked again ``RETRY_S`` seconds later, not at every click, and the outage is
logged once. A claim this release cannot read (written by another) counts as none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Final

from affiliate_sdk.tracking.clicks import ClickRow

from .windows import RETRY_S

__all__ = ["RedisClickClaims", "decode_click", "encode_click"]

_log = logging.getLogger("affiliate_sdk")

_CLAIM: Final = """
local found = redis.call('GET', KEYS[1])
if found then
  local bar = string.find(found, '|', 1, true)
  if tonumber(string.sub(found, 1, bar - 1)) >= tonumber(ARGV[2]) then return found end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false
"""

_FORGET: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


def encode_click(row: ClickRow) -> str:
    """``{clicked_at_ms}|{the row as JSON}`` (its sub-fields as hex)."""
    values = list(row)
    values[row._fields.index("sub_fields")] = row.sub_fields.hex()
    return f"{row.clicked_at_ms}|{json.dumps(values, separators=(',', ':'))}"


def decode_click(text: str) -> ClickRow:
    """The row ``encode_click`` wrote."""
    values: list[Any] = json.loads(text.partition("|")[2])
    index = ClickRow._fields.index("sub_fields")
    values[index] = bytes.fromhex(values[index])
    return ClickRow(*values)


class RedisClickClaims:
    """Claims on a visitor's first click per link, on the counters' Redis server."""

    def __init__(
        self, client: Any, *, prefix: str, url: str, errors: tuple[type[BaseException], ...]
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._url = url
        self._errors = errors
        self._claim = client.register_script(_CLAIM)
        self._forget = client.register_script(_FORGET)
        self._retry_at = 0.0  # monotonic time from which a failing server is asked again
        self._failing = False

    def key(self, row: ClickRow) -> str:
        """The server key of the row's visitor and link (ids of any length, digested)."""
        ids = "\x1f".join((row.merchant_id, row.visitor_id, row.link_id)).encode()
        return f"{self._prefix}click:{hashlib.blake2b(ids, digest_size=16).hexdigest()}"

    def claim(self, row: ClickRow, *, since_ms: int) -> ClickRow | None:
        """The visitor's click on the link at or after ``since_ms``, if the server has one;
        otherwise ``row`` becomes it (until the window is over) and None is returned."""
        args = [encode_click(row), since_ms, _ttl(row, since_ms)]
        found = self._call(self._claim, "claim a click", keys=[self.key(row)], args=args)
        if not found:
            return None
        try:
            return decode_click(_text(found))
        except (ValueError, TypeError, IndexError):  # another release's claim: none of ours
            return None

    def keep(self, row: ClickRow, *, since_ms: int) -> None:
        """Name ``row`` (a first click the store had) as the visitor's click on the link."""
        self._call(
            self._client.set, "name a click", self.key(row), encode_click(row),
            px=_ttl(row, since_ms),
        )  # fmt: skip

    def forget(self, row: ClickRow) -> None:
        """Take a claim back, if it still names ``row``."""
        self._call(
            self._forget, "take back a click", keys=[self.key(row)], args=[encode_click(row)]
        )

    def _call(self, call: Any, doing: str, *args: Any, **kwargs: Any) -> Any:
        """The server's answer; None while it is failing (asked again after ``RETRY_S``)."""
        if self._failing and time.monotonic() < self._retry_at:
            return None
        try:
            found = call(*args, **kwargs)
        except self._errors as exc:
            if not self._failing:
                _log.warning(
                    "cannot %s on %s (repeats are the store's to find): %s", doing, self._url, exc
                )
            self._failing, self._retry_at = True, time.monotonic() + RETRY_S
            return None
        self._failing = False
        return found


def _ttl(row: ClickRow, since_ms: int) -> int:
    """How long the row stays the first click: the rest of its window, at least 1 ms."""
    return max(row.clicked_at_ms - since_ms, 1)


def _text(found: Any) -> str:
    return found.decode() if isinstance(found, bytes) else str(found)
