"""Every state change writes its events to the outbox, in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.storage.rows import OutboxRow
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks.events import (
    EVENT_TYPES,
    ClickAttributed,
    CommissionChanged,
    Event,
    event_schemas,
)

from ..conftest import HUMAN_UA, SECRET, STORE_KINDS, make_campaign, store_url_for


@pytest.fixture(params=STORE_KINDS)
def alliance(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: object
) -> Iterator[Alliance]:
    url = store_url_for(request.param, tmp_path)  # type: ignore[arg-type]
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock, platform_take="0.2") as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        yield alliance


def _events(alliance: Alliance, after: int = 0) -> list[Event]:
    return [Event.model_validate_json(row.data) for row in _rows(alliance, after)]


def _rows(alliance: Alliance, after: int = 0) -> list[OutboxRow]:
    with alliance.store.reader() as tx:
        return tx.outbox.after(after, limit=1000)


def _click(alliance: Alliance, clock: FakeClock) -> str:
    link = alliance.create_link(
        affiliate_id="a1",
        campaign_id="c1",
        landing_url="https://shop.example.com/",
        sub_ids={"sub1": "spring sale", "sub3": "a&b=c"},
    )
    click = alliance.track_click(link, ip="203.0.113.7", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=10))
    return click.click_id


def test_an_order_writes_attribution_and_booking_events(
    alliance: Alliance, clock: FakeClock
) -> None:
    click_id = _click(alliance, clock)
    order = Order(order_id="o1", merchant_id="m1", total=Money("200.00", "USD"))
    outcome = alliance.record_order(order, click_id=click_id)
    events = _events(alliance)
    assert [e.type for e in events] == [
        "commission.booked",
        "commission.booked",
        "order.attributed",
        "click.attributed",
    ]
    booked = [e.payload() for e in events[:2]]
    assert all(isinstance(b, CommissionChanged) for b in booked)
    assert {(b.account, b.amount) for b in booked if isinstance(b, CommissionChanged)} == {
        ("affiliate", "16.00"),
        ("platform", "4.00"),
    }
    click = events[3].payload()
    assert isinstance(click, ClickAttributed)
    assert (click.click_id, click.commission, click.amount) == (click_id, "16.00", "200.00")
    assert click.sub_ids == {"sub1": "spring sale", "sub3": "a&b=c"}
    assert events[2].data["credits"][0]["affiliate_id"] == "a1"
    for event in events:  # every body is valid data of its type's model
        assert event.payload().model_dump(mode="json") == event.data
    # Recording the same order again changes nothing and writes nothing.
    assert alliance.record_order(order, click_id=click_id) == outcome
    assert len(_rows(alliance)) == 4
    assert len({e.event_id for e in events}) == 4


def test_every_lifecycle_step_has_its_event(alliance: Alliance, clock: FakeClock) -> None:
    click_id = _click(alliance, clock)
    outcome = alliance.record_order(
        Order(order_id="o1", merchant_id="m1", total=Money("100.00", "USD")), click_id=click_id
    )
    line = next(c for c in outcome.commissions if c.account == "affiliate")
    seen = len(_rows(alliance))
    alliance.freeze([line.entry_id], reason="looks odd")
    alliance.release([line.entry_id])
    alliance.approve([line.entry_id])
    clock.advance(timedelta(days=2))
    alliance.pay_approved(run_id="run-1")
    steps = [(e.type, e.data.get("status")) for e in _events(alliance, seen)]
    assert steps == [
        ("commission.frozen", "frozen"),
        ("commission.released", "pending"),
        ("commission.approved", "approved"),
        ("commission.paid", "paid"),
        ("payout.batch_created", None),
    ]
    assert _events(alliance, seen)[1].data["entry_id"] == line.entry_id


def test_refunds_and_rejections_have_events(alliance: Alliance, clock: FakeClock) -> None:
    click_id = _click(alliance, clock)
    first = alliance.record_order(
        Order(order_id="o1", merchant_id="m1", total=Money("100.00", "USD")), click_id=click_id
    )
    second = alliance.record_order(
        Order(order_id="o2", merchant_id="m1", total=Money("50.00", "USD")), click_id=click_id
    )
    seen = len(_rows(alliance))
    alliance.refund("m1", "o1", Money("40.00", "USD"), refund_id="r1")
    line = next(c for c in second.commissions if c.account == "affiliate")
    alliance.freeze([line.entry_id], reason="check")
    alliance.reject([line.entry_id], reason="fake order")
    events = _events(alliance, seen)
    reversed_ = [e for e in events if e.type == "commission.reversed"]
    assert {e.data["amount"] for e in reversed_} == {"-3.20", "-0.80"}  # affiliate, platform
    assert all(e.data["order_id"] == "o1" for e in reversed_)
    rejected = [e for e in events if e.type == "commission.rejected"]
    assert [(e.data["entry_id"], e.data["reason"]) for e in rejected] == [
        (line.entry_id, "fake order")
    ]
    assert first.commissions  # (the first order's lines were booked)


def test_a_failed_state_change_leaves_no_event(
    alliance: Alliance, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    click_id = _click(alliance, clock)
    with alliance.store.reader() as tx:
        uow = tx
    written: list[int] = []
    add = type(uow.outbox).add

    def broken(outbox: object, rows: object) -> None:
        # The events are written last: once they are in, the unit of work fails.
        add(outbox, rows)  # type: ignore[arg-type]
        written.append(len(uow.outbox.after(0, limit=1000)))
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(type(uow.outbox), "add", broken)
    with pytest.raises(RuntimeError):
        alliance.record_order(
            Order(order_id="o1", merchant_id="m1", total=Money("10.00", "USD")), click_id=click_id
        )
    assert written and written[0] > 0  # the events were written in the failed transaction...
    assert _rows(alliance) == []  # ...and went with it


def test_a_blocked_order_tells_no_affiliate(alliance: Alliance, clock: FakeClock) -> None:
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip="203.0.113.7", user_agent=HUMAN_UA)
    alliance.blacklist("affiliate", "a1", reason="expelled")
    clock.advance(timedelta(minutes=10))
    alliance.record_order(
        Order(order_id="o1", merchant_id="m1", total=Money("10.00", "USD")),
        click_id=click.click_id,
    )
    events = _events(alliance)
    assert [e.type for e in events] == ["order.attributed"]
    assert events[0].data["decision"] == "block"


def test_every_type_has_a_schema_and_bodies_are_json() -> None:
    schemas = event_schemas()
    assert set(schemas) == set(EVENT_TYPES)
    assert schemas["click.attributed"]["properties"]["sub_ids"]["type"] == "object"
    assert json.loads(json.dumps(schemas)) == schemas  # plain JSON, nothing lost on the way
    booked = schemas["commission.booked"]
    assert set(booked["properties"]) == set(CommissionChanged.model_fields)
    assert "amount" in booked["required"] and "reason" not in booked["required"]
