"""How values are written to columns: exact decimals as text, instants as integers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, overload

__all__ = ["from_us", "ms_of_iso", "text_or_none", "to_us"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)


def to_us(instant: datetime | None) -> int | None:
    """Microseconds since the epoch, exactly (no float on the way)."""
    return None if instant is None else (instant - _EPOCH) // _US


@overload
def from_us(value: int) -> datetime: ...
@overload
def from_us(value: object) -> datetime | None: ...
def from_us(value: object) -> datetime | None:
    """The UTC instant of ``to_us``'s integer."""
    return None if value is None else _EPOCH + timedelta(microseconds=int(str(value)))


def text_or_none(value: Decimal | None) -> str | None:
    """An exact decimal as text (its exponent kept), or None."""
    return None if value is None else str(value)


def ms_of_iso(text: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 instant."""
    return (datetime.fromisoformat(text) - _EPOCH) // timedelta(milliseconds=1)
