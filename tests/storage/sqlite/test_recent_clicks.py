"""What the background click writer knows without reading the file: its own recent clicks,
and when the other writers on the file last wrote one; and that a repeat click is still
found when another store on the file wrote the first."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from affiliate_sdk.ids import new_id
from affiliate_sdk.storage.rows import ClickRow
from affiliate_sdk.storage.sqlite import SQLiteStore
from affiliate_sdk.storage.sqlite import _recent as recent_module
from affiliate_sdk.storage.sqlite._recent import RecentClicks
from affiliate_sdk.storage.sqlite.clicks import _DEDUPE

from ..click_rows import click_row

_WAIT_S = 10.0


# -- the decision ----------------------------------------------------------------------------


def _ask(recent: RecentClicks, click: ClickRow, since_ms: int, now: float) -> tuple[bool, str]:
    """``lookup``, with the click found named by its id ("" for none)."""
    answerable, found = recent.lookup(click, since_ms, now)
    return answerable, "" if found is None else found.click_id


def test_nothing_is_answered_before_the_other_writers_are_known() -> None:
    recent = RecentClicks()
    assert _ask(recent, click_row("k2", 5_000), 1_000, 0.0) == (False, "")


def test_alone_on_the_file_the_writer_answers_from_its_own_clicks() -> None:
    recent = RecentClicks()
    recent.learn(None, at=10.0)
    recent.add(click_row("k1", 2_000))
    assert _ask(recent, click_row("k2", 5_000), 1_000, 10.1) == (True, "k1")
    # another link, or a first click older than the span: answered, and nothing found
    assert _ask(recent, click_row("k3", 5_000, link="L2"), 1_000, 10.1) == (True, "")
    assert _ask(recent, click_row("k4", 5_000), 2_001, 10.1) == (True, "")


def test_a_later_click_of_the_same_visit_replaces_the_earlier_one() -> None:
    recent = RecentClicks()
    recent.learn(None, at=0.0)
    recent.add(click_row("k1", 2_000))
    recent.add(click_row("k2", 3_000))
    recent.add(click_row("k0", 1_000))  # handed over late: older, kept out
    assert _ask(recent, click_row("k9", 4_000), 0, 0.0) == (True, "k2")


def test_visits_whose_ids_run_into_each_other_are_told_apart() -> None:
    recent = RecentClicks()
    recent.learn(None, at=0.0)
    recent.add(click_row("k1", 2_000, visitor="ab", link="c"))
    assert _ask(recent, click_row("k2", 3_000, visitor="a", link="bc"), 0, 0.0) == (True, "")
    assert _ask(recent, click_row("k3", 3_000, visitor="ab", link="c"), 0, 0.0) == (True, "k1")


def test_knowledge_of_the_other_writers_counts_only_while_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recent_module, "STALE_S", 0.25)
    recent = RecentClicks()
    recent.learn(None, at=10.0)
    assert _ask(recent, click_row("k2", 5_000), 1_000, 10.25)[0]
    assert _ask(recent, click_row("k2", 5_000), 1_000, 10.26) == (False, "")


def test_another_writers_click_inside_the_span_sends_the_question_to_the_file() -> None:
    recent = RecentClicks()
    recent.learn(1_000, at=0.0)  # another writer's latest click: at 1,000 ms
    assert _ask(recent, click_row("k2", 5_000), 1_000, 0.0) == (False, "")
    assert _ask(recent, click_row("k2", 5_000), 1_001, 0.0) == (True, "")


def test_a_visitor_born_after_the_other_writers_last_click_is_answered_here() -> None:
    recent = RecentClicks()
    recent.learn(1_000_000, at=0.0)
    born = new_id(2_000_000)  # an id of this SDK, minted at 2,000,000 ms
    click = click_row("k2", 2_500_000, visitor=born)
    assert _ask(recent, click, 500_000, 0.0) == (True, "")
    # an id stamped after the click itself is no evidence
    early = click_row("k3", 1_500_000, visitor=born)
    assert _ask(recent, early, 500_000, 0.0) == (False, "")


def test_a_visit_let_go_of_is_remembered_by_its_fingerprint() -> None:
    recent = RecentClicks(max_clicks=2)
    recent.learn(None, at=0.0)
    recent.add(click_row("k1", 1_000, visitor="visitor-1"))
    recent.add(click_row("k2", 2_000, visitor="visitor-2"))
    recent.add(click_row("k3", 3_000, visitor="visitor-3"))  # k1 is let go
    assert recent.horizon_ms < 0  # nothing forgotten yet
    # its row is gone: the file holds it, and is asked
    assert _ask(recent, click_row("k4", 4_000, visitor="visitor-1"), 0, 0.0) == (False, "")
    # a click let go of before the span does not count
    assert _ask(recent, click_row("k5", 4_000, visitor="visitor-1"), 1_001, 0.0) == (True, "")
    # a visit never seen, or a link the visitor never clicked: answered here
    assert _ask(recent, click_row("k6", 4_000, visitor="visitor-7"), 0, 0.0) == (True, "")
    assert _ask(recent, click_row("k7", 4_000, visitor="visitor-1", link="L2"), 0, 0.0) == (
        True,
        "",
    )
    assert _ask(recent, click_row("k8", 4_000, visitor="visitor-2"), 0, 0.0) == (True, "k2")


def test_fingerprints_of_a_thousand_visits_let_go_of_match_no_other_visit() -> None:
    recent = RecentClicks(max_clicks=1)
    recent.learn(None, at=0.0)
    for n in range(1_001):
        recent.add(click_row(f"k{n}", 1_000 + n, visitor=f"visitor-{n}"))
    for n in range(1_000):  # let go of, each asked of the file
        assert not recent.lookup(click_row("k", 9_000, visitor=f"visitor-{n}"), 0, 0.0)[0]
    answered = [
        recent.lookup(click_row("k", 9_000, visitor=f"stranger-{n}"), 0, 0.0)[0]
        for n in range(10_000)
    ]
    assert sum(answered) >= 9_990  # a filter this empty matches a stranger about never


def test_dropping_the_oldest_fingerprints_moves_the_horizon() -> None:
    recent = RecentClicks(max_clicks=1, fingerprints=2, generations=2)
    recent.learn(None, at=0.0)
    for n, at in enumerate((1_000, 2_000, 3_000, 4_000, 5_000, 6_000)):
        recent.add(click_row(f"k{n}", at, visitor=f"visitor-{n}"))
    # let go of: 1,000 and 2,000 (the first generation), 3,000 and 4,000; then 5,000 made a
    # third generation and the first was dropped
    assert recent.horizon_ms == 2_001
    assert _ask(recent, click_row("k9", 7_000, visitor="visitor-9"), 2_000, 0.0) == (False, "")
    assert _ask(recent, click_row("k9", 7_000, visitor="visitor-9"), 2_001, 0.0) == (True, "")


def test_a_click_older_than_one_let_go_of_is_not_taken_for_its_visits_latest() -> None:
    recent = RecentClicks(max_clicks=1)
    recent.learn(None, at=0.0)
    recent.add(click_row("k1", 5_000))
    recent.add(click_row("k2", 6_000, visitor="visitor-2"))  # k1 (5,000) is let go
    recent.add(click_row("k0", 1_000))  # the same visit, handed over late
    answerable, _ = recent.lookup(click_row("k3", 7_000), 2_000, 0.0)
    assert not answerable  # 5,000 is in the span: only the file can say which click it is


# -- on the file -----------------------------------------------------------------------------


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "clicks.db"


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Knowledge stays fresh for the length of a test on a slow machine."""
    monkeypatch.setattr(recent_module, "STALE_S", 60.0)


