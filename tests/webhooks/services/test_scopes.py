"""Owners' scopes: the same subscription id under two owners, and a merchant's confined view."""

from __future__ import annotations

from datetime import timedelta

import pytest

from affiliate_sdk._services.webhooks import WebhookService
from affiliate_sdk.errors import InvalidInput, UnknownSubscription, WebhookError
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks.subscriptions import Subscription

from ..receiver import Received, Receiver
from .support import booked, orders, subscription, write


def _merchant(receiver: Receiver, merchant_id: str, path: str | None = None) -> Subscription:
    return subscription(
        f"{receiver.url}/{path or merchant_id}",
        subscription_id="hooks",
        owner="merchant",
        owner_id=merchant_id,
    )


def test_two_owners_keep_their_own_subscription_under_one_id(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(_merchant(receiver, "m1"))
    service.subscribe(_merchant(receiver, "m2"))  # replaces nothing of m1's
    affiliate = subscription(
        f"{receiver.url}/a1", subscription_id="hooks", owner="affiliate", owner_id="a1"
    )
    service.subscribe(affiliate)
    assert service.subscription("hooks", scope="m:m1").url.endswith("/m1")
    assert service.subscription("hooks", scope="m:m2").url.endswith("/m2")
    assert service.subscription("hooks", scope="a:a1").owner == "affiliate"
    with pytest.raises(UnknownSubscription):
        service.subscription("hooks")  # no platform subscription of that id
    assert [s.scope for s in service.subscriptions()] == ["a:a1", "m:m1", "m:m2"]
    write(
        store,
        booked(clock, 1, merchant_id="m1", affiliate_id="a9"),
        booked(clock, 2, merchant_id="m2", affiliate_id="a1"),
        booked(clock, 3, merchant_id="m1", affiliate_id="a1"),
    )
    assert service.dispatcher(allow_private=True).run_once().delivered == 5
    by_path: dict[str, list[Received]] = {}
    for request in receiver.received:
        by_path.setdefault(request.path, []).append(request)
    assert orders(by_path["/m1"]) == ["o1", "o3"]
    assert orders(by_path["/m2"]) == ["o2"]
    assert orders(by_path["/a1"]) == ["o2", "o3"]
    assert len(service.delivery_log("hooks", scope="m:m1")) == 2
    assert len(service.delivery_log("hooks", scope="m:m2")) == 1


def test_a_merchants_view_sees_and_changes_only_its_own(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(_merchant(receiver, "m1"))
    service.subscribe(_merchant(receiver, "m2"))
    service.subscribe(subscription(f"{receiver.url}/platform", subscription_id="hooks"))
    write(store, booked(clock, 1, merchant_id="m1"), booked(clock, 2, merchant_id="m2"))
    event = booked(clock, 2, merchant_id="m2").event_id
    view = service.for_merchant("m1")
    assert view.scope == "m:m1"
    assert view.subscription("hooks").owner_id == "m1"
    assert [s.owner_id for s in view.subscriptions()] == ["m1"]
    assert view.subscriptions(scope="m:m2") == []
    for scope in ("m:m2", ""):
        with pytest.raises(UnknownSubscription):
            view.subscription("hooks", scope=scope)
        with pytest.raises(UnknownSubscription):
            view.enable("hooks", scope=scope)
        with pytest.raises(UnknownSubscription):
            view.disable("hooks", scope=scope)
        with pytest.raises(UnknownSubscription):
            view.replay("hooks", scope=scope, event_id=event)
        with pytest.raises(UnknownSubscription):
            view.retry_now("hooks", scope=scope)
        with pytest.raises(UnknownSubscription):
            view.delivery_log("hooks", scope=scope)
        with pytest.raises(UnknownSubscription):
            view.dead_letters("hooks", scope=scope)
    with pytest.raises(UnknownSubscription):
        view.subscribe(_merchant(receiver, "m2", "stolen"))
    assert service.subscription("hooks", scope="m:m2").url.endswith("/m2")
    with pytest.raises(UnknownSubscription):
        view.for_merchant("m2")
    with pytest.raises(UnknownSubscription):
        view.dispatcher(scope="m:m2")
    with pytest.raises(WebhookError):
        view.prune_outbox()
    with pytest.raises(InvalidInput):
        service.for_merchant("not a merchant id")
    # The view's dispatcher delivers the merchant's subscriptions only.
    assert view.dispatcher(allow_private=True).run_once().delivered == 1
    assert [r.path for r in receiver.received] == ["/m1"]
    assert view.reseal_secrets() == 1


def test_a_merchants_view_replaces_and_replays_its_own(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    view = service.for_merchant("m1")
    view.subscribe(_merchant(receiver, "m1"))
    write(store, booked(clock, 1, merchant_id="m1"), booked(clock, 2, merchant_id="m2"))
    dispatcher = view.dispatcher(allow_private=True)
    assert dispatcher.run_once().delivered == 1
    clock.advance(timedelta(minutes=1))
    assert view.replay("hooks", since=clock.now() - timedelta(hours=1)) == 1
    assert dispatcher.run_once().delivered == 1
    assert orders(receiver.received) == ["o1", "o1"]
    view.subscribe(_merchant(receiver, "m1", "moved"))
    assert service.subscription("hooks", scope="m:m1").url.endswith("/moved")


def test_a_sealed_secret_opens_under_its_own_scope_only(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(_merchant(receiver, "m1"))
    service.subscribe(_merchant(receiver, "m2"))
    with store.transaction() as tx:
        m1 = tx.webhooks.get_subscription("m:m1", "hooks")
        assert m1 is not None
        copied = Subscription.model_validate_json(m1.data).model_copy(
            update={"owner_id": "m2", "url": f"{receiver.url}/m2"}
        )
        tx.webhooks.put_subscription(m1._replace(scope="m:m2", data=copied.model_dump_json()))
    write(store, booked(clock, 1, merchant_id="m2"))
    with pytest.raises(WebhookError, match="does not open"):
        service.dispatcher(allow_private=True).run_once()
    assert receiver.received == []
