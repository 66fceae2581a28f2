"""A subscription's delivery state in the store, read and written in short units of work.

The lease that keeps one deliverer per subscription, the cursor that only
moves from where a run last left it, the attempt log (a receiver's answer
only by its length and a keyed digest, never its text), dead letters, and the
switch between active and disabled (with the probe schedule a subscription
its failures disabled follows, and the log lines saying it changed).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from affiliate_sdk.clock import Clock
from affiliate_sdk.storage.composed import counters_part
from affiliate_sdk.storage.contract import LeaseRepo, Store, UnitOfWork
from affiliate_sdk.storage.rows import (
    DeadLetterRow,
    DeliveryCursor,
    DeliveryLogRow,
    OutboxRow,
    SubscriptionRow,
)

from ._probes import _Backoff
from .delivery import AttemptResult
from .subscriptions import DisabledBy, Subscription

__all__ = ["LEASE_MS", "DeliveryState", "Digest", "Pending", "Target"]

#: How long a flow's hold on a subscription lasts unless renewed (each attempt renews it).
LEASE_MS: Final = 5 * 60 * 1000
#: A keyed digest of a receiver's answer (``SecretBox.digest``).
Digest = Callable[[bytes], str]


class Target(NamedTuple):
    """A subscription to serve: its owner's scope and its id."""

    scope: str
    subscription_id: str


class Pending(NamedTuple):
    """An attempt in flight: what it delivers, its attempt number, and the cursor as stored
    when the run read it (the cursor moves only from there)."""

    row: OutboxRow
    event: dict[str, Any]
    attempt: int
    url: str
    stored: DeliveryCursor