def _settle(store: SQLiteStore) -> None:
    """Wait until the store's writer has committed everything queued (and learned after)."""
    deadline = time.monotonic() + _WAIT_S
    writer = store._current_writer()
    assert writer is not None
    while True:
        with writer.lock:
            if not writer.queued():
                return
        assert time.monotonic() < deadline, "the click writer did not finish"
        time.sleep(0.005)


def _dedupe_queries(statements: list[str]) -> list[str]:
    """The statements that asked the file for a visitor's latest click on a link."""
    ask = _DEDUPE.partition(" WHERE ")[2].partition(" AND ")[0]  # merchant_id = ?
    assert ask
    return [s for s in statements if " AND link_id = " in s and ask[:11] in s]


def _record(store: SQLiteStore, click: ClickRow, since_ms: int | None) -> tuple[str, bool]:
    with store.transaction() as tx:
        stored, created = tx.clicks.record(click, dedupe_since_ms=since_ms)
    return stored.click_id, created


@pytest.fixture
def traced(path: Path) -> Iterator[tuple[SQLiteStore, list[str]]]:
    store = SQLiteStore(path)
    statements: list[str] = []
    store._conns.current().set_trace_callback(statements.append)
    try:
        yield store, statements
    finally:
        store.close()


@pytest.mark.usefixtures("fresh")
def test_a_store_alone_on_its_file_finds_repeats_without_the_dedupe_query(
    traced: tuple[SQLiteStore, list[str]],
) -> None:
    store, statements = traced
    assert _record(store, click_row("k0", 500, link="L9"), 0) == ("k0", True)
    assert _dedupe_queries(statements)  # no writer yet: the file is asked (and seen here)
    assert _record(store, click_row("k1", 1_000), None) == ("k1", True)
    _settle(store)
    statements.clear()
    # the same visitor on another link: a new click, and the file is not asked
    assert _record(store, click_row("k2", 2_000, link="L2"), 0) == ("k2", True)
    assert not _dedupe_queries(statements)
    # the same link again: the first click, as the writer holds it (the file is not read)
    assert _record(store, click_row("k3", 3_000), 0) == ("k1", False)
    assert not [s for s in statements if "FROM clicks" in s]


