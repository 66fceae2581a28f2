"""Deliver the outbox to subscribers: one flow of decisions, a sync and an async driver.

For each active subscription the flow walks the outbox from the
subscription's cursor, in order, and delivers the next event it wants:
it *yields* a ``DeliveryRequest`` and is *sent back* an ``AttemptResult``,
so ``Dispatcher`` (httpx.Client) and ``AsyncDispatcher`` (httpx.AsyncClient)
only move bytes. Per subscription the flow keeps a cursor, the attempts on
the event at its head and when to try next (``webhook_state`` records), logs
every attempt (``webhook_log``) and dead-letters what ``decide`` gives up on
(``webhook_dead``), moving on so one bad event does not block the rest; an
endpoint that answers 410, or whose events die ``disable_after_dead`` times
in a row, is disabled with the reason. Events are delivered at least once,
in order per subscription; the event id is the ``Idempotency-Key``.

Requests never follow redirects, read at most ``max_response_bytes`` of a
response, and go only where ``check_destination`` allows: to the very
address it approved (the name is not resolved again).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Generator, Mapping
from typing import Any, Final, NamedTuple, TypedDict, Unpack
from urllib.parse import urlsplit, urlunsplit

import httpx

from affiliate_sdk.errors import ForbiddenDestination, WebhookError
from affiliate_sdk.storage import Store

from .delivery import (
    DEFAULT_POLICY,
    AttemptResult,
    DeliveryPolicy,
    decide,
    retry_after_seconds,
)
from .sealing import PREFIX as SEALED
from .sealing import SecretBox
from .signing import SIGNATURE_HEADER, signature_header
from .subscriptions import (
    Resolver,
    Subscription,
    check_destination,
    fill_template,
    load_subscription,
    load_subscriptions,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncDispatcher",
    "DeliveryRequest",
    "DispatchReport",
    "Dispatcher",
    "DispatcherOptions",
    "load_state",
]

DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
MAX_RESPONSE_BYTES: Final = 4096
_BATCH: Final = 200
#: How long a dispatcher's hold on a subscription lasts unless renewed (each attempt renews it).
LEASE_MS: Final = 5 * 60 * 1000
_SNIPPET: Final = 256


class DispatcherOptions(TypedDict, total=False):
    """Keyword options of both dispatchers (besides their transport)."""

    timeout: httpx.Timeout
    policy: DeliveryPolicy
    allow_private: bool
    resolver: Resolver | None
    max_response_bytes: int
    secrets: SecretBox | None


class DeliveryRequest(NamedTuple):
    """A request to make: to the checked address, naming the host in ``Host`` and TLS SNI."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    extensions: dict[str, str]


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
    hostname = parts.hostname or ""
    host = parts.netloc.rpartition("@")[2]
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    extensions = {"sni_hostname": hostname} if parts.scheme == "https" else {}
    return target, host, pinned, extensions


def _answer(response: httpx.Response, read: bytes | bytearray, *, now: float) -> AttemptResult:
    retry_after = retry_after_seconds(response.headers.get("Retry-After"), now=now)
    return AttemptResult(
        response.status_code, None, retry_after, bytes(read).decode("utf-8", "replace")
    )


def _failure(exc: httpx.HTTPError) -> AttemptResult:
    if isinstance(exc, httpx.TimeoutException):
        return AttemptResult(None, "timeout")
    return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:200])


