from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from affiliate_sdk import (
    Alliance,
    Money,
    Order,
    SchemaVersionError,
    StorageError,
    UnsupportedStore,
)
from affiliate_sdk.storage import SQLiteStore, open_store
from affiliate_sdk.storage.legacy_sqlite import SCHEMA_VERSION
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, START, click_record, make_campaign


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    clock = FakeClock(START)
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        click = alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA)
        outcome = alliance.record_order(
            Order(order_id="o1", merchant_id="m1", total=Money("80.00", "EUR")),
            visitor_id=click.visitor_id,
        )
        alliance.refund(
            merchant_id="m1", order_id="o1", amount=Money("8.00", "EUR"), refund_id="r1"
        )
        ledger = alliance.commissions()
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as reopened:
        assert reopened.campaign("c1") == make_campaign()
        assert reopened.commissions() == ledger
        assert len(ledger) == 2
        again = reopened.track_click(
            link, ip="203.0.113.9", user_agent=HUMAN_UA, visitor_id=click.visitor_id
        )
        assert again.reused and again.click_id == click.click_id
        assert (
            reopened.record_order(
                Order(order_id="o1", merchant_id="m1", total=Money("80.00", "EUR")),
                visitor_id=click.visitor_id,
            )
            == outcome
        )
        replay = reopened.refund(merchant_id="m1", order_id="o1", refund_id="r1")
        assert replay.amount == Money("8.00", "EUR")


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    store = SQLiteStore(path)
    assert store.schema_version == SCHEMA_VERSION >= 1
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaVersionError) as info:
        SQLiteStore(path)
    assert info.value.found == SCHEMA_VERSION + 1


def test_checkpoints_run_off_the_request_path(tmp_path: Path) -> None:
    from decimal import Decimal

    from affiliate_sdk.commission.tiers import TierState
    from affiliate_sdk.storage.legacy_sqlite import BACKSTOP_PAGES, CHECKPOINT_EVERY

    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # a new connection
    assert store._connect().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
    size = path.stat().st_size
    for n in range(CHECKPOINT_EVERY - 1 - store._commits):  # opening commits the migration
        with store.transaction():
            store.put_tier_state(f"k{n}", TierState(Decimal(n), Decimal(0), Decimal(0), Decimal(0)))
    assert store._checkpointer is None  # nothing asked for yet: the pages wait in the WAL
    assert path.stat().st_size == size
    with store.transaction():
        store.put_tier_state("last", TierState(Decimal(1), Decimal(0), Decimal(0), Decimal(0)))
    deadline = time.monotonic() + 10
    while path.stat().st_size == size and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.stat().st_size > size  # the background thread copied the pages back
    store.close()
    assert not Path(f"{path}-wal").exists()  # the last connection checkpointed and removed it
    reopened = SQLiteStore(path)
    assert reopened.get_tier_state("last") == TierState(
        Decimal(1), Decimal(0), Decimal(0), Decimal(0)
    )
    reopened.close()


def test_migration_is_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    SQLiteStore(path).close()
    SQLiteStore(path).close()  # a second open must not try to create the tables again
    with sqlite3.connect(path) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {"campaigns", "clicks", "orders", "refunds", "ledger"} <= tables


@pytest.mark.parametrize("url", ["postgres://x", "sqlite://", "sqlite:///", "memory", "redis://"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(UnsupportedStore):
        open_store(url)


def test_missing_directory_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'nope' / 'a.db'}")


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.get_order("m1", "o1")


def _prepare(path: Path) -> str:
    with Alliance.open(
        f"sqlite:///{path}", keys={"k1": SECRET}, clock=FakeClock(START)
    ) as alliance:
        alliance.add_campaign(make_campaign())
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        return alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA).click_id


def _record_in_process(args: tuple[str, str, int]) -> str:
    path, click_id, _ = args
    with Alliance.open(
        f"sqlite:///{path}", keys={"k1": SECRET}, clock=FakeClock(START)
    ) as alliance:
        outcome = alliance.record_order(
            Order(order_id="race", merchant_id="m1", total=Money("100.00", "CNY")),
            click_id=click_id,
        )
        return outcome.model_dump_json()


