"""Click commits, threads and forks on the SQLite store."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage.rows import ClickRow, OrderRow
from affiliate_sdk.storage.sqlite import SQLiteStore


def _click(click_id: str, visitor: str = "visitor-1", at: int = 1000) -> ClickRow:
    return ClickRow(
        click_id,
        visitor,
        "L1",
        "a1",
        "c1",
        "m1",
        "https://shop.example.com/",
        b"s",
        at,
        None,
        None,
        None,
        None,
        "allow",
        "{}",
    )


def _stored(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM clicks").fetchone()[0])
    finally:
        conn.close()


def test_background_clicks_are_seen_at_once_and_written_by_close(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with store.transaction() as tx:
        assert tx.clicks.record(_click("k1"), dedupe_since_ms=None) == (_click("k1"), True)
    with store.reader() as tx:
        assert tx.clicks.get("k1") == _click("k1")
    with store.transaction() as tx:
        again, created = tx.clicks.record(_click("k2", at=1500), dedupe_since_ms=900)
        assert (again, created) == (_click("k1"), False)
    store.close()
    assert _stored(tmp_path / "s.db") == 1


def test_a_rolled_back_unit_of_work_drops_its_clicks(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.clicks.record(_click("k1"), dedupe_since_ms=None)
        raise RuntimeError
    with store.reader() as tx:
        assert tx.clicks.get("k1") is None
    store.close()
    assert _stored(tmp_path / "s.db") == 0


def test_immediate_clicks_are_committed_with_their_unit_of_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", click_commit="immediate")
    try:
        with store.transaction() as tx:
            tx.clicks.record(_click("k1"), dedupe_since_ms=None)
        assert _stored(tmp_path / "s.db") == 1
    finally:
        store.close()


def test_readers_refuse_writes_and_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        SQLiteStore(tmp_path / "s.db", click_commit="later")  # type: ignore[arg-type]
    store = SQLiteStore(tmp_path / "s.db")
    try:
        with pytest.raises(StorageError), store.reader() as tx:
            tx.clicks.record(_click("k1"), dedupe_since_ms=None)
        with pytest.raises(StorageError), store.reader() as tx:
            tx.sanctions.put_blacklisted("device:x", "why")
        with store.transaction() as tx:  # the connection writes again afterwards
            tx.sanctions.put_blacklisted("device:x", "why")
    finally:
        store.close()


def test_threads_share_the_file(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                with store.transaction() as tx:
                    tx.clicks.record(_click(f"k{n}-{i}", f"visitor-{n}"), dedupe_since_ms=None)
                    tx.orders.insert(
                        OrderRow("m1", f"o{n}-{i}", "f", "CNY", 100, 0, 1, 1, None, None, "{}")
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.reader() as tx:
        assert len(tx.clicks.by_visitor("m1", "visitor-3", since_ms=0, until_ms=2000)) == 20
    with pytest.raises(DuplicateEntry), store.transaction() as tx:
        tx.orders.insert(OrderRow("m1", "o1-1", "f", "CNY", 1, 0, 1, 1, None, None, "{}"))
    store.close()
    assert _stored(tmp_path / "s.db") == 160


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_uses_connections_of_its_own(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with store.transaction() as tx:
        tx.clicks.record(_click("parent"), dedupe_since_ms=None)
    pid = os.fork()
    if pid == 0:  # the child: write, close, leave without running the parent's cleanup
        code = 1
        try:
            with store.transaction() as tx:
                tx.clicks.record(_click("child", "visitor-2"), dedupe_since_ms=None)
            store.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with store.reader() as tx:
        assert tx.clicks.get("child") is not None
        assert tx.clicks.get("parent") is not None
    store.close()
    assert _stored(tmp_path / "s.db") == 2
