"""Webhooks on the ``Alliance``: subscriptions, delivery logs, replay, dispatchers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Final, Unpack

import httpx

from ._alliance_base import AllianceBase
from .errors import InvalidInput, UnknownSubscription
from .webhooks.dispatcher import AsyncDispatcher, Dispatcher, DispatcherOptions, load_state
from .webhooks.sealing import SecretBox
from .webhooks.subscriptions import Subscription, load_subscription, load_subscriptions

__all__ = ["DEFAULT_OUTBOX_RETENTION", "WebhooksMixin"]

#: How long delivered events stay in the outbox for ``replay`` by default.
DEFAULT_OUTBOX_RETENTION: Final = timedelta(days=30)


class WebhooksMixin(AllianceBase):
    """Subscriptions to the outbox and what was delivered to them."""

    def subscribe(self, subscription: Subscription) -> Subscription:
        """Add or replace a subscription; a new one starts at the next event written."""
        if not isinstance(subscription, Subscription):
            raise InvalidInput("subscribe takes a Subscription")
        store = self._store
        with store.transaction():
            new = store.get_record("webhook_subscription", subscription.subscription_id) is None
            sealed = self._box().sealed(subscription)
            store.put_record(
                "webhook_subscription", subscription.subscription_id, sealed.model_dump_json()
            )
            if new:
                state = json.dumps([store.last_event_seq(), 0, 0, 0])
                store.put_record("webhook_state", subscription.subscription_id, state)
        return subscription

    def subscription(self, subscription_id: str) -> Subscription:
        """The subscription as kept: its secrets sealed (they are write-only)."""
        found = load_subscription(self._store, subscription_id)
        if found is None:
            raise UnknownSubscription(subscription_id)
        return found

    def subscriptions(self) -> list[Subscription]:
        """Every subscription as kept (secrets sealed)."""
        return load_subscriptions(self._store)

    def reseal_secrets(self) -> int:
        """Seal every subscription's secrets with the keyring's newest key; how many.

        Call it after adding a key to the keyring and before removing the old
        one: secrets sealed with a removed key no longer open.
        """
        box = self._box()
        store = self._store
        with store.transaction():
            subscriptions = self.subscriptions()
            for subscription in subscriptions:
                resealed = box.sealed(box.opened(subscription))
                store.put_record(
                    "webhook_subscription", subscription.subscription_id, resealed.model_dump_json()
                )
        return len(subscriptions)

    def _box(self) -> SecretBox:
        return SecretBox(self._keyring)

    def enable(self, subscription_id: str) -> Subscription:
        """Turn a disabled subscription back on; it resumes where it stopped."""
        enabled = self.subscription(subscription_id).model_copy(
            update={"active": True, "disabled_reason": None}
        )
        self._store.put_record("webhook_subscription", subscription_id, enabled.model_dump_json())
        return enabled

    def retry_now(self, subscription_id: str) -> None:
        """Make a subscription's waiting event due now (its attempt count is kept)."""
        self.subscription(subscription_id)
        with self._store.transaction():
            state = load_state(self._store, subscription_id)._replace(next_at_ms=0)
            self._store.put_record("webhook_state", subscription_id, json.dumps(list(state)))

    def delivery_log(
        self, subscription_id: str, *, event_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every attempt for a subscription (or one of its events), oldest first."""
        self.subscription(subscription_id)
        entries = [
            json.loads(data)
            for _, data in self._store.records("webhook_log", f"{subscription_id}/")
        ]
        return [e for e in entries if event_id is None or e["event_id"] == event_id]

    def dead_letters(self, subscription_id: str) -> list[dict[str, Any]]:
        """Events given up on for a subscription: id, reason, when."""
        self.subscription(subscription_id)
        return [
            json.loads(data)
            for _, data in self._store.records("webhook_dead", f"{subscription_id}/")
        ]

    def replay(
        self,
        subscription_id: str,
        *,
        event_id: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """Deliver again from one event (or from the first at or after ``since``) on.

        Returns how many of the subscription's events will be delivered
        again. Receivers see the same event ids and can drop what they had.
        """
        if (event_id is None) == (since is None):
            raise InvalidInput("replay from one event_id or from a since time")
        subscription = self.subscription(subscription_id)
        store = self._store
        if event_id is not None:
            row = store.get_event(event_id)
            if row is None:
                raise InvalidInput(f"no event {event_id!r} in the outbox")
            start = row.seq
        else:
            assert since is not None
            if since.tzinfo is None:
                raise InvalidInput("since must be timezone-aware")
            since_ms = int(since.timestamp() * 1000)
            first = store.first_event_since(since_ms)
            start = store.last_event_seq() + 1 if first is None else first
        with store.transaction():
            state = load_state(store, subscription_id)
            cursor = min(state.cursor, start - 1)
            again = 0
            for row in store.events_after(cursor, limit=max(state.cursor - cursor, 0)):
                again += subscription.wants(row.type, json.loads(row.data)["data"])
            store.put_record(
                "webhook_state", subscription_id, json.dumps([cursor, 0, 0, state.dead_in_a_row])
            )
        return again

    def prune_outbox(self, *, older_than: timedelta = DEFAULT_OUTBOX_RETENTION) -> int:
        """Delete events older than ``older_than`` that every subscription has passed.

        An event a subscription (active or disabled) has not reached yet is kept
        whatever its age; a pruned event can no longer be replayed. Returns how
        many were deleted.
        """
        store = self._store
        with store.transaction():
            cursors = [
                load_state(store, subscription.subscription_id).cursor
                for subscription in self.subscriptions()
            ]
            through = min(cursors) if cursors else store.last_event_seq()
            before_ms = int((self._clock.now() - older_than).timestamp() * 1000)
            return store.prune_events(through_seq=through, before_ms=before_ms)

    def dispatcher(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[DispatcherOptions],
    ) -> Dispatcher:
        """A synchronous dispatcher over this alliance's outbox (see ``webhooks.dispatcher``)."""
        options.setdefault("secrets", self._box())
        return Dispatcher(self._store, self._clock, transport=transport, **options)

    def async_dispatcher(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[DispatcherOptions],
    ) -> AsyncDispatcher:
        """The same with ``httpx.AsyncClient``."""
        options.setdefault("secrets", self._box())
        return AsyncDispatcher(self._store, self._clock, transport=transport, **options)
