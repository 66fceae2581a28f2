"""The drivers of the delivery flow: ``Dispatcher`` (httpx.Client) and ``AsyncDispatcher``.

The flow (``webhooks._flow``) decides what to deliver and records what
happened; a driver only makes the requests it yields and sends back what
came of them. ``AsyncDispatcher`` runs every step of the flow (units of work
on the store, the DNS lookup of the destination guard, signing) and the
making of its HTTP clients (which load the certificates) through
``asyncio.to_thread``, so none of it blocks the event loop, and each step
runs whole on one thread.

Requests never follow redirects, read at most ``max_response_bytes`` of a
response, and go to the very address the destination guard approved, with
the host name in ``Host`` and TLS SNI: the clients ignore the environment
(``trust_env=False``), so no ``HTTP_PROXY`` or ``HTTPS_PROXY`` stands in
between. Each subscription's requests use a
client of their own: a connection made for one host name must not carry
another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import random
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Final, NamedTuple, TypedDict, Unpack

import httpx

from affiliate_sdk.clock import Clock
from affiliate_sdk.storage.contract import Store

from ._flow import (
    DEFAULT_PROBE_POLICY,
    Attempted,
    DeliveryFlow,
    DeliveryRequest,
    ProbePolicy,
    Tally,
    Target,
    advance,
)
from .delivery import DEFAULT_POLICY, AttemptResult, DeliveryPolicy, retry_after_seconds
from .sealing import SecretBox
from .subscriptions import Resolver

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "MAX_RESPONSE_BYTES",
    "AsyncDispatcher",
    "DeliveryRequest",
    "DispatchReport",
    "Dispatcher",
    "DispatcherOptions",
]

DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
#: How much of a response is read (the rest is not waited for).
MAX_RESPONSE_BYTES: Final = 4096
#: Attempts per subscription in one pass.
DEFAULT_BUDGET: Final = 1000
#: Subscriptions an ``AsyncDispatcher`` serves at once.
DEFAULT_CONCURRENCY: Final = 32
_ERROR_LENGTH: Final = 200


class DispatcherOptions(TypedDict, total=False):
    """Keyword options of both dispatchers (besides their transport).

    ``probe`` says when to probe a subscription its failures disabled and
    ``rng`` is the random source of the probes' jitter; ``scope`` limits the
    dispatcher to one owner's subscriptions (``"m:<merchant id>"``).
    """

    timeout: httpx.Timeout
    policy: DeliveryPolicy
    probe: ProbePolicy
    allow_private: bool
    resolver: Resolver | None
    max_response_bytes: int
    secrets: SecretBox | None
    rng: random.Random | None
    scope: str | None
    logger: logging.Logger | None


class _ClientOptions(TypedDict):
    """How each subscription's httpx client is made."""

    timeout: httpx.Timeout
    follow_redirects: bool
    trust_env: bool


class DispatchReport(NamedTuple):
    """What one pass did: deliveries made, retries scheduled, events dead-lettered,
    deliveries the destination guard refused."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    refused: int = 0


def _report(tallies: list[Tally]) -> DispatchReport:
    total: Counter[str] = Counter()
    for tally in tallies:
        for name in DispatchReport._fields:
            total[name] += getattr(tally, name)
    return DispatchReport(**total)


def _answer(response: httpx.Response, read: bytes | bytearray, *, now: float) -> AttemptResult:
    retry_after = retry_after_seconds(response.headers.get("Retry-After"), now=now)
    return AttemptResult(response.status_code, None, retry_after, bytes(read))


def _failure(exc: httpx.HTTPError) -> AttemptResult:
    if isinstance(exc, httpx.TimeoutException):
        return AttemptResult(None, "timeout")
    return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:_ERROR_LENGTH])


class _Driver:
    """What both dispatchers share: the flow, the timeout, the read cap, the clock."""

    def __init__(self, store: Store, clock: Clock, options: DispatcherOptions) -> None:
        self._flow = DeliveryFlow(
            store,
            clock,
            policy=options.get("policy", DEFAULT_POLICY),
            probe=options.get("probe", DEFAULT_PROBE_POLICY),
            allow_private=options.get("allow_private", False),
            resolver=options.get("resolver"),
            secrets=options.get("secrets"),
            rng=options.get("rng"),
            scope=options.get("scope"),
            logger=options.get("logger"),
        )
        # No redirects; and no environment (trust_env): a proxy from HTTP(S)_PROXY would be
        # connected to instead of the address the destination guard approved.
        self._client_options = _ClientOptions(
            timeout=options.get("timeout", DEFAULT_TIMEOUT), follow_redirects=False, trust_env=False
        )
        self._max = options.get("max_response_bytes", MAX_RESPONSE_BYTES)
        self._clock = clock

    @property
    def flow(self) -> DeliveryFlow:
        """The flow this dispatcher drives."""
        return self._flow


class Dispatcher(_Driver):
    """Delivers due events with ``httpx.Client`` (pass ``transport`` to plug one in)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[DispatcherOptions],
    ) -> None:
        super().__init__(store, clock, options)
        self._transport = transport

    def close(self) -> None:
        """Nothing held between passes (each subscription's client closes with its pass)."""

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run_once(self, *, budget: int = DEFAULT_BUDGET) -> DispatchReport:
        """One pass over every subscription: deliver what is due, schedule the rest."""
        return _report([self._serve(target, budget) for target in self._flow.targets()])

    def _serve(self, target: Target, budget: int) -> Tally:
        tally = Tally()
        flow = self._flow.run(target, tally, budget)
        try:
            request = advance(flow, None)
            if request is None:
                return tally  # nothing due: no client made
            with httpx.Client(
                **self._client_options, verify=tls_context(), transport=self._transport
            ) as client:
                while request is not None:
                    request = advance(flow, self._send(client, request))
        finally:
            flow.close()
        return tally

    def _send(self, client: httpx.Client, request: DeliveryRequest) -> Attempted:
        started = time.perf_counter()
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
                result = _answer(response, read[: self._max], now=self._clock.timestamp())
        except httpx.HTTPError as exc:
            result = _failure(exc)
        return Attempted(result, (time.perf_counter() - started) * 1000)


