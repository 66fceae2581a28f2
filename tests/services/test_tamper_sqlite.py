"""A single stored row edited or deleted never changes what a payout run pays unnoticed.

A real SQLite alliance is built through the public API and closed. The next
payout run over an untouched copy is the baseline. Then, for every table of the
file and up to three rows of each (first, middle and last), the row is deleted,
and each of its columns is edited once, each mutation on its own copy. For every
mutated copy, one of these must hold: opening it refuses, ``verify_ledger()``
reports a problem, the payout run raises ``LedgerTampered``, or the run pays
exactly what the baseline paid.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk import (
    Affiliate,
    Alliance,
    Campaign,
    CommissionPlan,
    LineItem,
    Merchant,
    Money,
    Order,
)
from affiliate_sdk.commission.plans import Recurring
from affiliate_sdk.commission.targets import Target
from affiliate_sdk.commission.tiers import Tiers
from affiliate_sdk.errors import AffiliateError, LedgerTampered
from affiliate_sdk.models import AttributionPolicy
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks.subscriptions import Subscription

START: Final = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEYS: Final = {"k1": bytes(range(7, 39))}
SIGNING_SEED: Final = bytes(range(100, 132))
CNY: Final = "CNY"
HUMAN_UA: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0 Safari/537.36"
)
#: Rows mutated per table: the first, the middle and the last.
ROWS_PER_TABLE: Final = 3
#: Mutated copies judged at once (the work is mostly waiting on the disk).
WORKERS: Final = 4
#: When the next run is made (after every line approved in the build has settled).
NEXT_RUN_AT_DAYS: Final = 60

Batch = tuple[str, str, str]


# -- building the alliance ------------------------------------------------------------------------
def _tiered_plan() -> CommissionPlan:
    bands = [{"from": 0, "to": 1000, "rate": "8%"}, {"from": 1000, "rate": "12%"}]
    tiers = Tiers.model_validate(
        {"mode": "retroactive", "currency": CNY, "period": "month", "bands": bands}
    )
    return CommissionPlan(tiers=tiers, hold_days=7)


def _campaigns() -> list[Campaign]:
    domains = ["store.example.net"]
    return [
        Campaign(
            campaign_id="c-flat",
            merchant_id="m1",
            plan=CommissionPlan(rate="10%", parent_share="20%", hold_days=7, recurring=Recurring()),
            landing_domains=domains,
            attribution=AttributionPolicy(bind_customers=True, binding_period=timedelta(days=60)),
        ),
        Campaign(
            campaign_id="c-tier", merchant_id="m2", plan=_tiered_plan(), landing_domains=domains
        ),
        Campaign(
            campaign_id="c-target",
            merchant_id="m2",
            plan=CommissionPlan(
                rate="5%",
                target=Target(period="month", amount=Money("100.00", CNY), bonus_rate="1%"),
                hold_days=0,
            ),
            landing_domains=domains,
        ),
        Campaign(
            campaign_id="c-cpm",
            merchant_id="m1",
            plan=CommissionPlan(per_mille=Money("3.00", CNY), hold_days=0),
            landing_domains=domains,
        ),
    ]


def _click(
    alliance: Alliance, clock: FakeClock, affiliate: str, campaign: str, n: int, **extra: Any
) -> str:
    link = alliance.create_link(
        affiliate_id=affiliate,
        campaign_id=campaign,
        landing_url=f"https://store.example.net/item/{n}",
        sub_ids={"sub1": f"x{n}"},
    )
    click = alliance.track_click(
        link,
        ip=f"198.51.100.{n}",
        user_agent=HUMAN_UA,
        referrer="https://news.example.org/",
        **extra,
    )
    clock.advance(timedelta(minutes=4))
    return click.click_id


def _webhooks(alliance: Alliance) -> None:
    for sub_id, owner, owner_id in (
        ("hook-platform", "platform", None),
        ("hook-m1", "merchant", "m1"),
    ):
        alliance.subscribe(
            Subscription(
                subscription_id=sub_id,
                owner=owner,
                owner_id=owner_id,
                url="https://hooks.example.net/receive",
                event_types=["commission.booked", "commission.reversed", "payout.batch_created"],
                secrets=["whsec-fedcba9876543210"],
            )
        )


def _dispatch(alliance: Alliance) -> None:
    answers = iter([200, 500, 200, 410, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers, 200), text="thanks")

    dispatcher = alliance.dispatcher(
        transport=httpx.MockTransport(handler), resolver=lambda host, port: ["93.184.215.14"]
    )
    try:
        dispatcher.run_once()
    finally:
        dispatcher.close()


def build(path: Path) -> None:
    """The alliance: booked, refunded, reviewed, paid once, closed, with lines left unpaid."""
    clock = FakeClock(START)
    signing = Ed25519PrivateKey.from_private_bytes(SIGNING_SEED)
    with Alliance.open(
        f"sqlite:///{path}",
        keys=KEYS,
        clock=clock,
        checkpoint_key=("sig-1", signing),
        checkpoint_every=5,
    ) as alliance:
        alliance.add_merchant(Merchant(merchant_id="m1", platform_take="5%"))
        alliance.add_merchant(Merchant(merchant_id="m2"))
        alliance.add_affiliate(Affiliate(affiliate_id="boss", channel="social"))
        alliance.add_affiliate(Affiliate(affiliate_id="a1", parent_id="boss", channel="blog"))
        alliance.add_affiliate(Affiliate(affiliate_id="a2", group="gold"))
        for campaign in _campaigns():
            alliance.add_campaign(campaign)
        alliance.assign_coupon("SAVE-5", affiliate_id="a2", campaign_id="c-flat")
        _webhooks(alliance)
        clock.advance(timedelta(minutes=1))

        first = _click(alliance, clock, "a1", "c-flat", 1, visitor_id="visitor-one", country="FR")
        alliance.track_impression(
            alliance.create_link(
                affiliate_id="a2", campaign_id="c-flat", landing_url="https://store.example.net/"
            ),
            visitor_id="visitor-one",
            user_agent=HUMAN_UA,
        )
        alliance.record_order(
            Order(
                order_id="o1",
                merchant_id="m1",
                total=Money("300.00", CNY),
                items=[LineItem(sku="p-1", quantity=3, unit_price=Money("100.00", CNY))],
                customer_id="cust-1",
                subscription_id="plan-1",
                renewal=0,
            ),
            click_id=first,
            visitor_id="visitor-one",
            ip="198.51.100.1",
            user_agent=HUMAN_UA,
        )
        alliance.record_order(
            Order(
                order_id="o2",
                merchant_id="m1",
                total=Money("150.00", CNY),
                coupon_codes=["save-5"],
                customer_id="cust-2",
                payment_fingerprint="fp-1",
            ),
            ip="203.0.113.9",
        )
        alliance.record_order(
            Order(
                order_id="o3", merchant_id="m1", total=Money("40.00", CNY), coupon_codes=["SAVE-5"]
            ),
        )
        for n, total in ((4, "600.00"), (5, "500.00")):
            click = _click(alliance, clock, "a1", "c-tier", n)
            alliance.record_order(
                Order(order_id=f"o{n}", merchant_id="m2", total=Money(total, CNY)),
                click_id=click,
            )
        click = _click(alliance, clock, "a2", "c-target", 6)
        alliance.record_order(
            Order(order_id="o6", merchant_id="m2", total=Money("250.00", CNY)), click_id=click
        )
        alliance.refund("m1", "o1", Money("50.00", CNY), refund_id="rf-part")
        alliance.refund("m1", "o3")
        suspect = next(
            line for line in alliance.commissions(order_id="o5") if line.account == "affiliate"
        )
        alliance.freeze([suspect.entry_id], reason="checking the coupon")
        alliance.release([suspect.entry_id])
        alliance.record_impressions("c-cpm", affiliate_id="a2", count=2000, batch_id="imp-1")
        alliance.blacklist("network", "192.0.2.77", reason="proxy farm")
        alliance.complain(reason="brand bidding", affiliate_id="a2")
        alliance.enforce("a2", "warn", reason="brand bidding")

        clock.advance(timedelta(days=8))
        alliance.approve_due()
        clock.advance(timedelta(days=2))
        alliance.pay_approved(run_id="run-1")
        # A refund after payment: a clawback, left to the next run.
        alliance.refund("m1", "o1", Money("20.00", CNY), refund_id="rf-late")
        clock.advance(timedelta(days=30))
        alliance.close_period("c-tier", "2026-03")

        # More business, approved and not yet paid.
        renewal = Order(
            order_id="o1-r1",
            merchant_id="m1",
            total=Money("300.00", CNY),
            customer_id="cust-1",
            subscription_id="plan-1",
            renewal=1,
        )
        alliance.record_order(renewal)
        click = _click(alliance, clock, "a2", "c-tier", 7)
        alliance.record_order(
            Order(order_id="o7", merchant_id="m2", total=Money("400.00", CNY)), click_id=click
        )
        alliance.record_order(
            Order(
                order_id="o8", merchant_id="m1", total=Money("90.00", CNY), coupon_codes=["SAVE-5"]
            ),
        )
        alliance.refund("m1", "o8", Money("30.00", CNY))
        # A coupon order without a click waits for review; this one is let through.
        held = [line.entry_id for line in alliance.review_queue() if line.order_id == "o8"]
        assert len(held) == 2
        alliance.release(held)
        _dispatch(alliance)
        clock.advance(timedelta(days=8))
        alliance.approve_due()
        alliance.checkpoint(signing, key_id="sig-1")
        # A last visit: its velocity counts are written when the alliance closes.
        _click(alliance, clock, "a1", "c-flat", 9)
        assert alliance.verify_ledger().ok
    # A dispatcher in another process that stopped while it held its lease.
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO webhook_leases VALUES ('platform', 'hook-platform', 'worker-7', ?)",
            (int(clock.timestamp() * 1000) + 30_000,),
        )
    conn.close()


def self_contained(path: Path) -> None:
    """Fold the write-ahead log into the file, so one file is the whole store."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        conn.execute("PRAGMA journal_mode = DELETE").fetchall()
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


