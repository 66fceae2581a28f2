"""A delivery connects to the address the destination check approved, and to nothing else."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx
import pytest

from affiliate_sdk._services.webhooks import WebhookService
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.testing import FakeClock

from ..receiver import Receiver
from .support import booked, orders, subscription, write


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A proxy named in every proxy variable of the environment (answers 200 to all)."""
    server = Receiver()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, server.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.stop()


def test_a_proxy_from_the_environment_is_not_used(
    service: WebhookService,
    store: MemoryStore,
    clock: FakeClock,
    receiver: Receiver,
    proxy: Receiver,
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1))
    assert service.dispatcher(allow_private=True).run_once().delivered == 1
    assert proxy.received == []  # the proxy would have connected wherever it liked
    assert orders(receiver.received) == ["o1"]


def test_a_name_is_looked_up_once_and_the_answer_is_what_is_connected_to(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])  # a rebinding DNS: the second answer moves
    lookups: list[str] = []

    def resolver(host: str, port: int) -> Sequence[str]:
        lookups.append(host)
        return next(answers)

    # ``.test`` never resolves in real DNS: the delivery arrives only through the checked address.
    service.subscribe(subscription(f"http://rebind.test:{receiver.port}/hook"))
    write(store, booked(clock, 1))
    report = service.dispatcher(allow_private=True, resolver=resolver).run_once()
    assert report.delivered == 1 and lookups == ["rebind.test"]
    (request,) = receiver.received
    assert request.headers["Host"] == f"rebind.test:{receiver.port}"


def test_an_international_name_goes_in_host_and_sni_as_it_was_looked_up(
    service: WebhookService, store: MemoryStore, clock: FakeClock
) -> None:
    seen: list[httpx.Request] = []
    lookups: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    def resolver(host: str, port: int) -> Sequence[str]:
        lookups.append(host)
        return ["93.184.216.34"]

    service.subscribe(subscription("https://bücher.example:8443/hook"))
    write(store, booked(clock, 1))
    dispatcher = service.dispatcher(transport=httpx.MockTransport(handler), resolver=resolver)
    assert dispatcher.run_once().delivered == 1
    (request,) = seen
    assert lookups == ["xn--bcher-kva.example"]
    assert (request.url.host, request.url.port) == ("93.184.216.34", 8443)
    assert request.headers["Host"] == "xn--bcher-kva.example:8443"
    assert request.extensions["sni_hostname"] == "xn--bcher-kva.example"
