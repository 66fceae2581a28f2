"""``WebhookRepo`` on SQLite: subscriptions and their delivery state, log and dead letters."""

from __future__ import annotations

from typing import Final

from affiliate_sdk.storage.rows import (
    DeadLetterRow,
    DeliveryCursor,
    DeliveryLogRow,
    SubscriptionRow,
)

from ._connection import Db

__all__ = ["SqliteWebhooks"]

_LOG_COLUMNS: Final = ", ".join(DeliveryLogRow._fields)
_LOG_PLACES: Final = ", ".join("?" * len(DeliveryLogRow._fields))
_DEAD_COLUMNS: Final = ", ".join(DeadLetterRow._fields)
_WHO: Final = "scope = ? AND subscription_id = ?"


class SqliteWebhooks:
    """Webhook tables, each keyed by ``(scope, subscription_id)``."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def put_subscription(self, row: SubscriptionRow) -> None:
        """Insert or replace a subscription."""
        self._db.run(
            "INSERT INTO webhook_subscriptions (scope, subscription_id, data) VALUES (?, ?, ?) "
            "ON CONFLICT (scope, subscription_id) DO UPDATE SET data = excluded.data",
            row,
        )

    def get_subscription(self, scope: str, subscription_id: str) -> SubscriptionRow | None:
        """The subscription, if any."""
        found = self._db.row(
            f"SELECT scope, subscription_id, data FROM webhook_subscriptions WHERE {_WHO}",
            (scope, subscription_id),
        )
        return None if found is None else SubscriptionRow(*map(str, found))

    def subscriptions(self, *, scope: str | None = None) -> list[SubscriptionRow]:
        """Subscriptions (of one scope, or all), by scope and id."""
        select = "SELECT scope, subscription_id, data FROM webhook_subscriptions"
        order = " ORDER BY scope, subscription_id"
        if scope is None:
            rows = self._db.rows(select + order)
        else:
            rows = self._db.rows(f"{select} WHERE scope = ?{order}", (scope,))
        return [SubscriptionRow(*map(str, row)) for row in rows]

    def cursor(self, scope: str, subscription_id: str) -> DeliveryCursor | None:
        """Where the subscription's deliveries stand, if they started."""
        found = self._db.row(
            f"SELECT cursor, attempts, next_at_ms, dead_in_a_row FROM webhook_cursors WHERE {_WHO}",
            (scope, subscription_id),
        )
        return None if found is None else DeliveryCursor(*(int(str(v)) for v in found))

    def put_cursor(self, scope: str, subscription_id: str, cursor: DeliveryCursor) -> None:
        """Insert or replace the subscription's cursor."""
        self._db.run(
            "INSERT INTO webhook_cursors (scope, subscription_id, cursor, attempts, next_at_ms, "
            "dead_in_a_row) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, subscription_id) "
            "DO UPDATE SET cursor = excluded.cursor, attempts = excluded.attempts, "
            "next_at_ms = excluded.next_at_ms, dead_in_a_row = excluded.dead_in_a_row",
            (scope, subscription_id, *cursor),
        )

    def take_lease(
        self, scope: str, subscription_id: str, holder: str, *, now_ms: int, until_ms: int
    ) -> bool:
        """Take or renew the lease for ``holder`` unless another holds it past ``now_ms``."""
        changed = self._db.run(
            "INSERT INTO webhook_leases (scope, subscription_id, holder, until_ms) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (scope, subscription_id) DO UPDATE SET "
            "holder = excluded.holder, until_ms = excluded.until_ms "
            "WHERE webhook_leases.holder = excluded.holder OR webhook_leases.until_ms <= ?",
            (scope, subscription_id, holder, until_ms, now_ms),
        )
        return changed > 0

    def release_lease(self, scope: str, subscription_id: str, holder: str) -> None:
        """Give the lease up if ``holder`` has it."""
        self._db.run(
            f"DELETE FROM webhook_leases WHERE {_WHO} AND holder = ?",
            (scope, subscription_id, holder),
        )

    def log_attempt(self, scope: str, subscription_id: str, row: DeliveryLogRow) -> None:
        """Log one delivery attempt."""
        self._db.run(
            f"INSERT INTO webhook_log (scope, subscription_id, {_LOG_COLUMNS}) "
            f"VALUES (?, ?, {_LOG_PLACES})",
            (scope, subscription_id, *row),
        )

    def attempts(
        self, scope: str, subscription_id: str, *, event_id: str | None = None
    ) -> list[DeliveryLogRow]:
        """Logged attempts, oldest first."""
        select = f"SELECT {_LOG_COLUMNS} FROM webhook_log WHERE {_WHO}"
        if event_id is None:
            rows = self._db.rows(f"{select} ORDER BY id", (scope, subscription_id))
        else:
            rows = self._db.rows(
                f"{select} AND event_id = ? ORDER BY id", (scope, subscription_id, event_id)
            )
        return [DeliveryLogRow(*row) for row in rows]  # type: ignore[arg-type]

    def add_dead_letter(self, scope: str, subscription_id: str, row: DeadLetterRow) -> None:
        """Record an event given up on."""
        self._db.run(
            f"INSERT INTO webhook_dead (scope, subscription_id, {_DEAD_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (scope, subscription_id, *row),
        )

    def dead_letters(self, scope: str, subscription_id: str) -> list[DeadLetterRow]:
        """The subscription's dead letters, oldest first."""
        rows = self._db.rows(
            f"SELECT {_DEAD_COLUMNS} FROM webhook_dead WHERE {_WHO} ORDER BY id",
            (scope, subscription_id),
        )
        return [DeadLetterRow(*row) for row in rows]  # type: ignore[arg-type]
