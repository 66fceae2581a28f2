"""Webhook subscriptions by scope, delivery cursors, leases, attempt logs and dead letters."""

from __future__ import annotations

from affiliate_sdk.storage.rows import (
    DeadLetterRow,
    DeliveryCursor,
    DeliveryLogRow,
    LeaseRow,
    SubscriptionRow,
)

from ._undo import UndoLog, del_item, set_item

__all__ = ["MemoryWebhooks"]


class MemoryWebhooks:
    """``WebhookRepo`` over dictionaries keyed by ``(scope, subscription_id)``."""

    __slots__ = (
        "_attempts",
        "_attempts_by_event",
        "_cursors",
        "_dead",
        "_leases",
        "_log",
        "_scopes",
        "_subscriptions",
    )

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._subscriptions: dict[tuple[str, str], SubscriptionRow] = {}
        self._scopes: dict[str, dict[str, SubscriptionRow]] = {}
        self._cursors: dict[tuple[str, str], DeliveryCursor] = {}
        self._leases: dict[tuple[str, str], LeaseRow] = {}
        self._attempts: dict[tuple[str, str], list[DeliveryLogRow]] = {}
        self._attempts_by_event: dict[tuple[str, str, str], list[DeliveryLogRow]] = {}
        self._dead: dict[tuple[str, str], list[DeadLetterRow]] = {}

    def put_subscription(self, row: SubscriptionRow) -> None:
        """Insert or replace a subscription."""
        set_item(self._log, self._subscriptions, (row.scope, row.subscription_id), row)
        set_item(self._log, self._scopes.setdefault(row.scope, {}), row.subscription_id, row)

    def get_subscription(self, scope: str, subscription_id: str) -> SubscriptionRow | None:
        """The subscription, if stored."""
        return self._subscriptions.get((scope, subscription_id))

    def subscriptions(self, *, scope: str | None = None) -> list[SubscriptionRow]:
        """Subscriptions (of one scope, or all), by scope and id."""
        if scope is not None:
            of_scope = self._scopes.get(scope, {})
            return [of_scope[key] for key in sorted(of_scope)]
        rows = self._subscriptions
        return [rows[key] for key in sorted(rows)]

    def cursor(self, scope: str, subscription_id: str) -> DeliveryCursor | None:
        """Where the subscription's deliveries stand, if recorded."""
        return self._cursors.get((scope, subscription_id))

    def put_cursor(self, scope: str, subscription_id: str, cursor: DeliveryCursor) -> None:
        """Insert or replace the subscription's cursor."""
        set_item(self._log, self._cursors, (scope, subscription_id), cursor)

    def take_lease(
        self, scope: str, subscription_id: str, holder: str, *, now_ms: int, until_ms: int
    ) -> bool:
        """Take or renew the lease for ``holder`` unless another holds it past ``now_ms``."""
        key = (scope, subscription_id)
        lease = self._leases.get(key)
        if lease is not None and lease.holder != holder and lease.until_ms > now_ms:
            return False
        set_item(self._log, self._leases, key, LeaseRow(holder, until_ms))
        return True

    def release_lease(self, scope: str, subscription_id: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it."""
        key = (scope, subscription_id)
        lease = self._leases.get(key)
        if lease is not None and lease.holder == holder:
            del_item(self._log, self._leases, key)

    def log_attempt(self, scope: str, subscription_id: str, row: DeliveryLogRow) -> None:
        """Log a delivery attempt."""
        by_subscription = self._attempts.setdefault((scope, subscription_id), [])
        by_event = self._attempts_by_event.setdefault((scope, subscription_id, row.event_id), [])
        by_subscription.append(row)
        by_event.append(row)
        if self._log.active:

            def undo() -> None:
                by_subscription.pop()
                by_event.pop()

            self._log.record(undo)

    def attempts(
        self, scope: str, subscription_id: str, *, event_id: str | None = None
    ) -> list[DeliveryLogRow]:
        """Logged attempts (on one event, or all), oldest first."""
        if event_id is None:
            return list(self._attempts.get((scope, subscription_id), ()))
        return list(self._attempts_by_event.get((scope, subscription_id, event_id), ()))

    def add_dead_letter(self, scope: str, subscription_id: str, row: DeadLetterRow) -> None:
        """Record an event given up on."""
        dead = self._dead.setdefault((scope, subscription_id), [])
        dead.append(row)
        if self._log.active:
            self._log.record(dead.pop)

    def dead_letters(self, scope: str, subscription_id: str) -> list[DeadLetterRow]:
        """The subscription's dead letters, oldest first."""
        return list(self._dead.get((scope, subscription_id), ()))
