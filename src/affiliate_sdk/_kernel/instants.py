"""Instants as the stores keep them: integer milliseconds since the Unix epoch, UTC.

``to_ms`` is exact (integer arithmetic on the datetime, no float rounding) and
drops the sub-millisecond part by flooring; ``from_ms`` returns an aware UTC
datetime, so ``to_ms(from_ms(n)) == n`` for every instant a datetime can hold.

>>> from datetime import UTC, datetime
>>> to_ms(datetime(2026, 1, 1, tzinfo=UTC))
1767225600000
>>> from_ms(1767225600000)
datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from affiliate_sdk.clock import from_timestamp
from affiliate_sdk.errors import InvalidInput

__all__ = ["EPOCH", "check_aware", "from_ms", "to_ms"]

#: The Unix epoch, aware, in UTC.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


def check_aware(field: str, instant: datetime) -> datetime:
    """``instant`` if it is a timezone-aware datetime; ``InvalidInput`` naming ``field`` if it
    is naive (``TypeError`` if it is no datetime at all)."""
    if not isinstance(instant, datetime):
        raise TypeError(f"{field} must be a datetime, not {type(instant).__name__}")
    if instant.utcoffset() is None:
        raise InvalidInput(
            f"{field} must be a timezone-aware datetime (say, in UTC); got the naive {instant!r}",
            errors=[{"loc": (field,), "msg": "timezone-aware datetime needed", "type": "aware"}],
        )
    return instant


def to_ms(instant: datetime) -> int:
    """Milliseconds since the epoch of an aware ``instant`` (floored; ``InvalidInput`` if naive)."""
    if instant.utcoffset() is None:
        raise InvalidInput(f"{instant!r} has no time zone: pass an aware datetime (UTC)")
    return (instant - EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime ``ms`` milliseconds after the epoch (exact: no float rounding).

    The whole seconds go through ``clock.from_timestamp`` (an integer is exact as
    a float); the milliseconds are set as microseconds, so even instants near
    year 9999, where a float carries only tens of microseconds, come out exact.
    """
    seconds, millis = divmod(ms, 1000)
    return from_timestamp(seconds).replace(microsecond=millis * 1000)