class AsyncDispatcher(_Driver):
    """The same flow with ``httpx.AsyncClient``; the flow's steps run off the event loop."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[DispatcherOptions],
    ) -> None:
        super().__init__(store, clock, options)
        self._transport = transport

    async def aclose(self) -> None:
        """Nothing held between passes (each subscription's client closes with its pass)."""

    async def __aenter__(self) -> AsyncDispatcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def run_once(
        self, *, budget: int = DEFAULT_BUDGET, concurrency: int = DEFAULT_CONCURRENCY
    ) -> DispatchReport:
        """One pass; up to ``concurrency`` subscriptions at once, each one in order."""
        gate = asyncio.Semaphore(concurrency)
        if not _ready_for_async.cache_info().currsize:  # the first pass of the process
            await asyncio.to_thread(_ready_for_async)
        targets = await asyncio.to_thread(self._flow.targets)

        async def one(target: Target) -> Tally:
            async with gate:
                return await self._serve(target, budget)

        return _report(list(await asyncio.gather(*(one(target) for target in targets))))

    async def _serve(self, target: Target, budget: int) -> Tally:
        tally = Tally()
        flow = self._flow.run(target, tally, budget)
        try:
            request = await asyncio.to_thread(advance, flow, None)
            if request is None:
                return tally  # nothing due: no client made
            # made off the loop too: the first in the process loads the certificates
            client = await asyncio.to_thread(self._client)
            async with client:
                while request is not None:
                    answer = await self._send(client, request)
                    request = await asyncio.to_thread(advance, flow, answer)
        finally:
            await _off_loop(flow.close)
        return tally

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            **self._client_options, verify=tls_context(), transport=self._transport
        )

    async def _send(self, client: httpx.AsyncClient, request: DeliveryRequest) -> Attempted:
        started = time.perf_counter()
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
                result = _answer(response, read[: self._max], now=self._clock.timestamp())
        except httpx.HTTPError as exc:
            result = _failure(exc)
        return Attempted(result, (time.perf_counter() - started) * 1000)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every dispatcher's clients share, made once per process: loading
    the certificate authorities takes tens of ms, the interpreter lock held all along (a
    client made with its own would stall an event loop that long, at every pass)."""
    return httpx.create_ssl_context()


#: What an async client loads at its first request (its I/O backend, its HTTP/1.1 parser).
_LOADED_AT_FIRST_REQUEST: Final = (
    "anyio._backends._asyncio",
    "httpcore._backends.anyio",
    "httpcore._async.http11",
    "h11",
)


@functools.cache
def _ready_for_async() -> None:
    """Import what the first request of an async client would import on the event loop
    (tens of ms), and make the TLS context, on a worker thread; a module a later httpx
    does not have is left to be loaded as it is."""
    for name in _LOADED_AT_FIRST_REQUEST:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    tls_context()


def _off_loop(work: Callable[[], None]) -> Awaitable[None]:
    """Run ``work`` (closing a flow releases its lease: store work) on a worker thread,
    shielded so a cancelled pass still lets its lease go."""
    return asyncio.shield(asyncio.to_thread(work))