@pytest.mark.usefixtures("fresh")
def test_a_repeat_of_a_click_another_store_wrote_is_found(path: Path) -> None:
    first, second = SQLiteStore(path), SQLiteStore(path)
    try:
        assert _record(second, click_row("s1", 500, visitor="visitor-9"), None) == ("s1", True)
        _settle(second)  # the second store's writer exists and knows the file
        assert _record(first, click_row("k1", 1_000), None) == ("k1", True)
        _settle(first)
        assert _record(second, click_row("s2", 1_500, visitor="visitor-8"), None) == ("s2", True)
        _settle(second)  # it committed after the first store's click: it knows of it
        assert _record(second, click_row("k2", 2_000), 0) == ("k1", False)
        # a link the first store's visitor never clicked: a new click
        assert _record(second, click_row("k3", 2_500, link="L2"), 0) == ("k3", True)
    finally:
        first.close()
        second.close()


def test_a_store_writing_clicks_in_its_units_of_work_is_a_writer_too(path: Path) -> None:
    immediate = SQLiteStore(path, click_commit="immediate")
    try:
        assert _record(immediate, click_row("k1", 1_000), None) == ("k1", True)
    finally:
        immediate.close()
    conn = sqlite3.connect(path)
    try:
        assert [row[0] for row in conn.execute("SELECT last_ms FROM click_writers")] == [1_000]
    finally:
        conn.close()
    background = SQLiteStore(path)
    try:  # so a background store asks the file, and finds the click
        assert _record(background, click_row("k2", 2_000, link="L2"), None) == ("k2", True)
        _settle(background)
        assert _record(background, click_row("k3", 3_000), 0) == ("k1", False)
    finally:
        background.close()


def test_writers_silent_for_over_a_year_are_forgotten(path: Path) -> None:
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    day = 86_400_000
    conn.execute("INSERT INTO click_writers VALUES ('gone', ?), ('recent', ?)", (day, 500 * day))
    conn.close()
    store = SQLiteStore(path)
    try:
        assert _record(store, click_row("k1", 501 * day), None) == ("k1", True)
        _settle(store)
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        left = {row[0] for row in conn.execute("SELECT token FROM click_writers")}
    finally:
        conn.close()
    assert "gone" not in left
    assert "recent" in left
    assert len(left) == 2  # and the store's own row
