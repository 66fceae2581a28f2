"""The v4 fixture opens on the current store and keeps everything it held; so do later versions."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pytest

from affiliate_sdk.errors import SchemaVersionError
from affiliate_sdk.models import Commission
from affiliate_sdk.storage.rows import (
    BindingRow,
    CouponRow,
    DeliveryCursor,
    DeliveryLogRow,
    LineFilter,
    Mark,
)
from affiliate_sdk.storage.sqlite import SCHEMA_VERSION, SQLiteStore
from affiliate_sdk.storage.sqlite._schema import REVISED, V5_TABLES

FIXTURES: Final = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED: Final[dict[str, Any]] = json.loads((FIXTURES / "alliance_v4.expected.json").read_text())
KINDS: Final = EXPECTED["tables"]["records_by_kind"]
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
def v4_file(tmp_path: Path) -> Path:
    target = tmp_path / "alliance.db"
    shutil.copyfile(FIXTURES / "alliance_v4.db", target)
    return target


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def _legacy(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _migrated(path: Path) -> Path:
    SQLiteStore(path).close()
    return path


def test_the_fixture_is_a_v4_file_with_every_kind(v4_file: Path) -> None:
    assert EXPECTED["tables"]["user_version"] == 4
    assert _legacy(v4_file, "PRAGMA user_version") == [(4,)]
    assert len(KINDS) == 17
    assert all(count > 0 for count in EXPECTED["tables"].values() if isinstance(count, int))


def test_tables_keep_their_rows(v4_file: Path) -> None:
    tables = EXPECTED["tables"]
    shapes = sum(len(json.loads(d)) for (d,) in _legacy(v4_file, _KIND % "order_shape"))
    members = sum(
        len(json.loads(d))
        for kind in ("payment_customers", "network_customers")
        for (d,) in _legacy(v4_file, _KIND % kind)
    )
    listed = [d for (d,) in _legacy(v4_file, _KIND % "blacklist") if json.loads(d) is not None]
    totals = _legacy(v4_file, "SELECT count(*) FROM tier_states")[0][0]
    path = _migrated(v4_file)
    same = (
        "campaigns",
        "clicks",
        "orders",
        "refunds",
        "journal",
        "payout_runs",
        "payouts",
        "checkpoints",
        "affiliates",
        "merchants",
        "plan_versions",
        "counters",
        "outbox",
    )
    for table in same:
        assert _count(path, table) == tables[table], table
    assert _count(path, "lines") == tables["ledger"]
    assert _count(path, "renewal_clicks") == tables["subscriptions"]
    assert _count(path, "period_totals") + _count(path, "marks") == totals
    moved = {
        "coupons": "coupon",
        "bindings": "binding",
        "customer_visitors": "customer_visitor",
        "impressions": "impression",
        "complaints": "complaint",
        "enforcements": "enforcement",
        "risk_histories": "affiliate_orders",
        "value_stats": "merchant_values",
        "webhook_subscriptions": "webhook_subscription",
        "webhook_cursors": "webhook_state",
        "webhook_leases": "webhook_lease",
        "webhook_log": "webhook_log",
        "webhook_dead": "webhook_dead",
    }
    for table, kind in moved.items():
        assert _count(path, table) == KINDS[kind], table
    assert _count(path, "order_shapes") == shapes
    # impressions made before the frequency cap counted them all earn (step 12)
    assert _count(path, "impressions WHERE earns = 1") == KINDS["impression"] > 0
    # and every affiliate's channel has a column of its own (step 12), as its JSON says
    kept = "affiliates WHERE channel IS json_extract(data, '$.channel')"
    assert _count(path, kept) == _count(path, "affiliates") > 0
    assert _count(path, "distinct_members") == members
    assert _count(path, "blacklist") == len(listed)
    names = {row[0] for row in _legacy(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert not names & {"records", "tier_states", "ledger", "subscriptions"}


_KIND: Final = "SELECT data FROM records WHERE kind = '%s'"


def test_typed_values_come_across(v4_file: Path) -> None:
    store = SQLiteStore(v4_file)
    try:
        with store.reader() as tx:
            assert tx.catalog.get_coupon("m2", "M2/CODE%") == CouponRow(
                "m2", "M2/CODE%", "a2", "c-marg"
            )
            binding = tx.orders.get_binding("m1", "cust/1")
            assert isinstance(binding, BindingRow) and binding.affiliate_id == "a1"
            assert tx.orders.renewal_click("m1", "sub-1") == binding.click_id
            assert tx.clicks.visitors_of("m1", "cust/1", limit=5) == ["visitor-0001"]
            assert tx.webhooks.cursor("a:a2", "s-affiliate") == DeliveryCursor(79, 0, 0, 0)
            assert tx.webhooks.cursor("m:m1", "s-merchant") == DeliveryCursor(79, 0, 0, 0)
            assert len(tx.webhooks.dead_letters("a:a2", "s-affiliate")) == 1
            assert tx.periods.get_mark("closed/c-retro/2026-Q1") == Mark(
                "closed/c-retro/2026-Q1", "0", 0
            )
            assert tx.periods.get_mark("impressions-batch/c-cpm/b1") == Mark(
                "impressions-batch/c-cpm/b1", "1500", 0
            )
            [retro] = tx.periods.scan("tier/campaign/c-retro/")
            assert (retro.rate, retro.seq) == (Decimal("0.15"), 0)
            assert retro.paid == Decimal("180.0000000000000000000000000")
            assert tx.catalog.plan_versions("m1", "c-flat")[-1].version == 2
            assert tx.sanctions.blacklist() == {"network:192.0.2.0/24": "scraper farm"}
            assert tx.sanctions.complaints_since("affiliate:a1", since_ms=0) == 1
            assert tx.outbox.last_seq() == EXPECTED["tables"]["outbox"]
    finally:
        store.close()


def test_ledger_lines_match_what_v4_answered(v4_file: Path) -> None:
    expected = [Commission.model_validate(line) for line in EXPECTED["commissions"]]
    store = SQLiteStore(v4_file)
    try:
        with store.reader() as tx:
            rows = tx.ledger.query(LineFilter())
            [o5] = [r for r in tx.ledger.by_order("m2", "o5") if r.line.kind == "commission"]
            paid = tx.ledger.payouts(run_id="run-1")
    finally:
        store.close()
    assert [row.line for row in rows] == expected
    assert all(row.seq == 0 for row in rows)
    assert o5.line.amount.amount == Decimal("90.00") and o5.line.status == "paid"
    assert o5.measures is not None
    assert o5.measures.tier_measure == Decimal("900.00")
    assert o5.measures.counts == (
        ("target/campaign/c-marg/affiliate_sales/a2/2026-02", Decimal("900.00")),
    )
    assert [p.batch.model_dump(mode="json") for p in paid] == EXPECTED["payouts"]


def test_runs_and_tier_booked_come_across_unproven(v4_file: Path) -> None:
    store = SQLiteStore(v4_file)
    try:
        with store.reader() as tx:
            runs = tx.ledger.runs()
            empty = tx.ledger.payouts(run_id="run-empty")
            rows = tx.ledger.query(LineFilter())
            pending = tx.ledger.query(LineFilter(status="pending"))
            due = tx.ledger.due(status="pending", until_ms=2**50, after=None, limit=1_000)
    finally:
        store.close()
    assert runs == [("run-1", 0), ("run-empty", 0)]
    assert empty == []
    measured = [row.measures for row in rows if row.measures is not None]
    assert measured
    assert all(measures.tier_booked is None for measures in measured)
    # due: lines not held first, then by the end of their hold, ties in booking order
    place = {row.line.entry_id: n for n, row in enumerate(pending)}
    expected = sorted(
        pending,
        key=lambda row: (
            row.line.hold_until is not None,
            row.line.hold_until or EPOCH,
            place[row.line.entry_id],
        ),
    )
    assert due == expected
    assert _legacy(v4_file, "SELECT DISTINCT seq FROM payout_runs") == [(0,)]
    index = "SELECT name FROM pragma_index_info('{}') ORDER BY seqno"
    assert _legacy(v4_file, index.format("lines_due")) == [("status",), ("due_us",), ("pos",)]
    assert _legacy(v4_file, index.format("lines_due_by_merchant")) == [
        ("status",),
        ("merchant_id",),
        ("due_us",),
        ("pos",),
    ]


def test_migrating_is_done_once(v4_file: Path) -> None:
    first = _count(_migrated(v4_file), "lines")
    store = SQLiteStore(v4_file)
    try:
        assert store.schema_version == SCHEMA_VERSION == 12
    finally:
        store.close()
    assert _count(v4_file, "lines") == first


def test_the_clicks_of_earlier_versions_count_as_one_writer_of_their_own(v4_file: Path) -> None:
    latest = _legacy(v4_file, "SELECT max(clicked_at_ms) FROM clicks")[0][0]
    assert latest is not None  # the fixture holds clicks
    _migrated(v4_file)
    assert _legacy(v4_file, "SELECT token, last_ms FROM click_writers") == [("before-v6", latest)]


def test_version_5_gains_the_click_writers(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE click_writers")
    _before_v8(conn)
    conn.execute(
        "INSERT INTO clicks (click_id, visitor_id, link_id, affiliate_id, campaign_id, "
        "merchant_id, landing_url, sub_fields, clicked_at_ms, decision, verdict_json) "
        "VALUES ('k1', 'v1', 'L1', 'a1', 'c1', 'm1', 'https://shop.example.com/', x'00', "
        "1700000000123, 'allow', '{}')"
    )
    conn.execute("PRAGMA user_version = 5")
    conn.close()
    store = SQLiteStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 12
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT token, last_ms FROM click_writers").fetchall()
    finally:
        conn.close()
    assert rows == [("before-v6", 1700000000123)]


def _before_v10(conn: sqlite3.Connection) -> None:
    """Take out what versions 10 to 12 added: the journal's chain and place, the risk
    tallies, whether an impression earns and the affiliates' channels."""
    conn.execute("ALTER TABLE impressions DROP COLUMN earns")
    conn.execute("DROP INDEX affiliates_by_channel")
    conn.execute("ALTER TABLE affiliates DROP COLUMN channel")
    conn.execute("DROP TABLE risk_tallies")
    conn.execute("DROP TRIGGER journal_needs_a_place")
    conn.execute("DROP INDEX journal_by_place")
    conn.execute("DROP INDEX journal_by_time")
    conn.execute("ALTER TABLE journal DROP COLUMN chain")
    conn.execute("ALTER TABLE journal DROP COLUMN pos")
    conn.execute("CREATE INDEX journal_by_time ON journal (at_ms)")


