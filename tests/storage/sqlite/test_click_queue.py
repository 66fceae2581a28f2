"""The background writer's queue: repeat clicks found by key while queued or being written,
and the writer woken for a click that arrives at an empty queue."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from affiliate_sdk.storage.rows import ClickRow
from affiliate_sdk.storage.sqlite import SQLiteStore
from affiliate_sdk.storage.sqlite._click_writer import ClickWriter
from affiliate_sdk.storage.sqlite._recent import link_visit

from ..click_rows import click_row

_WAIT_S = 10.0


class _HeldWriter:
    """A ``ClickWriter`` into an in-memory table whose batches stay in flight until let go."""

    def __init__(self, *, batch_every_s: float = 0.0, max_queued: int = 4096) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches = 0
        columns = ", ".join(ClickRow._fields)
        self.writer = ClickWriter(
            self._connect,
            (f"INSERT INTO clicks ({columns})", ""),
            on_commit=self._committed,
            name="test clicks",
            token="test-writer",
            max_queued=max_queued,
            batch_every_s=batch_every_s,
        )

    @staticmethod
    def _connect() -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.execute(f"CREATE TABLE clicks ({', '.join(ClickRow._fields)})")
        conn.execute("CREATE TABLE click_writers (token TEXT PRIMARY KEY, last_ms INTEGER)")
        return conn

    def _committed(self) -> None:
        self.batches += 1
        self.entered.set()
        assert self.release.wait(_WAIT_S)

    def latest(self, click: ClickRow) -> ClickRow | None:
        with self.writer.lock:
            return self.writer.latest(link_visit(click))


@pytest.fixture
def held() -> Iterator[_HeldWriter]:
    held = _HeldWriter()
    yield held
    held.release.set()
    held.writer.stop()


def test_the_latest_click_per_visitor_and_link_is_found_in_flight_and_pending(
    held: _HeldWriter,
) -> None:
    first = click_row("k1", 1_000)
    held.writer.submit([first])
    assert held.entered.wait(_WAIT_S)  # k1's batch is committed but not yet let go
    assert held.latest(first) == first
    later, other_link, other_visitor = (
        click_row("k2", 2_000),
        click_row("k3", 2_500, link="L2"),
        click_row("k4", 2_600, visitor="visitor-2"),
    )
    held.writer.submit([later, other_link, other_visitor])
    assert held.latest(first) == later  # pending, newer than the one in flight
    assert held.latest(other_link) == other_link
    assert held.latest(other_visitor) == other_visitor
    assert held.latest(click_row("x", 0, visitor="visitor-3")) is None
    held.writer.submit([click_row("k5", 1_500)])  # queued later but clicked earlier
    assert held.latest(first) == later
    same_ms = click_row("k6", 2_000)
    held.writer.submit([same_ms])  # the same millisecond: the one queued later
    assert held.latest(first) == same_ms
    held.release.set()
    held.writer.stop()
    assert held.latest(first) == same_ms  # written, and still held among the recent clicks


def test_held_clicks_are_nothing_the_garbage_collector_walks_again(held: _HeldWriter) -> None:
    held.writer.submit([click_row(f"k{n}", 1_000 + n, visitor=f"v{n}") for n in range(50)])
    gc.collect()
    with held.writer.lock:
        queued = held.writer.queued()
    assert len(queued) == 50
    assert not any(gc.is_tracked(click) for click in queued)
    assert held.latest(click_row("q", 0, visitor="v7")) == click_row("k7", 1_007, visitor="v7")


def test_an_in_flight_click_clicked_later_beats_a_pending_one(held: _HeldWriter) -> None:
    held.writer.submit([click_row("k1", 5_000)])
    assert held.entered.wait(_WAIT_S)
    held.writer.submit([click_row("k2", 4_000)])
    assert held.latest(click_row("q", 0)) == click_row("k1", 5_000)


def test_the_writer_wakes_for_each_click_that_finds_the_queue_empty(held: _HeldWriter) -> None:
    held.release.set()
    for round_ in range(3):
        held.entered.clear()
        held.writer.submit([click_row(f"k{round_}", 1_000 + round_)])
        assert held.entered.wait(_WAIT_S)  # written without waiting for stop()
    assert held.batches == 3


def test_repeat_clicks_are_found_wherever_the_first_click_is(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", max_queued_clicks=64)
    try:
        # enough clicks that some are written, some being written and some queued
        firsts = [click_row(f"k{n}", 10_000 + n, visitor=f"visitor-{n:04d}") for n in range(600)]
        for click in firsts:
            with store.transaction() as tx:
                tx.clicks.record(click, dedupe_since_ms=None)
        for n, first in enumerate(firsts):
            repeat = click_row(f"r{n}", 20_000, visitor=first.visitor_id)
            with store.transaction() as tx:
                assert tx.clicks.record(repeat, dedupe_since_ms=10_000) == (first, False)
        with store.transaction() as tx:  # outside the window: a click of its own
            late = click_row("late", 30_000, visitor="visitor-0000")
            assert tx.clicks.record(late, dedupe_since_ms=10_001) == (late, True)
            # the unit of work's own click, not yet handed to the writer
            again = click_row("again", 30_001, visitor="visitor-0000")
            assert tx.clicks.record(again, dedupe_since_ms=29_000) == (late, False)
    finally:
        store.close()


def test_clicks_are_gathered_between_batches_until_half_the_queue_is_full() -> None:
    held = _HeldWriter(batch_every_s=60.0, max_queued=8)
    held.release.set()
    try:
        held.writer.submit([click_row("k0", 1_000)])
        assert held.entered.wait(_WAIT_S)  # the first batch in a minute begins at once
        held.entered.clear()
        held.writer.submit([click_row(f"k{n}", 1_000 + n, visitor=f"v{n}") for n in (1, 2, 3)])
        assert not held.entered.wait(0.3)  # gathered: the next batch is due in a minute
        assert held.batches == 1
        held.writer.submit([click_row("k4", 1_004, visitor="v4")])  # 4 of 8: half full
        assert held.entered.wait(_WAIT_S)
        assert held.batches == 2
        held.writer.submit([click_row("k5", 1_005, visitor="v5")])
        started = time.monotonic()
    finally:
        held.writer.stop()  # writes the rest out without waiting for the minute
    assert held.batches == 3
    assert time.monotonic() - started < _WAIT_S
