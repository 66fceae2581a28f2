"""The schema (version 5, then the later steps) and the migrations that lead to it.

``PRAGMA user_version`` holds the version. Opening a file applies what it
lacks in one transaction: the legacy steps 1-4 (as files of those versions
were made), then ``to_v5``, which rebuilds the generic tables of version 4
into typed ones (``_legacy``). A new file takes the same path, so the one
route every file takes is the one that is tested. A newer file is refused
with ``SchemaVersionError``.

Every step runs with ``PRAGMA secure_delete`` on, so what it drops is
overwritten rather than left readable in the file's free pages.

Version 5, in brief (every id a merchant chooses is keyed with its merchant):

* catalog: ``merchants``, ``affiliates`` (model JSON), ``campaigns`` and
  ``plan_versions`` keyed by merchant, ``coupons``;
* traffic: ``clicks`` (by visitor and by campaign, each within a merchant),
  ``impressions``, ``customer_visitors``;
* orders: ``orders``, ``refunds``, ``bindings``, ``renewal_clicks``;
* money: ``lines`` (typed ledger lines with their measures; ``line_counts``
  for the period totals a line added to; indexed for ``due`` by status, and by
  status and merchant, then due time and booking order), ``payout_runs`` (with
  the journal entry that recorded each), ``payouts``,
  ``journal`` (unique event ids, indexed by time), ``checkpoints``,
  ``period_totals``, ``marks``;
* risk and sanctions: ``risk_histories``, ``order_shapes``, ``value_stats``,
  ``distinct_members``, ``blacklist``, ``complaints``, ``enforcements``;
* events: ``outbox`` (its high-water mark in ``meta``, so a pruned seq is never
  handed out again), ``webhook_subscriptions``, ``webhook_cursors``,
  ``webhook_leases``, ``webhook_log``, ``webhook_dead``;
* ``sealed_secrets``, ``counters``, ``meta``.

Later versions (``LATER_STEPS``): 6 adds ``click_writers``; 7 rebuilds
``webhook_log`` without the receivers' answers (``response``), keeping their
length and keyed digest instead, with deleted content overwritten; 8 adds
``revisions``; 9 adds ``counter_writers`` (which process added to which
namespace of ``counters`` last, so a process alone on the file need not read
its own counts back); 10 gives journal entries their chain and place (``chain``,
``pos``; a SQLite journal is one chain, its places its seqs); 11 adds ``risk_tallies``;
12 gives impressions ``earns`` (0 for a touch over the visitor's frequency cap) and
affiliates their ``channel`` (indexed: ``affiliates_by_channel``).
"""

from __future__ import annotations

import sqlite3
from typing import Final

from affiliate_sdk.errors import SchemaVersionError

from ._legacy import convert_v4

__all__ = ["LATER_STEPS", "LEGACY_STEPS", "SCHEMA_VERSION", "V5", "V5_TABLES", "migrate"]

