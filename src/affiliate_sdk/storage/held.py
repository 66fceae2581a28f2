"""Clicks as the SQLite click writer holds them: plain tuples, not ``ClickRow`` named tuples.

The garbage collector stops tracking a tuple of plain values (strings, numbers, bytes,
None) at its first collection, while a ``NamedTuple`` instance stays tracked for good, and
every collection of its generation walks it again. The writer's queue and recent clicks
hold each click as ``HeldClick`` (``held(row)``) and give it its names back with ``named``.
The positions below serve the memory store too, which keeps a click's values as cells of
one list.
"""

from __future__ import annotations

from typing import Final

from affiliate_sdk.tracking.clicks import ClickRow

__all__ = [
    "AFFILIATE",
    "AT",
    "CAMPAIGN",
    "CLICK_ID",
    "DECISION",
    "LINK",
    "MERCHANT",
    "VISITOR",
    "HeldClick",
    "held",
    "named",
]

#: A ``ClickRow``'s values as a plain tuple.
HeldClick = tuple[
    str, str, str, str, str, str, str, bytes, int,
    str | None, str | None, str | None, str | None, str, str, str | None,
]  # fmt: skip
#: Positions in a ``HeldClick`` (and a ``ClickRow``).
CLICK_ID: Final = 0
VISITOR: Final = 1
LINK: Final = 2
AFFILIATE: Final = 3
CAMPAIGN: Final = 4
MERCHANT: Final = 5
AT: Final = 8
DECISION: Final = 13


def held(click: ClickRow) -> HeldClick:
    """``click``'s values as the plain tuple a store holds."""
    return tuple(click)  # type: ignore[return-value]


def named(click: HeldClick) -> ClickRow:
    """A held click as a ``ClickRow``."""
    return ClickRow._make(click)