def test_version_9_numbers_each_entry_by_its_place_in_chain_0(tmp_path: Path) -> None:
    path = tmp_path / "v9.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    _before_v10(conn)
    conn.executemany(
        "INSERT INTO journal (seq, event_id, at_ms, body, hash) VALUES (?, ?, ?, ?, ?)",
        [(1, "e1", 100, b"one", b"h1"), (2, "e2", 200, b"two", b"h2")],
    )
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    store = SQLiteStore(path)
    try:
        with store.reader() as tx:
            assert [(r.seq, r.chain, r.pos) for r in tx.journal.scan()] == [(1, 0, 1), (2, 0, 2)]
            assert tx.journal.first_at(150) == 2
            assert set(tx.journal.heads()) == {0}
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:  # what a writer of the release before would insert
        with pytest.raises(sqlite3.IntegrityError, match="needs its place"):
            conn.execute(
                "INSERT INTO journal (seq, event_id, at_ms, body, hash) "
                "VALUES (3, 'e3', 300, x'', x'')"
            )
    finally:
        conn.close()


def _before_v8(conn: sqlite3.Connection) -> None:
    """Take out what versions 8 to 12 added (a file of version 7 or before has none of it)."""
    _before_v10(conn)
    conn.execute("DROP TABLE counter_writers")
    for table, _ in REVISED:
        for event in ("insert", "update", "delete"):
            conn.execute(f"DROP TRIGGER {table}_{event}_revision")
    conn.execute("DROP TABLE revisions")


