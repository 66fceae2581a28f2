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
  is the ``Idempotency-Key``; every attempt is logged (the response capped).
* **One deliverer.** A lease per subscription, renewed before each attempt,
  lets dispatchers in other processes pass it by.
* **Dead letters.** What ``decide`` gives up on is dead-lettered and the
  cursor moves on. An endpoint that answers 410, or a destination the guard
  refuses, disables the subscription; so do ``disable_after_dead`` dead
  letters in a row (``disabled_by="failures"``).
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
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Generator, Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import tenacity

from affiliate_sdk.clock import Clock
from affiliate_sdk.errors import ConfigurationError, ForbiddenDestination, WebhookError
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import (
    DeadLetterRow,
    DeliveryCursor,
    DeliveryLogRow,
    OutboxRow,
    SubscriptionRow,
)

from .delivery import DEFAULT_POLICY, AttemptResult, DeliveryPolicy, decide
from .sealing import PREFIX as SEALED
from .sealing import SecretBox
from .signing import SIGNATURE_HEADER, signature_header
from .subscriptions import DisabledBy, Resolver, Subscription, check_destination, fill_template

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
    "advance",
    "open_subscription",
    "seal_subscription",
    "sealing_context",
]

#: How long a flow's hold on a subscription lasts unless renewed (each attempt renews it).
LEASE_MS: Final = 5 * 60 * 1000
#: The logger the flow reports recoveries and disables to.
LOGGER_NAME: Final = "affiliate_sdk.webhooks"
#: How many outbox events one unit of work reads while looking for the next one to deliver.
BATCH: Final = 200
#: How much of a response the delivery log keeps.
MAX_SNIPPET: Final = 256
USER_AGENT: Final = "affiliate-sdk-webhooks/1"


class ProbePolicy(NamedTuple):
    """When to probe a subscription its failures disabled (seconds).

    The first probe comes ``first`` after it was disabled, each later one
    twice as long after the previous, at most ``max``; up to ``jitter`` more
    is added at random so many subscriptions do not probe at once.
    """

    first: float = 3600.0
    max: float = 24 * 3600.0
    jitter: float = 300.0


DEFAULT_PROBE_POLICY: Final = ProbePolicy()


class DeliveryRequest(NamedTuple):
    """A request to make: to the checked address, naming the host in ``Host`` and TLS SNI."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    extensions: dict[str, str]


class Attempted(NamedTuple):
    """What a driver sends back: what the endpoint did and how long the request took."""

    result: AttemptResult
    latency_ms: float = 0.0


class Target(NamedTuple):
    """A subscription to serve: its owner's scope and its id."""

    scope: str
    subscription_id: str


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


def sealing_context(scope: str, subscription_id: str) -> str:
    """What a sealed secret is bound to: the subscription id, under its scope.

    Platform subscriptions keep the bare id, as sealed before scopes existed.
    """
    return subscription_id if not scope else f"{scope}/{subscription_id}"


def seal_subscription(box: SecretBox, subscription: Subscription) -> Subscription:
    """The subscription with its secrets sealed, bound to its scope and id."""
    context = sealing_context(subscription.scope, subscription.subscription_id)
    return subscription.model_copy(
        update={"secrets": [box.seal(s, context) for s in subscription.secrets]}
    )


def open_subscription(box: SecretBox, subscription: Subscription) -> Subscription:
    """The subscription with its secrets readable (to sign with)."""
    context = sealing_context(subscription.scope, subscription.subscription_id)
    return subscription.model_copy(
        update={"secrets": [box.open(s, context) for s in subscription.secrets]}
    )


class _wait_uniform(tenacity.wait.wait_base):
    """tenacity's ``wait_random``, drawing from an injected random source."""

    def __init__(self, high: float, rng: random.Random) -> None:
        self._high = high
        self._rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self._rng.uniform(0.0, self._high)


class _ProbeFailed(Exception):
    """A probe that did not get a 2xx (inside the wait computation only)."""


class _Backoff:
    """The wait before each probe, from tenacity's retry loop with a recording sleep.

    After ``n`` failed probes the wait is what tenacity's loop would sleep
    after its ``n``-th failure: ``wait_exponential`` (doubling from ``first``,
    capped at ``max``) plus uniform jitter. Past the cap every wait is the
    same, so the loop never runs more than the doublings that reach it.
    """

    def __init__(self, policy: ProbePolicy, rng: random.Random) -> None:
        if not 0 < policy.first <= policy.max or policy.jitter < 0:
            raise ConfigurationError("probes need 0 < first <= max and jitter >= 0")
        self._wait = tenacity.wait_exponential(
            multiplier=policy.first, exp_base=2, max=policy.max
        ) + _wait_uniform(policy.jitter, rng)
        doublings = 1
        while policy.first * 2 ** (doublings - 1) < policy.max:
            doublings += 1
        self._longest = doublings

    def seconds(self, probes: int) -> float:
        """The wait after ``probes`` failed probes (0 for the first probe after disabling)."""
        waits: list[float] = []
        failures = min(probes, self._longest - 1) + 1
        retrying = tenacity.Retrying(wait=self._wait, sleep=waits.append, reraise=True)
        for attempt in retrying:
            with attempt:
                if len(waits) < failures:
                    raise _ProbeFailed
        return waits[-1]


