"""Velocity counters in PostgreSQL, composed with another store: shared within a second."""

from __future__ import annotations

from typing import Any

import pytest

from affiliate_sdk import Alliance, FraudThresholds, UnsupportedStore
from affiliate_sdk.storage import ComposedStore, open_store
from affiliate_sdk.storage.postgres import PostgresCounters
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign
from ..servers import POSTGRES_URL, postgres_schema

WAIT_S = 10.0


def _click(alliance: Alliance, link: str, n: int) -> str:
    click = alliance.track_click(link, ip=f"198.51.100.{n + 1}", user_agent=f"{HUMAN_UA} {n}")
    return click.verdict.decision


def _exchange(alliance: Alliance) -> None:
    exchanger = alliance.fraud.exchanger
    assert exchanger is not None
    assert exchanger.exchange_now(WAIT_S)


def test_two_alliances_on_one_database_see_each_others_clicks_within_a_second() -> None:
    with postgres_schema() as schema:
        limits = FraudThresholds(network_clicks_per_minute=3)
        counters = f"{POSTGRES_URL}?schema={schema}"
        options: dict[str, Any] = {"clock": FakeClock(), "fraud": limits, "counters": counters}
        with (
            Alliance.open("memory://", keys={"k1": SECRET}, **options) as first,
            Alliance.open("memory://", keys={"k1": SECRET}, **options) as second,
        ):
            assert isinstance(first.store, ComposedStore)
            assert isinstance(first.store.counters, PostgresCounters)
            for alliance in (first, second):
                alliance.add_campaign(make_campaign())
            link = first.create_link(
                affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
            )
            assert [_click(first, link, n) for n in range(3)] == ["allow"] * 3
            _exchange(first)  # the first's three are in the database
            assert _click(second, link, 3) == "allow"  # its own one only, so far
            _exchange(second)  # the key it counted is read back
            assert _click(second, link, 4) == "block"  # 5 from the network this minute


def test_a_bad_schema_name_is_refused() -> None:
    with pytest.raises(UnsupportedStore, match="schema name"):
        open_store("memory://", counters=f"{POSTGRES_URL}?schema=drop table x")
    with pytest.raises(UnsupportedStore) as info:
        open_store("memory://", counters="postgresql://u:hunter2@h/db?schema=a&schema=b")
    assert "hunter2" not in str(info.value)
