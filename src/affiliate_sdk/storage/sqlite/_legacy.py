"""Version 4 -> 5: the generic rows of version 4 moved into their typed tables.

``records`` kinds (keys are parts joined by "/", each with "%" -> "%25" and
"/" -> "%2F"), ``tier_states`` (period totals, and the marks of the
``closed/``, ``cpc-settled/`` and ``impressions-batch/`` families, whose value
is the integer the legacy row kept as its volume), the ledger's JSON lines,
the journal (gaining ``at_ms``), payout runs, the outbox (its seq mark moved to
``meta``) and the renewal clicks. Migrated lines, orders, totals, marks,
payouts and payout runs get ``seq = 0``: not yet proven against the journal;
migrated lines have no ``tier_booked`` (version 4 did not keep it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Final

from affiliate_sdk.errors import StorageError
from affiliate_sdk.models import Commission
from affiliate_sdk.storage.rows import LineMeasures, LineRow

from ._values import ms_of_iso
from .ledger import LINE_COLUMNS, count_params, line_params
from .outbox import OUTBOX_MARK

__all__ = ["MARK_FAMILIES", "convert_v4", "unescape"]

#: ``tier_states`` keys that were idempotency marks, not totals.
MARK_FAMILIES: Final = ("closed/", "cpc-settled/", "impressions-batch/")
_OWNER_SCOPE: Final = {"merchant": "m:", "affiliate": "a:"}


def unescape(part: str) -> str:
    """Undo the legacy key escaping of one part."""
    return part.replace("%2F", "/").replace("%25", "%")


def _parts(key: str, count: int) -> list[str]:
    parts = [unescape(part) for part in key.split("/")]
    if len(parts) != count:
        raise StorageError(f"legacy record key {key!r} does not have {count} parts")
    return parts


def _records(conn: sqlite3.Connection, kind: str) -> Iterator[tuple[str, Any]]:
    for key, data in conn.execute(
        "SELECT key, data FROM records WHERE kind = ? ORDER BY key", (kind,)
    ).fetchall():
        yield str(key), json.loads(data)


def _scope(data: dict[str, Any]) -> str:
    prefix = _OWNER_SCOPE.get(str(data.get("owner")))
    return "" if prefix is None else prefix + str(data["owner_id"])


def _catalog_and_traffic(conn: sqlite3.Connection) -> None:
    for key, (affiliate, campaign) in _records(conn, "coupon"):
        conn.execute(
            "INSERT INTO coupons VALUES (?, ?, ?, ?)", (*_parts(key, 2), affiliate, campaign)
        )
    for key, (affiliate, campaign, click, until) in _records(conn, "binding"):
        conn.execute(
            "INSERT INTO bindings VALUES (?, ?, ?, ?, ?, ?)",
            (*_parts(key, 2), affiliate, campaign, click, until),
        )
    for key, at_ms in _records(conn, "customer_visitor"):
        conn.execute(
            "INSERT INTO customer_visitors VALUES (?, ?, ?, ?)", (*_parts(key, 3), int(at_ms))
        )
    for key, (affiliate, campaign, merchant, at_ms) in _records(conn, "impression"):
        visitor, _, impression_id = key.split("/")
        conn.execute(
            "INSERT INTO impressions VALUES (?, ?, ?, ?, ?, ?)",
            (merchant, visitor, int(at_ms), impression_id, affiliate, campaign),
        )


def _risk_and_sanctions(conn: sqlite3.Connection) -> None:
    for key, counts in _records(conn, "affiliate_orders"):
        padded = [*counts, 0, 0, 0, 0, 0][:5]
        conn.execute("INSERT INTO risk_histories VALUES (?, ?, ?, ?, ?, ?)", (key, *padded))
    for key, shapes in _records(conn, "order_shape"):
        conn.executemany(
            "INSERT INTO order_shapes (key, total, at_ms) VALUES (?, ?, ?)",
            [(key, str(total), int(at)) for total, at in shapes],
        )
    for key, (orders, mean, m2) in _records(conn, "merchant_values"):
        conn.execute("INSERT INTO value_stats VALUES (?, ?, ?, ?)", (key, orders, mean, m2))
    for kind in ("payment_customers", "network_customers"):
        for key, members in _records(conn, kind):
            conn.executemany(
                "INSERT INTO distinct_members (kind, key, member) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, key, member) DO NOTHING",
                [(kind, key, str(member)) for member in members],
            )
    for key, reason in _records(conn, "blacklist"):
        if reason is not None:  # None: taken off the list
            conn.execute("INSERT INTO blacklist VALUES (?, ?)", (key, str(reason)))
    for key, reason in _records(conn, "complaint"):
        target, at_ms, complaint_id = key.rsplit("/", 2)
        conn.execute(
            "INSERT INTO complaints VALUES (?, ?, ?, ?)",
            (target, int(at_ms), complaint_id, str(reason)),
        )
    for key, step in _records(conn, "enforcement"):
        conn.execute(
            "INSERT INTO enforcements (affiliate_id, data) VALUES (?, ?)",
            (key.rsplit("/", 1)[0], json.dumps(step, separators=(",", ":"))),
        )


def _webhooks(conn: sqlite3.Connection) -> None:
    scopes: dict[str, str] = {}
    for key, data in _records(conn, "webhook_subscription"):
        scopes[key] = _scope(data)
        conn.execute(
            "INSERT INTO webhook_subscriptions VALUES (?, ?, ?)",
            (scopes[key], key, json.dumps(data, separators=(",", ":"))),
        )
    for key, state in _records(conn, "webhook_state"):
        cursor, attempts, next_at, dead = [*state, 0, 0, 0, 0][:4]
        conn.execute(
            "INSERT INTO webhook_cursors VALUES (?, ?, ?, ?, ?, ?)",
            (scopes.get(key, ""), key, cursor, attempts, next_at, dead),
        )
    for key, (holder, until) in _records(conn, "webhook_lease"):
        conn.execute(
            "INSERT INTO webhook_leases VALUES (?, ?, ?, ?)",
            (scopes.get(key, ""), key, str(holder), int(until)),
        )
    for key, e in _records(conn, "webhook_log"):
        subscription, seq, *_ = key.split("/")
        conn.execute(
            "INSERT INTO webhook_log (scope, subscription_id, seq, event_id, type, attempt, "
            "at_ms, status, error, latency_ms, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                scopes.get(subscription, ""),
                subscription,
                int(seq),
                e["event_id"],
                e["type"],
                e["attempt"],
                e["at_ms"],
                e.get("status"),
                e.get("error"),
                float(e.get("latency_ms", 0.0)),
                e.get("response"),
            ),
        )
    for key, e in _records(conn, "webhook_dead"):
        subscription, seq = key.split("/")
        conn.execute(
            "INSERT INTO webhook_dead (scope, subscription_id, seq, event_id, reason, at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                scopes.get(subscription, ""),
                subscription,
                int(seq),
                e["event_id"],
                e["reason"],
                e["at_ms"],
            ),
        )


#: Every ``records`` kind version 4 wrote, and the step that moves it.
_KINDS: Final[dict[str, Callable[[sqlite3.Connection], None]]] = {
    **dict.fromkeys(("coupon", "binding", "customer_visitor", "impression"), _catalog_and_traffic),
    **dict.fromkeys(
        (
            "affiliate_orders",
            "order_shape",
            "merchant_values",
            "payment_customers",
            "network_customers",
            "blacklist",
            "complaint",
            "enforcement",
        ),
        _risk_and_sanctions,
    ),
    **dict.fromkeys(
        (
            "webhook_subscription",
            "webhook_state",
            "webhook_lease",
            "webhook_log",
            "webhook_dead",
        ),
        _webhooks,
    ),
}


def _periods(conn: sqlite3.Connection) -> None:
    for key, volume, tier_base, rate, paid in conn.execute(
        "SELECT key, volume, tier_base, rate, paid FROM tier_states ORDER BY key"
    ).fetchall():
        if str(key).startswith(MARK_FAMILIES):
            conn.execute(
                "INSERT INTO marks (key, value, seq) VALUES (?, ?, 0)",
                (key, str(int(Decimal(volume)))),
            )
        else:
            conn.execute(
                "INSERT INTO period_totals VALUES (?, ?, ?, ?, ?, '0', 0)",
                (key, volume, tier_base, rate, paid),
            )


def _line(data: str) -> LineRow:
    """A legacy line: its tier fields become its measures (and stay on the Commission
    while the model has them)."""
    document = json.loads(data)
    fields = {name: document.get(name) for name in LineMeasures._fields}
    counts = fields.pop("counts") or {}
    fields.pop("tier_booked")  # not kept by version 4: None
    line = Commission.model_validate(
        {k: v for k, v in document.items() if k in Commission.model_fields}
    )
    if all(value is None for value in fields.values()) and not counts:
        return LineRow(line, None, 0)
    number = {
        k: None if v is None else Decimal(str(v)) for k, v in fields.items() if k != "tier_key"
    }
    measures = LineMeasures(
        tier_key=fields["tier_key"],
        tier_measure=number["tier_measure"],
        tier_base=number["tier_base"],
        tier_paid=number["tier_paid"],
        fx_rate=number["fx_rate"],
        counts=tuple((str(k), Decimal(str(v))) for k, v in counts.items()),
    )
    return LineRow(line, measures, 0)


def _money(conn: sqlite3.Connection) -> None:
    insert = (
        f"INSERT INTO lines ({', '.join(LINE_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(LINE_COLUMNS))})"
    )
    for (data,) in conn.execute("SELECT data FROM ledger ORDER BY seq").fetchall():
        row = _line(str(data))
        conn.execute(insert, line_params(row))
        conn.executemany("INSERT INTO line_counts VALUES (?, ?, ?, ?)", count_params(row))
    for seq, event_id, body, hash_ in conn.execute(
        "SELECT seq, event_id, body, hash FROM journal ORDER BY seq"
    ).fetchall():
        at_ms = ms_of_iso(json.loads(body)["at"])
        try:
            conn.execute(
                "INSERT INTO journal_v5 VALUES (?, ?, ?, ?, ?)", (seq, event_id, at_ms, body, hash_)
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError(
                f"journal entry {seq} repeats event id {event_id!r}: the file cannot be migrated"
            ) from exc
    conn.execute(
        "INSERT INTO payout_runs_v5 (run_id, seq) "
        "SELECT run_id, 0 FROM payout_runs ORDER BY created_seq"
    )
    conn.execute(
        "INSERT INTO payouts_v5 (payout_id, run_id, affiliate_id, data, seq) "
        "SELECT p.payout_id, p.run_id, p.affiliate_id, p.data, 0 FROM payouts p "
        "JOIN payout_runs r ON r.run_id = p.run_id ORDER BY r.created_seq, p.payout_id"
    )
    conn.execute("ALTER TABLE orders ADD COLUMN seq INTEGER")
    conn.execute("UPDATE orders SET seq = 0")


def _rest(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO campaigns_v5 (merchant_id, campaign_id, data) "
        "SELECT merchant_id, campaign_id, data FROM campaigns"
    )
    conn.execute(
        "INSERT INTO plan_versions_v5 (merchant_id, campaign_id, version, data) "
        "SELECT coalesce(c.merchant_id, ''), p.campaign_id, p.version, p.data "
        "FROM plan_versions p LEFT JOIN campaigns c ON c.campaign_id = p.campaign_id"
    )
    conn.execute(
        "INSERT INTO outbox_v5 (seq, event_id, type, created_at_ms, data) "
        "SELECT seq, event_id, type, created_at_ms, data FROM outbox ORDER BY seq"
    )
    last = conn.execute(
        "SELECT max(coalesce((SELECT max(seq) FROM outbox), 0), "
        "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0))"
    ).fetchone()[0]
    conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (OUTBOX_MARK, str(last)))
    conn.execute("ALTER TABLE subscriptions RENAME TO renewal_clicks")


def convert_v4(conn: sqlite3.Connection) -> None:
    """Move the version 4 data into the version 5 tables (which exist, empty)."""
    kinds = [str(k) for (k,) in conn.execute("SELECT DISTINCT kind FROM records ORDER BY kind")]
    unknown = [kind for kind in kinds if kind not in _KINDS]
    if unknown:
        raise StorageError(f"records of unknown kinds {unknown}: the file cannot be migrated")
    for step in dict.fromkeys(_KINDS.values()):
        step(conn)
    _periods(conn)
    _money(conn)
    _rest(conn)
    for table in ("records", "tier_states", "ledger"):
        conn.execute(f"DROP TABLE {table}")
