"""The CounterContract on every registered backend, and on Redis and PostgreSQL counters
composed with a store of another backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from affiliate_sdk.storage import ComposedStore, MemoryStore
from affiliate_sdk.storage.contract import Store
from affiliate_sdk.testing.contract import CounterContract

from ...servers import postgres_counters, redis_counters


class TestCounter(CounterContract):
    pass


class TestRedisCounter(CounterContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        with redis_counters() as counters:
            composed = ComposedStore(MemoryStore(), counters)
            yield composed
            composed.store.close()


class TestPostgresCounter(CounterContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        with postgres_counters() as counters:
            composed = ComposedStore(MemoryStore(), counters)
            yield composed
            composed.store.close()
