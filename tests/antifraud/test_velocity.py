"""Velocity windows: in one process, and shared through a counter repository.

The shared windows run over a dict-backed repository written here, with the
caller's clock passed as plain milliseconds.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import InvalidInput
from affiliate_sdk.antifraud import SlidingCounts
from affiliate_sdk.antifraud.counters import SlidingCounts as LegacySlidingCounts
from affiliate_sdk.antifraud.velocity import (
    DEFAULT_SYNC_MS,
    CounterBuckets,
    Counts,
    LocalCounts,
    SharedCounts,
    window_for,
)


class DictCounters:
    """A counter repository in a dict: ``(key, bucket) -> count``."""

    def __init__(self, *, shared: bool = True) -> None:
        self.shared = shared
        self.buckets: dict[tuple[str, int], int] = {}
        self.writers: dict[tuple[str, str], int] = {}  # (namespace, writer) -> latest bucket
        self.adds = 0
        self.reads = 0  # calls that read sums back
        self.fail = 0  # calls still to fail (adding nothing)

    def exchange(
        self,
        namespace: str,
        writer: str,
        rows: Sequence[tuple[str, int, int]],
        keys: Sequence[str],
        *,
        since_bucket: int,
    ) -> list[tuple[int, int]] | None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("the counter server went away")
        if rows:
            self.adds += 1
            latest = max(bucket for _, bucket, _ in rows)
            self.writers[namespace, writer] = max(
                self.writers.get((namespace, writer), latest), latest
            )
        for key, bucket, count in rows:
            self.buckets[key, bucket] = self.buckets.get((key, bucket), 0) + count
        if not any(
            ns == namespace and w != writer and b >= since_bucket
            for (ns, w), b in self.writers.items()
        ):
            return None
        self.reads += 1
        return [(self.sum(key, since_bucket), self.sum(key, since_bucket + 1)) for key in keys]

    def sum(self, key: str, since_bucket: int) -> int:
        return sum(n for (k, b), n in self.buckets.items() if k == key and b >= since_bucket)

    def prune(self, namespace: str, *, before_bucket: int) -> None:
        for key, bucket in list(self.buckets):
            if key.startswith(f"{namespace}/") and bucket < before_bucket:
                del self.buckets[key, bucket]
        for ns, w in [k for k, b in self.writers.items() if b < before_bucket]:
            if ns == namespace:
                del self.writers[ns, w]


def _minute(counters: CounterBuckets, **kw: Any) -> SharedCounts:
    return SharedCounts(counters, "t", 60_000, buckets=6, **kw)  # 10 s buckets


# -- local -----------------------------------------------------------------------------------
def test_local_counts_slide_out_of_the_window() -> None:
    counts = LocalCounts(60_000, buckets=6)  # 10 s buckets
    assert counts.add("k", 0) == 1
    assert counts.add("k", 9_999) == 2
    assert counts.add("k", 10_000) == 3
    assert counts.total("k", 59_999) == 3
    assert counts.total("k", 60_000) == 1  # the first bucket has left the window
    assert counts.total("k", 200_000) == 0
    assert counts.total("never", 0) == 0
    assert len(counts) == 1  # reading an unknown key keeps nothing
    counts.flush(0)  # nothing to write


@given(
    st.lists(
        st.tuples(st.sampled_from("ab"), st.integers(-25_000, 130_000), st.integers(0, 3)),
        max_size=60,
    )
)
def test_local_counts_agree_with_every_event_kept(events: list[tuple[str, int, int]]) -> None:
    """Against a list of every event: a key's total is what fell in the buckets of the
    window that ends with the latest bucket it was counted in, late events ignored."""
    counts = LocalCounts(60_000, buckets=6)  # 10 s buckets
    kept: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    newest: dict[str, int] = {}
    for key, at_ms, count in events:
        bucket = at_ms // 10_000
        newest[key] = max(newest.get(key, bucket), bucket)
        if bucket > newest[key] - 6:
            kept[key].append((bucket, count))
        expected = sum(n for b, n in kept[key] if b > newest[key] - 6)
        assert counts.add(key, at_ms, count) == expected


@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from("abc"), max_size=4),
            st.integers(0, 130_000),
            st.integers(-1, 2),
        ),
        max_size=30,
    ),
    st.booleans(),
)
def test_add_many_is_add_of_each_key_in_turn(
    calls: list[tuple[list[str], int, int]], shared: bool
) -> None:
    """``add_many`` gives what ``add`` of each key in turn gives (repeated keys too), in
    memory and shared."""
    if shared:
        many: Counts = _minute(DictCounters(), writer="w")
        one: Counts = _minute(DictCounters(), writer="w")
    else:
        many, one = LocalCounts(60_000, buckets=6), LocalCounts(60_000, buckets=6)
    assert isinstance(many, LocalCounts | SharedCounts)
    for keys, at_ms, count in sorted(calls, key=lambda call: call[1]):
        assert many.add_many(keys, at_ms, count) == [one.add(key, at_ms, count) for key in keys]
        assert [many.total(key, at_ms) for key in "abc"] == [one.total(k, at_ms) for k in "abc"]


def test_local_counts_ignore_events_older_than_the_window() -> None:
    counts = LocalCounts(60_000, buckets=6)
    assert counts.add("k", 100_000) == 1
    assert counts.add("k", 30_000) == 1  # late, from a bucket gone by
    assert counts.add("k", 50_000, 4) == 5  # late but still in the window


def test_local_counts_forget_the_least_recently_counted_key() -> None:
    counts = LocalCounts(60_000, buckets=6, max_keys=2)
    counts.add("a", 0)
    counts.add("b", 0)
    counts.add("a", 0)
    counts.add("c", 0)
    assert len(counts) == 2
    assert (counts.total("a", 0), counts.total("b", 0), counts.total("c", 0)) == (2, 0, 1)


def test_the_legacy_name_is_the_local_window() -> None:
    assert SlidingCounts is LocalCounts
    assert LegacySlidingCounts is LocalCounts


@pytest.mark.parametrize(
    ("window_ms", "kw", "match"),
    [
        (1_000, {"buckets": 7}, "multiple"),
        (0, {}, "multiple"),
        (-60_000, {}, "multiple"),
        (60_000, {"buckets": 0}, "multiple"),
        (60_000, {"max_keys": 0}, "max_keys"),
        (60_000, {"buckets": True}, "buckets must be an int"),
        (60.0, {}, "window_ms must be an int"),
    ],
)
def test_bad_windows_are_refused(window_ms: int, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        LocalCounts(window_ms, **kw)
    with pytest.raises(InvalidInput, match=match):
        SharedCounts(DictCounters(), "t", window_ms, **kw)


# -- shared ----------------------------------------------------------------------------------
def test_shared_counts_write_at_most_once_a_sync() -> None:
    counters = DictCounters()
    counts = _minute(counters)
    assert DEFAULT_SYNC_MS == 1_000
    assert counts.add("k", 0) == 1
    assert counts.add("k", 500) == 2
    assert counts.add("k", 999) == 3
    assert counters.buckets == {}  # counted in memory until a second has passed
    assert counts.add("k", 1_000) == 4  # synced first: the three are shared now
    assert counters.buckets == {("t/k", 0): 3}
    counts.flush(1_001)
    assert counters.buckets == {("t/k", 0): 4}
    counts.flush(1_002)
    assert counters.adds == 2  # nothing pending: nothing written


def test_two_processes_on_one_repository_add_up_within_a_second() -> None:
    counters = DictCounters()
    first, second = _minute(counters), _minute(counters)
    for ms in range(0, 500, 50):
        first.add("net", ms)
    assert second.add("net", 600) == 1  # not synced yet: only its own
    assert first.add("net", 1_000) == 11  # its sync shared its ten
    assert second.add("net", 1_600) == 12  # its sync read them back, with its own one
    assert first.total("net", 1_900) == 11  # its shared total is as of its own last sync
    assert first.add("net", 2_000) == 13  # the next sync catches up
    assert second.total("net", 2_600) == 13
    assert counters.buckets == {("t/net", 0): 13}


def test_shared_counts_slide_out_of_the_window() -> None:
    counters = DictCounters()
    counts = _minute(counters)
    assert counts.add("k", 0) == 1
    assert counts.add("k", 5_000) == 2
    assert counts.add("k", 30_000) == 3  # synced: the repository holds the first two
    assert counts.total("k", 65_000) == 1  # the first bucket has left the window
    assert counts.total("k", 200_000) == 0
    assert counts.total("never", 0) == 0


def test_a_bucket_that_leaves_the_window_leaves_the_shared_total_at_once() -> None:
    """Read back just before a bucket boundary, the shared total must not keep the bucket
    that the boundary takes out of the window (until the next exchange it did, by a whole
    bucket's events)."""
    counters = DictCounters()
    counts = _minute(counters, background=True)  # 10 s buckets; the test exchanges
    local = LocalCounts(60_000, buckets=6)
    for _ in range(5):
        counts.add("k", 1_000)  # bucket 0
        local.add("k", 1_000)
    counts.exchange(55_000)  # bucket 5: the window is buckets 0-5, the total 5
    assert counts.total("k", 55_000) == local.total("k", 55_000) == 5
    # bucket 6: bucket 0 has left the window, though the next exchange has not come yet
    assert counts.add("k", 61_000) == local.add("k", 61_000) == 1
    assert counts.total("k", 64_999) == 1


def test_a_key_idle_for_a_bucket_is_read_again() -> None:
    counters = DictCounters()
    counters.exchange("t", "another", [("t/k", 0, 7)], [], since_bucket=0)
    counts = _minute(counters)
    assert counts.total("k", 1) == 7  # unknown here: read from the repository
    counters.buckets["t/k", 0] = 9  # two more by the other process
    assert counts.total("k", 9_999) == 7  # known for a bucket's width
    assert counts.total("k", 10_001) == 9


def test_old_buckets_are_pruned_and_other_namespaces_kept() -> None:
    counters = DictCounters()
    counters.buckets["other/k", 0] = 5
    counts = _minute(counters)
    counts.add("k", 0)
    counts.add("k", 70_000)  # syncs bucket 0 and prunes below bucket 7 - 6 + 1 = 2
    assert counters.buckets == {("other/k", 0): 5}
    counts.flush(80_000)
    assert counters.buckets == {("other/k", 0): 5, ("t/k", 7): 1}


def _another_writer(counters: DictCounters, *rows: tuple[str, int, int]) -> None:
    """Counts by another process (at least one, so that there is another writer)."""
    counters.exchange("t", "another", rows or [("t/other", 0, 1)], [], since_bucket=0)


def test_a_window_alone_on_the_repository_reads_nothing_back() -> None:
    counters = DictCounters()
    counts = _minute(counters)
    local = LocalCounts(60_000, buckets=6)
    for ms in range(0, 70_000, 500):
        assert counts.add("k", ms) == local.add("k", ms)  # exact, with no read
    assert counts.total("k", 70_001) == local.total("k", 70_001)
    assert counters.adds == 70 and counters.reads == 0
    _another_writer(counters, ("t/k", 7, 4))  # a second process starts counting
    reads = counters.reads
    assert counts.add("k", 71_000) == local.add("k", 71_000)  # not read back yet
    assert counts.add("k", 72_000) == local.add("k", 72_000) + 4  # read back at the exchange
    assert counters.reads == reads + 1


def test_shared_memory_is_bounded() -> None:
    counters = DictCounters()
    _another_writer(counters)
    counts = _minute(counters, max_keys=3, sync_ms=1)
    for n, key in enumerate("abcde"):
        counts.add(key, n)
    counts.flush(10)
    assert len(counts) == 3
    assert counts.total("a", 11) == 1  # forgotten in memory, read back from the repository


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"sync_ms": 0}, "sync_ms"), ({"sync_ms": -5}, "sync_ms")],
)
def test_bad_shared_settings_are_refused(kw: dict[str, int], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        _minute(DictCounters(), **kw)
    with pytest.raises(InvalidInput, match="namespace"):
        SharedCounts(DictCounters(), "", 60_000)


def test_the_window_follows_the_repositorys_capability() -> None:
    shared: Counts = window_for(DictCounters(shared=True), "velocity/minute", 60_000)
    local: Counts = window_for(DictCounters(shared=False), "velocity/minute", 60_000)
    assert isinstance(shared, SharedCounts)
    assert isinstance(local, LocalCounts)
    assert local.add("k", 0) == 1


# -- exchanged by the owner ------------------------------------------------------------------
def test_a_background_window_never_calls_the_repository_while_counting() -> None:
    counters = DictCounters()
    _another_writer(counters, ("t/k", 0, 5))
    counts = SharedCounts(counters, "t", 60_000, background=True)
    assert counts.background
    for ms in range(0, 5_000, 100):
        counts.add("k", ms)  # seconds of the caller's time pass: still no exchange
    assert counters.adds == 1  # the other process's
    assert counts.add("k", 5_000) == 51  # its own only, until it exchanges
    counts.exchange(5_000)
    assert counters.buckets == {("t/k", 0): 56}
    assert counts.add("k", 5_001) == 57
    assert counts.total("k", 5_002) == 57


def test_counts_made_while_an_exchange_is_in_flight_are_neither_lost_nor_doubled() -> None:
    seen: list[int] = []

    class Slow(DictCounters):
        def exchange(
            self,
            namespace: str,
            writer: str,
            rows: Sequence[tuple[str, int, int]],
            keys: Sequence[str],
            *,
            since_bucket: int,
        ) -> list[tuple[int, int]] | None:
            if not seen:
                seen.append(counts.add("k", 1_500))  # a click meanwhile, on another thread
            return super().exchange(namespace, writer, rows, keys, since_bucket=since_bucket)

    counters = Slow()
    counts = SharedCounts(counters, "t", 60_000, background=True)
    counts.add("k", 0)
    counts.add("k", 10)
    counts.exchange(1_000)
    assert seen == [3]  # the two in flight, and itself
    assert counts.total("k", 1_600) == 3
    counts.exchange(2_000)
    assert counters.buckets == {("t/k", 0): 3}
    assert counts.total("k", 2_001) == 3


def test_counts_made_in_a_later_bucket_during_an_exchange_are_not_doubled() -> None:
    counters = DictCounters()
    other = _minute(counters, writer="other")
    other.add("k", 1_000, 3)
    other.exchange(1_000)
    mine = _minute(counters, writer="mine")
    mine.add("k", 5_000, 5)
    exchange = counters.exchange

    def meanwhile(*args: Any, **kw: Any) -> list[tuple[int, int]] | None:
        found = exchange(*args, **kw)
        mine.add("k", 10_000, 50)  # the next bucket, while the call is in flight
        return found

    counters.exchange = meanwhile  # type: ignore[method-assign]
    mine.exchange(9_990)
    counters.exchange = exchange  # type: ignore[method-assign]
    # this one's 5 + 50 + 1; the other's 3 are unknown (not doubled) until read again
    assert mine.add("k", 10_500) == 56
    mine.exchange(10_600)
    assert mine.add("k", 10_700) == 3 + 5 + 50 + 2


def test_a_failed_exchange_shares_nothing_and_keeps_the_counts_pending() -> None:
    counters = DictCounters()
    counts = SharedCounts(counters, "t", 60_000, background=True)
    counts.add("k", 0, 2)
    counters.fail = 1
    with pytest.raises(ConnectionError):
        counts.exchange(1_000)
    assert counters.buckets == {}
    assert counts.add("k", 1_100) == 3  # nothing lost meanwhile
    counts.exchange(2_000)
    assert counters.buckets == {("t/k", 0): 3}
    assert counts.total("k", 2_001) == 3


def test_the_read_back_merges_in_steps_and_stays_bounded() -> None:
    counters = DictCounters()
    _another_writer(counters)
    counts = SharedCounts(counters, "t", 60_000, max_keys=3_000, background=True)
    for n in range(5_000):  # more keys than one merge step, and than are kept
        counts.add(f"k{n}", 0)
    counts.exchange(1_000)
    assert len(counts) == 3_000
    assert counts.total("k4999", 1_001) == 1
    assert counts.total("k0", 1_001) == 1  # forgotten here: read from the repository


def test_a_forked_child_forgets_the_counts_its_parent_will_share() -> None:
    counters = DictCounters()
    counts = SharedCounts(counters, "t", 60_000, background=True)
    counts.add("k", 0)
    counts.exchange(1_000)
    counts.add("k", 1_100)
    parent = counts.writer
    counts.before_fork()
    counts.after_fork_in_child()  # fresh locks: the parent's held one is not the child's
    counts.exchange(2_000)
    assert counters.buckets == {("t/k", 0): 1}  # the parent's pending one is the parent's
    assert counts.writer != parent  # the child is another writer
    assert counts.total("k", 2_001) == 2  # both happened: the child counts from the parent's


def test_the_window_for_a_thread_exchanges_in_the_background() -> None:
    window = window_for(DictCounters(), "velocity/minute", 60_000, background=True)
    assert isinstance(window, SharedCounts) and window.background
    local = window_for(DictCounters(shared=False), "velocity/minute", 60_000, background=True)
    assert isinstance(local, LocalCounts)


def test_local_counts_hold_nothing_the_garbage_collector_follows() -> None:
    counts = LocalCounts(60_000)
    for at in range(0, 120_000, 7_000):
        counts.add("k", at)
    tracked = len(gc.get_objects())
    for n in range(1_000):  # a new key each: nothing the collector would follow is added
        counts.add(f"visitor-{n}", 119_000)
    assert len(gc.get_objects()) - tracked < 10
    assert counts.total("k", 119_000) == sum(1 for at in range(0, 120_000, 7_000) if at >= 60_000)


def test_an_exchange_at_a_clock_read_before_a_bucket_boundary_counts_each_event_once() -> None:
    counters = DictCounters()
    _another_writer(counters, *[("t/k", 0, 1)] * 8)  # eight in bucket 0, by another process
    counts = SharedCounts(counters, "t", 60_000, background=True)
    counts.add("k", 10_001)  # bucket 1, on request threads...
    counts.add("k", 10_001)
    counts.exchange(9_999)  # ...while the exchanger read its clock just before it
    assert counts.add("k", 10_002, 0) == 10
    assert counts.total("k", 10_003) == 10


def test_a_process_alone_a_moment_ago_reads_what_another_counted_since() -> None:
    counters = DictCounters()
    first = SharedCounts(counters, "t", 86_400_000, buckets=4, background=True)
    first.add("mine", 0)
    first.exchange(0)  # alone: nothing read back
    second = SharedCounts(counters, "t", 86_400_000, buckets=4, background=True)
    for _ in range(50):
        second.add("a/x", 100)
    second.exchange(200)
    assert first.total("a/x", 1_500) == 50  # not taken for zero for the rest of the bucket


def test_reading_unknown_keys_keeps_the_counted_ones() -> None:
    counts = _minute(DictCounters(), max_keys=3, background=True)
    for ms in range(5):
        counts.add("hot", ms)
    counts.exchange(10)  # alone
    for key in ("x", "y", "z"):
        assert counts.total(key, 20) == 0
    assert counts.add("hot", 30, 0) == 5