def test_version_7_gains_revisions_counted_by_every_change_of_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "v7.db"
    store = SQLiteStore(path)
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    _before_v8(conn)
    conn.execute("INSERT INTO merchants (merchant_id, data) VALUES ('m1', '{}')")
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    store = SQLiteStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 12
        with store.reader() as tx:
            assert (tx.catalog.revision(), tx.sanctions.blacklist_revision()) == (0, 0)
    finally:
        store.close()
    conn = sqlite3.connect(path, isolation_level=None)  # a hand edit counts too
    conn.execute('UPDATE merchants SET data = \'{"merchant_id": "m1"}\'')
    conn.execute("DELETE FROM merchants")
    conn.execute("INSERT INTO blacklist (key, reason) VALUES ('device:d1', 'fraud')")
    conn.close()
    store = SQLiteStore(path)
    try:
        with store.reader() as tx:
            assert (tx.catalog.revision(), tx.sanctions.blacklist_revision()) == (2, 1)
    finally:
        store.close()


def test_a_file_from_the_future_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError):
        SQLiteStore(path)


def test_a_new_file_is_at_v5_without_legacy_tables(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "new.db")
    try:
        assert store.schema_version == SCHEMA_VERSION
        with store.reader() as tx:
            assert tx.outbox.last_seq() == 0
    finally:
        store.close()
    assert _count(tmp_path / "new.db", "lines") == 0


