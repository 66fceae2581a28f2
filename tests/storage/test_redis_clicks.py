"""Repeated clicks found on Redis: a first click claimed there is seen by every process at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, Click
from affiliate_sdk.errors import StorageError
from affiliate_sdk.storage.composed import ComposedStore
from affiliate_sdk.storage.redis import RedisCounters
from affiliate_sdk.storage.redis.clicks import decode_click, encode_click
from affiliate_sdk.storage.sqlite import SQLiteStore
from affiliate_sdk.storage.sqlite.clicks import SqliteClicks
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking.clicks import ClickRow

from ..conftest import HUMAN_UA, SECRET, make_campaign
from ..servers import REDIS_URL, redis_counters, redis_prefix


def _row(click_id: str, at_ms: int, *, visitor: str = "v1", link: str = "L1") -> ClickRow:
    return ClickRow(
        click_id, visitor, link, "a1", "c1", "m1", "https://shop.example.com/", b"\x00\xff",
        at_ms, "h", "203.0.113.0/24", None, None, "allow", "{}", None,
    )  # fmt: skip


def test_a_row_reads_back_as_it_was_written() -> None:
    row = _row("k1", 1_700_000_000_123)._replace(country="DE", referrer_host="news.example")
    assert decode_click(encode_click(row)) == row
    assert encode_click(row).startswith("1700000000123|")


def test_a_claim_holds_the_first_click_of_the_window() -> None:
    with redis_counters() as counters:
        claims = counters.click_claims
        first = _row("k1", 10_000)
        assert claims.claim(first, since_ms=0) is None  # taken
        assert claims.claim(_row("k2", 20_000), since_ms=5_000) == first
        assert claims.claim(_row("k3", 20_000, link="L2"), since_ms=5_000) is None  # another link
        assert claims.claim(_row("k4", 20_000, visitor="v2"), since_ms=5_000) is None
        later = _row("k5", 90_000)
        assert claims.claim(later, since_ms=30_000) is None  # the first is out of the window
        claims.forget(first)  # no longer the claim: nothing happens
        assert claims.claim(_row("k6", 95_000), since_ms=35_000) == later
        claims.forget(later)
        assert claims.claim(_row("k7", 96_000), since_ms=36_000) is None
        claims.keep(first, since_ms=9_000)
        assert claims.claim(_row("k8", 96_000), since_ms=0) == first


@contextmanager
def _server(path: Path, clock: FakeClock, prefix: str | None) -> Iterator[Alliance]:
    """An app server on the file whose click writer waits a minute between batches."""
    store = SQLiteStore(path, click_batch_every=timedelta(minutes=1))
    composed = (
        store if prefix is None else ComposedStore(store, RedisCounters(REDIS_URL, prefix=prefix))
    )
    alliance = Alliance(composed, keys={"k1": SECRET}, clock=clock)
    try:
        yield alliance
    finally:
        alliance.close()


def _written(alliance: Alliance, click_id: str) -> None:
    """Wait until the click is in the file (as the other server reads it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with alliance.store.reader() as tx:
            if tx.clicks.get(click_id) is not None:
                return
        time.sleep(0.01)
    raise AssertionError(f"click {click_id} was not written")


def test_a_repeat_on_another_server_is_found_before_the_first_click_is_written(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "shop.db"
    with (
        redis_prefix() as prefix,
        _server(path, clock, prefix) as first,
        _server(path, clock, prefix) as second,
    ):
        first.add_campaign(make_campaign())
        link = first.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        warm = first.track_click(link, ip="198.51.100.1", user_agent=HUMAN_UA)
        _written(second, warm.click_id)
        store = first.store
        assert isinstance(store, ComposedStore) and isinstance(store.store, SQLiteStore)
        store.store._hold_threads()  # the first server's click writer writes nothing now
        try:
            click = first.track_click(link, ip="198.51.100.2", user_agent=HUMAN_UA)
            with second.store.reader() as tx:
                assert tx.clicks.get(click.click_id) is None  # not in the file
            clock.advance(timedelta(seconds=2))
            again = second.track_click(
                link, ip="198.51.100.2", user_agent=HUMAN_UA, visitor_id=click.visitor_id
            )
        finally:
            store.store._release_threads()
        assert (again.reused, again.click_id) == (True, click.click_id)


def _first_click(alliance: Alliance) -> tuple[str, Click]:
    """A campaign, a link to it, and a new visitor's click on it."""
    alliance.add_campaign(make_campaign())
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    return link, alliance.track_click(link, ip="198.51.100.2", user_agent=HUMAN_UA)


def test_a_repeat_after_the_window_is_a_new_click(tmp_path: Path) -> None:
    clock = FakeClock()
    with redis_prefix() as prefix, _server(tmp_path / "a.db", clock, prefix) as alliance:
        link, click = _first_click(alliance)
        clock.advance(timedelta(minutes=59))
        again = alliance.track_click(
            link, ip="198.51.100.2", user_agent=HUMAN_UA, visitor_id=click.visitor_id
        )
        assert (again.reused, again.click_id) == (True, click.click_id)
        clock.advance(timedelta(minutes=2))
        later = alliance.track_click(
            link, ip="198.51.100.2", user_agent=HUMAN_UA, visitor_id=click.visitor_id
        )
        assert not later.reused and later.click_id != click.click_id
        clock.advance(timedelta(minutes=1))
        last = alliance.track_click(
            link, ip="198.51.100.2", user_agent=HUMAN_UA, visitor_id=click.visitor_id
        )
        assert (last.reused, last.click_id) == (True, later.click_id)


def test_a_click_the_store_refuses_leaves_no_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    with redis_prefix() as prefix, _server(tmp_path / "a.db", clock, prefix) as alliance:
        link, click = _first_click(alliance)
        clock.advance(timedelta(hours=2))  # the first click's window is over

        def full(*_: object, **__: object) -> None:
            raise StorageError("the disk is full")

        monkeypatch.setattr(SqliteClicks, "record", full)
        with pytest.raises(StorageError):
            alliance.track_click(
                link, ip="198.51.100.2", user_agent=HUMAN_UA, visitor_id=click.visitor_id
            )
        monkeypatch.undo()
        again = alliance.track_click(
            link, ip="198.51.100.2", user_agent=HUMAN_UA, visitor_id=click.visitor_id
        )
        assert not again.reused  # not the refused click's id: that click does not exist
        with alliance.store.reader() as tx:
            assert tx.clicks.get(again.click_id) is not None
