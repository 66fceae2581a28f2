from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, Campaign, CommissionPlan
from affiliate_sdk.testing import FakeClock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = bytes(range(32))
HUMAN_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


STORE_KINDS = ["memory", "sqlite", "sqlite-immediate"]


def store_url_for(kind: str, directory: Path) -> str:
    """A store URL of each kind the contract covers."""
    if kind == "memory":
        return "memory://"
    url = f"sqlite:///{directory / 'alliance.db'}"
    return url + "?click_commit=immediate" if kind == "sqlite-immediate" else url


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url_for(request.param, tmp_path)


@pytest.fixture
def alliance(store_url: str, clock: FakeClock) -> Iterator[Alliance]:
    with Alliance.open(store_url, keys={"k1": SECRET}, clock=clock) as opened:
        opened.add_campaign(
            Campaign(
                campaign_id="c1",
                merchant_id="m1",
                plan=CommissionPlan(rate="10%"),
                landing_domains=["shop.example.com", "*.cdn.example.com"],
            )
        )
        yield opened
