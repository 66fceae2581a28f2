"""What to do after a delivery attempt: the pure decision the dispatchers act on.

Modelled on a retry loop that returns decisions instead of sleeping: given
the attempt number and what the endpoint did, ``decide`` says ``delivered``,
``retry`` (after how long) or ``dead`` (dead-letter the event, and whether to
disable the subscription). The backoff comes from tenacity's exponential wait
with jitter, spanning about a day over the default 15 attempts.

| the endpoint | decision |
|---|---|
| 2xx | delivered |
| network error, timeout, 429, 5xx | retry with backoff (and ``Retry-After``, capped); |
| | dead after ``max_attempts`` |
| 410 Gone | dead, and the subscription is disabled |
| 3xx (redirects are not followed), other 4xx | dead: retrying will not help |
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Final, Literal, NamedTuple

import tenacity

__all__ = [
    "DEFAULT_POLICY",
    "AttemptResult",
    "DeliveryDecision",
    "DeliveryPolicy",
    "decide",
    "retry_after_seconds",
]


class DeliveryPolicy(NamedTuple):
    """How hard to try: attempts per event, backoff, and when to give up on an endpoint."""

    max_attempts: int = 15
    initial_backoff: float = 30.0  # seconds before the second attempt
    max_backoff: float = 4 * 3600.0
    jitter: float = 30.0
    max_retry_after: float = 6 * 3600.0
    disable_after_dead: int = 3  # consecutive dead-lettered events


DEFAULT_POLICY: Final = DeliveryPolicy()


class AttemptResult(NamedTuple):
    """What one attempt got: a status code, or an error (no response), ``Retry-After``
    in seconds, and the start of the response body as read (never stored: the delivery
    log keeps its length and a keyed digest)."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None
    body: bytes = b""


class DeliveryDecision(NamedTuple):
    outcome: Literal["delivered", "retry", "dead"]
    delay: float = 0.0
    reason: str = ""
    disable: bool = False


def _backoff(attempt: int, policy: DeliveryPolicy) -> float:
    wait = tenacity.wait_exponential(
        multiplier=policy.initial_backoff, max=policy.max_backoff
    ) + tenacity.wait_random(0, policy.jitter)
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    return float(wait(state))


def decide(
    attempt: int, result: AttemptResult, policy: DeliveryPolicy = DEFAULT_POLICY
) -> DeliveryDecision:
    """The decision after attempt number ``attempt`` (1 for the first) got ``result``."""
    status = result.status
    if status is not None and 200 <= status < 300:
        return DeliveryDecision("delivered", reason=f"HTTP {status}")
    if status == 410:
        return DeliveryDecision("dead", reason="HTTP 410: the endpoint is gone", disable=True)
    if status is not None and status != 429 and status < 500:
        what = "a redirect (not followed)" if 300 <= status < 400 else "a client error"
        return DeliveryDecision("dead", reason=f"HTTP {status}: {what}, not retried")
    why = result.error or f"HTTP {status}"
    if attempt >= policy.max_attempts:
        return DeliveryDecision("dead", reason=f"{why}; gave up after {attempt} attempts")
    delay = _backoff(attempt, policy)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.max_retry_after))
    return DeliveryDecision("retry", delay=delay, reason=why)


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as seconds from ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)
