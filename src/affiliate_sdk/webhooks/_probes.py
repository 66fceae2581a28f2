"""When a subscription its failures disabled is probed: the policy and its backoff.

The first probe comes ``ProbePolicy.first`` after the subscription was
disabled, each later one twice as long after the previous, at most
``ProbePolicy.max``, with jitter drawn from an injectable random source.
"""

from __future__ import annotations

import random
from typing import Final, NamedTuple

import tenacity

from affiliate_sdk.errors import ConfigurationError

__all__ = ["DEFAULT_PROBE_POLICY", "ProbePolicy", "_Backoff"]


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
