"""A subscription its receiver's outage disabled comes back on its own, and loses nothing."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

import pytest

from affiliate_sdk._services.webhooks import WebhookService
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks._flow import ProbePolicy, _Backoff

from ..receiver import Answer, Receiver
from .support import HOOK_SECRET, booked, orders, subscription, write

STEP = timedelta(minutes=30)
#: Six days of half-hour passes: the outage, the probes, and the way back.
PASSES = 6 * 48


def test_ten_events_sent_during_a_four_day_outage_arrive_in_order_after_it(
    service: WebhookService,
    store: MemoryStore,
    clock: FakeClock,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="affiliate_sdk.webhooks")
    service.subscribe(subscription(f"{receiver.url}/hook"))
    dispatcher = service.dispatcher(allow_private=True, rng=random.Random(7))
    receiver.stop()
    down_at = clock.now()
    write(store, *(booked(clock, n) for n in range(1, 11)))
    disabled_at = None
    back = False
    for _ in range(PASSES):
        dispatcher.run_once()
        kept = service.subscription("s1")
        if disabled_at is None and not kept.active:
            disabled_at = clock.now()
            assert kept.disabled_by == "failures"
        if not back and clock.now() - down_at >= timedelta(days=4):
            receiver.start()  # the receiver is back, on the same port
            back = True
        if len(receiver.received) == 10:
            break
        clock.advance(STEP)
    assert disabled_at is not None and disabled_at - down_at < timedelta(days=4)
    assert orders(receiver.received) == [f"o{n}" for n in range(1, 11)]  # each once, in order
    assert service.subscription("s1").active
    assert len(service.dead_letters("s1")) == 3  # what the outage killed, then sent again
    recovered = [r for r in caplog.records if r.getMessage() == "webhook subscription recovered"]
    assert len(recovered) == 1
    fields = recovered[0].__dict__
    assert (fields["subscription_id"], fields["webhook_scope"]) == ("s1", "")
    assert fields["destination_host"] == "127.0.0.1" and fields["probes"] >= 1
    assert all(HOOK_SECRET not in r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert any(r.getMessage() == "webhook subscription disabled" for r in caplog.records)


def test_probes_back_off_from_an_hour_doubling_to_a_day(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    dispatcher = service.dispatcher(allow_private=True, rng=random.Random(3))
    write(store, *(booked(clock, n) for n in range(1, 4)))
    receiver.script.extend([Answer(400)] * 3)
    dispatcher.run_once()
    assert service.subscription("s1").disabled_by == "failures"
    disabled = clock.timestamp()
    receiver.script.extend([Answer(503)] * 8)
    for _ in range(12 * 24 * 4):  # four days, five minutes at a time
        clock.advance(timedelta(minutes=5))
        dispatcher.run_once()
    probes = [e["at_ms"] / 1000 for e in service.delivery_log("s1")[3:]]
    gaps = [b - a for a, b in zip([disabled, *probes], probes, strict=False)]
    hours = [round(gap / 3600) for gap in gaps]
    assert hours[:6] == [1, 2, 4, 8, 16, 24]
    assert not service.subscription("s1").active  # 503s are not a recovery


def test_the_probe_wait_comes_from_tenacity_with_the_injected_jitter() -> None:
    policy = ProbePolicy(first=3600, max=86400, jitter=300)
    waits = [_Backoff(policy, random.Random(1)).seconds(n) for n in range(9)]
    bases = [3600, 7200, 14400, 28800, 57600, 86400, 86400, 86400, 86400]
    assert all(base <= wait <= base + 300 for base, wait in zip(bases, waits, strict=True))
    same = [_Backoff(policy, random.Random(1)).seconds(n) for n in range(9)]
    assert waits == same  # the random source decides the jitter


def test_a_probe_answered_410_stops_the_probes(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    dispatcher = service.dispatcher(allow_private=True, rng=random.Random(5))
    write(store, *(booked(clock, n) for n in range(1, 4)))
    receiver.script.extend([Answer(400)] * 3 + [Answer(410)])
    dispatcher.run_once()
    clock.advance(timedelta(hours=2))
    dispatcher.run_once()
    kept = service.subscription("s1")
    assert (kept.active, kept.disabled_by) == (False, "gone")
    for _ in range(5):
        clock.advance(timedelta(days=1))
        assert dispatcher.run_once() == (0, 0, 0, 0)
    assert len(receiver.received) == 4
    service.enable("s1")  # an operator's call: from the first event of the dead run
    assert dispatcher.run_once().delivered == 3
    assert orders(receiver.received) == ["o1", "o2", "o3", "o1", "o1", "o2", "o3"]
