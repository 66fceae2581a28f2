"""Replaying delivered events and pruning the outbox behind every subscription."""

from __future__ import annotations

from datetime import timedelta

import pytest

from affiliate_sdk._services.webhooks import WebhookService
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.testing import FakeClock

from ..receiver import Receiver
from .support import booked, orders, subscription, write


def test_replay_from_an_event_or_a_time(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    rows = []
    for n in range(1, 4):
        rows.append(booked(clock, n))
        write(store, rows[-1])
        clock.advance(timedelta(hours=1))
    dispatcher = service.dispatcher(allow_private=True)
    assert dispatcher.run_once().delivered == 3
    assert service.replay("s1", event_id=rows[1].event_id) == 2
    assert dispatcher.run_once().delivered == 2
    assert service.replay("s1", since=clock.now() - timedelta(minutes=90)) == 1
    assert dispatcher.run_once().delivered == 1
    assert service.replay("s1", since=clock.now()) == 0  # nothing that new
    assert orders(receiver.received) == ["o1", "o2", "o3", "o2", "o3", "o3"]
    with pytest.raises(InvalidInput):
        service.replay("s1", event_id="evt_missing")
    with pytest.raises(InvalidInput):
        service.replay("s1", since=clock.now().replace(tzinfo=None))
    with pytest.raises(InvalidInput):
        service.replay("s1", event_id=rows[0].event_id, since=clock.now())


def test_prune_keeps_what_a_subscription_has_not_reached(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/a", subscription_id="fast"))
    service.subscribe(subscription(f"{receiver.url}/b", subscription_id="slow"))
    write(store, *(booked(clock, n) for n in range(1, 5)))
    fast = service.dispatcher(allow_private=True)
    service.disable("slow")
    assert fast.run_once().delivered == 4
    clock.advance(timedelta(days=40))
    assert service.prune_outbox() == 0  # "slow" has not had any of them
    service.enable("slow")
    assert fast.run_once(budget=2).delivered == 2  # "slow" gets two of four
    assert service.prune_outbox() == 2
    assert service.prune_outbox(older_than=timedelta(days=41)) == 0
    with pytest.raises(InvalidInput):
        service.replay("slow", event_id=booked(clock, 1).event_id)  # pruned: gone for good
    assert service.replay("fast", event_id=booked(clock, 3).event_id) == 2
    assert fast.run_once().delivered == 4  # the rest for "slow", the replay for "fast"
    assert service.prune_outbox() == 2
    with store.reader() as tx:
        assert tx.outbox.after(0, limit=10) == []


def test_prune_keeps_recent_events(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1))
    assert service.dispatcher(allow_private=True).run_once().delivered == 1
    clock.advance(timedelta(days=29))
    assert service.prune_outbox() == 0
    clock.advance(timedelta(days=2))
    assert service.prune_outbox() == 1
