"""The delivery flow over a ``Store``: which event goes where next, with no I/O of its own.

For one subscription, ``DeliveryFlow.run`` is a generator: it *yields* a
``DeliveryRequest`` and is *sent back* an ``Attempted`` (what the endpoint
did, and how long it took), so the drivers in ``webhooks.dispatch`` only move
bytes. Every store access is a short unit of work through the repositories;
between two of them the flow holds nothing open, so a driver may run each
step on another thread (``AsyncDispatcher`` does).

The semantics:

* **In order, at least once.** A subscription's cursor walks the outbox;
  the event at its head is retried (``delivery.decide``) until it is
  delivered or given up on, and only then does the next one go. The event id
  is the ``Idempotency-Key``; every attempt is logged, the receiver's answer
  by its length and a keyed digest only.
* **One deliverer.** A lease per subscription, renewed before each attempt,
  lets dispatchers in other processes pass it by.
* **Dead letters.** What ``decide`` gives up on is dead-lettered and the
  cursor moves on. An endpoint that answers 410, or a destination the guard
  refuses, disables the subscription; so do ``disable_after_dead`` dead
  letters in a row (``disabled_by="failures"``). A name that does not
  resolve is no refusal: it fails the attempt like a refused connection (a
  receiver's DNS outage is its outage), so it is retried, then probed.
* **Coming back.** A subscription disabled by its failures is probed: its
  cursor is put back before the run of events that disabled it, and the
  first of them is tried again after ``ProbePolicy.first`` (1 h), then after
  twice as long each time up to ``ProbePolicy.max`` (24 h), with jitter from
  an injectable random source. A 2xx answer re-enables it and delivery
  resumes from that event, so nothing sent while the receiver was down is
  lost. Subscriptions disabled by an operator, a 410 or the guard are not
  probed.

Requests never follow redirects and go only to the address the destination
guard approved (``Host`` and TLS SNI name the host).

This module holds the flow's decisions; its parts live beside it and are
importable from here too: the probe policy and backoff (``_probes``), the
signed, pinned requests (``_requests``) and the stored delivery state, from
leases to dead letters (``_state``).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Generator
from typing import Any, Final, NamedTuple

from affiliate_sdk.clock import Clock
from affiliate_sdk.errors import ForbiddenDestination
from affiliate_sdk.storage.contract import Store
from affiliate_sdk.storage.rows import DeadLetterRow, DeliveryCursor, DeliveryLogRow, OutboxRow

from ._probes import DEFAULT_PROBE_POLICY, ProbePolicy, _Backoff
from ._requests import (
    DeliveryRequest,
    _pinned,
    open_subscription,
    postback_url,
    seal_subscription,
    sealing_context,
    signed_request,
    signing_secrets,
)
from ._state import LEASE_MS, DeliveryState, Pending, Target
from .delivery import DEFAULT_POLICY, AttemptResult, DeliveryPolicy, decide
from .destinations import Unresolved, resolve_destination
from .sealing import SecretBox
from .subscriptions import DisabledBy, Resolver, Subscription

__all__ = [
    "DEFAULT_PROBE_POLICY",
    "LEASE_MS",
    "LOGGER_NAME",
    "Attempted",
    "DeliveryFlow",
    "DeliveryRequest",
    "ProbePolicy",
    "Step",
    "Tally",
    "Target",
    "_Backoff",
    "_pinned",
    "advance",
    "open_subscription",
    "seal_subscription",
    "sealing_context",
]

#: The logger the flow reports recoveries and disables to.
LOGGER_NAME: Final = "affiliate_sdk.webhooks"
#: How many outbox events one unit of work reads while looking for the next one to deliver.
BATCH: Final = 200


class Attempted(NamedTuple):
    """What a driver sends back: what the endpoint did and how long the request took."""

    result: AttemptResult
    latency_ms: float = 0.0


class Tally:
    """What one run did, counted by the flow (one per run: runs may go on concurrently)."""

    __slots__ = ("dead", "delivered", "refused", "retried")

    def __init__(self) -> None:
        self.delivered = 0
        self.retried = 0
        self.dead = 0
        self.refused = 0


#: One subscription's run: yields requests, is sent what they got.
Step = Generator[DeliveryRequest, Attempted, None]


def advance(flow: Step, answer: Attempted | None) -> DeliveryRequest | None:
    """Run ``flow`` to its next request (``answer`` to the last one, None to start);
    None once it is done. A step is whole: it runs on the calling thread only."""
    try:
        return next(flow) if answer is None else flow.send(answer)
    except StopIteration:
        return None


class _Head(NamedTuple):
    """The next event a subscription wants, and its cursor once the skipped ones are passed."""

    row: OutboxRow | None
    event: dict[str, Any]
    cursor: DeliveryCursor


class _Refused(NamedTuple):
    """The destination guard refused the URL: no request was made."""

    reason: str


class DeliveryFlow:
    """Delivers a store's outbox to its subscriptions; drivers feed it the answers."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        policy: DeliveryPolicy = DEFAULT_POLICY,
        probe: ProbePolicy = DEFAULT_PROBE_POLICY,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        secrets: SecretBox | None = None,
        rng: random.Random | None = None,
        scope: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        backoff = _Backoff(probe, rng if rng is not None else random.Random())
        self._allow_private = allow_private
        self._resolver = resolver
        self._box = secrets
        self._scope = scope
        log = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        digest = secrets.digest if secrets is not None else None
        self._state = DeliveryState(store, clock, backoff, log, digest)

    def targets(self) -> list[Target]:
        """The subscriptions worth a pass: active ones, and those their failures disabled."""
        with self._store.reader() as tx:
            rows = tx.webhooks.subscriptions(scope=self._scope)
        found = []
        for row in rows:
            subscription = Subscription.model_validate_json(row.data)
            if subscription.active or subscription.disabled_by == "failures":
                found.append(Target(row.scope, row.subscription_id))
        return found

    def run(self, target: Target, tally: Tally, budget: int) -> Step:
        """Deliver what is due for one subscription, up to ``budget`` attempts.

        Holds the subscription's lease meanwhile, so dispatchers in other
        processes pass it by and each event goes out once per attempt.
        """
        if budget < 1 or not self._state.lease(target):
            return
        try:
            yield from self._serve(target, tally, budget)
        finally:
            self._state.release(target)

    # -- the steps -----------------------------------------------------------------------------

    def _serve(self, target: Target, tally: Tally, budget: int) -> Step:
        loaded = self._state.load(target)
        if loaded is None:
            return
        subscription, cursor = loaded
        if cursor.next_at_ms > self._state.now_ms():
            return
        if not subscription.active:
            if subscription.disabled_by != "failures":
                return
            recovered = yield from self._probe(target, subscription, cursor)
            if recovered is None:
                return
            subscription, cursor = recovered
            budget -= 1
        yield from self._deliver(target, subscription, cursor, tally, budget)

    def _deliver(
        self,
        target: Target,
        subscription: Subscription,
        cursor: DeliveryCursor,
        tally: Tally,
        budget: int,
    ) -> Step:
        while budget > 0:
            head = self._head(subscription, cursor)
            if head.row is None:
                self._state.save(target, cursor, head.cursor)
                return
            if not self._state.lease(target):  # renewed before each attempt
                return
            budget -= 1
            attempt = head.cursor.attempts + 1
            url = postback_url(subscription, head.event)
            pending = Pending(head.row, head.event, attempt, url, cursor)
            answer = yield from self._attempt(subscription, pending)
            if isinstance(answer, _Refused):
                tally.refused += 1
                log_row = self._state.log_row(pending, AttemptResult(None, answer.reason), 0.0)
                reason = answer.reason
                self._dead(target, head.cursor, pending, reason, by="destination", log_row=log_row)
                return
            moved = self._settle(target, head.cursor, pending, answer, tally)
            if moved is None:
                return
            subscription, cursor = moved

    def _probe(
        self, target: Target, subscription: Subscription, cursor: DeliveryCursor
    ) -> Generator[DeliveryRequest, Attempted, tuple[Subscription, DeliveryCursor] | None]:
        """Try the event at the cursor of a subscription its failures disabled."""
        head = self._head(subscription, cursor)
        if head.row is None or not self._state.lease(target):
            return None  # nothing to probe with yet: the next event written will do
        url = postback_url(subscription, head.event)
        pending = Pending(head.row, head.event, cursor.attempts + 1, url, cursor)
        answer = yield from self._attempt(subscription, pending)
        if isinstance(answer, _Refused):
            answer = Attempted(AttemptResult(None, answer.reason))
        log_row = self._state.log_row(pending, answer.result, answer.latency_ms)
        status = answer.result.status
        if status is not None and 200 <= status < 300:
            return self._state.recover(target, head.cursor, log_row, subscription)
        gone: DisabledBy | None = "gone" if status == 410 else None
        self._state.probe_failed(target, cursor, head.cursor, log_row, gone)
        return None

    def _attempt(
        self, subscription: Subscription, pending: Pending
    ) -> Generator[DeliveryRequest, Attempted, Attempted | _Refused]:
        """Check the destination (resolving its name), sign, and yield the request.

        A name that does not resolve now is a failed attempt, retried like a
        refused connection; a destination the guard refuses is ``_Refused``.
        """
        try:
            found = resolve_destination(
                pending.url, allow_private=self._allow_private, resolver=self._resolver
            )
        except ForbiddenDestination as exc:
            return _Refused(exc.reason)
        if isinstance(found, Unresolved):
            return Attempted(AttemptResult(None, found.reason))
        answer = yield self._request(subscription, pending, found[0])
        return answer

    # -- reading and signing -------------------------------------------------------------------

    def _head(self, subscription: Subscription, cursor: DeliveryCursor) -> _Head:
        """The next event the subscription wants after its cursor (one read per batch)."""
        while True:
            with self._store.reader() as tx:
                batch = tx.outbox.after(cursor.cursor, limit=BATCH)
            if not batch:
                return _Head(None, {}, cursor)
            for row in batch:
                if row.type in subscription.event_types:
                    event: dict[str, Any] = json.loads(row.data)
                    if subscription.wants(row.type, event["data"]):
                        return _Head(row, event, cursor)
                cursor = cursor._replace(cursor=row.seq, attempts=0, next_at_ms=0)

    def _request(
        self, subscription: Subscription, pending: Pending, address: str
    ) -> DeliveryRequest:
        secrets = signing_secrets(self._box, subscription)
        timestamp = int(self._clock.timestamp())
        return signed_request(
            subscription, pending.row, pending.url, address, secrets=secrets, timestamp=timestamp
        )

    # -- verdicts ------------------------------------------------------------------------------

    def _settle(
        self,
        target: Target,
        cursor: DeliveryCursor,
        pending: Pending,
        answer: Attempted,
        tally: Tally,
    ) -> tuple[Subscription, DeliveryCursor] | None:
        """Apply ``decide``'s verdict on an attempt; what to go on with, or None to stop."""
        log_row = self._state.log_row(pending, answer.result, answer.latency_ms)
        decision = decide(pending.attempt, answer.result, self._policy)
        if decision.outcome == "delivered":
            tally.delivered += 1
            after = DeliveryCursor(pending.row.seq, 0, 0, 0)
            return self._state.commit(target, pending.stored, after, log_row)
        if decision.outcome == "retry":
            tally.retried += 1
            later = self._state.now_ms() + int(decision.delay * 1000)
            after = cursor._replace(attempts=pending.attempt, next_at_ms=later)
            self._state.commit(target, pending.stored, after, log_row)
            return None
        tally.dead += 1
        by: DisabledBy | None = "gone" if decision.disable else None
        return self._dead(target, cursor, pending, decision.reason, by=by, log_row=log_row)

    def _dead(
        self,
        target: Target,
        cursor: DeliveryCursor,
        pending: Pending,
        reason: str,
        *,
        by: DisabledBy | None,
        log_row: DeliveryLogRow,
    ) -> tuple[Subscription, DeliveryCursor] | None:
        """Dead-letter the event; disable the subscription when ``by`` or the run says so."""
        now_ms = self._state.now_ms()
        letter = DeadLetterRow(pending.row.seq, pending.row.event_id, reason, now_ms)
        in_a_row = cursor.dead_in_a_row + 1
        after = DeliveryCursor(pending.row.seq, 0, 0, in_a_row)
        why = reason
        if by is None and in_a_row >= self._policy.disable_after_dead:
            by = "failures"
            why = f"{in_a_row} events in a row dead-lettered; last: {reason}"
        if by is None:
            return self._state.commit(target, pending.stored, after, log_row, letter=letter)
        self._state.commit(target, pending.stored, after, log_row, letter=letter, disable=(by, why))
        return None
