"""A call that raises changes no velocity counter: nothing in memory, nothing in the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from affiliate_sdk import (
    AffiliateError,
    Alliance,
    CommissionPlan,
    FraudThresholds,
    InvalidInput,
    Money,
    MoneyError,
    Order,
    StorageError,
)
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, STORE_KINDS, make_campaign, store_url_for

SURROGATE = "\ud800"
IP = "203.0.113.7"
VISITOR = "visitor-0001"
DEVICE = "device-0001"
#: Every key the click and order paths count for affiliate a1 and the visitor above.
MINUTE_KEYS = ("a/a1", "n/203.0.113.0/24", f"v/{VISITOR}", f"d/{DEVICE}")
# the campaign's clicks, the affiliate's clicks and orders on it, the visitor's clicks on it
DAY_KEYS = ("k/m1/c1", "k/m1/c1/a1", "o/m1/c1/a1", f"{VISITOR}/a1")
#: A weekly cap above the visitor's per-minute and per-day limits: those are counted too.
EVERY_WINDOW = FraudThresholds(visitor_touches_per_week=50)
WEEK_KEYS = (f"t/{VISITOR}",)  # the frequency cap's touches


@pytest.fixture(params=STORE_KINDS)
def alliance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Alliance]:
    clock = FakeClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    url = store_url_for(request.param, tmp_path)
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as opened:
        opened.add_campaign(make_campaign(fraud=EVERY_WINDOW))
        # a USD campaign's flat fee: a CNY order cannot be priced without exchange rates
        flat = CommissionPlan(flat=Money("5.00", "USD"))
        opened.add_campaign(make_campaign("usd", plan=flat))
        yield opened


def _snapshot(alliance: Alliance) -> tuple[list[int], list[int]]:
    """The windows' totals for every key counted here, and the store's sums of them."""
    fraud, now_ms = alliance.fraud, alliance._services.ctx.now_ms()
    fraud.flush(now_ms)  # what is pending goes to the store's counters first
    totals = [fraud.per_minute.total(key, now_ms) for key in MINUTE_KEYS]
    totals += [fraud.per_day.total(key, now_ms) for key in DAY_KEYS]
    totals += [fraud.per_week.total(key, now_ms) for key in WEEK_KEYS]
    stored: list[int] = []
    for namespace, keys in (
        ("velocity/minute", MINUTE_KEYS),
        ("velocity/day", DAY_KEYS),
        ("velocity/week", WEEK_KEYS),
    ):
        names = [f"{namespace}/{key}" for key in keys]  # read as a writer of its own
        sums = alliance.store.counters.exchange(namespace, "reader", [], names, since_bucket=0)
        stored += [0] * len(keys) if sums is None else [total for total, _ in sums]
    return totals, stored


def _clicked(alliance: Alliance, campaign_id: str = "c1") -> str:
    """A link of ``campaign_id`` and a first click on it (so every key has a count)."""
    url = alliance.create_link(
        affiliate_id="a1", campaign_id=campaign_id, landing_url="https://shop.example.com/p"
    )
    alliance.track_click(url, ip=IP, user_agent=HUMAN_UA, visitor_id=VISITOR, device_id=DEVICE)
    clock = alliance.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(seconds=5))  # inside the minute: every window still counts it
    return url


def _hostile_clicks(url: str) -> list[dict[str, str | None]]:
    base: dict[str, str | None] = {
        "ip": IP,
        "user_agent": HUMAN_UA,
        "visitor_id": VISITOR,
        "device_id": DEVICE,
    }
    return [
        {**base, "referrer": f"https://ref.example/{SURROGATE}"},
        {**base, "visitor_id": f"{SURROGATE}x"},
        {**base, "user_agent": HUMAN_UA + SURROGATE},
        {**base, "ip": "203.0.113.999"},
        {**base, "country": "de"},
        {**base, "device_id": "x"},
    ]


def test_hostile_clicks_that_raise_count_nothing(alliance: Alliance) -> None:
    url = _clicked(alliance)
    before = _snapshot(alliance)
    assert before[0] == [1, 1, 1, 1, 1, 1, 0, 1, 1]
    for arguments in _hostile_clicks(url):
        with pytest.raises(AffiliateError):
            alliance.track_click(url, **arguments)
    with pytest.raises(AffiliateError):
        alliance.track_click(url + "x", ip=IP, user_agent=HUMAN_UA, visitor_id=VISITOR)
    assert _snapshot(alliance) == before
    alliance.track_click(url, ip=IP, user_agent=HUMAN_UA, visitor_id=VISITOR, device_id=DEVICE)
    assert _snapshot(alliance)[0] == [2, 2, 2, 2, 2, 2, 0, 2, 2]  # and counting goes on


def test_a_click_the_store_refuses_is_uncounted(
    alliance: Alliance, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _clicked(alliance)
    before = _snapshot(alliance)
    with alliance.store.reader() as tx:
        clicks = type(tx.clicks)

    def refuse(*args: object, **kwargs: object) -> object:
        raise StorageError("the disk is full")

    monkeypatch.setattr(clicks, "record", refuse)
    with pytest.raises(StorageError, match="disk is full"):
        alliance.track_click(url, ip=IP, user_agent=HUMAN_UA, visitor_id=VISITOR, device_id=DEVICE)
    assert _snapshot(alliance) == before


def test_an_order_that_cannot_be_priced_counts_nothing(alliance: Alliance) -> None:
    _clicked(alliance, "usd")  # its USD fee cannot be paid on a CNY order without exchange rates
    before = _snapshot(alliance)
    order = Order(order_id="o-fx", merchant_id="m1", total=Money("100.00", "CNY"))
    with pytest.raises(MoneyError):
        alliance.record_order(order, visitor_id=VISITOR, ip=IP, user_agent=HUMAN_UA)
    assert _snapshot(alliance) == before


def test_hostile_orders_count_nothing(alliance: Alliance) -> None:
    _clicked(alliance)
    before = _snapshot(alliance)
    order = Order(order_id="o1", merchant_id="m1", total=Money("100.00", "CNY"))
    calls: list[Callable[[], object]] = [
        lambda: alliance.record_order(order, visitor_id=VISITOR, click_id=SURROGATE),
        lambda: alliance.record_order(order, visitor_id=SURROGATE),
        lambda: alliance.record_order(order, visitor_id=VISITOR, user_agent=SURROGATE),
        lambda: alliance.record_order(order, visitor_id=VISITOR, ip="203.0.113"),
    ]
    for call in calls:
        with pytest.raises(InvalidInput):
            call()
    assert _snapshot(alliance) == before


def test_a_recorded_order_is_counted_once(alliance: Alliance) -> None:
    _clicked(alliance)
    order = Order(order_id="o1", merchant_id="m1", total=Money("100.00", "CNY"))
    outcome = alliance.record_order(order, visitor_id=VISITOR)
    assert outcome.commissions
    alliance.record_order(order, visitor_id=VISITOR)  # the same order again: not counted
    assert _snapshot(alliance)[0][-1] == 1