def test_threads_recording_the_same_order_book_it_once(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    click_id = _prepare(path)
    with Alliance.open(
        f"sqlite:///{path}", keys={"k1": SECRET}, clock=FakeClock(START)
    ) as alliance:
        barrier = threading.Barrier(8)

        def record(_: int) -> str:
            barrier.wait()
            return alliance.record_order(
                Order(order_id="race", merchant_id="m1", total=Money("100.00", "CNY")),
                click_id=click_id,
            ).model_dump_json()

        with ThreadPoolExecutor(8) as pool:
            outcomes = set(pool.map(record, range(8)))
        assert len(outcomes) == 1
        assert len(alliance.commissions(order_id="race")) == 1


def test_processes_recording_the_same_order_book_it_once(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    click_id = _prepare(path)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        outcomes = set(pool.map(_record_in_process, [(str(path), click_id, i) for i in range(8)]))
    assert len(outcomes) == 1
    with Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}) as alliance:
        entries = alliance.commissions(order_id="race")
    assert [e.amount for e in entries] == [Money("10.00", "CNY")]


def _committed_click_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT click_id FROM clicks ORDER BY click_id")]


def test_background_clicks_are_seen_at_once_and_written_by_close(tmp_path: Path) -> None:
    path = tmp_path / "bg.db"
    store = SQLiteStore(path)
    assert store.click_commit == "background"
    for n in range(200):
        store.record_click(
            click_record(f"k{n:04d}", visitor=f"v{n % 7}", link=f"L{n}", at=n), dedupe_since_ms=None
        )
    # this process sees every click at once, queued or committed
    assert store.get_click("k0199") == click_record("k0199", visitor="v3", link="L199", at=199)
    assert len(store.visitor_clicks("v3", since_ms=0, until_ms=10**6)) == len(range(3, 200, 7))
    again, created = store.record_click(
        click_record("dup", visitor="v3", link="L199", at=300), dedupe_since_ms=0
    )
    assert (again.click_id, created) == ("k0199", False)
    store.close()
    assert _committed_click_ids(path) == [f"k{n:04d}" for n in range(200)]
    store.close()  # idempotent


def test_background_clicks_reach_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    store = SQLiteStore(path)
    store.record_click(click_record("k1"), dedupe_since_ms=None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _committed_click_ids(path):
        time.sleep(0.001)
    assert _committed_click_ids(path) == ["k1"]
    store.close()


def test_immediate_clicks_are_committed_before_returning(tmp_path: Path) -> None:
    path = tmp_path / "imm.db"
    store = open_store(f"sqlite:///{path}?click_commit=immediate")
    assert isinstance(store, SQLiteStore) and store.click_commit == "immediate"
    store.record_click(click_record("k1"), dedupe_since_ms=None)
    assert _committed_click_ids(path) == ["k1"]
    store.close()


def test_background_writer_failure_surfaces_as_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "fail.db"
    store = SQLiteStore(path)
    with sqlite3.connect(path) as conn:  # a clash the writer cannot get past
        conn.execute(
            "INSERT INTO clicks (click_id, visitor_id, link_id, affiliate_id, campaign_id, "
            "merchant_id, landing_url, sub_fields, clicked_at_ms, decision, verdict_json) "
            "VALUES ('taken', 'v', 'L', 'a', 'c', 'm', 'u', x'', 0, 'allow', '{}')"
        )
    store.record_click(click_record("taken"), dedupe_since_ms=None)
    with pytest.raises(StorageError, match="could not be written"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            store.record_click(click_record(f"later-{time.monotonic_ns()}"), dedupe_since_ms=None)
            time.sleep(0.001)
    store.close()


def test_bad_store_options(tmp_path: Path) -> None:
    for query in (
        "?click_commit=later",
        "?colour=blue",
        "?click_commit=immediate&click_commit=background",
    ):
        with pytest.raises(UnsupportedStore):
            open_store(f"sqlite:///{tmp_path / 'o.db'}{query}")
