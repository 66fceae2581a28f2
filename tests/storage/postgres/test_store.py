"""What is PostgreSQL's own: URLs, migrations, locks and a call that fails halfway."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import psycopg
import pytest

from affiliate_sdk.errors import DuplicateEntry, SchemaVersionError, StorageError, UnsupportedStore
from affiliate_sdk.storage import open_store
from affiliate_sdk.storage.postgres import SCHEMA_VERSION, PostgresStore, script, upgrade
from affiliate_sdk.testing.contract._support import _click, _event, _line

from ...servers import POSTGRES_URL, drop_schemas, postgres_schema_name, postgres_store


@pytest.fixture
def schema() -> Iterator[str]:
    name = postgres_schema_name()
    try:
        yield name
    finally:
        drop_schemas([name])


def _conn() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(POSTGRES_URL, autocommit=True)


def test_a_url_names_the_schema_and_the_pool(schema: str) -> None:
    store = open_store(f"{POSTGRES_URL}?schema={schema}&pool_size=3")
    try:
        assert isinstance(store, PostgresStore)
        assert (store.schema, store.scheme, store.schema_version) == (
            schema,
            "postgresql",
            SCHEMA_VERSION,
        )
    finally:
        store.close()
    with _conn() as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert tables is not None and int(str(tables[0])) > 30


@pytest.mark.parametrize(
    "query", ["pool_size=none", "pool_size=", "schema=Bad-Name", "schema=a&schema=b"]
)
def test_a_bad_url_is_refused_without_its_password(query: str) -> None:
    with pytest.raises(UnsupportedStore) as raised:
        open_store(f"postgresql://shop:s3cret@127.0.0.1:1/db?{query}")
    assert "s3cret" not in str(raised.value)


def test_the_printed_sql_makes_the_schema_the_store_reads(schema: str) -> None:
    text = script(schema)
    with _conn() as conn:
        conn.execute(text.encode())
    store = PostgresStore(POSTGRES_URL, schema=schema, upgrade=False)
    try:
        with store.transaction() as tx:
            tx.outbox.add([_event("e1", 1_000)])
        with store.reader() as tx:
            assert tx.outbox.last_seq() == 1
    finally:
        store.close()
    with _conn() as conn:
        assert upgrade(conn, schema) == (SCHEMA_VERSION, SCHEMA_VERSION)  # nothing left to do


def test_a_store_that_may_not_migrate_names_the_command(schema: str) -> None:
    with pytest.raises(StorageError, match="affiliate-sdk db upgrade"):
        PostgresStore(POSTGRES_URL, schema=schema, upgrade=False)


def test_a_newer_schema_is_refused(schema: str) -> None:
    with _conn() as conn:
        upgrade(conn, schema)
        conn.execute(f"INSERT INTO {schema}.schema_migrations (version) VALUES (%s)", (99,))
    with pytest.raises(SchemaVersionError) as raised:
        PostgresStore(POSTGRES_URL, schema=schema)
    assert (raised.value.found, raised.value.supported) == (99, SCHEMA_VERSION)


def test_the_cli_upgrades_and_prints_the_sql(schema: str) -> None:
    command = [sys.executable, "-m", "affiliate_sdk.cli", "db"]
    url = f"{POSTGRES_URL}?schema={schema}"
    first = subprocess.run(
        [*command, "upgrade", "--url", url], check=True, capture_output=True, text=True
    )
    again = subprocess.run(
        [*command, "upgrade", "--url", url], check=True, capture_output=True, text=True
    )
    assert first.stdout.strip() == f"schema {schema}: version 0 -> {SCHEMA_VERSION}"
    assert again.stdout.strip() == f"schema {schema}: at version {SCHEMA_VERSION}, nothing to do"
    printed = subprocess.run(
        [*command, "sql", "--schema", "shop"], capture_output=True, text=True, check=True
    )
    assert printed.stdout == script("shop")
    assert "CREATE TABLE lines" in printed.stdout and printed.stdout.startswith("BEGIN;")


def test_a_call_that_fails_halfway_leaves_only_a_rollback() -> None:
    store = postgres_store()
    try:
        with store.transaction() as tx:
            tx.ledger.append([_line("e1", event_id="ev1")])
        with pytest.raises(StorageError, match="can only roll back"), store.transaction() as tx:
            with pytest.raises(DuplicateEntry):  # e2 is written, e1 is not
                tx.ledger.append([_line("e2", event_id="ev2"), _line("e1", event_id="ev3")])
            tx.ledger.get_many(["e1"])  # the unit of work cannot go on
        with store.reader() as tx:
            assert tx.ledger.get_many(["e2"]) == []  # nothing of the failed call is kept
            assert len(tx.ledger.get_many(["e1"])) == 1
        with store.transaction() as tx:  # a duplicate alone leaves the unit of work usable
            with pytest.raises(DuplicateEntry):
                tx.ledger.append([_line("e1", event_id="ev9")])
            tx.ledger.append([_line("e3", event_id="ev3")])
        with store.reader() as tx:
            assert len(tx.ledger.get_many(["e3"])) == 1
    finally:
        store.close()


def test_a_reader_refuses_writes() -> None:
    store = postgres_store()
    try:
        with pytest.raises(StorageError, match="read-only"), store.reader() as tx:
            tx.outbox.add([_event("e1", 1_000)])
    finally:
        store.close()


def test_two_stores_record_a_repeated_click_once() -> None:
    """The same visitor's click on the same link in two processes' stores: the second waits
    for the first's unit of work (the check and the insert hold a lock on that visitor and
    link), then finds its click instead of storing another."""
    first = postgres_store()
    second = PostgresStore(POSTGRES_URL, schema=first.schema)
    try:
        holding, done = threading.Event(), threading.Event()
        results: list[tuple[str, bool]] = []

        def repeat() -> None:
            holding.wait(30)
            with second.transaction() as tx:
                row, new = tx.clicks.record(_click("k2", 1_001), dedupe_since_ms=0)
            results.append((row.click_id, new))
            done.set()

        thread = threading.Thread(target=repeat)
        thread.start()
        with first.transaction() as tx:
            _row, new = tx.clicks.record(_click("k1", 1_000), dedupe_since_ms=0)
            holding.set()
            assert not done.wait(0.5)  # the repeat waits while this unit of work is open
        thread.join(30)
        assert new and results == [("k1", False)]
    finally:
        second.close()
        first.close()


def test_composed_with_redis_counters_the_store_opens_none_of_its_own(schema: str) -> None:
    from affiliate_sdk.storage import ComposedStore

    from ...servers import REDIS_URL, redis_prefix

    with redis_prefix() as prefix:
        composed = open_store(
            f"{POSTGRES_URL}?schema={schema}", counters=f"{REDIS_URL}?prefix={prefix}"
        )
        try:
            assert isinstance(composed, ComposedStore)
            inner = composed.store
            assert isinstance(inner, PostgresStore)
            assert composed.counters is not inner._counters
            assert inner._counters is None  # no pool for counters nobody asked for
        finally:
            composed.close()
