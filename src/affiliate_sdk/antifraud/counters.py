"""Sliding-window event counts per key, in bounded memory, for one process.

Kept for the code that imports it from here: the windows live in
``affiliate_sdk.antifraud.velocity``, where ``SlidingCounts`` is called
``LocalCounts``.
"""

from __future__ import annotations

from .velocity import Counts, LocalCounts

__all__ = ["Counts", "SlidingCounts"]

#: Today's name of ``LocalCounts``.
SlidingCounts = LocalCounts
