"""Velocity windows shared through the store: across processes, bounded, sliding."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from affiliate_sdk import Alliance
from affiliate_sdk.antifraud.shared import SharedCounts
from affiliate_sdk.storage import open_store
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, STORE_KINDS, make_campaign, store_url_for


@pytest.fixture(params=STORE_KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url_for(request.param, tmp_path)


def test_counts_slide_out_of_the_window(url: str) -> None:
    store = open_store(url)
    counts = SharedCounts(store, "t", 60_000, buckets=6, sync_ms=1_000)  # 10 s buckets
    assert counts.add("k", 0) == 1
    assert counts.add("k", 5_000) == 2
    assert counts.add("k", 30_000) == 3  # synced: the store holds all three
    assert counts.total("k", 65_000) == 1  # the first bucket has left the window
    assert counts.total("k", 200_000) == 0
    assert counts.total("never", 0) == 0
    store.close()


@pytest.mark.parametrize("kind", [kind for kind in STORE_KINDS if kind != "memory"])
def test_two_processes_see_each_others_counts_within_a_sync(kind: str, tmp_path: Path) -> None:
    url = store_url_for(kind, tmp_path)  # a memory store belongs to one process
    one, two = open_store(url), open_store(url)
    first = SharedCounts(one, "t", 60_000, buckets=6, sync_ms=1_000)
    second = SharedCounts(two, "t", 60_000, buckets=6, sync_ms=1_000)
    for ms in range(0, 500, 50):
        first.add("net", ms)
    assert second.add("net", 600) == 1  # not synced yet: only its own
    assert first.add("net", 1_000) == 11  # its sync wrote its ten
    assert second.add("net", 1_700) == 12  # its sync read them back
    assert first.total("net", 1_900) == 11  # its shared total is as of its own last sync
    assert first.add("net", 2_100) == 13  # the next sync catches up
    one.close()
    two.close()


def test_memory_is_bounded(url: str) -> None:
    store = open_store(url)
    counts = SharedCounts(store, "t", 60_000, buckets=6, max_keys=3, sync_ms=1)
    for n, key in enumerate("abcde"):
        counts.add(key, n)
    counts.flush(10)
    assert len(counts) == 3
    assert counts.total("a", 11) == 1  # forgotten in memory, read back from the store
    store.close()


def test_bad_shapes_are_refused() -> None:
    store = open_store("memory://")
    with pytest.raises(ValueError, match="multiple"):
        SharedCounts(store, "t", 1_000, buckets=7)
    with pytest.raises(ValueError, match="positive"):
        SharedCounts(store, "t", 1_000, buckets=5, sync_ms=0)


def test_app_servers_on_one_database_share_click_velocity(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    clock = FakeClock()
    servers = [Alliance.open(url, keys={"k1": SECRET}, clock=clock) for _ in range(2)]
    servers[0].add_campaign(make_campaign())
    link = servers[0].create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    decisions = []
    for n in range(40):  # one network, alternating between the servers, 20 per server
        click = servers[n % 2].track_click(link, ip="198.51.100.7", user_agent=f"{HUMAN_UA} {n}")
        decisions.append(click.verdict.decision)
        clock.advance(timedelta(milliseconds=600))
    # Neither server alone passes 30 a minute; together they do, seen within a second.
    assert decisions[:30] == ["allow"] * 30
    assert decisions[-1] == "block"
    assert decisions.count("block") >= 8
    for server in servers:
        server.close()
