"""Velocity windows counted on Redis agree with the in-process window, event for event."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affiliate_sdk.antifraud.velocity import LocalCounts, window_for
from affiliate_sdk.storage.redis import RedisCounters
from affiliate_sdk.storage.redis.windows import RedisWindow, count_on_server

from ..servers import redis_counters


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from("ab"), st.integers(-25_000, 130_000), st.integers(-1, 3)),
        max_size=40,
    )
)
def test_a_window_on_the_server_agrees_with_one_in_memory(
    events: list[tuple[str, int, int]],
) -> None:
    with redis_counters() as counters:
        window = window_for(counters, "t", 60_000, buckets=6)
        assert isinstance(window, RedisWindow)
        local = LocalCounts(60_000, buckets=6)
        now = -(2**40)
        for key, at_ms, count in events:
            now = max(now, at_ms)  # the clock moves forward (by steps of any size)
            assert window.add(key, now, count) == local.add(key, now, count)
            assert window.total("a", now) == local.total("a", now)


def test_one_round_trip_counts_across_windows() -> None:
    with redis_counters() as counters:
        minute = counters.window("m", 60_000, buckets=6)
        day = counters.window("d", 86_400_000, buckets=4)
        items = [(minute, "k", 1), (day, "k", 2), (minute, "k", 1), (minute, "j", 5)]
        assert count_on_server(items, 1_000) == [1, 2, 2, 5]
        assert counters.count_many([(minute, "k", 0), (day, "k", -1)], 61_000) == [0, 1]
        assert count_on_server([], 0) == []


def test_without_the_server_a_window_counts_in_this_process_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = RedisCounters("redis://127.0.0.1:1/0", prefix="unreachable:")
    try:
        minute = counters.window("m", 60_000, buckets=6)
        with caplog.at_level(logging.WARNING, logger="affiliate_sdk.storage.redis"):
            assert [minute.add("k", 1_000) for _ in range(3)] == [1, 2, 3]
            assert counters.count_many([(minute, "k", 1), (minute, "j", 1)], 2_000) == [4, 1]
        warnings = [r for r in caplog.records if "counting in this process" in r.getMessage()]
        assert len(warnings) == 1
        assert minute.total("k", 61_000) == 0  # the local window slides like any other
    finally:
        counters.close()
