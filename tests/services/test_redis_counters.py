"""Velocity counters on Redis, composed with another store: every process sees them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from affiliate_sdk import Alliance, FraudThresholds, StorageError, UnsupportedStore
from affiliate_sdk.storage import ComposedStore, MemoryStore, open_store
from affiliate_sdk.storage.redis import RedisCounters
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign
from ..servers import REDIS_URL, redis_prefix


@pytest.fixture
def counters_url() -> Iterator[str]:
    with redis_prefix() as prefix:
        yield f"{REDIS_URL}?prefix={quote(prefix)}"


def _click(alliance: Alliance, link: str, n: int) -> str:
    click = alliance.track_click(link, ip=f"198.51.100.{n + 1}", user_agent=f"{HUMAN_UA} {n}")
    return click.verdict.decision


def test_two_alliances_on_one_redis_count_each_others_clicks_at_once(counters_url: str) -> None:
    limits = FraudThresholds(network_clicks_per_minute=3)
    clock = FakeClock()
    options: dict[str, Any] = {"clock": clock, "fraud": limits, "counters": counters_url}
    with (
        Alliance.open("memory://", keys={"k1": SECRET}, **options) as first,
        Alliance.open("memory://", keys={"k1": SECRET}, **options) as second,
    ):
        for alliance in (first, second):
            alliance.add_campaign(make_campaign())
        link = first.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        assert isinstance(first.store, ComposedStore)
        assert first.fraud.exchanger is None  # nothing to exchange: every count is on the server
        assert [_click(first, link, n) for n in range(2)] == ["allow"] * 2
        assert _click(second, link, 2) == "allow"  # the network's third this minute
        assert _click(first, link, 3) == "block"  # and its fourth, whichever alliance sees it
        clock.advance(timedelta(minutes=1))
        assert _click(second, link, 4) == "allow"  # a new minute


def test_counter_urls_are_checked_and_keep_passwords_out_of_messages() -> None:
    with pytest.raises(UnsupportedStore, match="redis://") as info:
        open_store("memory://", counters="memcached://u:hunter2@localhost")
    assert "hunter2" not in str(info.value)
    with pytest.raises(UnsupportedStore, match="prefix") as info:
        open_store("memory://", counters="redis://:hunter2@localhost:6379/0?prefix=")
    assert "hunter2" not in str(info.value)


def test_a_password_stays_out_of_messages() -> None:
    counters = RedisCounters("redis://user:s3cret@127.0.0.1:1/0")
    try:
        assert "s3cret" not in counters.url
        with pytest.raises(StorageError) as info:
            counters.exchange("t", "w", [("t/k", 1, 1)], [], since_bucket=0)
        assert "s3cret" not in str(info.value)
    finally:
        counters.close()


def test_closing_the_composed_store_closes_both(counters_url: str) -> None:
    closed: list[str] = []

    class Recorded(MemoryStore):
        def close(self) -> None:
            closed.append("store")
            super().close()

    opened = open_store("memory://", counters=counters_url)
    assert isinstance(opened, ComposedStore) and opened.counters.shared
    counters = opened.counters
    assert isinstance(counters, RedisCounters)
    store = ComposedStore(Recorded(), counters)
    counters.exchange("t", "w", [("t/k", 1, 1)], [], since_bucket=0)  # a connection in use
    store.close()
    assert closed == ["store"]
    pool = counters._client.connection_pool
    assert pool._available_connections  # the one it used, given back...
    assert all(c._sock is None for c in pool._available_connections)  # ...and disconnected
