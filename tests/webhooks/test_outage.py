"""A long outage of a receiver needs no operator: what was sent meanwhile arrives once it is back.

Reported: after a 4-day outage, 0 of 10 events arrived until an operator re-enabled the
subscription and replayed. Here, through the public API only: 10 events written while the
receiver is down for 4 days, a worker that calls ``run_once()`` every 15 minutes, and no
call of ``enable``, ``retry_now`` or ``replay``.
"""

from __future__ import annotations

import json
import logging
import random
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks.subscriptions import Subscription

from ..conftest import HUMAN_UA, SECRET, make_campaign

OUTAGE = timedelta(days=4)
#: How often the host's worker calls ``run_once()``, and how often an order comes in.
EVERY = timedelta(minutes=15)
BETWEEN_ORDERS = timedelta(hours=8)
#: The longest a subscription waits for its next probe (a day) and the probe's jitter.
LONGEST_PROBE_WAIT = timedelta(days=1, minutes=5)
ADDRESS = "93.184.216.34"


class Receiver:
    """The merchant's endpoint: down in one way or another until ``back_at``, then answering 200."""

    def __init__(self, clock: FakeClock, outage: str) -> None:
        self.clock = clock
        self.outage = outage
        self.back_at = clock.now() + OUTAGE
        self.delivered: list[tuple[str, datetime]] = []  # order id, when

    @property
    def down(self) -> bool:
        return self.clock.now() < self.back_at

    def resolve(self, host: str, port: int) -> Sequence[str]:
        if self.down and self.outage == "dns":
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [ADDRESS]

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down and self.outage in ("refused", "dns"):
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if self.down:
            return httpx.Response(503, text="maintenance")
        order_id = json.loads(request.content)["data"]["order_id"]
        self.delivered.append((order_id, self.clock.now()))
        return httpx.Response(200)


# The receiver's host refuses connections, answers 503, or its name stops resolving too (its DNS
# down with it: what disabled the subscription at once as a "forbidden destination", unprobed).
@pytest.mark.parametrize("outage", ["refused", "unavailable", "dns"])
def test_ten_events_of_a_four_day_outage_arrive_in_order_without_an_operator(
    clock: FakeClock, outage: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="affiliate_sdk")
    receiver = Receiver(clock, outage)
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        alliance.subscribe(
            Subscription(
                subscription_id="books",
                owner="platform",
                url="https://hooks.shop.example/affiliate",
                event_types=["commission.booked"],
                secrets=["whsec-0123456789abcdef"],
            )
        )
        dispatcher = alliance.dispatcher(
            transport=httpx.MockTransport(receiver.handle),
            resolver=receiver.resolve,
            rng=random.Random(12),
        )
        start, orders = clock.now(), 0
        deadline = receiver.back_at + LONGEST_PROBE_WAIT
        while len(receiver.delivered) < 10 and clock.now() <= deadline:
            if orders < 10 and clock.now() >= start + orders * BETWEEN_ORDERS:
                orders += 1  # every order comes in while the receiver is down
                _order(alliance, orders)
            dispatcher.run_once()  # the host's worker; no operator call anywhere
            clock.advance(EVERY)
        kept = alliance.subscription("books")
        dead = alliance.dead_letters("books")
    assert orders == 10 and start + 9 * BETWEEN_ORDERS < receiver.back_at
    assert [order for order, _ in receiver.delivered] == [f"o{n}" for n in range(1, 11)]
    assert receiver.back_at <= receiver.delivered[0][1] <= deadline  # once back, within a day
    assert kept.active and kept.disabled_by is None
    messages = [(r.getMessage(), r.__dict__) for r in caplog.records]
    disabled = [f for m, f in messages if m == "webhook subscription disabled"]
    recovered = [f for m, f in messages if m == "webhook subscription recovered"]
    assert [f["disabled_by"] for f in disabled] == ["failures"]  # the outage, not the operator
    assert len(recovered) == 1 and recovered[0]["subscription_id"] == "books"
    assert recovered[0]["probes"] >= 1
    assert len(dead) == 3  # the run of dead events that disabled it, each delivered since


def _order(alliance: Alliance, n: int) -> None:
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=f"198.51.100.{n}", user_agent=HUMAN_UA)
    alliance.record_order(
        Order(order_id=f"o{n}", merchant_id="m1", total=Money(f"{100 + n}.00", "USD")),
        click_id=click.click_id,
    )