#: The statements of versions 1 to 4, as files of those versions hold them.
LEGACY_STEPS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "CREATE TABLE campaigns (campaign_id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, "
        "data TEXT NOT NULL) WITHOUT ROWID",
        """CREATE TABLE clicks (
            click_id TEXT PRIMARY KEY, visitor_id TEXT NOT NULL, link_id TEXT NOT NULL,
            affiliate_id TEXT NOT NULL, campaign_id TEXT NOT NULL, merchant_id TEXT NOT NULL,
            landing_url TEXT NOT NULL, sub_fields BLOB NOT NULL, clicked_at_ms INTEGER NOT NULL,
            ip_hash TEXT, ip_network TEXT, ua_hash TEXT, referrer_host TEXT,
            decision TEXT NOT NULL, verdict_json TEXT NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX clicks_by_visitor ON clicks (visitor_id, clicked_at_ms)",
        """CREATE TABLE orders (
            id INTEGER PRIMARY KEY, merchant_id TEXT NOT NULL, order_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL, currency TEXT NOT NULL, total_minor INTEGER NOT NULL,
            refunded_minor INTEGER NOT NULL, placed_at_ms INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL, ip_hash TEXT, ip_network TEXT,
            outcome_json TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX orders_by_key ON orders (merchant_id, order_id)",
        """CREATE TABLE refunds (
            id INTEGER PRIMARY KEY, merchant_id TEXT NOT NULL, order_id TEXT NOT NULL,
            refund_id TEXT NOT NULL, amount_minor INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL, outcome_json TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX refunds_by_key ON refunds (merchant_id, order_id, refund_id)",
        """CREATE TABLE ledger (
            seq INTEGER PRIMARY KEY, merchant_id TEXT NOT NULL, order_id TEXT NOT NULL,
            entry_id TEXT NOT NULL, event_id TEXT NOT NULL, affiliate_id TEXT NOT NULL,
            status TEXT NOT NULL, data TEXT NOT NULL
        )""",
        "CREATE INDEX ledger_by_order ON ledger (merchant_id, order_id, entry_id)",
        "CREATE INDEX ledger_by_affiliate ON ledger (affiliate_id)",
        "CREATE INDEX ledger_by_status ON ledger (status)",
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, "
        "body BLOB NOT NULL, hash BLOB NOT NULL)",
        "CREATE TABLE payout_runs (run_id TEXT PRIMARY KEY, created_seq INTEGER NOT NULL)",
        "CREATE TABLE payouts (payout_id TEXT PRIMARY KEY, "
        "run_id TEXT NOT NULL REFERENCES payout_runs (run_id), "
        "affiliate_id TEXT NOT NULL, data TEXT NOT NULL)",
        "CREATE INDEX payouts_by_run ON payouts (run_id)",
        "CREATE INDEX payouts_by_affiliate ON payouts (affiliate_id)",
        "CREATE TABLE tier_states (key TEXT PRIMARY KEY, volume TEXT NOT NULL, "
        "tier_base TEXT NOT NULL, rate TEXT NOT NULL, paid TEXT NOT NULL) WITHOUT ROWID",
        "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, data TEXT NOT NULL)",
        "CREATE TABLE affiliates (affiliate_id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID",
        "CREATE TABLE subscriptions (merchant_id TEXT NOT NULL, subscription_id TEXT NOT NULL, "
        "click_id TEXT NOT NULL, PRIMARY KEY (merchant_id, subscription_id)) WITHOUT ROWID",
        "CREATE TABLE merchants (merchant_id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID",
        "CREATE TABLE plan_versions (campaign_id TEXT NOT NULL, version INTEGER NOT NULL, "
        "data TEXT NOT NULL, PRIMARY KEY (campaign_id, version)) WITHOUT ROWID",
    ),
    (
        "CREATE TABLE records (kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, "
        "PRIMARY KEY (kind, key)) WITHOUT ROWID",
    ),
    (
        "CREATE TABLE counters (key TEXT NOT NULL, bucket INTEGER NOT NULL, "
        "count INTEGER NOT NULL, PRIMARY KEY (key, bucket)) WITHOUT ROWID",
    ),
    (
        "ALTER TABLE clicks ADD COLUMN country TEXT",
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
        "event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, created_at_ms INTEGER NOT NULL, "
        "data TEXT NOT NULL)",
    ),
)

#: The typed tables of version 5 that version 4 lacks (created before the data moves).
V5_TABLES: Final[tuple[str, ...]] = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE campaigns_v5 (merchant_id TEXT NOT NULL, campaign_id TEXT NOT NULL, "
    "data TEXT NOT NULL, PRIMARY KEY (merchant_id, campaign_id)) WITHOUT ROWID",
    "CREATE TABLE plan_versions_v5 (merchant_id TEXT NOT NULL, campaign_id TEXT NOT NULL, "
    "version INTEGER NOT NULL, data TEXT NOT NULL, "
    "PRIMARY KEY (merchant_id, campaign_id, version)) WITHOUT ROWID",
    "CREATE TABLE coupons (merchant_id TEXT NOT NULL, code TEXT NOT NULL, "
    "affiliate_id TEXT NOT NULL, campaign_id TEXT NOT NULL, "
    "PRIMARY KEY (merchant_id, code)) WITHOUT ROWID",
    # Keyed by the lookup itself: no second index to keep up on every impression.
    "CREATE TABLE impressions (merchant_id TEXT NOT NULL, visitor_id TEXT NOT NULL, "
    "at_ms INTEGER NOT NULL, impression_id TEXT NOT NULL, affiliate_id TEXT NOT NULL, "
    "campaign_id TEXT NOT NULL, "
    "PRIMARY KEY (merchant_id, visitor_id, at_ms, impression_id)) WITHOUT ROWID",
    "CREATE TABLE customer_visitors (merchant_id TEXT NOT NULL, customer_id TEXT NOT NULL, "
    "visitor_id TEXT NOT NULL, at_ms INTEGER NOT NULL, "
    "PRIMARY KEY (merchant_id, customer_id, visitor_id)) WITHOUT ROWID",
    "CREATE TABLE bindings (merchant_id TEXT NOT NULL, customer_id TEXT NOT NULL, "
    "affiliate_id TEXT NOT NULL, campaign_id TEXT NOT NULL, click_id TEXT, until_ms INTEGER, "
    "PRIMARY KEY (merchant_id, customer_id)) WITHOUT ROWID",
    # Ledger lines in booking order (``pos``). Amounts are exact decimal text, instants
    # integer microseconds (UTC). ``tier_fields``: 1 when the line's Commission carries
    # the measure columns as its own tier fields; ``measured``: whether the row has
    # measures; ``counts``: how many ``line_counts`` rows it has; ``tier_booked`` and its
    # currency: the tier commission as booked. ``due_us``: ``hold_until_us``, or the lowest
    # integer when not held, so that ``due`` reads one index range in order.
    """CREATE TABLE lines (
        pos INTEGER PRIMARY KEY,
        entry_id TEXT NOT NULL UNIQUE, event_id TEXT NOT NULL UNIQUE,
        merchant_id TEXT NOT NULL, order_id TEXT NOT NULL, campaign_id TEXT NOT NULL,
        affiliate_id TEXT NOT NULL, click_id TEXT, account TEXT NOT NULL, kind TEXT NOT NULL,
        amount TEXT NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
        rate TEXT NOT NULL, basis TEXT NOT NULL, basis_currency TEXT NOT NULL,
        rule TEXT NOT NULL, plan_version INTEGER NOT NULL, refund_id TEXT, reverses TEXT,
        reason TEXT, created_at_us INTEGER NOT NULL, hold_until_us INTEGER,
        approved_at_us INTEGER, paid_at_us INTEGER, payout_id TEXT, seq INTEGER NOT NULL,
        measured INTEGER NOT NULL, tier_fields INTEGER NOT NULL, tier_key TEXT,
        tier_measure TEXT, tier_base TEXT, tier_paid TEXT, fx_rate TEXT,
        counts INTEGER NOT NULL, tier_booked TEXT, tier_booked_currency TEXT,
        due_us INTEGER NOT NULL
    )""",
    "CREATE TABLE line_counts (entry_id TEXT NOT NULL, position INTEGER NOT NULL, "
    "key TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (entry_id, position)) WITHOUT ROWID",
    # ``seq``: the journal entry that recorded the run (0 for a migrated run: unproven).
    "CREATE TABLE payout_runs_v5 (pos INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, "
    "seq INTEGER NOT NULL)",
    "CREATE TABLE payouts_v5 (pos INTEGER PRIMARY KEY, payout_id TEXT NOT NULL UNIQUE, "
    "run_id TEXT NOT NULL, affiliate_id TEXT NOT NULL, data TEXT NOT NULL, "
    "seq INTEGER NOT NULL)",
    "CREATE TABLE journal_v5 (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
    "at_ms INTEGER NOT NULL, body BLOB NOT NULL, hash BLOB NOT NULL)",
    "CREATE TABLE period_totals (key TEXT PRIMARY KEY, volume TEXT NOT NULL, "
    "tier_base TEXT NOT NULL, rate TEXT NOT NULL, paid TEXT NOT NULL, booked TEXT NOT NULL, "
    "seq INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE marks (key TEXT PRIMARY KEY, value TEXT NOT NULL, seq INTEGER NOT NULL) "
    "WITHOUT ROWID",
    "CREATE TABLE risk_histories (affiliate_id TEXT PRIMARY KEY, orders INTEGER NOT NULL, "
    "refunds INTEGER NOT NULL, flagged INTEGER NOT NULL, timed INTEGER NOT NULL, "
    "late INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE order_shapes (id INTEGER PRIMARY KEY, key TEXT NOT NULL, "
    "total TEXT NOT NULL, at_ms INTEGER NOT NULL)",
    "CREATE TABLE value_stats (key TEXT PRIMARY KEY, orders INTEGER NOT NULL, "
    "mean REAL NOT NULL, m2 REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE distinct_members (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
    "key TEXT NOT NULL, member TEXT NOT NULL, UNIQUE (kind, key, member))",
    "CREATE TABLE blacklist (key TEXT PRIMARY KEY, reason TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE complaints (target TEXT NOT NULL, at_ms INTEGER NOT NULL, "
    "complaint_id TEXT NOT NULL, reason TEXT NOT NULL, "
    "PRIMARY KEY (target, at_ms, complaint_id)) WITHOUT ROWID",
    "CREATE TABLE enforcements (id INTEGER PRIMARY KEY, affiliate_id TEXT NOT NULL, "
    "data TEXT NOT NULL)",
    "CREATE TABLE outbox_v5 (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
    "type TEXT NOT NULL, created_at_ms INTEGER NOT NULL, data TEXT NOT NULL)",
    "CREATE TABLE webhook_subscriptions (scope TEXT NOT NULL, subscription_id TEXT NOT NULL, "
    "data TEXT NOT NULL, PRIMARY KEY (scope, subscription_id)) WITHOUT ROWID",
    "CREATE TABLE webhook_cursors (scope TEXT NOT NULL, subscription_id TEXT NOT NULL, "
    "cursor INTEGER NOT NULL, attempts INTEGER NOT NULL, next_at_ms INTEGER NOT NULL, "
    "dead_in_a_row INTEGER NOT NULL, PRIMARY KEY (scope, subscription_id)) WITHOUT ROWID",
    "CREATE TABLE webhook_leases (scope TEXT NOT NULL, subscription_id TEXT NOT NULL, "
    "holder TEXT NOT NULL, until_ms INTEGER NOT NULL, "
    "PRIMARY KEY (scope, subscription_id)) WITHOUT ROWID",
    "CREATE TABLE webhook_log (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, "
    "subscription_id TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, "
    "type TEXT NOT NULL, attempt INTEGER NOT NULL, at_ms INTEGER NOT NULL, status INTEGER, "
    "error TEXT, latency_ms REAL NOT NULL, response TEXT)",
    "CREATE TABLE webhook_dead (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, "
    "subscription_id TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, "
    "reason TEXT NOT NULL, at_ms INTEGER NOT NULL)",
    "CREATE TABLE sealed_secrets (name TEXT PRIMARY KEY, sealed TEXT NOT NULL) WITHOUT ROWID",
)

#: Legacy tables rebuilt under a ``_v5`` name, then put in place of the old one.
REBUILT: Final = ("campaigns", "plan_versions", "payout_runs", "payouts", "journal", "outbox")

#: Indexes of version 5, made once the tables have their final names.
V5_INDEXES: Final[tuple[str, ...]] = (
    "DROP INDEX clicks_by_visitor",
    "CREATE INDEX clicks_by_visitor ON clicks (merchant_id, visitor_id, clicked_at_ms)",
    "CREATE INDEX clicks_by_campaign ON clicks (merchant_id, campaign_id, clicked_at_ms)",
    "CREATE INDEX lines_by_order ON lines (merchant_id, order_id)",
    "CREATE INDEX lines_by_affiliate ON lines (affiliate_id)",
    "CREATE INDEX lines_due ON lines (status, due_us, pos)",
    "CREATE INDEX lines_due_by_merchant ON lines (status, merchant_id, due_us, pos)",
    "CREATE INDEX payouts_by_run ON payouts (run_id, pos)",
    "CREATE INDEX payouts_by_affiliate ON payouts (affiliate_id, pos)",
    "CREATE INDEX journal_by_time ON journal (at_ms)",
    "CREATE INDEX order_shapes_by_key ON order_shapes (key)",
    "CREATE INDEX enforcements_by_affiliate ON enforcements (affiliate_id)",
    "CREATE INDEX webhook_log_by_subscription ON webhook_log (scope, subscription_id)",
    "CREATE INDEX webhook_dead_by_subscription ON webhook_dead (scope, subscription_id)",
)

#: The version ``to_v5`` makes.
V5: Final = len(LEGACY_STEPS) + 1

#: The tables whose every change counts up a revision (``revisions``), and the revision.
REVISED: Final = (
    ("campaigns", "catalog"),
    ("plan_versions", "catalog"),
    ("merchants", "catalog"),
    ("affiliates", "catalog"),
    ("coupons", "catalog"),
    ("blacklist", "blacklist"),
)

#: The statements of each version after 5, in order.
LATER_STEPS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 6: every click writer's latest click time (``storage/sqlite/_recent.py``)
        "CREATE TABLE click_writers (token TEXT PRIMARY KEY, last_ms INTEGER NOT NULL) "
        "WITHOUT ROWID",
        # the clicks written before writers kept count, as one writer of their own
        "INSERT INTO click_writers (token, last_ms) "
        "SELECT 'before-v6', max(clicked_at_ms) FROM clicks HAVING count(*) > 0",
    ),
    (  # 7: the delivery log keeps no receiver's answer, only its length and keyed digest
        "CREATE TABLE webhook_log_v7 (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, "
        "subscription_id TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL, "
        "type TEXT NOT NULL, attempt INTEGER NOT NULL, at_ms INTEGER NOT NULL, status INTEGER, "
        "error TEXT, latency_ms REAL NOT NULL, response_bytes INTEGER, response_digest TEXT)",
        # Earlier answers were kept cut to 256 characters: their length is not known.
        "INSERT INTO webhook_log_v7 (id, scope, subscription_id, seq, event_id, type, attempt, "
        "at_ms, status, error, latency_ms) SELECT id, scope, subscription_id, seq, event_id, "
        "type, attempt, at_ms, status, error, latency_ms FROM webhook_log",
        "DROP TABLE webhook_log",
        "ALTER TABLE webhook_log_v7 RENAME TO webhook_log",
        "CREATE INDEX webhook_log_by_subscription ON webhook_log (scope, subscription_id)",
    ),
    (  # 8: revisions the caches of the catalog and the blacklist check instead of rereading
        "CREATE TABLE revisions (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO revisions (name, n) VALUES ('catalog', 0), ('blacklist', 0)",
        *(
            f"CREATE TRIGGER {table}_{event.lower()}_revision AFTER {event} ON {table} "
            f"BEGIN UPDATE revisions SET n = n + 1 WHERE name = '{name}'; END"
            for table, name in REVISED
            for event in ("INSERT", "UPDATE", "DELETE")
        ),
    ),
    (  # 9: who added to the counters of each namespace, and to which bucket last
        "CREATE TABLE counter_writers (namespace TEXT NOT NULL, writer TEXT NOT NULL, "
        "bucket INTEGER NOT NULL, PRIMARY KEY (namespace, writer)) WITHOUT ROWID",
        # the counts of the velocity windows before writers were named, as one writer's
        *(
            "INSERT INTO counter_writers (namespace, writer, bucket) "
            f"SELECT '{namespace}', 'before-v9', max(bucket) FROM counters "
            f"WHERE key >= '{namespace}/' AND key < '{namespace}0' HAVING count(*) > 0"
            for namespace in ("velocity/minute", "velocity/day")
        ),
    ),
    (  # 10: journal entries carry their chain and their place in it (one chain here)
        "ALTER TABLE journal ADD COLUMN chain INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE journal ADD COLUMN pos INTEGER NOT NULL DEFAULT 0",
        "UPDATE journal SET pos = seq",
        "CREATE UNIQUE INDEX journal_by_place ON journal (chain, pos)",
        "DROP INDEX journal_by_time",
        "CREATE INDEX journal_by_time ON journal (chain, at_ms)",
        # a writer of an earlier release, still running, would give its entries no place
        "CREATE TRIGGER journal_needs_a_place BEFORE INSERT ON journal WHEN NEW.pos < 1 "
        "BEGIN SELECT RAISE(ABORT, 'a journal entry needs its place in its chain'); END",
    ),
    (  # 11: counts the fraud checks keep per source (an affiliate, a campaign, a network)
        "CREATE TABLE risk_tallies (key TEXT PRIMARY KEY, counts TEXT NOT NULL) WITHOUT ROWID",
    ),
    (  # 12: an impression over the visitor's frequency cap is kept but does not earn; a
        # channel's members are found by their channel (settlement holds a channel graded C)
        "ALTER TABLE impressions ADD COLUMN earns INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE affiliates ADD COLUMN channel TEXT",
        "UPDATE affiliates SET channel = json_extract(data, '$.channel')",
        "CREATE INDEX affiliates_by_channel ON affiliates (channel)",
    ),
)

SCHEMA_VERSION: Final = V5 + len(LATER_STEPS)


def to_v5(conn: sqlite3.Connection) -> None:
    """Version 4 -> 5: typed tables in place of ``records``, ``tier_states`` and JSON lines."""
    for statement in V5_TABLES:
        conn.execute(statement)
    convert_v4(conn)
    for name in REBUILT:
        conn.execute(f"DROP TABLE {name}")
        conn.execute(f"ALTER TABLE {name}_v5 RENAME TO {name}")
    for statement in V5_INDEXES:
        conn.execute(statement)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to ``SCHEMA_VERSION`` (inside the caller's transaction); the version
    it had."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(found, SCHEMA_VERSION)
    if found == SCHEMA_VERSION:
        return found
    # What a step drops (receivers' answers among it) is overwritten, not left in free pages.
    secure = int(conn.execute("PRAGMA secure_delete").fetchone()[0])
    conn.execute("PRAGMA secure_delete = ON")
    try:
        _steps(conn, found)
    finally:
        conn.execute(f"PRAGMA secure_delete = {secure}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return found


def _steps(conn: sqlite3.Connection, found: int) -> None:
    """The steps from version ``found`` on."""
    for statements in LEGACY_STEPS[found:]:
        for statement in statements:
            conn.execute(statement)
    if found < V5:
        to_v5(conn)
    for statements in LATER_STEPS[max(found, V5) - V5 :]:
        for statement in statements:
            conn.execute(statement)
