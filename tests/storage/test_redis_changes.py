"""Changes announced on Redis reach the other processes' caches at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, CampaignInactive
from affiliate_sdk.storage.redis import RedisCounters
from affiliate_sdk.storage.sqlite.sanctions import SqliteSanctions
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign
from ..servers import REDIS_URL, redis_prefix


def _until(done: Callable[[], bool], seconds: float = 10, every: float = 0.01) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(every)
    return False


def test_an_announcement_is_heard_by_every_listener() -> None:
    with redis_prefix() as prefix:
        ours, theirs = (
            RedisCounters(REDIS_URL, prefix=prefix),
            RedisCounters(REDIS_URL, prefix=prefix),
        )
        try:
            before = (theirs.changes.heard("catalog"), theirs.changes.heard("blacklist"))
            time.sleep(0.2)  # (the listener subscribes on the first call)
            ours.changes.announce("blacklist")
            assert _until(lambda: theirs.changes.heard("blacklist") == before[1] + 1)
            assert theirs.changes.heard("catalog") == before[0]
        finally:
            ours.close()
            theirs.close()


@contextmanager
def _servers(path: Path, prefix: str | None) -> Iterator[tuple[Alliance, Alliance, FakeClock]]:
    """Two app servers on one file and one clock (which stays put: no cache period ends)."""
    clock = FakeClock()
    counters = {} if prefix is None else {"counters": f"{REDIS_URL}?prefix={prefix}"}
    url = f"sqlite:///{path}"
    with (
        Alliance.open(url, keys={"k1": SECRET}, clock=clock, **counters) as first,
        Alliance.open(url, keys={"k1": SECRET}, clock=clock, **counters) as second,
    ):
        first.add_campaign(make_campaign())
        yield first, second, clock


def _blocked_soon(path: Path, prefix: str | None) -> bool:
    """Whether a network blacklisted on one server is blocked on the other within a second."""
    with _servers(path, prefix) as (first, second, _):
        link = first.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        click = second.track_click(link, ip="198.51.100.7", user_agent=HUMAN_UA)
        assert click.verdict.decision == "allow"
        time.sleep(0.2)  # (the second server listens from its first click)
        first.blacklist("network", "198.51.100.7", reason="click farm")

        def blocked() -> bool:
            again = second.track_click(link, ip="198.51.100.8", user_agent=HUMAN_UA)
            return "blacklist.click" in [r.code for r in again.verdict.reasons]

        return _until(blocked, seconds=1, every=0.1)  # (under the network's velocity limit)


def test_a_blacklisting_reaches_another_server_before_its_cache_period_ends(tmp_path: Path) -> None:
    assert not _blocked_soon(tmp_path / "alone.db", None)  # the period has to end first
    with redis_prefix() as prefix:
        assert _blocked_soon(tmp_path / "redis.db", prefix)


def test_a_paused_campaign_stops_clicks_on_another_server_at_once(tmp_path: Path) -> None:
    with redis_prefix() as prefix, _servers(tmp_path / "a.db", prefix) as (first, second, _):
        link = first.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        second.track_click(link, ip="198.51.100.7", user_agent=HUMAN_UA)
        time.sleep(0.2)
        first.add_campaign(make_campaign(active=False))

        def refused() -> bool:
            try:
                second.track_click(link, ip="198.51.100.9", user_agent=HUMAN_UA)
            except CampaignInactive:
                return True
            return False

        assert _until(refused)


def test_an_announcement_that_changes_nothing_is_asked_about_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with redis_prefix() as prefix, _servers(tmp_path / "a.db", prefix) as (first, second, _):
        link = first.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        second.track_click(link, ip="198.51.100.7", user_agent=HUMAN_UA)
        time.sleep(0.2)
        heard = second.fraud.ctx.heard("blacklist")
        first.blacklist("network", "198.51.100.7", reason="", remove=True)  # not listed
        assert _until(lambda: second.fraud.ctx.heard("blacklist") > heard)
        asked: list[int] = []
        revision = SqliteSanctions.blacklist_revision

        def counted(self: SqliteSanctions) -> int:
            asked.append(1)
            return revision(self)

        monkeypatch.setattr(SqliteSanctions, "blacklist_revision", counted)
        for n in range(5):
            second.track_click(link, ip=f"198.51.100.{20 + n}", user_agent=HUMAN_UA)
        assert len(asked) == 1  # the clock stands still: no cache period ends meanwhile


def test_without_its_server_a_returning_visitor_is_still_found_by_the_store(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with Alliance.open(
        f"sqlite:///{tmp_path / 'a.db'}", keys={"k1": SECRET}, clock=clock,
        counters="redis://127.0.0.1:1/0",  # nothing listens there
    ) as alliance:  # fmt: skip
        alliance.add_campaign(make_campaign())
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        click = alliance.track_click(link, ip="198.51.100.2", user_agent=HUMAN_UA)
        again = alliance.track_click(
            link, ip="198.51.100.2", user_agent=HUMAN_UA, visitor_id=click.visitor_id
        )
        assert (again.reused, again.click_id) == (True, click.click_id)
        alliance.blacklist("network", "198.51.100.9", reason="farm")  # announced to nobody
        blocked = alliance.track_click(link, ip="198.51.100.9", user_agent=HUMAN_UA)
        assert blocked.verdict.decision == "block"
