"""What an order costs the store: repository calls counted, and no scan of the whole ledger."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from affiliate_sdk import Alliance, CampaignInactive, Money, Order
from affiliate_sdk.storage.rows import LineFilter
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign

#: Repository calls a simple attributed order may make (the issue's budget).
MAX_CALLS_PER_ORDER = 8


class _Counting:
    """A repository that records every call made to it."""

    def __init__(self, name: str, repository: object, calls: list[tuple[str, tuple[Any, ...]]]):
        self._name = name
        self._repository = repository
        self._calls = calls

    def __getattr__(self, attribute: str) -> Any:
        found = getattr(self._repository, attribute)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((f"{self._name}.{attribute}", args))
            return found(*args, **kwargs)

        return counted


class _CountingUnit:
    def __init__(self, unit: object, calls: list[tuple[str, tuple[Any, ...]]]) -> None:
        self._unit = unit
        self._calls = calls

    def __getattr__(self, name: str) -> _Counting:
        return _Counting(name, getattr(self._unit, name), self._calls)


def _count(
    alliance: Alliance, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, tuple[Any, ...]]]:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    store_type = type(alliance.store)

    def wrap(opening: Callable[..., Any]) -> Callable[..., Any]:
        @contextlib.contextmanager
        def counted(self: object, **scope: Any) -> Iterator[_CountingUnit]:
            with opening(self, **scope) as unit:  # (a reader may be a counted transaction already)
                yield unit if isinstance(unit, _CountingUnit) else _CountingUnit(unit, calls)

        return counted

    monkeypatch.setattr(store_type, "transaction", wrap(store_type.transaction))
    monkeypatch.setattr(store_type, "reader", wrap(store_type.reader))
    return calls


@pytest.fixture(params=["memory", "sqlite"])
def alliance(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Alliance]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'a.db'}"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as opened:
        opened.add_campaign(make_campaign())
        yield opened


def _visitors(alliance: Alliance, clock: FakeClock, count: int) -> list[str]:
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    visitors = [
        alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA).visitor_id
        for n in range(count)
    ]
    clock.advance(timedelta(hours=1))
    return visitors


def _order(order_id: str) -> Order:
    return Order(order_id=order_id, merchant_id="m1", total=Money("100.00", "CNY"))


def test_a_simple_order_makes_at_most_eight_repository_calls(
    alliance: Alliance, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitors = _visitors(alliance, clock, 3)
    alliance.record_order(_order("warm"), visitor_id=visitors[0])  # caches filled
    calls = _count(alliance, monkeypatch)
    outcome = alliance.record_order(_order("o1"), visitor_id=visitors[1])
    assert outcome.verdict.decision == "allow"
    assert [c.amount for c in outcome.commissions] == [Money("10.00", "CNY")]
    names = [name for name, _ in calls]
    assert len(names) <= MAX_CALLS_PER_ORDER, names
    assert names.count("journal.append") == 1
    assert names.count("outbox.add") == 1


def test_no_call_reads_the_whole_ledger(
    alliance: Alliance, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitors = _visitors(alliance, clock, 4)
    calls = _count(alliance, monkeypatch)
    booked = [
        alliance.record_order(_order(f"o{n}"), visitor_id=v).commissions[0].entry_id
        for n, v in enumerate(visitors)
    ]
    alliance.freeze(booked[:2], reason="look")
    alliance.approve(booked[:1])
    alliance.release(booked[1:2])
    clock.advance(timedelta(days=40))
    alliance.approve_due()
    unfiltered = [
        name for name, args in calls if name == "ledger.query" and args and args[0] == LineFilter()
    ]
    assert unfiltered == []
    assert "ledger.query" not in [name for name, _ in calls]


def test_a_catalog_nobody_changed_is_not_read_again_when_the_cache_period_ends(
    alliance: Alliance, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    alliance.track_click(link, ip="203.0.113.1", user_agent=HUMAN_UA)  # caches filled
    calls = _count(alliance, monkeypatch)
    for n in range(2, 5):
        clock.advance(alliance.settings.campaign_cache_ttl + timedelta(seconds=1))
        alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA)
    names = [name for name, _ in calls]
    assert names.count("catalog.revision") == 3
    assert names.count("sanctions.blacklist_revision") == 3
    rereads = {"catalog.get_campaign", "catalog.campaigns", "catalog.plan_versions"}
    assert not rereads & set(names), names
    assert "sanctions.blacklist" not in names


def test_a_change_made_by_another_process_is_seen_once_the_cache_period_ends(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with (
        Alliance.open(url, keys={"k1": SECRET}, clock=clock) as here,
        Alliance.open(url, keys={"k1": SECRET}, clock=clock) as there,
    ):
        here.add_campaign(make_campaign())
        link = here.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        assert here.track_click(link, ip="203.0.113.1", user_agent=HUMAN_UA).verdict.decision == (
            "allow"
        )
        there.blacklist("network", "203.0.113.9", reason="click farm")
        there.add_campaign(make_campaign(active=False))
        # within the cache period this process still goes by what it read
        assert here.campaign("c1").active
        assert here.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA).verdict.decision == (
            "allow"
        )
        clock.advance(here.settings.campaign_cache_ttl)
        assert not here.campaign("c1").active
        with pytest.raises(CampaignInactive):
            here.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA)
        assert here.blacklisted() == {"network:203.0.113.0/24": "click farm"}