#: What a receiver answered, kept in plain text by version 6.
_ECHO: Final = "thanks, alice.liddell@example.com (+44 20 7946 0958)"


def _v6_with_an_answer(path: Path) -> None:
    """A version 6 file whose delivery log holds a receiver's answer, as version 6 kept it."""
    SQLiteStore(path).close()
    [v6_log] = [s for s in V5_TABLES if s.startswith("CREATE TABLE webhook_log ")]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE webhook_log")
    conn.execute(v6_log)
    conn.execute("CREATE INDEX webhook_log_by_subscription ON webhook_log (scope, subscription_id)")
    conn.execute(
        "INSERT INTO webhook_log (scope, subscription_id, seq, event_id, type, attempt, at_ms, "
        "status, error, latency_ms, response) VALUES ('m:m1', 's1', 3, 'ev3', 'commission.booked', "
        "2, 1700000000123, 200, NULL, 12.5, ?)",
        (_ECHO,),
    )
    _before_v8(conn)
    conn.execute("PRAGMA user_version = 6")
    conn.close()
    assert _ECHO.encode() in path.read_bytes()


def test_version_6_loses_the_receivers_answers_and_keeps_the_attempts(tmp_path: Path) -> None:
    path = tmp_path / "v6.db"
    _v6_with_an_answer(path)
    store = SQLiteStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 12
        with store.reader() as tx:
            attempts = tx.webhooks.attempts("m:m1", "s1")
        with store.transaction() as tx:  # the log goes on in the new shape
            tx.webhooks.log_attempt(
                "m:m1",
                "s1",
                DeliveryLogRow(
                    4, "ev4", "commission.booked", 1, 1700000000999, 200, None, 3.0, 2, "k1:ab"
                ),
            )
        with store.reader() as tx:
            assert tx.webhooks.attempts("m:m1", "s1")[-1].response_digest == "k1:ab"
    finally:
        store.close()
    assert attempts == [
        DeliveryLogRow(3, "ev3", "commission.booked", 2, 1700000000123, 200, None, 12.5, None, None)
    ]
    columns = [row[1] for row in _legacy(path, "PRAGMA table_info(webhook_log)")]
    assert "response" not in columns and columns[-2:] == ["response_bytes", "response_digest"]
    assert _legacy(path, "PRAGMA index_list(webhook_log)")[0][1] == "webhook_log_by_subscription"
    for file in tmp_path.iterdir():  # overwritten, not left in a free page or the journal
        assert b"alice.liddell" not in file.read_bytes(), file.name


def test_the_v4_log_comes_across_without_its_answers(v4_file: Path) -> None:
    assert b'"response": "ok"' in v4_file.read_bytes()
    path = _migrated(v4_file)
    rows = _legacy(path, "SELECT response_bytes, response_digest FROM webhook_log")
    assert len(rows) == KINDS["webhook_log"] and set(rows) == {(None, None)}
    assert b'"response": "ok"' not in path.read_bytes()


def test_version_8_names_the_writer_of_the_counts_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "v8.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE counter_writers")
    _before_v10(conn)
    conn.executemany(
        "INSERT INTO counters (key, bucket, count) VALUES (?, ?, ?)",
        [
            ("velocity/minute/n/203.0.113.0/24", 17, 2),
            ("velocity/minute/a/a1", 19, 1),
            ("velocity/day/a/a1", 3, 4),
            ("velocity/minutes/x", 99, 1),  # of no namespace the SDK writes
        ],
    )
    conn.execute("PRAGMA user_version = 8")
    conn.close()
    store = SQLiteStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 12
        # another process's counts, read back by a process alone on the file since
        sums = store.counters.exchange(
            "velocity/minute", "new", [], ["velocity/minute/a/a1"], since_bucket=19
        )
        assert sums == [(1, 0)]
        assert store.counters.exchange("velocity/minute", "new", [], [], since_bucket=20) is None
    finally:
        store.close()
    rows = _legacy(path, "SELECT namespace, writer, bucket FROM counter_writers ORDER BY 1")
    assert rows == [("velocity/day", "before-v9", 3), ("velocity/minute", "before-v9", 19)]
