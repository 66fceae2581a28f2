"""Commission engine costs, each with the baseline it is judged against, in one run.

Run: ``python benchmarks/bench_commission.py [--orders 100000] [--recorded 2000]
[--entries 1000000]``

1. ``calculate`` for many orders over a plan with marginal tiers, category overrides
   and a category cap, plus the platform-take split: µs per order.
2. ``record_order`` on SQLite (attribution, calculation, ledger lines, journal entry,
   one transaction) against a bare SQLite ``INSERT`` + ``COMMIT`` of one row (WAL,
   ``synchronous=NORMAL``; the median of three batches) in the same run; target at most 3x.
   The store checkpoints its WAL on a thread of its own; the bare insert is also
   timed with checkpoints off, for the commit cost alone.
3. ``verify_ledger`` over a journal of ``--entries`` entries in real format, against
   a bare ``hashlib.sha256`` over the same bytes (medians of three runs each); target
   at most 3x.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from affiliate_sdk import Alliance, Campaign, CommissionPlan, LineItem, Money, Order
from affiliate_sdk.commission.calculator import TierInput, calculate, split_commission
from affiliate_sdk.commission.ledger import (
    GENESIS_HASH,
    JournalDraft,
    Posting,
    encode_entry,
)
from affiliate_sdk.commission.tiers import TierState
from affiliate_sdk.testing import FakeClock

PLAN = CommissionPlan.model_validate(
    {
        "tiers": {
            "mode": "marginal",
            "currency": "CNY",
            "bands": [
                {"from": 0, "to": 100000, "rate": "15%"},
                {"from": 100000, "to": 300000, "rate": "20%"},
                {"from": 300000, "rate": "25%"},
            ],
        },
        "overrides": [
            {"name": "beauty", "match": {"category": "cosmetics"}, "rate": "30%"},
            {"name": "furniture", "match": {"category": "furniture"}, "rate": "8%"},
        ],
        "category_caps": {"cosmetics": "30%"},
        "platform_take": "20%",
    }
)
CATEGORIES = ["tea", "cosmetics", "furniture", "teaware", None]


def _orders(count: int) -> list[Order]:
    orders = []
    for n in range(count):
        lines = [
            LineItem(
                sku=f"sku-{(n + k) % 500}",
                category=CATEGORIES[(n + k) % len(CATEGORIES)],
                quantity=1 + (n + k) % 3,
                unit_price=Money(f"{19 + (n * 7 + k * 13) % 400}.90", "CNY"),
            )
            for k in range(1 + n % 4)
        ]
        subtotal = sum((line.unit_price * line.quantity for line in lines), Money.zero("CNY"))
        orders.append(
            Order(order_id=f"SO-{n}", merchant_id="m1", total=subtotal, items=lines, country="CN")
        )
    return orders


def bench_calculate(count: int) -> float:
    orders = _orders(count)
    take = PLAN.platform_take or Decimal(0)
    state = TierState()
    start = time.perf_counter()
    for order in orders:
        result = calculate(PLAN, order, tier=TierInput(state))
        split_commission(result.gross, take)
        state = result.tier_state or state
    return (time.perf_counter() - start) / count


def time_record_order(url: str, count: int) -> float:
    """Seconds per ``record_order`` of generated orders, each by a click of its own."""
    clock = FakeClock(datetime(2026, 11, 1, tzinfo=UTC))
    with Alliance.open(url, keys={"k1": os.urandom(32)}, clock=clock) as alliance:
        alliance.add_campaign(
            Campaign(
                campaign_id="c1",
                merchant_id="m1",
                plan=PLAN,
                landing_domains=["shop.example.com"],
            )
        )
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        clicks = []
        for n in range(count):  # visitors from separate networks, a second apart
            click = alliance.track_click(
                link, ip=f"10.{n % 256}.{n // 256 % 256}.1", user_agent="Mozilla/5.0 (X11)"
            )
            clicks.append(click.click_id)
            clock.advance(timedelta(seconds=1))
        clock.advance(timedelta(minutes=10))  # orders come at a human pace after their clicks
        orders = _orders(count)
        start = time.perf_counter()
        for order, click_id in zip(orders, clicks, strict=True):
            outcome = alliance.record_order(order, click_id=click_id)
        elapsed = (time.perf_counter() - start) / count
        if outcome.verdict.decision != "allow" or not outcome.commissions:  # pragma: no cover
            raise SystemExit(f"the benchmark's orders were not booked plainly: {outcome.verdict}")
        return elapsed


def bench_record_order(count: int, workdir: Path) -> tuple[float, float, float, float]:
    per_order = time_record_order(
        f"sqlite:///{workdir / 'orders.db'}?click_commit=immediate", count
    )
    in_memory = time_record_order("memory://", count)
    bare = bare_insert(workdir / "bare.db", count, autocheckpoint=True)
    bare_quiet = bare_insert(workdir / "bare-quiet.db", count, autocheckpoint=False)
    return per_order, bare, bare_quiet, in_memory


def bare_insert(path: Path, count: int, *, autocheckpoint: bool) -> float:
    """Seconds per autocommitted one-row INSERT (median of three batches).

    Without ``autocheckpoint`` no commit copies the WAL back: the cost of the
    commit alone, as ``record_order`` sees it with its checkpoints off the path.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    if not autocheckpoint:
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, data TEXT NOT NULL)")
    payload = "x" * 200
    runs = []
    for run in range(3):
        start = time.perf_counter()
        for n in range(count):
            conn.execute("INSERT INTO t (id, data) VALUES (?, ?)", (f"o{run}-{n}", payload))
        runs.append((time.perf_counter() - start) / count)
    conn.close()
    return statistics.median(runs)