class _Head(NamedTuple):
    """The next event a subscription wants, and its cursor once the skipped ones are passed."""

    row: OutboxRow | None
    event: dict[str, Any]
    cursor: DeliveryCursor


class _Pending(NamedTuple):
    """An attempt in flight: what it delivers, its attempt number, and the cursor as stored
    when the run read it (the cursor moves only from there)."""

    row: OutboxRow
    event: dict[str, Any]
    attempt: int
    url: str
    stored: DeliveryCursor


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
        self._backoff = _Backoff(probe, rng if rng is not None else random.Random())
        self._allow_private = allow_private
        self._resolver = resolver
        self._box = secrets
        self._scope = scope
        self._log = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        self._holder = f"{os.getpid()}-{os.urandom(6).hex()}"

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
        if budget < 1 or not self._lease(target):
            return
        try:
            yield from self._serve(target, tally, budget)
        finally:
            self._release(target)

    # -- the steps -----------------------------------------------------------------------------

    def _serve(self, target: Target, tally: Tally, budget: int) -> Step:
        loaded = self._load(target)
        if loaded is None:
            return
        subscription, cursor = loaded
        if cursor.next_at_ms > self._now_ms():
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
                self._save(target, cursor, head.cursor)
                return
            if not self._lease(target):  # renewed before each attempt
                return
            budget -= 1
            attempt = head.cursor.attempts + 1
            url = self._url(subscription, head.event)
            pending = _Pending(head.row, head.event, attempt, url, cursor)
            answer = yield from self._attempt(subscription, pending)
            if isinstance(answer, _Refused):
                tally.refused += 1
                log_row = self._log_row(pending, AttemptResult(None, answer.reason), 0.0)
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
        if head.row is None or not self._lease(target):
            return None  # nothing to probe with yet: the next event written will do
        url = self._url(subscription, head.event)
        pending = _Pending(head.row, head.event, cursor.attempts + 1, url, cursor)
        answer = yield from self._attempt(subscription, pending)
        if isinstance(answer, _Refused):
            answer = Attempted(AttemptResult(None, answer.reason))
        log_row = self._log_row(pending, answer.result, answer.latency_ms)
        status = answer.result.status
        if status is not None and 200 <= status < 300:
            return self._recover(target, head.cursor, log_row, subscription)
        gone: DisabledBy | None = "gone" if status == 410 else None
        self._probe_failed(target, cursor, head.cursor, log_row, gone)
        return None

    def _attempt(
        self, subscription: Subscription, pending: _Pending
    ) -> Generator[DeliveryRequest, Attempted, Attempted | _Refused]:
        """Check the destination (resolving its name), sign, and yield the request."""
        try:
            addresses = check_destination(
                pending.url, allow_private=self._allow_private, resolver=self._resolver
            )
        except ForbiddenDestination as exc:
            return _Refused(exc.reason)
        answer = yield self._request(subscription, pending, addresses[0])
        return answer

    # -- reading -------------------------------------------------------------------------------

    def _load(self, target: Target) -> tuple[Subscription, DeliveryCursor] | None:
        with self._store.reader() as tx:
            row = tx.webhooks.get_subscription(*target)
            cursor = tx.webhooks.cursor(*target)
        if row is None:
            return None
        return Subscription.model_validate_json(row.data), cursor or DeliveryCursor()

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

    def _url(self, subscription: Subscription, event: Mapping[str, Any]) -> str:
        return fill_template(subscription.url, _macros(event))

    def _request(
        self, subscription: Subscription, pending: _Pending, address: str
    ) -> DeliveryRequest:
        path, host, pinned, extensions = _pinned(pending.url, address)
        post = subscription.method == "POST"
        body = pending.row.data.encode() if post else path.encode()
        headers = {
            "Host": host,
            SIGNATURE_HEADER: signature_header(
                self._secrets(subscription), int(self._clock.timestamp()), body
            ),
            "Idempotency-Key": pending.row.event_id,
            "Affiliate-Event-Type": pending.row.type,
            "User-Agent": USER_AGENT,
        }
        if post:
            headers["Content-Type"] = "application/json"
        return DeliveryRequest(
            subscription.method, pinned, headers, body if post else b"", extensions
        )

    def _secrets(self, subscription: Subscription) -> list[str]:
        """The subscription's secrets to sign with (opened when sealed)."""
        if self._box is not None:
            return open_subscription(self._box, subscription).secrets
        if any(secret.startswith(SEALED) for secret in subscription.secrets):
            raise WebhookError(
                "the subscription's secrets are sealed: make the dispatcher with "
                "the alliance's webhooks.dispatcher(), or pass secrets=SecretBox(keyring)"
            )
        return subscription.secrets

    # -- writing -------------------------------------------------------------------------------

    def _settle(
        self,
        target: Target,
        cursor: DeliveryCursor,
        pending: _Pending,
        answer: Attempted,
        tally: Tally,
    ) -> tuple[Subscription, DeliveryCursor] | None:
        """Apply ``decide``'s verdict on an attempt; what to go on with, or None to stop."""
        log_row = self._log_row(pending, answer.result, answer.latency_ms)
        decision = decide(pending.attempt, answer.result, self._policy)
        if decision.outcome == "delivered":
            tally.delivered += 1
            after = DeliveryCursor(pending.row.seq, 0, 0, 0)
            return self._commit(target, pending.stored, after, log_row)
        if decision.outcome == "retry":
            tally.retried += 1
            later = self._now_ms() + int(decision.delay * 1000)
            after = cursor._replace(attempts=pending.attempt, next_at_ms=later)
            self._commit(target, pending.stored, after, log_row)
            return None
        tally.dead += 1
        by: DisabledBy | None = "gone" if decision.disable else None
        return self._dead(target, cursor, pending, decision.reason, by=by, log_row=log_row)

    def _dead(
        self,
        target: Target,
        cursor: DeliveryCursor,
        pending: _Pending,
        reason: str,
        *,
        by: DisabledBy | None,
        log_row: DeliveryLogRow,
    ) -> tuple[Subscription, DeliveryCursor] | None:
        """Dead-letter the event; disable the subscription when ``by`` or the run says so."""
        now_ms = self._now_ms()
        letter = DeadLetterRow(pending.row.seq, pending.row.event_id, reason, now_ms)
        in_a_row = cursor.dead_in_a_row + 1
        after = DeliveryCursor(pending.row.seq, 0, 0, in_a_row)
        why = reason
        if by is None and in_a_row >= self._policy.disable_after_dead:
            by = "failures"
            why = f"{in_a_row} events in a row dead-lettered; last: {reason}"
        if by is None:
            return self._commit(target, pending.stored, after, log_row, letter=letter)
        self._commit(target, pending.stored, after, log_row, letter=letter, disable=(by, why))
        return None

    def _commit(
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
            first_probe = self._now_ms() + int(self._backoff.seconds(0) * 1000)
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

    def _recover(
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

    def _probe_failed(
        self,
        target: Target,
        cursor: DeliveryCursor,
        head: DeliveryCursor,
        log_row: DeliveryLogRow,
        gone: DisabledBy | None,
    ) -> None:
        """Log the failed probe and schedule the next one (none after a 410)."""
        probes = cursor.attempts + 1
        later = self._now_ms() + int(self._backoff.seconds(probes) * 1000)
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

    def _save(self, target: Target, expected: DeliveryCursor, after: DeliveryCursor) -> None:
        """Keep the cursor past events skipped at the end of a run."""
        if after == expected:
            return
        with self._store.transaction() as tx:
            if (tx.webhooks.cursor(*target) or DeliveryCursor()) == expected:
                tx.webhooks.put_cursor(*target, after)

    def _log_row(self, pending: _Pending, result: AttemptResult, latency: float) -> DeliveryLogRow:
        return DeliveryLogRow(
            seq=pending.row.seq,
            event_id=pending.row.event_id,
            type=pending.row.type,
            attempt=pending.attempt,
            at_ms=self._now_ms(),
            status=result.status,
            error=result.error,
            latency_ms=round(latency, 3),
            response=result.snippet[:MAX_SNIPPET],
        )

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

    # -- leases --------------------------------------------------------------------------------

    def _lease(self, target: Target) -> bool:
        now_ms = self._now_ms()
        with self._store.transaction() as tx:
            return tx.webhooks.take_lease(
                *target, self._holder, now_ms=now_ms, until_ms=now_ms + LEASE_MS
            )

    def _release(self, target: Target) -> None:
        with self._store.transaction() as tx:
            tx.webhooks.release_lease(*target, self._holder)

    def _now_ms(self) -> int:
        return int(self._clock.timestamp() * 1000)


def _pinned(url: str, address: str) -> tuple[str, str, str, dict[str, str]]:
    """``url`` sent to ``address``, the address the destination check approved.

    Connecting to the checked address (not resolving the name again) means a
    DNS answer that changes after the check cannot redirect the delivery. The
    name still goes in ``Host`` and, over https, in SNI, so the certificate is
    verified against it. Returns the request target (path and query, what a
    GET postback's signature covers), the ``Host`` value, the pinned URL and
    the request extensions.
    """
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host = parts.netloc.rpartition("@")[2]
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return target, host, pinned, extensions


def _macros(event: Mapping[str, Any]) -> dict[str, object]:
    """The values a postback URL's macros are filled from."""
    data: Mapping[str, Any] = event.get("data", {})
    values: dict[str, object] = {
        "event_id": event.get("event_id"),
        "event_type": event.get("type"),
        **{name: data.get(name) for name in ("click_id", "order_id", "amount", "currency")},
        "commission": data.get("commission", data.get("amount")),
    }
    values.update(data.get("sub_ids", {}))
    return values
