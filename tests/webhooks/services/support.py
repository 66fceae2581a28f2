"""What the webhook service tests share: a service over a memory store, events, subscriptions."""

from __future__ import annotations

import json
from typing import Any

from affiliate_sdk._services.context import ServiceContext
from affiliate_sdk._services.webhooks import WebhookService
from affiliate_sdk.commission.journal import ChainKey
from affiliate_sdk.settings import DEFAULT_SETTINGS
from affiliate_sdk.storage.contract import Store
from affiliate_sdk.storage.rows import OutboxRow
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking.clicks import IpPseudonymizer
from affiliate_sdk.tracking.keys import Keyring
from affiliate_sdk.webhooks.events import CommissionChanged, event_row
from affiliate_sdk.webhooks.subscriptions import Subscription

from ...conftest import SECRET
from ..receiver import Received

HOOK_SECRET = "whsec-0123456789abcdef"


def make_service(clock: FakeClock, store: Store) -> WebhookService:
    """A platform webhook service over ``store``."""
    ctx = ServiceContext(
        store=store,
        clock=clock,
        keyring=Keyring({"k1": SECRET}),
        settings=DEFAULT_SETTINGS,
        pseudonyms=IpPseudonymizer(bytes(range(1, 33))),
        chain=ChainKey(bytes(range(2, 34))),
    )
    return WebhookService(ctx)


def subscription(url: str, **fields: object) -> Subscription:
    """A platform subscription to ``commission.booked`` (fields override)."""
    values: dict[str, object] = {
        "subscription_id": "s1",
        "owner": "platform",
        "url": url,
        "event_types": ["commission.booked"],
        "secrets": [HOOK_SECRET],
    }
    values.update(fields)
    return Subscription.model_validate(values)


def booked(
    clock: FakeClock, n: int, *, merchant_id: str = "m1", affiliate_id: str = "a1"
) -> OutboxRow:
    """A ``commission.booked`` event for order ``o<n>``, built from its payload model."""
    data = CommissionChanged(
        entry_id=f"e{merchant_id}-{n}",
        merchant_id=merchant_id,
        order_id=f"o{n}",
        campaign_id="c1",
        affiliate_id=affiliate_id,
        click_id=f"k{n}",
        account="affiliate",
        kind="commission",
        amount=f"{n}.00",
        currency="USD",
        status="pending",
    )
    return event_row("commission.booked", f"{merchant_id}/{n}", clock.now(), data)


def write(store: Store, *rows: OutboxRow) -> None:
    """Put events in the outbox, in one unit of work."""
    with store.transaction() as tx:
        tx.outbox.add(list(rows))


def body_of(request: Received) -> dict[str, Any]:
    """A delivery's JSON body."""
    found: dict[str, Any] = json.loads(request.body)
    return found


def orders(received: list[Received]) -> list[str]:
    """The order ids of the deliveries a receiver got, in order."""
    return [str(body_of(r)["data"]["order_id"]) for r in received]
