"""Helpers for hosts' own tests: a clock they move by hand.

>>> from datetime import UTC, datetime, timedelta
>>> clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
>>> clock.advance(timedelta(hours=1)).isoformat()
'2026-01-01T01:00:00+00:00'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from affiliate_sdk.errors import InvalidInput

__all__ = ["FakeClock"]


class FakeClock:
    """A ``Clock`` that stands still until ``advance()`` or ``set()`` moves it."""

    __slots__ = ("_now", "_ts")

    def __init__(self, start: datetime | None = None) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)
        self._ts = self._now.timestamp()
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._ts

    def set(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise InvalidInput("FakeClock needs a timezone-aware datetime")
        self._now = instant.astimezone(UTC)
        self._ts = self._now.timestamp()
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward (or back, with a negative delta) and return the new now."""
        return self.set(self._now + delta)
