from __future__ import annotations

import pytest

from affiliate_sdk.antifraud.counters import SlidingCounts


def test_counts_slide_out_of_the_window() -> None:
    counts = SlidingCounts(60_000, buckets=6)  # 10 s buckets
    assert [counts.add("ip", t) for t in (0, 1_000, 9_999, 10_000)] == [1, 2, 3, 4]
    assert counts.total("ip", 59_999) == 4
    assert counts.total("ip", 60_000) == 1  # the first bucket (0-10 s) has left the window
    assert counts.total("ip", 70_000) == 0
    assert counts.add("ip", 200_000) == 1  # a long gap clears everything
    assert counts.total("other", 0) == 0 and len(counts) == 1


def test_late_events_count_only_inside_the_window() -> None:
    counts = SlidingCounts(60_000, buckets=6)
    counts.add("k", 100_000)
    assert counts.add("k", 95_000) == 2
    assert counts.add("k", 10_000) == 2  # older than the window: ignored


def test_memory_is_bounded_and_busy_keys_stay() -> None:
    counts = SlidingCounts(60_000, buckets=6, max_keys=3)
    counts.add("busy", 0)
    for key in "abcd":
        counts.add(key, 0)
        counts.add("busy", 0)  # counted again: the least recently counted key goes first
    assert len(counts) == 3
    assert counts.total("busy", 0) == 5
    assert counts.total("a", 0) == 0 and counts.total("b", 0) == 0
    assert counts.total("c", 0) == 1 and counts.total("d", 0) == 1


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple"):
        SlidingCounts(1_000, buckets=7)
