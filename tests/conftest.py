from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, Campaign, CommissionPlan, Money, Order
from affiliate_sdk.storage import ClickRecord
from affiliate_sdk.testing import FakeClock

from .servers import POSTGRES_URL, drop_schemas, postgres_schema_name

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


def book_orders(
    alliance: Alliance,
    clock: FakeClock,
    affiliate: str,
    orders: int,
    *,
    injected: int = 0,
    first: int = 1,
    network: str = "10.2",
) -> int:
    """``orders`` orders of 30.00 CNY on campaign c1, each from a click of the affiliate's
    ten minutes before (the first ``injected`` two seconds before: click injection), numbered
    ``o{first}`` on; the number after the last."""
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    for n in range(orders):
        number = first + n
        click = alliance.track_click(link, ip=f"{network}.{number}.1", user_agent=HUMAN_UA)
        clock.advance(timedelta(seconds=2 if n < injected else 600))
        alliance.record_order(
            Order(order_id=f"o{number}", merchant_id="m1", total=Money("30.00", "CNY")),
            click_id=click.click_id,
        )
    return first + orders


def make_campaign(
    campaign_id: str = "c1",
    merchant_id: str = "m1",
    rate: object = "10%",
    domains: tuple[str, ...] = ("shop.example.com",),
    plan: CommissionPlan | None = None,
    **extra: object,
) -> Campaign:
    """A campaign for tests; keyword arguments override any other field."""
    return Campaign(
        campaign_id=campaign_id,
        merchant_id=merchant_id,
        plan=plan if plan is not None else CommissionPlan(rate=rate),
        landing_domains=list(domains),
        **extra,
    )


def click_record(
    click_id: str, visitor: str = "v1", link: str = "L1", at: int = 1000
) -> ClickRecord:
    """A stored click as a backend sees it."""
    return ClickRecord(
        click_id,
        visitor,
        link,
        "a1",
        "c1",
        "m1",
        "https://shop.example.com/",
        b"s\xff\xff\xff\xff",
        at,
        "h" * 32,
        "203.0.113.0/24",
        None,
        None,
        "allow",
        "{}",
    )


STORE_KINDS = ["memory", "sqlite", "sqlite-immediate", "postgres"]

#: The PostgreSQL schemas the tests of this process made (dropped at the end).
_SCHEMAS: list[str] = []


def store_url_for(kind: str, directory: Path) -> str:
    """A store URL of each kind the contract covers (PostgreSQL: a schema of its own)."""
    if kind == "memory":
        return "memory://"
    if kind == "postgres":
        schema = postgres_schema_name()
        _SCHEMAS.append(schema)
        return f"{POSTGRES_URL}?schema={schema}"
    url = f"sqlite:///{directory / 'alliance.db'}"
    return url + "?click_commit=immediate" if kind == "sqlite-immediate" else url


@pytest.fixture(scope="session", autouse=True)
def _drop_test_schemas() -> Iterator[None]:
    yield
    drop_schemas(_SCHEMAS)


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url_for(request.param, tmp_path)


@pytest.fixture
def alliance(store_url: str, clock: FakeClock) -> Iterator[Alliance]:
    with Alliance.open(store_url, keys={"k1": SECRET}, clock=clock) as opened:
        opened.add_campaign(make_campaign(domains=("shop.example.com", "*.cdn.example.com")))
        yield opened


def browse(alliance: Alliance, minutes: float = 1) -> None:
    """Let a visitor's time pass between a click and an order (a human pace, not injection)."""
    from datetime import timedelta

    clock = alliance.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(minutes=minutes))