class DeliveryState:
    """Reads and writes the subscriptions' delivery state for one flow (its lease holder)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        backoff: _Backoff,
        logger: logging.Logger,
        digest: Digest | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._backoff = backoff
        self._log = logger
        self._digest = digest
        self._holder = f"{os.getpid()}-{os.urandom(6).hex()}"
        #: Leases kept outside the store (counters on Redis), when the store has them.
        self._leases: LeaseRepo | None = counters_part(store, "leases")

    def now_ms(self) -> int:
        return int(self._clock.timestamp() * 1000)

    # -- leases --------------------------------------------------------------------------------

    def lease(self, target: Target) -> bool:
        """Take or renew the subscription's lease; False while another holder has it."""
        now_ms = self.now_ms()
        until_ms = now_ms + LEASE_MS
        if self._leases is not None:
            return self._leases.take_lease(*target, self._holder, now_ms=now_ms, until_ms=until_ms)
        with self._store.transaction() as tx:
            return tx.webhooks.take_lease(*target, self._holder, now_ms=now_ms, until_ms=until_ms)

    def release(self, target: Target) -> None:
        if self._leases is not None:
            self._leases.release_lease(*target, self._holder)
            return
        with self._store.transaction() as tx:
            tx.webhooks.release_lease(*target, self._holder)

    # -- reading -------------------------------------------------------------------------------

    def load(self, target: Target) -> tuple[Subscription, DeliveryCursor] | None:
        with self._store.reader() as tx:
            row = tx.webhooks.get_subscription(*target)
            cursor = tx.webhooks.cursor(*target)
        if row is None:
            return None
        return Subscription.model_validate_json(row.data), cursor or DeliveryCursor()

    def log_row(self, pending: Pending, result: AttemptResult, latency: float) -> DeliveryLogRow:
        """The attempt as logged: the receiver's answer by its length and keyed digest only
        (receivers echo what they were sent, personal data included)."""
        answered = result.status is not None
        return DeliveryLogRow(
            seq=pending.row.seq,
            event_id=pending.row.event_id,
            type=pending.row.type,
            attempt=pending.attempt,
            at_ms=self.now_ms(),
            status=result.status,
            error=result.error,
            latency_ms=round(latency, 3),
            response_bytes=len(result.body) if answered else None,
            response_digest=(
                self._digest(result.body) if answered and self._digest is not None else None
            ),
        )

    # -- writing -------------------------------------------------------------------------------

    def commit(
        self,
        target: Target,
        expected: DeliveryCursor,
        after: DeliveryCursor,
        log_row: DeliveryLogRow,
        *,
        letter: DeadLetterRow | None = None,
        disable: tuple[DisabledBy, str] | None = None,
    ) -> tuple[Subscription, DeliveryCursor] | None:
        """Log the attempt and move the cursor, in one unit of work.

        The cursor moves only from where this run last left it: an operator's
        ``replay`` or ``retry_now`` meanwhile wins, and the run stops. Returns
        the subscription and cursor to go on with while it stays active.
        """
        with self._store.transaction() as tx:
            repo = tx.webhooks
            repo.log_attempt(*target, log_row)
            if letter is not None:
                repo.add_dead_letter(*target, letter)
            row = repo.get_subscription(*target)
            if row is None or (repo.cursor(*target) or DeliveryCursor()) != expected:
                return None
            subscription = Subscription.model_validate_json(row.data)
            if disable is not None:
                subscription = self._disable(tx, target, subscription, after, disable)
            else:
                repo.put_cursor(*target, after)
        if disable is not None:
            self._disabled(target, subscription)
        if not subscription.active:
            return None
        return subscription, after

    def _disable(
        self,
        tx: UnitOfWork,
        target: Target,
        subscription: Subscription,
        after: DeliveryCursor,
        disable: tuple[DisabledBy, str],
    ) -> Subscription:
        by, why = disable
        if by == "failures":
            # Back before the run of dead events: the probe tries its first one again.
            letters = tx.webhooks.dead_letters(*target)[-after.dead_in_a_row :]
            start = min(letter.seq for letter in letters) - 1 if letters else after.cursor
            first_probe = self.now_ms() + int(self._backoff.seconds(0) * 1000)
            after = DeliveryCursor(start, 0, first_probe, after.dead_in_a_row)
        disabled = subscription.model_copy(
            update={"active": False, "disabled_reason": why, "disabled_by": by}
        )
        tx.webhooks.put_subscription(SubscriptionRow(*target, disabled.model_dump_json()))
        tx.webhooks.put_cursor(*target, after)
        return disabled

    def _disabled(self, target: Target, subscription: Subscription) -> None:
        """Say (once its unit of work is done) that a subscription was turned off."""
        self._log.warning(
            "webhook subscription disabled",
            extra=self._fields(
                target,
                subscription,
                disabled_by=subscription.disabled_by,
                reason=subscription.disabled_reason,
            ),
        )

    def recover(
        self,
        target: Target,
        cursor: DeliveryCursor,
        log_row: DeliveryLogRow,
        subscription: Subscription,
    ) -> tuple[Subscription, DeliveryCursor] | None:
        """A probe got a 2xx: the event is delivered and the subscription is on again."""
        after = DeliveryCursor(log_row.seq, 0, 0, 0)
        with self._store.transaction() as tx:
            repo = tx.webhooks
            repo.log_attempt(*target, log_row)
            row = repo.get_subscription(*target)
            if row is None:
                return None
            stored = Subscription.model_validate_json(row.data)
            if stored.active or stored.disabled_by != "failures":
                return None  # an operator acted meanwhile
            enabled = stored.model_copy(
                update={"active": True, "disabled_reason": None, "disabled_by": None}
            )
            repo.put_subscription(SubscriptionRow(*target, enabled.model_dump_json()))
            probes = (repo.cursor(*target) or DeliveryCursor()).attempts
            repo.put_cursor(*target, after)
        self._log.info(
            "webhook subscription recovered",
            extra=self._fields(target, subscription, probes=probes + 1, resumed_at_seq=log_row.seq),
        )
        return enabled, after

    def probe_failed(
        self,
        target: Target,
        cursor: DeliveryCursor,
        head: DeliveryCursor,
        log_row: DeliveryLogRow,
        gone: DisabledBy | None,
    ) -> None:
        """Log the failed probe and schedule the next one (none after a 410)."""
        probes = cursor.attempts + 1
        later = self.now_ms() + int(self._backoff.seconds(probes) * 1000)
        after = head._replace(attempts=probes, next_at_ms=later)
        disabled: Subscription | None = None
        with self._store.transaction() as tx:
            repo = tx.webhooks
            repo.log_attempt(*target, log_row)
            row = repo.get_subscription(*target)
            if row is None or (repo.cursor(*target) or DeliveryCursor()) != cursor:
                return
            if gone is not None:
                subscription = Subscription.model_validate_json(row.data)
                why = "HTTP 410: the endpoint is gone"
                disabled = self._disable(tx, target, subscription, head, (gone, why))
            else:
                repo.put_cursor(*target, after)
        if disabled is not None:
            self._disabled(target, disabled)
            return
        self._log.debug(
            "webhook probe failed",
            extra={
                "webhook_scope": target.scope,
                "subscription_id": target.subscription_id,
                "probes": probes,
                "next_probe_at_ms": later,
                "error": log_row.error,
                "status": log_row.status,
            },
        )

    def save(self, target: Target, expected: DeliveryCursor, after: DeliveryCursor) -> None:
        """Keep the cursor past events skipped at the end of a run."""
        if after == expected:
            return
        with self._store.transaction() as tx:
            if (tx.webhooks.cursor(*target) or DeliveryCursor()) == expected:
                tx.webhooks.put_cursor(*target, after)

    def _fields(
        self, target: Target, subscription: Subscription, **more: object
    ) -> dict[str, object]:
        """Structured log fields: never a secret, and the destination's host name only."""
        return {
            "webhook_scope": target.scope,
            "subscription_id": target.subscription_id,
            "destination_host": urlsplit(subscription.url).hostname,
            **more,
        }
