"""The background exchange of the velocity windows, on SQLite and the wall clock.

Every wait here is bounded and on an event (a finished round, a child's exit),
never a sleep: the exchanger's ``exchange_now`` runs a round at once, its
``exchanged`` event marks the once-a-second rounds.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from affiliate_sdk import Alliance, FraudThresholds
from affiliate_sdk._services.exchange import THREAD_NAME, Exchanger
from affiliate_sdk.antifraud.velocity import SharedCounts
from affiliate_sdk.storage.sqlite.counters import SqliteCounters
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign

#: Long enough for a round on a loaded machine; a round normally takes milliseconds.
WAIT_S = 10.0


def _open(path: Path, query: str = "", **kw: Any) -> Alliance:
    """An alliance on the file at ``path`` and the wall clock (no clock given)."""
    return Alliance.open(f"sqlite:///{path}{query}", keys={"k1": SECRET}, **kw)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "alliance.db"
    with _open(path) as alliance:
        alliance.add_campaign(make_campaign())
    return path


def _link(alliance: Alliance) -> str:
    return alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )


def _click(alliance: Alliance, link: str, n: int) -> str:
    """A click from the network 198.51.100.0/24 (a new browser each time); its decision."""
    click = alliance.track_click(link, ip=f"198.51.100.{n % 250 + 1}", user_agent=f"{HUMAN_UA} {n}")
    return click.verdict.decision


def _exchanger(alliance: Alliance) -> Exchanger:
    exchanger = alliance.fraud.exchanger
    assert exchanger is not None
    return exchanger


def _network_counts(path: Path) -> int:
    """The per-minute network clicks the file holds (every process's, once each)."""
    conn = sqlite3.connect(path)
    try:
        (total,) = conn.execute(
            "SELECT coalesce(sum(count), 0) FROM counters WHERE key LIKE 'velocity/minute/n/%'"
        ).fetchone()
    finally:
        conn.close()
    return int(total)


def _wait_for_a_whole_round(exchanger: Exchanger) -> None:
    """Wait until a once-a-second round has begun after this call and finished."""
    for _ in range(2):  # the first may have begun before
        exchanger.exchanged.clear()
        assert exchanger.exchanged.wait(WAIT_S)


def test_only_shared_counters_get_a_thread(db: Path) -> None:
    for clock in (None, FakeClock()):
        with _open(db, clock=clock) as alliance:
            assert _exchanger(alliance).thread.is_alive()
            assert _exchanger(alliance).thread.daemon
            assert _exchanger(alliance).thread.name == THREAD_NAME
            assert isinstance(alliance.fraud.per_minute, SharedCounts)
            assert alliance.fraud.per_minute.background
    with Alliance.open("memory://", keys={"k1": SECRET}) as alliance:
        assert alliance.fraud.exchanger is None


def test_a_second_of_the_alliances_clock_wakes_the_exchange(db: Path) -> None:
    clock = FakeClock()
    with _open(db, clock=clock) as alliance:
        link, exchanger = _link(alliance), _exchanger(alliance)
        pokes: list[float] = []
        poke = exchanger.poke

        def recorded() -> None:
            pokes.append(clock.timestamp())
            poke()

        exchanger.poke = recorded  # type: ignore[method-assign]
        _click(alliance, link, 0)  # the windows' first count: an exchange is due
        assert exchanger.exchange_now(WAIT_S)
        woken = len(pokes)
        for n in range(1, 5):
            _click(alliance, link, n)  # within the second: counted in memory only
        assert len(pokes) == woken
        for attempt in range(3):  # the wall clock's own round may come first: try again
            clock.advance(timedelta(seconds=1))
            before = len(pokes)
            _click(alliance, link, 5 + attempt)  # finds a second gone: wakes the thread
            if len(pokes) == before + 2:  # once per window, and the click did not wait
                break
        else:
            raise AssertionError("no click woke the exchange")
        assert exchanger.exchange_now(WAIT_S)
        assert _network_counts(db) == 6 + attempt


def test_two_alliances_on_one_file_see_each_others_clicks_within_a_second(db: Path) -> None:
    limits = FraudThresholds(network_clicks_per_minute=3)
    with _open(db, fraud=limits) as first, _open(db, fraud=limits) as second:
        link = _link(first)
        assert [_click(first, link, n) for n in range(3)] == ["allow"] * 3
        _wait_for_a_whole_round(_exchanger(first))  # the first's three are shared
        assert _click(second, link, 3) == "allow"  # its own one only, so far
        _wait_for_a_whole_round(_exchanger(second))  # the key it counted is read back
        assert _click(second, link, 4) == "block"  # 5 from the network this minute
        assert _network_counts(db) == 4
    assert _network_counts(db) == 5


def test_no_click_calls_the_counter_repository(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    def recorded(name: str) -> Callable[..., Any]:
        method = getattr(SqliteCounters, name)

        def call(self: SqliteCounters, *args: Any, **kw: Any) -> Any:
            calls.append((name, threading.current_thread().name))
            return method(self, *args, **kw)

        return call

    for name in ("exchange", "prune"):
        monkeypatch.setattr(SqliteCounters, name, recorded(name))
    with _open(db) as alliance:
        link = _link(alliance)
        exchanger = _exchanger(alliance)
        _click(alliance, link, 0)
        _wait_for_a_whole_round(exchanger)
        _wait_for_a_whole_round(exchanger)  # over a second since the click before it
        for n in range(1, 200):
            _click(alliance, link, n)
        assert exchanger.exchange_now(WAIT_S)
        by_clicks = [call for call in calls if call[1] != THREAD_NAME]
        assert by_clicks == []
        assert ("exchange", THREAD_NAME) in calls
        _click(alliance, link, 200)
    assert calls[-1][1] == threading.current_thread().name  # close() hands over the rest


def test_close_stops_the_thread_and_hands_over_every_count_once(db: Path) -> None:
    with _open(db) as alliance:
        link = _link(alliance)
        exchanger = _exchanger(alliance)
        thread = exchanger.thread
        for n in range(5):
            _click(alliance, link, n)
        assert exchanger.exchange_now(WAIT_S)
        for n in range(5, 12):
            _click(alliance, link, n)
    assert not thread.is_alive()
    assert thread not in threading.enumerate()
    assert not exchanger.exchange_now(0.1)
    assert _network_counts(db) == 12


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_exchanger_without_its_parents_counts(db: Path) -> None:
    # Clicks committed on the clicking thread: the store's click writer is not inside
    # SQLite when the process forks (the exchanger sees to it that it is not either).
    with _open(db, "?click_commit=immediate") as alliance:
        link = _link(alliance)
        exchanger = _exchanger(alliance)
        parent_thread = exchanger.thread
        assert exchanger.exchange_now(WAIT_S)  # so the clicks find no exchange due
        for n in range(3):
            _click(alliance, link, n)  # pending in the parent when it forks
        pid = os.fork()
        if pid == 0:  # the child: exits by itself in any case
            signal.alarm(30)
            code = 1
            try:
                child = _exchanger(alliance)
                fresh = child.thread is not parent_thread and child.thread.is_alive()
                _click(alliance, link, 3)  # the child's own click
                code = 0 if fresh and child.exchange_now(WAIT_S) else 2
                alliance.fraud.flush(alliance.fraud.ctx.now_ms())
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert _network_counts(db) == 1  # the child's own; the parent's three are its own
        assert parent_thread.is_alive()
    assert _network_counts(db) == 4


def test_a_forked_child_reads_an_unknown_key_inside_its_unit_of_work_at_once(db: Path) -> None:
    from affiliate_sdk.storage.rows import PeriodTotals

    with _open(db, "?click_commit=immediate") as alliance:
        assert _exchanger(alliance).exchange_now(WAIT_S)  # no exchange under way at the fork
        window = alliance.fraud.per_day
        assert isinstance(window, SharedCounts)
        pid = os.fork()
        if pid == 0:  # the child: exits by itself in any case
            signal.alarm(20)  # the busy timeout is 30 s: a read that waits for it fails here
            code = 1
            try:
                with alliance.store.transaction() as tx:  # this thread takes the write lock
                    tx.periods.put([PeriodTotals("fork/x")])
                    began = time.monotonic()
                    total = window.total("o/never-counted", alliance.fraud.ctx.now_ms())
                    code = 0 if total == 0 and time.monotonic() - began < 5 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
