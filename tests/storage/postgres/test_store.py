"""What is PostgreSQL's own: URLs, migrations, locks and a call that fails halfway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import psycopg
import pytest

from affiliate_sdk.errors import DuplicateEntry, SchemaVersionError, StorageError, UnsupportedStore
from affiliate_sdk.storage import open_store
from affiliate_sdk.storage.postgres import SCHEMA_VERSION, PostgresStore, script, upgrade
from affiliate_sdk.testing.contract._support import _click, _event, _line

from ...servers import POSTGRES_URL, postgres_store


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


def test_an_outbox_duplicate_writes_nothing_and_the_unit_of_work_goes_on() -> None:
    store = postgres_store()
    try:
        with store.transaction() as tx:
            tx.outbox.add([_event("e1", 1_000)])
        with store.transaction() as tx:
            with pytest.raises(DuplicateEntry) as raised:
                tx.outbox.add([_event("e2", 1_000), _event("e1", 1_000)])
            assert raised.value.key == "e1"
            with pytest.raises(DuplicateEntry):
                tx.outbox.add([_event("e4", 1_000), _event("e4", 1_000)])
            tx.outbox.add([_event("e3", 1_000)])
        with store.reader() as tx:
            assert [(row.seq, row.event_id) for row in tx.outbox.after(0, limit=9)] == [
                (1, "e1"),
                (2, "e3"),
            ]
    finally:
        store.close()


def test_a_click_then_an_empty_call_still_commits() -> None:
    store = postgres_store()
    try:
        with store.transaction() as tx:
            tx.clicks.record(_click("k1", 1_000), dedupe_since_ms=0)
            tx.ledger.append([])  # asks for the write lock, sends nothing
        with store.reader() as tx:
            assert tx.clicks.get("k1") is not None
    finally:
        store.close()


def test_after_any_failed_statement_the_commit_refuses() -> None:
    store = postgres_store()
    try:
        with pytest.raises(StorageError, match="can only roll back"), store.transaction() as tx:
            tx.outbox.add([_event("e1", 1_000)])
            with pytest.raises(StorageError, match="division by zero"):
                store._db.rows("SELECT 1 / 0")  # a host catching a StorageError goes on
        with store.reader() as tx:
            assert tx.outbox.last_seq() == 0  # nothing was committed
    finally:
        store.close()


def test_a_password_stays_out_of_the_error() -> None:
    with pytest.raises(StorageError) as raised:
        PostgresStore("postgresql://shop:s3cr%t@127.0.0.1:1/db")
    assert "s3cr" not in str(raised.value)


def test_libpq_parameters_are_passed_on_as_written(schema: str) -> None:
    url = f"{POSTGRES_URL}?options=-c%20statement_timeout%3D5s&schema={schema}"
    store = open_store(url)
    try:
        with store.reader() as tx:
            assert tx.outbox.last_seq() == 0
        assert isinstance(store, PostgresStore)
        with store._db.pool().connection() as conn:
            row = conn.execute("SHOW statement_timeout").fetchone()
        assert row is not None and row[0] == "5s"
    finally:
        store.close()


def test_a_forked_child_uses_pools_of_its_own() -> None:
    store = postgres_store()
    try:
        with store.transaction() as tx:
            tx.outbox.add([_event("parent-1", 1_000)])
        pid = os.fork()
        if pid == 0:  # the child: exits by itself in any case
            code = 1
            try:
                signal.alarm(20)
                with store.transaction() as tx:
                    tx.outbox.add([_event("child", 1_000)])
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        with store.transaction() as tx:  # the parent's connections still work
            tx.outbox.add([_event("parent-2", 1_000)])
        with store.reader() as tx:
            assert [row.event_id for row in tx.outbox.after(0, limit=9)] == [
                "parent-1",
                "child",
                "parent-2",
            ]
    finally:
        store.close()


def test_a_journal_append_after_a_moved_head_writes_nothing() -> None:
    from affiliate_sdk.commission.journal import GENESIS_HASH
    from affiliate_sdk.testing.contract._support import _entry

    store = postgres_store()
    try:
        first, second = _entry(1, 1_000), _entry(2, 2_000)
        with store.transaction() as tx:
            tx.journal.append([first], previous=GENESIS_HASH)
        with store.transaction() as tx:
            with pytest.raises(StorageError, match="head moved"):
                tx.journal.append([second], previous=GENESIS_HASH)  # not the head any more
            with pytest.raises(DuplicateEntry):  # its event id is the first's
                tx.journal.append([second._replace(event_id=first.event_id)], previous=first.hash)
            tx.journal.append([second], previous=first.hash)  # the unit of work goes on
        with store.reader() as tx:
            assert [row.seq for row in tx.journal.scan()] == [1, 2]
    finally:
        store.close()


def test_deferred_risk_writes_reach_the_next_read_and_the_commit() -> None:
    from affiliate_sdk.antifraud.grades import History
    from affiliate_sdk.storage.rows import ValueStats

    store = postgres_store()
    try:
        with store.transaction() as tx:
            tx.risk.put_history("a1", History(3, 1, 0, 0, 0))
            assert tx.risk.history("a1") == History(3, 1, 0, 0, 0)  # sent before this read
            tx.risk.put_value_stats(ValueStats("k", 2, 10.0, 1.0))  # sent with the commit
        with store.reader() as tx:
            assert tx.risk.history("a1") == History(3, 1, 0, 0, 0)
            assert tx.risk.value_stats("k") == ValueStats("k", 2, 10.0, 1.0)
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.risk.put_history("a2", History(1, 0, 0, 0, 0))
            raise RuntimeError("the booking fails after it")
        with store.reader() as tx:
            assert tx.risk.history("a2") is None  # rolled back, never sent
    finally:
        store.close()


def test_version_3_gains_the_affiliates_channels_and_whether_impressions_earn(
    schema: str,
) -> None:
    from affiliate_sdk.models import Affiliate

    PostgresStore(POSTGRES_URL, schema=schema).close()
    nul = Affiliate(affiliate_id="a-nul", channel='c"1', identity=["x\x00y"])
    rows = [
        (a.affiliate_id, a.model_dump_json())
        for a in (nul, Affiliate(affiliate_id="a-2", channel='c"1'), Affiliate(affiliate_id="a-3"))
    ]
    assert "\\u0000" in rows[0][1]  # what jsonb cannot hold
    with _conn() as conn:  # the schema as version 3 left it, with its rows
        conn.execute(f"SET search_path TO {schema}")
        conn.execute("ALTER TABLE affiliates DROP COLUMN channel")
        conn.execute("ALTER TABLE impressions DROP COLUMN earns")
        conn.execute("DELETE FROM schema_migrations WHERE version = 4")
        for row in rows:
            conn.execute("INSERT INTO affiliates (affiliate_id, data) VALUES (%s, %s)", row)
        conn.execute("INSERT INTO impressions VALUES ('m1', 'v1', 1000, 'i1', 'a-2', 'c1')")
        assert upgrade(conn, schema) == (3, SCHEMA_VERSION)
    store = PostgresStore(POSTGRES_URL, schema=schema)
    try:
        with store.transaction() as tx:
            assert tx.catalog.channel_members('c"1') == ["a-2", "a-nul"]
            assert [i.earns for i in tx.clicks.impressions("m1", "v1", since_ms=0, until_ms=9_000)]
            tx.catalog.put_affiliate(nul.model_copy(update={"affiliate_id": "a-4"}))  # NUL: kept
            assert tx.catalog.channel_members('c"1') == ["a-2", "a-4", "a-nul"]
            assert tx.catalog.get_affiliate("a-4") == nul.model_copy(update={"affiliate_id": "a-4"})
    finally:
        store.close()
