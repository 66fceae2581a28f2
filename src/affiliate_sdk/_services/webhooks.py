"""Webhooks: subscriptions to the outbox, what was delivered to them, and the dispatchers.

Every subscription lives under its owner's scope (``""`` for the platform,
``m:<merchant id>``, ``a:<affiliate id>``), so owners choose their ids freely.
Methods that name a subscription take ``scope`` (by default the service's
own: the platform's, or the merchant's for a view from ``for_merchant``).
A merchant's view sees, replaces and delivers only that merchant's
subscriptions; any other is an ``UnknownSubscription`` to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Unpack

import httpx

from affiliate_sdk._kernel.fields import check_identifier
from affiliate_sdk.errors import InvalidInput, UnknownSubscription, WebhookError
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import DeliveryCursor, OutboxRow, SubscriptionRow
from affiliate_sdk.webhooks._flow import BATCH, LOGGER_NAME, open_subscription, seal_subscription
from affiliate_sdk.webhooks.dispatch import AsyncDispatcher, Dispatcher, DispatcherOptions
from affiliate_sdk.webhooks.sealing import SecretBox
from affiliate_sdk.webhooks.subscriptions import PLATFORM_SCOPE, Subscription, scope_for

from .context import ServiceContext

__all__ = ["DEFAULT_OUTBOX_RETENTION", "OPERATOR_DISABLED", "WebhookService"]

#: How long delivered events stay in the outbox for ``replay`` by default.
DEFAULT_OUTBOX_RETENTION: Final = timedelta(days=30)
#: The reason ``disable`` records unless given one.
OPERATOR_DISABLED: Final = "disabled by an operator"


class WebhookService:
    """Subscriptions, their delivery state, replay, pruning, and the dispatchers.

    ``confined_to`` (a scope) makes a view that acts on that scope only; hosts
    get one for a merchant from ``for_merchant``.
    """

    def __init__(self, ctx: ServiceContext, *, confined_to: str | None = None) -> None:
        self._ctx = ctx
        self._box = SecretBox(ctx.keyring)
        self._confined = confined_to
        self._own = PLATFORM_SCOPE if confined_to is None else confined_to

    @property
    def scope(self) -> str | None:
        """The one scope this service acts on, or None for the platform's (every scope)."""
        return self._confined

    def for_merchant(self, merchant_id: str) -> WebhookService:
        """A view confined to one merchant's subscriptions (scope ``m:<merchant_id>``)."""
        check_identifier("merchant_id", merchant_id)
        scope = scope_for("merchant", merchant_id)
        if self._confined is not None and self._confined != scope:
            raise UnknownSubscription(scope)
        return WebhookService(self._ctx, confined_to=scope)

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> Subscription:
        """Add or replace a subscription under its owner's scope.

        A new one starts at the next event written; a replaced one keeps its
        place (and, turned back on, is due at once).
        """
        if not isinstance(subscription, Subscription):
            raise InvalidInput("subscribe takes a Subscription")
        scope = self._scope(subscription.scope, subscription.subscription_id)
        sid = subscription.subscription_id
        if subscription.active:
            kept = subscription.model_copy(update={"disabled_reason": None, "disabled_by": None})
        elif subscription.disabled_by is None:
            kept = subscription.model_copy(update={"disabled_by": "operator"})
        else:
            kept = subscription
        row = SubscriptionRow(scope, sid, seal_subscription(self._box, kept).model_dump_json())
        with self._ctx.store.transaction() as tx:
            before = tx.webhooks.get_subscription(scope, sid)
            tx.webhooks.put_subscription(row)
            if before is None:
                tx.webhooks.put_cursor(scope, sid, DeliveryCursor(cursor=tx.outbox.last_seq()))
            elif kept.active and not Subscription.model_validate_json(before.data).active:
                _due_now(tx, scope, sid)
        return subscription

    def subscription(self, subscription_id: str, *, scope: str | None = None) -> Subscription:
        """The subscription as kept: its secrets sealed (they are write-only)."""
        scope = self._scope(scope, subscription_id)
        with self._ctx.store.reader() as tx:
            return _load(tx, scope, subscription_id)

    def subscriptions(self, *, scope: str | None = None) -> list[Subscription]:
        """Subscriptions as kept (secrets sealed), by scope and id: every one, or one scope's.

        A merchant's view lists its own only (another scope lists nothing).
        """
        if self._confined is not None:
            if scope is not None and scope != self._confined:
                return []
            scope = self._confined
        with self._ctx.store.reader() as tx:
            rows = tx.webhooks.subscriptions(scope=scope)
        return [Subscription.model_validate_json(row.data) for row in rows]

    def reseal_secrets(self) -> int:
        """Seal every subscription's secrets (this view's) with the keyring's newest key.

        Call it after adding a key to the keyring and before removing the old
        one: secrets sealed with a removed key no longer open. Returns how many.
        """
        box = self._box
        with self._ctx.store.transaction() as tx:
            rows = tx.webhooks.subscriptions(scope=self._confined)
            for row in rows:
                kept = Subscription.model_validate_json(row.data)
                fresh = seal_subscription(box, open_subscription(box, kept))
                tx.webhooks.put_subscription(row._replace(data=fresh.model_dump_json()))
        return len(rows)

    def enable(self, subscription_id: str, *, scope: str | None = None) -> Subscription:
        """Turn a disabled subscription back on; it is due at once, from its cursor.

        After a run of dead letters disabled it, the cursor stands before that
        run, so those events go again (receivers drop what they had by id).
        """
        scope = self._scope(scope, subscription_id)
        with self._ctx.store.transaction() as tx:
            enabled = _load(tx, scope, subscription_id).model_copy(
                update={"active": True, "disabled_reason": None, "disabled_by": None}
            )
            _put(tx, scope, enabled)
            _due_now(tx, scope, subscription_id)
        return enabled

    def disable(
        self, subscription_id: str, *, scope: str | None = None, reason: str = OPERATOR_DISABLED
    ) -> Subscription:
        """Turn a subscription off until ``enable`` (it is not probed); events wait for it."""
        scope = self._scope(scope, subscription_id)
        with self._ctx.store.transaction() as tx:
            disabled = _load(tx, scope, subscription_id).model_copy(
                update={"active": False, "disabled_reason": reason, "disabled_by": "operator"}
            )
            _put(tx, scope, disabled)
        self._ctx.log.getChild("webhooks").info(
            "webhook subscription disabled",
            extra={"webhook_scope": scope, "subscription_id": subscription_id, "by": "operator"},
        )
        return disabled

    def retry_now(self, subscription_id: str, *, scope: str | None = None) -> None:
        """Make a subscription's waiting event due now (its attempt count is kept)."""
        scope = self._scope(scope, subscription_id)
        with self._ctx.store.transaction() as tx:
            _load(tx, scope, subscription_id)
            cursor = tx.webhooks.cursor(scope, subscription_id) or DeliveryCursor()
            tx.webhooks.put_cursor(scope, subscription_id, cursor._replace(next_at_ms=0))

    # -- what happened -------------------------------------------------------------------------

    def delivery_log(
        self, subscription_id: str, *, scope: str | None = None, event_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every attempt for a subscription (or one of its events), oldest first.

        Each: seq, event_id, type, attempt, at_ms, status, error, latency_ms,
        and the receiver's answer by ``response_bytes`` (how much was read)
        and ``response_digest`` (keyed; see ``response_matches``). The answer
        itself is not kept (receivers echo personal data): ``response`` is
        None, kept for callers that read it.
        """
        scope = self._scope(scope, subscription_id)
        with self._ctx.store.reader() as tx:
            _load(tx, scope, subscription_id)
            rows = tx.webhooks.attempts(scope, subscription_id, event_id=event_id)
        return [{**row._asdict(), "response": None} for row in rows]

    def response_matches(self, entry: Mapping[str, Any], body: bytes) -> bool:
        """Whether a logged attempt (from ``delivery_log``) got ``body`` as its answer.

        ``body`` is what the receiver says it answered; only its first
        ``response_bytes`` were read, so only they are compared. False when the
        attempt got no answer, or its digest's key has left the keyring.
        """
        digest, read = entry.get("response_digest"), entry.get("response_bytes")
        if not isinstance(digest, str) or not isinstance(read, int):
            return False
        return self._box.digest_matches(digest, bytes(body[:read]))

    def dead_letters(
        self, subscription_id: str, *, scope: str | None = None
    ) -> list[dict[str, Any]]:
        """Events given up on for a subscription: seq, event id, reason, when; oldest first."""
        scope = self._scope(scope, subscription_id)
        with self._ctx.store.reader() as tx:
            _load(tx, scope, subscription_id)
            rows = tx.webhooks.dead_letters(scope, subscription_id)
        return [row._asdict() for row in rows]

    def replay(
        self,
        subscription_id: str,
        *,
        scope: str | None = None,
        event_id: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """Deliver again from one event (or from the first at or after ``since``) on.

        Returns how many of the subscription's events will be delivered
        again. Receivers see the same event ids and can drop what they had.
        """
        if (event_id is None) == (since is None):
            raise InvalidInput("replay from one event_id or from a since time")
        if since is not None and since.tzinfo is None:
            raise InvalidInput("since must be timezone-aware")
        scope = self._scope(scope, subscription_id)
        with self._ctx.store.transaction() as tx:
            subscription = _load(tx, scope, subscription_id)
            start = _replay_start(tx, event_id, since)
            cursor = tx.webhooks.cursor(scope, subscription_id) or DeliveryCursor()
            back = min(cursor.cursor, start - 1)
            again = sum(
                subscription.wants(row.type, _data(row.data))
                for row in _events(tx, back, through=cursor.cursor)
            )
            rewound = DeliveryCursor(back, 0, 0, cursor.dead_in_a_row)
            tx.webhooks.put_cursor(scope, subscription_id, rewound)
        return again

    def prune_outbox(self, *, older_than: timedelta = DEFAULT_OUTBOX_RETENTION) -> int:
        """Delete events older than ``older_than`` that every subscription has passed.

        An event a subscription (active or disabled, of any owner) has not
        reached yet is kept whatever its age; a pruned event can no longer be
        replayed. Returns how many were deleted. The platform's alone: a
        merchant's view may not prune what other owners share.
        """
        if self._confined is not None:
            raise WebhookError("pruning the outbox is the platform's: a merchant's view may not")
        before_ms = int((self._ctx.clock.now() - older_than).timestamp() * 1000)
        with self._ctx.store.transaction() as tx:
            cursors = [
                (tx.webhooks.cursor(row.scope, row.subscription_id) or DeliveryCursor()).cursor
                for row in tx.webhooks.subscriptions()
            ]
            through = min(cursors) if cursors else tx.outbox.last_seq()
            return tx.outbox.prune(through_seq=through, before_ms=before_ms)

    # -- dispatchers ---------------------------------------------------------------------------

    def dispatcher(
        self, *, transport: httpx.BaseTransport | None = None, **options: Unpack[DispatcherOptions]
    ) -> Dispatcher:
        """A synchronous dispatcher over this service's subscriptions (``webhooks.dispatch``)."""
        self._dispatch_options(options)
        return Dispatcher(self._ctx.store, self._ctx.clock, transport=transport, **options)

    def async_dispatcher(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[DispatcherOptions],
    ) -> AsyncDispatcher:
        """The same with ``httpx.AsyncClient``, the store work off the event loop."""
        self._dispatch_options(options)
        return AsyncDispatcher(self._ctx.store, self._ctx.clock, transport=transport, **options)

    def _dispatch_options(self, options: DispatcherOptions) -> None:
        options.setdefault("secrets", self._box)
        options.setdefault("logger", self._ctx.log.getChild(LOGGER_NAME.rpartition(".")[2]))
        if self._confined is not None:
            if options.get("scope", self._confined) != self._confined:
                raise UnknownSubscription(str(options.get("scope")))
            options["scope"] = self._confined

    def _scope(self, scope: str | None, subscription_id: str) -> str:
        """The scope a call acts on; another owner's is unknown to a confined view."""
        chosen = self._own if scope is None else scope
        if self._confined is not None and chosen != self._confined:
            raise UnknownSubscription(subscription_id)
        return chosen


def _load(tx: UnitOfWork, scope: str, subscription_id: str) -> Subscription:
    row = tx.webhooks.get_subscription(scope, subscription_id)
    if row is None:
        raise UnknownSubscription(subscription_id)
    return Subscription.model_validate_json(row.data)


def _put(tx: UnitOfWork, scope: str, subscription: Subscription) -> None:
    data = subscription.model_dump_json()
    tx.webhooks.put_subscription(SubscriptionRow(scope, subscription.subscription_id, data))


def _due_now(tx: UnitOfWork, scope: str, subscription_id: str) -> None:
    """A subscription turned back on: its head event due at once, a fresh run of attempts."""
    cursor = tx.webhooks.cursor(scope, subscription_id) or DeliveryCursor()
    tx.webhooks.put_cursor(scope, subscription_id, DeliveryCursor(cursor.cursor))


def _replay_start(tx: UnitOfWork, event_id: str | None, since: datetime | None) -> int:
    """The seq a replay starts at: the event's, or the first at or after ``since``."""
    if event_id is not None:
        row = tx.outbox.get(event_id)
        if row is None:
            raise InvalidInput(f"no event {event_id!r} in the outbox")
        return row.seq
    assert since is not None
    first = tx.outbox.first_since(int(since.timestamp() * 1000))
    return tx.outbox.last_seq() + 1 if first is None else first


def _events(tx: UnitOfWork, after: int, *, through: int) -> Iterator[OutboxRow]:
    """The outbox events with ``after < seq <= through``, read a batch at a time."""
    while after < through:
        batch = tx.outbox.after(after, limit=BATCH)
        for row in batch:
            if row.seq > through:
                return
            yield row
        if not batch:
            return
        after = batch[-1].seq


def _data(body: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(body)["data"]
    return found
