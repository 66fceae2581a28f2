"""Deliveries through the webhook service over a memory store, to a real server on loopback."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from affiliate_sdk._services.webhooks import WebhookService
from affiliate_sdk.errors import InvalidInput, UnknownSubscription, WebhookError
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks.dispatch import Dispatcher
from affiliate_sdk.webhooks.sealing import PREFIX
from affiliate_sdk.webhooks.signing import verify_signature

from ..receiver import Answer, Receiver
from .support import HOOK_SECRET, body_of, booked, orders, subscription, write


def _dispatcher(service: WebhookService, **options: object) -> Dispatcher:
    return service.dispatcher(allow_private=True, **options)  # type: ignore[arg-type]


def test_events_arrive_signed_in_order_once(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    write(store, booked(clock, 0))  # before the subscription: not for it
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, *(booked(clock, n) for n in range(1, 4)))
    report = _dispatcher(service).run_once()
    assert (report.delivered, report.retried, report.dead) == (3, 0, 0)
    assert orders(receiver.received) == ["o1", "o2", "o3"]
    for request in receiver.received:
        stamp = verify_signature(
            request.headers["Affiliate-Signature"],
            request.body,
            [HOOK_SECRET],
            now=clock.now().timestamp(),
        )
        assert stamp == int(clock.timestamp())
        assert request.headers["Idempotency-Key"] == body_of(request)["event_id"]
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Affiliate-Event-Type"] == "commission.booked"
    assert _dispatcher(service).run_once().delivered == 0  # nothing twice
    log = service.delivery_log("s1")
    assert [(e["attempt"], e["status"], e["response_bytes"]) for e in log] == [(1, 200, 2)] * 3
    assert all(service.response_matches(e, b"ok") for e in log)


def test_secrets_are_kept_sealed_and_write_only(
    service: WebhookService, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    kept = service.subscription("s1")
    assert all(secret.startswith(PREFIX) for secret in kept.secrets)
    assert HOOK_SECRET not in kept.model_dump_json()
    assert service.reseal_secrets() == 1


def test_a_500_is_retried_later_with_the_same_idempotency_key(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1))
    receiver.script.append(Answer(500, body=b"boom"))
    first = _dispatcher(service).run_once()
    assert (first.delivered, first.retried) == (0, 1)
    assert _dispatcher(service).run_once() == (0, 0, 0, 0)  # not due yet
    clock.advance(timedelta(minutes=2))
    assert _dispatcher(service).run_once().delivered == 1
    keys = [r.headers["Idempotency-Key"] for r in receiver.received]
    assert len(keys) == 2 and keys[0] == keys[1]
    log = service.delivery_log("s1", event_id=keys[0])
    assert [(e["attempt"], e["status"], e["response_bytes"]) for e in log] == [
        (1, 500, 4),
        (2, 200, 2),
    ]
    assert service.response_matches(log[0], b"boom") and service.response_matches(log[1], b"ok")
    assert not service.response_matches(log[0], b"ok")


def test_retry_now_makes_the_waiting_event_due(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1))
    receiver.script.append(Answer(503))
    assert _dispatcher(service).run_once().retried == 1
    service.retry_now("s1")
    assert _dispatcher(service).run_once().delivered == 1
    assert [e["attempt"] for e in service.delivery_log("s1")] == [1, 2]


def test_dead_letters_then_disabled_after_three_in_a_row(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, *(booked(clock, n) for n in range(1, 6)))
    receiver.script.extend([Answer(400), Answer(404), Answer(422)])
    report = _dispatcher(service).run_once()
    assert (report.dead, report.delivered) == (3, 0)
    kept = service.subscription("s1")
    assert not kept.active and kept.disabled_by == "failures"
    assert "3 events in a row" in (kept.disabled_reason or "")
    letters = service.dead_letters("s1")
    assert [letter["reason"][:8] for letter in letters] == ["HTTP 400", "HTTP 404", "HTTP 422"]
    assert _dispatcher(service).run_once() == (0, 0, 0, 0)  # disabled: nothing goes
    assert len(receiver.received) == 3


def test_one_dead_letter_does_not_block_the_rest(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1), booked(clock, 2))
    receiver.script.append(Answer(400))
    report = _dispatcher(service).run_once()
    assert (report.dead, report.delivered) == (1, 1)
    assert service.subscription("s1").active


def test_410_disables_for_good_and_is_not_probed(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1), booked(clock, 2))
    receiver.script.append(Answer(410))
    assert _dispatcher(service).run_once().dead == 1
    kept = service.subscription("s1")
    assert (kept.active, kept.disabled_by) == (False, "gone")
    for _ in range(10):
        clock.advance(timedelta(days=1))
        assert _dispatcher(service).run_once() == (0, 0, 0, 0)
    assert len(receiver.received) == 1
    service.enable("s1")
    assert _dispatcher(service).run_once().delivered == 1  # the second event, in order
    assert orders(receiver.received) == ["o1", "o2"]


def test_an_operator_disable_is_not_probed(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    disabled = service.disable("s1")
    assert (disabled.active, disabled.disabled_by) == (False, "operator")
    write(store, booked(clock, 1))
    for _ in range(5):
        clock.advance(timedelta(days=1))
        assert _dispatcher(service).run_once() == (0, 0, 0, 0)
    assert receiver.received == []
    service.enable("s1")
    assert _dispatcher(service).run_once().delivered == 1


def test_refused_destinations_disable_without_a_request(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1))
    report = service.dispatcher().run_once()  # loopback is refused by default
    assert report.refused == 1 and receiver.received == []
    kept = service.subscription("s1")
    assert kept.disabled_by == "destination" and "non-public" in (kept.disabled_reason or "")


def test_requests_go_to_the_checked_address_with_host_and_sni(
    service: WebhookService, store: MemoryStore, clock: FakeClock
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="fine")

    service.subscribe(
        subscription(
            "https://hooks.example.com:8443/cb?click={click_id}&amount={amount}",
            method="GET",
            event_types=["commission.booked"],
        )
    )
    write(store, booked(clock, 7))
    dispatcher = service.dispatcher(
        transport=httpx.MockTransport(handler), resolver=lambda host, port: ["93.184.216.34"]
    )
    assert dispatcher.run_once().delivered == 1
    (request,) = seen
    assert (request.url.host, request.url.port) == ("93.184.216.34", 8443)
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert request.url.params["click"] == "k7" and request.url.params["amount"] == "7.00"
    target = request.url.raw_path
    verify_signature(
        request.headers["Affiliate-Signature"], target, [HOOK_SECRET], now=clock.timestamp()
    )


def test_a_long_response_is_capped_in_the_log(
    service: WebhookService, store: MemoryStore, clock: FakeClock
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500, content=b"x" * 100_000))
    service.subscribe(subscription("https://hooks.example.com/cb"))
    write(store, booked(clock, 1))
    dispatcher = service.dispatcher(
        transport=transport, resolver=lambda host, port: ["93.184.216.34"], max_response_bytes=512
    )
    assert dispatcher.run_once().retried == 1
    (entry,) = service.delivery_log("s1")
    assert entry["response_bytes"] == 512  # what was read, no more
    assert service.response_matches(entry, b"x" * 100_000)  # its first 512 bytes
    assert not service.response_matches(entry, b"y" * 100_000)


def test_network_errors_and_timeouts_are_retried(
    service: WebhookService, store: MemoryStore, clock: FakeClock
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    service.subscribe(subscription("https://hooks.example.com/cb"))
    write(store, booked(clock, 1))
    dispatcher = service.dispatcher(
        transport=httpx.MockTransport(handler), resolver=lambda host, port: ["93.184.216.34"]
    )
    assert dispatcher.run_once().retried == 1
    assert service.delivery_log("s1")[0]["error"] == "timeout"


def test_sealed_secrets_need_the_box(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1))
    with pytest.raises(WebhookError, match="sealed"):
        Dispatcher(store, clock, allow_private=True).run_once()
    assert _dispatcher(service).run_once().delivered == 1  # the lease was let go


def test_unknown_subscriptions_and_bad_input(service: WebhookService) -> None:
    with pytest.raises(UnknownSubscription):
        service.subscription("nope")
    with pytest.raises(UnknownSubscription):
        service.delivery_log("nope")
    with pytest.raises(InvalidInput):
        service.subscribe(json.loads("{}"))
    with pytest.raises(InvalidInput):
        service.replay("nope")


def test_a_name_that_does_not_resolve_is_retried_not_refused(
    service: WebhookService, store: MemoryStore, clock: FakeClock
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("Temporary failure in name resolution")

    service.subscribe(subscription("https://hooks.example.com/cb"))
    write(store, booked(clock, 1))
    report = service.dispatcher(resolver=resolver).run_once()
    assert (report.retried, report.refused, report.dead) == (1, 0, 0)
    assert service.subscription("s1").active  # an outage, not a forbidden destination
    (entry,) = service.delivery_log("s1")
    assert entry["status"] is None and "does not resolve" in entry["error"]
    assert service.dead_letters("s1") == []
