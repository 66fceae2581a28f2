"""The journal's chains on PostgreSQL: how many, a version 1 journal, and who waits for whom."""

from __future__ import annotations

import threading

import psycopg
import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.commission.journal import chain_of
from affiliate_sdk.errors import StorageError
from affiliate_sdk.models import OrderOutcome
from affiliate_sdk.storage import open_store
from affiliate_sdk.storage.postgres import SCHEMA_VERSION, PostgresStore
from affiliate_sdk.storage.postgres._schema import (
    _VERSIONS,
    DEFAULT_CHAINS,
    MIGRATIONS,
    counter_tables,
    lock_key,
)
from affiliate_sdk.storage.rows import PeriodTotals
from affiliate_sdk.testing import FakeClock

from ...conftest import HUMAN_UA, SECRET, browse, make_campaign
from ...servers import POSTGRES_URL, postgres_store


def _chains(url: str) -> int:
    store = open_store(url)
    try:
        return store.chains
    finally:
        store.close()


def test_a_new_schema_is_split_as_its_url_says_and_stays_so(schema: str) -> None:
    url = f"{POSTGRES_URL}?schema={schema}"
    assert _chains(f"{url}&chains=4") == 4
    assert _chains(url) == 4  # kept with the schema
    with pytest.raises(StorageError, match="split into 4 chains, not 8"):
        _chains(f"{url}&chains=8")  # even with no entry yet: other processes may have it open
    store = open_store(url)
    try:
        alliance = Alliance(store, keys={"k1": SECRET})
        alliance.add_campaign(make_campaign())
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        click = alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA)
        alliance.record_order(
            Order(order_id="o1", merchant_id="m1", total=Money("10.00", "CNY")),
            click_id=click.click_id,
        )
    finally:
        store.close()
    assert _chains(f"{url}&chains=4") == 4
    with pytest.raises(StorageError, match="split into 4 chains, not 16"):
        _chains(f"{url}&chains=16")
    for wrong in ("0", "1025"):
        with pytest.raises(StorageError, match="1 to 1024 chains"):
            _chains(f"{url}&chains={wrong}")


@pytest.mark.parametrize(("asked", "chains"), [(None, DEFAULT_CHAINS), (1, 1)])
def test_a_version_1_journal_keeps_its_entries_on_chain_0(
    schema: str, asked: int | None, chains: int
) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn, conn.transaction():
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET LOCAL search_path TO {schema}")
        conn.execute(_VERSIONS)
        for statement in (*counter_tables(schema), *MIGRATIONS[0]):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        conn.execute(
            "INSERT INTO journal (seq, event_id, at_ms, body, hash) VALUES "
            "(1, 'e1', 100, 'one', 'h1'), (2, 'e2', 200, 'two', 'h2')"
        )
    store = PostgresStore(POSTGRES_URL, schema=schema, chains=asked)
    try:
        assert (store.schema_version, store.chains) == (SCHEMA_VERSION, chains)
        with store.transaction() as tx:
            assert [(r.seq, r.chain, r.pos) for r in tx.journal.scan()] == [(1, 0, 1), (2, 0, 2)]
            assert tx.journal.first_at(150) == 2
            assert tx.journal.next_seq() == 3  # the sequence goes on after the old seqs
    finally:
        store.close()
    with pytest.raises(StorageError, match=f"split into {chains} chains"):
        PostgresStore(POSTGRES_URL, schema=schema, chains=chains + 1)


def _book(alliance: Alliance, merchant: str, n: int) -> OrderOutcome:
    link = alliance.create_link(
        affiliate_id="a1", campaign_id=f"c-{merchant}", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA)
    browse(alliance, 30)
    return alliance.record_order(
        Order(order_id=f"o{n}", merchant_id=merchant, total=Money("100.00", "CNY")),
        click_id=click.click_id,
    )


def test_a_merchant_books_while_another_merchants_chain_is_held() -> None:
    store = postgres_store()
    merchants = [f"m{n}" for n in range(1, 40)]
    held = merchants[0]
    free = next(m for m in merchants if chain_of(m, store.chains) != chain_of(held, store.chains))
    try:
        alliance = Alliance(store, keys={"k1": SECRET}, clock=FakeClock())
        for merchant in (held, free):
            alliance.add_campaign(make_campaign(f"c-{merchant}", merchant))
        _book(alliance, held, 1)  # both chains and every cache warm
        _book(alliance, free, 2)
        done: dict[str, OrderOutcome] = {}

        def book(merchant: str, n: int) -> None:
            done[merchant] = _book(alliance, merchant, n)

        with psycopg.connect(POSTGRES_URL, autocommit=True) as other:
            chain = chain_of(held, store.chains)
            other.execute(
                "SELECT pg_advisory_lock(%s)", (lock_key(store.schema, f"chain/{chain}"),)
            )
            waiting = threading.Thread(target=book, args=(held, 3))
            waiting.start()
            passing = threading.Thread(target=book, args=(free, 4))
            passing.start()
            passing.join(timeout=30)
            assert not passing.is_alive() and free in done  # another chain: no wait
            waiting.join(timeout=1)
            assert waiting.is_alive() and held not in done  # its own chain is held
            other.execute("SELECT pg_advisory_unlock_all()")
        waiting.join(timeout=30)
        assert not waiting.is_alive()
        assert [done[m].commissions[0].amount for m in (held, free)] == [Money("10.00", "CNY")] * 2
        assert alliance.verify_ledger().ok
    finally:
        store.close()


def test_seqs_drawn_in_one_unit_of_work_go_up_whatever_was_locked_between() -> None:
    store = postgres_store()
    try:
        with store.transaction(chain=3) as tx:
            tx.orders.get("m1", "o1")  # the locks, and a seq drawn with them
            first = tx.journal.next_seq()  # that one
            store._db.guard(["period/x"])  # a lock claimed: a seq drawn with the next statement
            second = tx.journal.next_seq()
            third = tx.journal.next_seq()
            tx.periods.get_many(["y"])  # another lock, its draw sent with this read
            fourth = tx.journal.next_seq()
        assert first < second < third < fourth
        with (
            pytest.raises(StorageError, match="did not read them first"),
            store.transaction(chain=3) as tx,
        ):
            tx.periods.put([PeriodTotals("z")])
    finally:
        store.close()