class DispatchReport(NamedTuple):
    """What one pass did: deliveries made, retries scheduled, events dead-lettered."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    refused: int = 0


class _State(NamedTuple):
    cursor: int = 0
    attempts: int = 0
    next_at_ms: int = 0
    dead_in_a_row: int = 0


def load_state(store: Store, subscription_id: str) -> _State:
    found = store.get_record("webhook_state", subscription_id)
    return _State() if found is None else _State(*json.loads(found))


def _macros(event: Mapping[str, Any]) -> dict[str, object]:
    data = event.get("data", {})
    values: dict[str, object] = {
        "event_id": event.get("event_id"),
        "event_type": event.get("type"),
        **{name: data.get(name) for name in ("click_id", "order_id", "amount", "currency")},
        "commission": data.get("commission", data.get("amount")),
    }
    values.update(data.get("sub_ids", {}))
    return values


class _Flow:
    """The delivery flow over a store; drivers feed it responses."""

    def __init__(
        self,
        store: Store,
        clock: Any,
        *,
        policy: DeliveryPolicy,
        allow_private: bool,
        resolver: Resolver | None,
        secrets: SecretBox | None = None,
    ) -> None:
        self._store = store
        self._box = secrets
        self._clock = clock
        self._policy = policy
        self._allow_private = allow_private
        self._resolver = resolver
        self._holder = f"{os.getpid()}-{os.urandom(6).hex()}"

    def _lease(self, subscription_id: str) -> bool:
        """Take or renew this flow's lease on a subscription; False if another holds it."""
        store = self._store
        now_ms = int(self._clock.timestamp() * 1000)
        with store.transaction():
            found = store.get_record("webhook_lease", subscription_id)
            if found is not None:
                holder, until = json.loads(found)
                if holder != self._holder and until > now_ms:
                    return False
            lease = json.dumps([self._holder, now_ms + LEASE_MS])
            store.put_record("webhook_lease", subscription_id, lease)
        return True

    def _release(self, subscription_id: str) -> None:
        self._store.put_record("webhook_lease", subscription_id, json.dumps([self._holder, 0]))

    def subscriptions(self) -> list[Subscription]:
        return load_subscriptions(self._store)

    def run(
        self, subscription: Subscription, report: dict[str, int], budget: int
    ) -> Generator[DeliveryRequest, AttemptResult, None]:
        """Deliver what is due for one subscription, up to ``budget`` attempts.

        Holds the subscription's lease meanwhile, so dispatchers in other
        processes pass it by and each event goes out once per attempt.
        """
        if not subscription.active or not self._lease(subscription.subscription_id):
            return
        try:
            yield from self._deliver(subscription, report, budget)
        finally:
            self._release(subscription.subscription_id)

    def _deliver(
        self, subscription: Subscription, report: dict[str, int], budget: int
    ) -> Generator[DeliveryRequest, AttemptResult, None]:
        store = self._store
        state = load_state(store, subscription.subscription_id)
        if state.next_at_ms > int(self._clock.timestamp() * 1000):
            return
        while budget > 0:
            row = None
            for candidate in store.events_after(state.cursor, limit=_BATCH):
                if candidate.type not in subscription.event_types:
                    state = state._replace(cursor=candidate.seq)
                    continue
                event = json.loads(candidate.data)
                if subscription.wants(candidate.type, event["data"]):
                    row = candidate
                    break
                state = state._replace(cursor=candidate.seq)
            if row is None:
                if not store.events_after(state.cursor, limit=1):
                    break
                continue
            if not self._lease(subscription.subscription_id):  # renewed before each attempt
                break
            budget -= 1
            attempt = state.attempts + 1
            url = fill_template(subscription.url, _macros(event))
            now = self._clock.timestamp()
            try:
                addresses = check_destination(
                    url, allow_private=self._allow_private, resolver=self._resolver
                )
            except ForbiddenDestination as exc:
                report["refused"] += 1
                refused = AttemptResult(None, exc.reason)
                self._log(subscription, row.seq, event, attempt=attempt, result=refused, latency=0)
                state = self._dead(subscription, state, row.seq, event, exc.reason, disable=True)
                break
            target, host, pinned, extensions = _pinned(url, addresses[0])
            body = row.data.encode() if subscription.method == "POST" else target.encode()
            keys = self._secrets(subscription)
            headers = {
                "Host": host,
                SIGNATURE_HEADER: signature_header(keys, int(now), body),
                "Idempotency-Key": row.event_id,
                "Affiliate-Event-Type": row.type,
                "User-Agent": "affiliate-sdk-webhooks/1",
            }
            if subscription.method == "POST":
                headers["Content-Type"] = "application/json"
            started = time.perf_counter()
            result = yield DeliveryRequest(
                subscription.method,
                pinned,
                headers,
                body if subscription.method == "POST" else b"",
                extensions,
            )
            latency = (time.perf_counter() - started) * 1000
            self._log(subscription, row.seq, event, attempt=attempt, result=result, latency=latency)
            decision = decide(attempt, result, self._policy)
            if decision.outcome == "delivered":
                report["delivered"] += 1
                state = _State(row.seq, 0, 0, 0)
            elif decision.outcome == "retry":
                report["retried"] += 1
                later = int(self._clock.timestamp() * 1000 + decision.delay * 1000)
                state = state._replace(attempts=attempt, next_at_ms=later)
                break
            else:
                report["dead"] += 1
                state = self._dead(
                    subscription, state, row.seq, event, decision.reason, disable=decision.disable
                )
                if not self._active(subscription.subscription_id):
                    break
        store.put_record("webhook_state", subscription.subscription_id, json.dumps(list(state)))

    def _secrets(self, subscription: Subscription) -> list[str]:
        """The subscription's secrets to sign with (opened when sealed)."""
        if self._box is not None:
            return self._box.opened(subscription).secrets
        if any(secret.startswith(SEALED) for secret in subscription.secrets):
            raise WebhookError(
                "the subscription's secrets are sealed: make the dispatcher with "
                "Alliance.dispatcher(), or pass secrets=SecretBox(keyring)"
            )
        return subscription.secrets

    def _active(self, subscription_id: str) -> bool:
        found = load_subscription(self._store, subscription_id)
        return found is not None and found.active

    def _dead(
        self,
        subscription: Subscription,
        state: _State,
        seq: int,
        event: Mapping[str, Any],
        reason: str,
        *,
        disable: bool,
    ) -> _State:
        store = self._store
        key = f"{subscription.subscription_id}/{seq:012d}"
        at_ms = int(self._clock.timestamp() * 1000)
        store.put_record(
            "webhook_dead",
            key,
            json.dumps({"event_id": event["event_id"], "reason": reason, "at_ms": at_ms}),
        )
        in_a_row = state.dead_in_a_row + 1
        if disable or in_a_row >= self._policy.disable_after_dead:
            why = reason if disable else f"{in_a_row} events in a row dead-lettered; last: {reason}"
            disabled = subscription.model_copy(update={"active": False, "disabled_reason": why})
            store.put_record(
                "webhook_subscription", subscription.subscription_id, disabled.model_dump_json()
            )
        return _State(seq, 0, 0, in_a_row)

    def _log(
        self,
        subscription: Subscription,
        seq: int,
        event: Mapping[str, Any],
        *,
        attempt: int,
        result: AttemptResult,
        latency: float,
    ) -> None:
        at_ms = int(self._clock.timestamp() * 1000)
        self._store.put_record(
            "webhook_log",
            f"{subscription.subscription_id}/{seq:012d}/{attempt:03d}/{at_ms:015d}",
            json.dumps(
                {
                    "event_id": event["event_id"],
                    "type": event["type"],
                    "attempt": attempt,
                    "at_ms": at_ms,
                    "status": result.status,
                    "error": result.error,
                    "latency_ms": round(latency, 3),
                    "response": result.snippet[:_SNIPPET],
                }
            ),
        )


