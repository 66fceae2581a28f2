"""Time as an injected dependency.

Domain code never reads the system clock itself: the ``Alliance`` holds a
``Clock`` and passes instants down. Tests use ``affiliate_sdk.testing.FakeClock``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "from_timestamp", "to_timestamp"]


@runtime_checkable
class Clock(Protocol):
    """Source of the current instant."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def timestamp(self) -> float:
        """The current instant as POSIX seconds (the same instant as ``now()``)."""
        ...


class SystemClock:
    """The machine's wall clock."""

    __slots__ = ()

    def now(self) -> datetime:
        return datetime.now(UTC)

    #: ``time.time`` itself: no Python frame on the click path.
    timestamp = staticmethod(time.time)


def from_timestamp(seconds: float) -> datetime:
    """A UTC datetime from POSIX seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def to_timestamp(instant: datetime) -> float:
    """POSIX seconds from an aware datetime."""
    return instant.timestamp()