# -- the mutations --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutation:
    """One change to one stored row: deleting it (``column`` None) or editing one column."""

    table: str
    row: str
    column: str | None
    #: ``(change, statement, parameters)`` tried in order until one applies (the next one
    #: when a constraint refuses a value).
    attempts: tuple[tuple[str, str, tuple[Any, ...]], ...]

    def label(self, change: str) -> str:
        where = "the row" if self.column is None else self.column
        return f"{self.table} {self.row} {where}: {change}"


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    keys: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def _tables(path: Path) -> list[_Table]:
    """Every table of the file but SQLite's own, with its rows in rowid (or key) order."""
    conn = sqlite3.connect(path)
    try:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        ]
        found = []
        for name in names:
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            columns = tuple(str(c[1]) for c in info)
            types = tuple(str(c[2]).upper() for c in info)
            keyed = sorted((int(c[5]), str(c[1])) for c in info if int(c[5]))
            try:
                conn.execute(f'SELECT rowid FROM "{name}" LIMIT 1').fetchall()
                keys: tuple[str, ...] = ("rowid",)
            except sqlite3.OperationalError:  # WITHOUT ROWID: the primary key names a row
                keys = tuple(column for _, column in keyed)
            listed = ", ".join(f'"{c}"' for c in columns)
            order = ", ".join(keys)
            rows = tuple(
                tuple(row)
                for row in conn.execute(
                    f'SELECT {", ".join(keys)}, {listed} FROM "{name}" ORDER BY {order}'
                )
            )
            found.append(_Table(name, columns, types, keys, rows))
        return found
    finally:
        conn.close()


