"""The real servers some tests need: Redis and PostgreSQL.

``AFFILIATE_SDK_TEST_REDIS`` names the Redis server (``redis://127.0.0.1:6379/0`` unless
set), ``AFFILIATE_SDK_TEST_POSTGRES`` the PostgreSQL database
(``postgresql://postgres@127.0.0.1:54329/postgres`` unless set); ``scripts/test-servers``
starts both on loopback. Without a server the tests that need
it are skipped, except under ``CI=true``, where a missing server fails them: CI starts the
servers, so a missing one is a broken run, not a reason to test less.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from affiliate_sdk.storage.postgres import PostgresCounters, PostgresStore
from affiliate_sdk.storage.redis import RedisCounters

#: The Redis server of the tests.
REDIS_URL = os.environ.get("AFFILIATE_SDK_TEST_REDIS", "redis://127.0.0.1:6379/0")
#: The PostgreSQL database of the tests.
POSTGRES_URL = os.environ.get(
    "AFFILIATE_SDK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:54329/postgres"
)


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error}); start it with scripts/test-servers"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix of its own on the test server; every key under it is removed after."""
    import redis

    prefix = f"affiliate-sdk-test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        _unavailable(f"Redis at {REDIS_URL}", exc)
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=1_000):
            client.delete(key)
        client.close()


@contextmanager
def redis_counters() -> Iterator[RedisCounters]:
    """Counters on the test server under a prefix of their own."""
    with redis_prefix() as prefix:
        counters = RedisCounters(REDIS_URL, prefix=prefix)
        try:
            yield counters
        finally:
            counters.close()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL schema of its own on the test database, dropped afterwards."""
    import psycopg

    schema = f"test_{uuid.uuid4().hex}"
    try:
        conn = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
    try:
        yield schema
    finally:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()


@contextmanager
def postgres_counters() -> Iterator[PostgresCounters]:
    """Counters on the test database, in a schema of their own."""
    with postgres_schema() as schema:
        counters = PostgresCounters(POSTGRES_URL, schema=schema)
        try:
            yield counters
        finally:
            counters.close()


class ThrowawayPostgresStore(PostgresStore):
    """A store on the test database in a schema of its own, dropped when it closes."""

    def close(self) -> None:
        super().close()
        drop_schemas([self.schema])


def postgres_schema_name() -> str:
    """A new schema name on the test database, once the server answers (else skipped, or
    failed under CI)."""
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
    except psycopg.Error as exc:
        _unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
    return f"test_{uuid.uuid4().hex}"


def drop_schemas(schemas: list[str]) -> None:
    """Drop these schemas of the test database, if it answers."""
    import psycopg

    if not schemas:
        return
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    except psycopg.Error:
        return


def postgres_store(**options: Any) -> ThrowawayPostgresStore:
    """A fresh store on the test database in a schema of its own."""
    return ThrowawayPostgresStore(POSTGRES_URL, schema=postgres_schema_name(), **options)