def bench_verify(entries: int, workdir: Path) -> tuple[float, float]:
    path = workdir / "journal.db"
    with Alliance.open(f"sqlite:///{path}", keys={"k1": os.urandom(32)}) as alliance:
        store = alliance.store
    at = datetime(2026, 11, 1, tzinfo=UTC)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    previous = GENESIS_HASH
    batch = []
    for seq in range(1, entries + 1):
        amount = Money(f"{seq % 997}.{seq % 100:02d}", "CNY")
        draft = JournalDraft(
            f"order/m1/SO-{seq}",
            "commission.booked",
            at + timedelta(seconds=seq),
            [
                Posting("merchant/m1/payable", -amount),
                Posting(f"affiliate/a{seq % 50}/pending", amount),
            ],
            {"lines": [f"line-{seq}"]},
        )
        row = encode_entry(seq, previous, draft)
        previous = row.hash
        batch.append(row)
        if len(batch) == 10_000:
            conn.executemany("INSERT INTO journal VALUES (?, ?, ?, ?)", batch)
            batch.clear()
    conn.executemany("INSERT INTO journal VALUES (?, ?, ?, ?)", batch)
    conn.execute("COMMIT")
    bodies = [row[0] for row in conn.execute("SELECT body FROM journal ORDER BY seq")]
    conn.close()
    del store

    verify_runs = []
    with Alliance.open(f"sqlite:///{path}", keys={"k1": os.urandom(32)}) as alliance:
        for _ in range(3):
            start = time.perf_counter()
            report = alliance.verify_ledger()
            verify_runs.append((time.perf_counter() - start) / entries)
            if not report.ok or report.entries != entries:  # pragma: no cover
                raise SystemExit(f"verification failed: {report}")
    verify = statistics.median(verify_runs)
    sha256 = hashlib.sha256
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for body in bodies:
            sha256(body).digest()
        runs.append((time.perf_counter() - start) / entries)
    return verify, statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="commission engine benchmarks")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--recorded", type=int, default=2_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-commission-"))
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")

    per_order = bench_calculate(args.orders)
    print(f"calculate + split, {args.orders:,} orders:      {per_order * 1e6:8.2f} us/order")

    recorded, bare, bare_quiet, in_memory = bench_record_order(args.recorded, workdir)
    ratio = recorded / bare
    verdict = "met" if ratio <= 3 else "MISSED"
    print(
        f"record_order on SQLite, {args.recorded:,} orders:  {recorded * 1e6:8.2f} us/order"
        f"  bare INSERT+COMMIT {bare * 1e6:.2f} us  ratio {ratio:.2f}x (target <= 3x {verdict})"
    )
    print(
        f"  same, bare INSERT+COMMIT without checkpoints: {bare_quiet * 1e6:.2f} us"
        f"  ratio {recorded / bare_quiet:.2f}x"
    )
    print(f"record_order on memory://, same orders:   {in_memory * 1e6:8.2f} us/order")

    verify, sha = bench_verify(args.entries, workdir)
    ratio = verify / sha
    verdict = "met" if ratio <= 3 else "MISSED"
    print(
        f"verify_ledger, {args.entries:,} entries:      {verify * 1e6:8.2f} us/entry"
        f"  bare sha256 {sha * 1e6:.2f} us  ratio {ratio:.2f}x (target <= 3x {verdict})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