def _picked(count: int) -> list[int]:
    """The first, middle and last of ``count`` rows (fewer when there are fewer)."""
    return sorted({0, count // 2, count - 1})[:ROWS_PER_TABLE] if count else []


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _scaled(text: str) -> str:
    value = _number(text)
    assert value is not None
    return str(value * 10) if value else str(value + 1)


_MONEY_WORDS: Final = ("rate", "amount", "take", "share", "total", "mille", "click", "volume")


def _json_edit(text: str) -> str | None:
    """JSON text with one numeric leaf (a money-like one first) made ten times larger."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict | list):
        return None
    leaves: list[tuple[list[Any], Any, Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, dict | list):
                walk(value, [*path, key])
            elif isinstance(value, bool) or value is None:
                continue
            elif isinstance(value, int | float) or (
                isinstance(value, str) and _number(value) is not None
            ):
                leaves.append(([*path, key], node, key))

    walk(document, [])
    if not leaves:
        return None
    leaves.sort(key=lambda leaf: not any(w in str(leaf[0]).lower() for w in _MONEY_WORDS))
    _, node, key = leaves[0]
    value = node[key]
    if isinstance(value, str):
        node[key] = _scaled(value)
    elif value:
        node[key] = value * 10
    else:
        node[key] = value + 1
    return json.dumps(document, separators=(",", ":"))


def _edits(value: Any, declared: str, others: Sequence[Any]) -> list[tuple[str, Any]]:
    """One edit of ``value``: the values to try, best first, each with its description."""
    alternatives = [o for o in others if o is not None and o != value]
    values: list[Any]
    if value is None:
        fallback: Any = {"INTEGER": 1, "REAL": 1.0, "BLOB": b"\x01"}.get(declared, "edited")
        values = [*alternatives[:1], fallback]
    elif isinstance(value, bool | int):
        scaled = value * 10 if abs(value * 10) < 2**63 else value + 1
        first = value + 1 if -1_000_000 < value < 1_000_000 else scaled
        values = [first, scaled or 10, value + 1_000_003]
    elif isinstance(value, float):
        values = [value * 10 if value else 1.0, value + 1.5]
    elif isinstance(value, bytes):
        flipped = bytearray(value)
        flipped[len(flipped) // 2] ^= 0xFF
        return [(f"byte {len(value) // 2} flipped", bytes(flipped))]
    elif _number(str(value)) is not None:
        values = [_scaled(str(value)), str(Decimal(str(value)) + 1)]
    elif len(value) == 3 and value.isalpha() and value.isupper():  # a currency: another one
        values = ["USD" if value != "USD" else "EUR", value + "-x"]
    else:
        edited = _json_edit(value)
        if edited is not None:
            return [("a number in the JSON x10", edited)] + [
                (f"{value[:40]!r} -> {str(v)[:40]!r}", v) for v in [*alternatives[:1], value + "-x"]
            ]
        values = [*alternatives[:1], value + "-x"]
    shown = "NULL" if value is None else repr(value)[:40]
    return [(f"{shown} -> {v!r}"[:90], v) for v in values]


def mutations(path: Path) -> tuple[list[Mutation], set[str]]:
    """Every mutation of the file, and the tables they touch."""
    found: list[Mutation] = []
    touched: set[str] = set()
    for table in _tables(path):
        width = len(table.keys)
        where = " AND ".join(f'"{k}" = ?' if k != "rowid" else "rowid = ?" for k in table.keys)
        for index in _picked(len(table.rows)):
            touched.add(table.name)
            row = table.rows[index]
            ident, values = row[:width], row[width:]
            label = f"row {index + 1}/{len(table.rows)} ({', '.join(map(str, ident))[:60]})"
            delete = f'DELETE FROM "{table.name}" WHERE {where}'
            found.append(Mutation(table.name, label, None, (("deleted", delete, ident),)))
            for position, column in enumerate(table.columns):
                others = [r[width + position] for r in table.rows]
                edits = _edits(values[position], table.types[position], others)
                update = f'UPDATE "{table.name}" SET "{column}" = ? WHERE {where}'
                attempts = tuple((change, update, (new, *ident)) for change, new in edits)
                found.append(Mutation(table.name, label, column, attempts))
    return found, touched


def apply(mutation: Mutation, path: Path) -> str:
    """Make the change with plain ``sqlite3``; the change made (the next value is tried when
    a constraint refuses one)."""
    conn = sqlite3.connect(path)
    try:
        for change, sql, params in mutation.attempts:
            try:
                with conn:
                    changed = conn.execute(sql, params).rowcount
            except sqlite3.IntegrityError:
                continue
            assert changed == 1, mutation.label(change)
            return change
        raise AssertionError(f"no edit applies: {mutation.label('any')}")
    finally:
        conn.close()


# -- running the next payout on a copy ------------------------------------------------------------
NEXT_RUN: Final = START + timedelta(days=NEXT_RUN_AT_DAYS)
#: The next run, by hand (see ``build``): clawbacks of the late refund (20.00 of o1's 300.00)
#: net against the renewal's commission; a2 earns o7's tier commission and o8's net line.
EXPECTED_NEXT: Final[list[Batch]] = [
    # a1: renewal 300.00 x 10% less the 5% take = 28.50; clawback 28.50 x 20/300 = 1.90.
    ("a1", "26.60", CNY),
    # a2: o7 400.00 x 8% (April's first band) = 32.00; o8 90.00 x 10% x 95% = 8.55, less
    # the refund of 30.00 of it (8.55 / 3 = 2.85): 5.70.
    ("a2", "37.70", CNY),
    # boss: 20% of the renewal's 28.50 = 5.70; clawback 5.70 x 20/300 = 0.38.
    ("boss", "5.32", CNY),
]


def _batches(alliance: Alliance) -> list[Batch]:
    return [
        (b.affiliate_id, str(b.amount.amount), b.amount.currency)
        for b in alliance.pay_approved(run_id="next", now=NEXT_RUN)
    ]


def _open(path: Path) -> Alliance:
    return Alliance.open(f"sqlite:///{path}", keys=KEYS, clock=FakeClock(NEXT_RUN))


def next_run(path: Path) -> list[Batch]:
    with _open(path) as alliance:
        return _batches(alliance)


@dataclass(frozen=True)
class Outcome:
    """What a mutated copy did: ``missed`` says why it went unnoticed (None: it did not);
    ``note`` names a refusal other than ``LedgerTampered``."""

    missed: str | None = None
    note: str | None = None


def _refusal(exc: Exception) -> str:
    return f"the run refused with {type(exc).__name__}: {str(exc)[:120]}"


def outcome(path: Path, baseline: list[Batch]) -> Outcome:
    """Whether the mutated copy at ``path`` was noticed, refused or paid what the baseline did.

    Noticed: opening refuses (an ``AffiliateError``), ``verify_ledger()`` reports a problem,
    or the run raises ``LedgerTampered``. Refused: the run raises another ``AffiliateError``
    and pays nothing. Harmless: the run pays exactly what the baseline paid.
    """
    try:
        alliance = _open(path)
    except AffiliateError:
        return Outcome()
    with alliance:
        try:
            report = alliance.verify_ledger()
        except Exception as exc:
            return Outcome(f"verify_ledger raised {type(exc).__name__}: {exc}")
        try:
            batches = _batches(alliance)
        except LedgerTampered:
            return Outcome()
        except Exception as exc:
            note = _refusal(exc)
            if not report.ok:
                return Outcome(note=note)
            if not isinstance(exc, AffiliateError):
                return Outcome(f"verify_ledger ok, {note}")
            refused = True
        else:
            refused = False
    if refused:
        with _open(path) as again, again.store.reader() as tx:
            paid = tx.ledger.has_run("next")
        return Outcome("verify_ledger ok, the refused run was recorded" if paid else None, note)
    if not report.ok or batches == baseline:
        return Outcome()
    return Outcome(f"verify_ledger ok, paid {batches} instead of {baseline}")


# -- the tests ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "alliance.db"
    build(path)
    self_contained(path)
    return path


def _schema_tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        }
    finally:
        conn.close()


def test_the_untouched_file_pays_the_next_run_by_hand(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copyfile(built, copy)
    with _open(copy) as alliance:
        assert alliance.verify_ledger().ok
        first = [(b.affiliate_id, str(b.amount.amount)) for b in alliance.payouts(run_id="run-1")]
    # run-1, by hand: a1 = o1's 28.50 less its partial refund (50/300: 4.75) + o4 600 x 8%
    # (48.00) + o5 500 x 12% (60.00) + the true-up of o4 to 12% (24.00); boss = 5.70 - 0.95;
    # a2 = o6 250 x 5% (12.50) + its 1% bonus (2.50) + 2000 impressions at 3.00 less 5%.
    assert first == [("a1", "155.75"), ("a2", "20.70"), ("boss", "4.75")]
    assert next_run(copy) == EXPECTED_NEXT


def test_every_table_of_the_schema_has_rows_to_tamper_with(built: Path) -> None:
    _, touched = mutations(built)
    assert touched == _schema_tables(built)


def test_every_single_row_edit_or_deletion_is_noticed_or_pays_the_same(
    built: Path, tmp_path: Path
) -> None:
    baseline_copy = tmp_path / "baseline.db"
    shutil.copyfile(built, baseline_copy)
    baseline = next_run(baseline_copy)
    assert baseline == EXPECTED_NEXT
    found, touched = mutations(built)
    assert touched == _schema_tables(built)
    failures: list[str] = []
    notes: list[str] = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = pool.map(lambda job: _judge(built, tmp_path, baseline, *job), enumerate(found))
        for label, result in results:
            if result.missed is not None:
                failures.append(f"{label} -> {result.missed}")
            if result.note is not None:
                notes.append(f"{label} -> {result.note}")
    print(
        f"{len(found)} mutations over {len(touched)} tables; refused otherwise than by "
        f"LedgerTampered ({len(notes)}):",
        *notes,
        sep="\n  ",
    )
    assert not failures, "\n".join(failures)


def _judge(
    built: Path, directory: Path, baseline: list[Batch], n: int, mutation: Mutation
) -> tuple[str, Outcome]:
    """Mutate a copy of the built file and judge it; the mutation's label and the outcome."""
    copy = directory / f"mutated-{n}.db"
    shutil.copyfile(built, copy)
    try:
        change = apply(mutation, copy)
        return mutation.label(change), outcome(copy, baseline)
    finally:
        for suffix in ("", "-wal", "-shm"):
            copy.with_name(copy.name + suffix).unlink(missing_ok=True)