class _Driver:
    """What both dispatchers share: the flow, the timeout, the read cap, the clock."""

    def __init__(self, store: Store, clock: Any, **options: Unpack[DispatcherOptions]) -> None:
        self._flow = _Flow(
            store,
            clock,
            policy=options.get("policy", DEFAULT_POLICY),
            allow_private=options.get("allow_private", False),
            resolver=options.get("resolver"),
            secrets=options.get("secrets"),
        )
        self._timeout = options.get("timeout", DEFAULT_TIMEOUT)
        self._max = options.get("max_response_bytes", MAX_RESPONSE_BYTES)
        self._clock = clock


class Dispatcher(_Driver):
    """Delivers due events with ``httpx.Client`` (pass ``transport`` to plug one in)."""

    def __init__(
        self,
        store: Store,
        clock: Any,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[DispatcherOptions],
    ) -> None:
        super().__init__(store, clock, **options)
        self._transport = transport

    def close(self) -> None:
        """Nothing held between passes (each subscription's client closes with its pass)."""

    def run_once(self, *, budget: int = 1000) -> DispatchReport:
        """One pass over every subscription: deliver what is due, schedule the rest."""
        report = dict.fromkeys(DispatchReport._fields, 0)
        for subscription in self._flow.subscriptions():
            # A client per subscription: connections go to pinned addresses, and one made
            # with another subscription's host name (SNI) must not carry this one's requests.
            with httpx.Client(
                timeout=self._timeout, follow_redirects=False, transport=self._transport
            ) as client:
                flow = self._flow.run(subscription, report, budget)
                try:
                    request = next(flow)
                    while True:
                        request = flow.send(self._send(client, request))
                except StopIteration:
                    pass
        return DispatchReport(**report)

    def _send(self, client: httpx.Client, request: DeliveryRequest) -> AttemptResult:
        try:
            with client.stream(
                request.method,
                request.url,
                headers=request.headers,
                content=request.body,
                extensions=request.extensions,
            ) as response:
                read = bytearray()
                for chunk in response.iter_bytes():
                    read += chunk
                    if len(read) >= self._max:
                        break
                return _answer(response, read[: self._max], now=self._clock.timestamp())
        except httpx.HTTPError as exc:
            return _failure(exc)


class AsyncDispatcher(_Driver):
    """The same flow with ``httpx.AsyncClient``."""

    def __init__(
        self,
        store: Store,
        clock: Any,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[DispatcherOptions],
    ) -> None:
        super().__init__(store, clock, **options)
        self._transport = transport

    async def aclose(self) -> None:
        """Nothing held between passes (each subscription's client closes with its pass)."""

    async def run_once(self, *, budget: int = 1000, concurrency: int = 32) -> DispatchReport:
        """One pass; up to ``concurrency`` subscriptions at once, each one in order."""
        report = dict.fromkeys(DispatchReport._fields, 0)
        gate = asyncio.Semaphore(concurrency)

        async def one(subscription: Subscription) -> None:
            # A client per subscription, as in ``Dispatcher``; its deliveries are sequential
            # anyway, and one pool serving many concurrent streams costs more here.
            async with (
                gate,
                httpx.AsyncClient(
                    timeout=self._timeout, follow_redirects=False, transport=self._transport
                ) as client,
            ):
                flow = self._flow.run(subscription, report, budget)
                try:
                    request = next(flow)
                    while True:
                        request = flow.send(await self._send(client, request))
                except StopIteration:
                    pass

        await asyncio.gather(*(one(s) for s in self._flow.subscriptions()))
        return DispatchReport(**report)

    async def _send(self, client: httpx.AsyncClient, request: DeliveryRequest) -> AttemptResult:
        try:
            async with client.stream(
                request.method,
                request.url,
                headers=request.headers,
                content=request.body,
                extensions=request.extensions,
            ) as response:
                read = bytearray()
                async for chunk in response.aiter_bytes():
                    read += chunk
                    if len(read) >= self._max:
                        break
                return _answer(response, read[: self._max], now=self._clock.timestamp())
        except httpx.HTTPError as exc:
            return _failure(exc)
