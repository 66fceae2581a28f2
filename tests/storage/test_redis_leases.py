"""Dispatchers' leases on Redis keep the store's rule (the webhook contract's lease case)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from affiliate_sdk.storage.contract import Store
from affiliate_sdk.storage.redis.leases import RedisLeases
from affiliate_sdk.testing.contract import WebhookContract

from ..servers import redis_counters


class _Leases:
    """Just enough of a store for the contract's lease case: its units of work's webhook
    leases are the server's."""

    def __init__(self, leases: RedisLeases) -> None:
        self.webhooks = leases

    @contextmanager
    def transaction(self) -> Iterator[_Leases]:
        yield self


def test_leases_on_the_server_follow_the_contract() -> None:
    with redis_counters() as counters:
        WebhookContract().test_leases(cast(Store, _Leases(counters.leases)))


def test_a_lease_is_the_holders_until_it_ends_whatever_the_servers_clock() -> None:
    with redis_counters() as counters:
        leases = counters.leases
        far = 2**45  # an alliance clock far from the server's: its instants decide
        assert leases.take_lease("m:m1", "s1", "h1", now_ms=far, until_ms=far + 300_000)
        assert not leases.take_lease("m:m1", "s1", "h2", now_ms=far + 299_999, until_ms=far + 1)
        assert leases.take_lease("m:m1", "s1", "h2", now_ms=far + 300_000, until_ms=far + 600_000)
