"""The ``WebhookRepo`` contract: subscriptions, cursors, leases, attempts, dead letters."""

from __future__ import annotations

from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import DeadLetterRow, DeliveryCursor, SubscriptionRow

from ._support import _attempt, _rolled_back

__all__ = ["WebhookContract"]


class WebhookContract:
    """``WebhookRepo``: subscriptions by scope, cursors, leases, attempts, dead letters."""

    def test_subscriptions_by_scope(self, store: Store) -> None:
        rows = [
            SubscriptionRow("m:m1", "s2", '{"n":1}'),
            SubscriptionRow("", "s1", '{"n":2}'),
            SubscriptionRow("m:m1", "s1", '{"n":3}'),
            SubscriptionRow("a:a1", "s1", '{"n":4}'),
        ]
        with store.transaction() as tx:
            for row in rows:
                tx.webhooks.put_subscription(row)
            tx.webhooks.put_subscription(SubscriptionRow("m:m1", "s2", '{"n":5}'))
        with store.reader() as tx:
            assert tx.webhooks.get_subscription("m:m1", "s2") == SubscriptionRow(
                "m:m1", "s2", '{"n":5}'
            )
            assert tx.webhooks.get_subscription("", "s1") == rows[1]
            assert tx.webhooks.get_subscription("m:m2", "s1") is None
            assert [(r.scope, r.subscription_id) for r in tx.webhooks.subscriptions()] == [
                ("", "s1"),
                ("a:a1", "s1"),
                ("m:m1", "s1"),
                ("m:m1", "s2"),
            ]
            assert [r.data for r in tx.webhooks.subscriptions(scope="m:m1")] == [
                '{"n":3}',
                '{"n":5}',
            ]
            assert tx.webhooks.subscriptions(scope="") == [rows[1]]
            assert tx.webhooks.subscriptions(scope="m:m9") == []

    def test_cursors(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.webhooks.cursor("", "s1") is None
            tx.webhooks.put_cursor("", "s1", DeliveryCursor(3, 1, 5_000, 0))
            tx.webhooks.put_cursor("m:m1", "s1", DeliveryCursor(1))
            tx.webhooks.put_cursor("", "s1", DeliveryCursor(4, 0, 0, 2))
        with store.reader() as tx:
            assert tx.webhooks.cursor("", "s1") == DeliveryCursor(4, 0, 0, 2)
            assert tx.webhooks.cursor("m:m1", "s1") == DeliveryCursor(1, 0, 0, 0)

    def test_leases(self, store: Store) -> None:
        with store.transaction() as tx:
            hooks = tx.webhooks
            assert hooks.take_lease("", "s1", "h1", now_ms=1_000, until_ms=2_000)
            assert not hooks.take_lease("", "s1", "h2", now_ms=1_999, until_ms=3_000)
            assert hooks.take_lease("", "s1", "h1", now_ms=1_500, until_ms=2_500)  # renewal
            assert not hooks.take_lease("", "s1", "h2", now_ms=2_000, until_ms=3_000)
            assert hooks.take_lease("m:m1", "s1", "h2", now_ms=1_000, until_ms=3_000)
            assert hooks.take_lease("", "s1", "h2", now_ms=2_500, until_ms=3_500)  # expired
            assert not hooks.take_lease("", "s1", "h1", now_ms=2_600, until_ms=3_600)
            hooks.release_lease("", "s1", "h1")  # not h1's: no effect
            assert not hooks.take_lease("", "s1", "h1", now_ms=2_600, until_ms=3_600)
            hooks.release_lease("", "s1", "h2")
            assert hooks.take_lease("", "s1", "h1", now_ms=2_600, until_ms=3_600)
            hooks.release_lease("", "s9", "h1")  # no lease: no effect

    def test_attempts_and_dead_letters(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.webhooks.attempts("", "s1") == []
            tx.webhooks.log_attempt("", "s1", _attempt(1, "ev1", 1))
            tx.webhooks.log_attempt("", "s1", _attempt(2, "ev2", 1))
            tx.webhooks.log_attempt("", "s1", _attempt(1, "ev1", 2))
            tx.webhooks.log_attempt("m:m1", "s1", _attempt(1, "ev1", 1))
            tx.webhooks.add_dead_letter("", "s1", DeadLetterRow(1, "ev1", "HTTP 500", 9_000))
            tx.webhooks.add_dead_letter("", "s1", DeadLetterRow(2, "ev2", "timeout", 9_500))
        with store.reader() as tx:
            assert tx.webhooks.attempts("", "s1") == [
                _attempt(1, "ev1", 1),
                _attempt(2, "ev2", 1),
                _attempt(1, "ev1", 2),
            ]
            assert tx.webhooks.attempts("", "s1", event_id="ev1") == [
                _attempt(1, "ev1", 1),
                _attempt(1, "ev1", 2),
            ]
            assert tx.webhooks.attempts("m:m1", "s1") == [_attempt(1, "ev1", 1)]
            assert tx.webhooks.attempts("", "s1", event_id="ev9") == []
            assert tx.webhooks.dead_letters("", "s1") == [
                DeadLetterRow(1, "ev1", "HTTP 500", 9_000),
                DeadLetterRow(2, "ev2", "timeout", 9_500),
            ]
            assert tx.webhooks.dead_letters("m:m1", "s1") == []

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.webhooks.put_subscription(SubscriptionRow("", "s1", "{}"))
            tx.webhooks.put_cursor("", "s1", DeliveryCursor(1))
            tx.webhooks.take_lease("", "s1", "h1", now_ms=0, until_ms=9_000)
            tx.webhooks.log_attempt("", "s1", _attempt(1, "ev1", 1))
            tx.webhooks.add_dead_letter("", "s1", DeadLetterRow(1, "ev1", "gone", 1))

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert tx.webhooks.subscriptions() == []
            assert tx.webhooks.cursor("", "s1") is None
            assert tx.webhooks.attempts("", "s1") == []
            assert tx.webhooks.dead_letters("", "s1") == []
            assert tx.webhooks.take_lease("", "s1", "h2", now_ms=1, until_ms=2)
