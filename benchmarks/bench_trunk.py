"""Costs of the rebuilt trunk, each against a baseline measured in the same run.

Run (two invocations, each some minutes; the figures of one never mix with the other's):
``python benchmarks/bench_trunk.py --parts 1,2 [--orders 1000] [--rounds 3]
[--stages 1000,10000,100000] [--stores memory,sqlite] [--batch 500] [--pairs 300]``
and ``python benchmarks/bench_trunk.py --parts 3,4,5 [--api-orders 10000]
[--mid-lines 100000] [--lines 1000000] [--window-hours 2] [--pairs 300]``.

1. ``record_order`` on SQLite against a floor script. The floor is found, not
   assumed: one simple attributed order is recorded on a probe file and every
   table is diffed before and after it. The floor then writes those same rows
   (the same sizes; keys made unique per order; rows the order replaced are
   replaced) to a fresh file with the same schema for those tables, with plain
   ``sqlite3``: WAL, ``synchronous=NORMAL``, one transaction per order, one
   ``executemany`` per table. Rounds alternate store and floor; medians.
   Also the store round trips of that one order: every repository call (a
   counting proxy around the store, its counters included) and every SQL
   statement on the unit of work's connection (``sqlite3`` trace callback).
2. Per-order ``record_order`` at each of ``--stages`` existing orders, on
   ``memory://`` and on SQLite; the history is recorded through the public API
   (a click per order, the order ten minutes later), one store per stage, all
   built before any is timed; the stages then take turns (``--rounds`` each way
   round), so the process's heap and the machine's load fall on all alike; the
   ratio last / first.
3. An order judged ``review`` (its lines frozen by ``conversion.too_fast``: the
   order 3 s after its click) against an allowed one (30 s after its click),
   interleaved one by one: at every stage of part 2 and, with ``--parts 3``, at
   the API-built history, ``--mid-lines`` and ``--lines`` ledger lines.
   Affiliates change every ten orders on both sides, so no affiliate is graded.
4. At ``--mid-lines`` and ``--lines``: ``approve_due`` for the lines that fall
   due in one window of ``--window-hours``, ``reconcile`` and ``invoices`` for
   a window of that length (and of twice it at ``--lines``): time (median of
   three for the reads) and the peak of Python allocations (``tracemalloc``, in
   a separate run; ``approve_due`` traced on the next window). ``approve_due``
   at ``--mid-lines`` runs on a backup of the file, so the same windows are
   still due at ``--lines``.
5. ``verify_ledger`` against a bare ``hashlib.sha256`` over the same journal
   bytes (held in memory): the chain alone (``commission.journal.verify_chain``
   over those bytes) and the whole ``verify_ledger`` with its projection
   replay, each per entry.

The large ledger: ``--api-orders`` orders through the API, then ``fill_ledger``
books orders with the order service's own pricing (``price_order``, a click
id of its own per order, the clock advanced 2 s per order), encodes each
journal entry with ``commission.journal.encode_entry`` chained under the
alliance's journal key (lines and the order's money, as ``record_order``
writes them) and hands the entries, lines and order rows to the repositories,
10,000 orders per transaction. It skips attribution, the fraud judgement and
the webhook events, which add nothing to the ledger; ``verify_ledger`` proves
the book it leaves. Clicks commit in their unit of work on SQLite
(``click_commit=immediate``), so no writer thread shares the timings. The
machine and its load average are printed with the figures.
"""

from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import importlib
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from affiliate_sdk import Alliance, Campaign, CommissionPlan, Money, Order
from affiliate_sdk._services.projections import Proof, line_doc, order_doc, order_key
from affiliate_sdk.antifraud.verdicts import ALLOW
from affiliate_sdk.commission.booking import Party
from affiliate_sdk.commission.journal import (
    GENESIS_HASH,
    ChainKey,
    JournalDraft,
    encode_entry,
    verify_chain,
)
from affiliate_sdk.ids import new_id
from affiliate_sdk.models import Credit, OrderOutcome
from affiliate_sdk.storage import open_store
from affiliate_sdk.storage.contract import CounterRepo, Store, UnitOfWork
from affiliate_sdk.storage.rows import JournalRow, LineRow, OrderRow
from affiliate_sdk.testing import FakeClock

_T = TypeVar("_T")

START: Final = datetime(2026, 11, 1, tzinfo=UTC)
PLAN: Final = CommissionPlan(rate="10%")
DOMAIN: Final = "shop.example.com"
UA: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
AFFILIATES: Final = tuple(f"a{n}" for n in range(20))
#: Orders per step of the history: their clicks a second apart, then the orders.
CHUNK: Final = 1000
#: The probe order's id: a token of fixed length the floor replaces in every value.
TOKEN: Final = "FLOOR-000000000"
#: Orders per transaction when the ledger is filled past the API-built history.
FILL_BATCH: Final = 10_000
#: Rows handed to the repositories at once while filling.
FILL_FLUSH: Final = 1000
HOUR: Final = timedelta(hours=1)


def _order(order_id: str, n: int) -> Order:
    return Order(
        order_id=order_id, merchant_id="m1", total=Money(f"{50 + n % 97}.{n % 100:02d}", "CNY")
    )


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def _verdict(ratio: float, target: float) -> str:
    return f"target <= {target:g}x {'met' if ratio <= target else 'MISSED'}"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def _traced(call: Callable[[], _T]) -> tuple[_T, int]:
    """The call's result and the peak of Python allocations during it (bytes)."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def _fresh(path: Path) -> Path:
    """``path``, with any database file (and its WAL) there removed."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def _timed(call: Callable[[], _T]) -> tuple[_T, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


# -- counting store round trips --------------------------------------------------------------
class Tally:
    """Repository calls and SQL statements while ``active``."""

    def __init__(self) -> None:
        self.active = False
        self.calls: collections.Counter[str] = collections.Counter()
        self.sql: collections.Counter[str] = collections.Counter()
        self.statements: list[str] = []

    def trace(self, statement: str) -> None:
        if self.active:
            self.statements.append(statement)


class _CountingRepo:
    """Forwards to a repository, counting each method call and the SQL it runs."""

    def __init__(self, name: str, repo: object, tally: Tally) -> None:
        self._name = name
        self._repo = repo
        self._tally = tally

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._repo, attr)
        if not callable(value):
            return value
        tally, key = self._tally, f"{self._name}.{attr}"

        def counted(*args: Any, **kwargs: Any) -> Any:
            if not tally.active:
                return value(*args, **kwargs)
            before = len(tally.statements)
            result = value(*args, **kwargs)
            tally.calls[key] += 1
            tally.sql[key] += len(tally.statements) - before
            return result

        return counted


class _CountingUnitOfWork:
    def __init__(self, tx: UnitOfWork, tally: Tally) -> None:
        self._tx = tx
        self._tally = tally

    def __getattr__(self, attr: str) -> Any:
        return _CountingRepo(attr, getattr(self._tx, attr), self._tally)


class CountingStore:
    """A ``Store`` whose units of work count their repository calls."""

    def __init__(self, inner: Store, tally: Tally) -> None:
        self.inner = inner
        self.scheme = inner.scheme
        self._tally = tally
        self._counters = cast(CounterRepo, _CountingRepo("counters", inner.counters, tally))

    @property
    def counters(self) -> CounterRepo:
        return self._counters

    @property
    def chains(self) -> int:
        return self.inner.chains

    @contextmanager
    def transaction(self, *, chain: int | None = None) -> Iterator[UnitOfWork]:
        with self.inner.transaction(chain=chain) as tx:
            yield cast(UnitOfWork, _CountingUnitOfWork(tx, self._tally))

    @contextmanager
    def reader(self) -> Iterator[UnitOfWork]:
        with self.inner.reader() as tx:
            yield cast(UnitOfWork, _CountingUnitOfWork(tx, self._tally))

    def close(self) -> None:
        self.inner.close()


def _sqlite_connection(store: Store) -> sqlite3.Connection | None:
    """The calling thread's connection of an SQLite store (its private pool), else None."""
    connections = getattr(store, "_conns", None)
    return None if connections is None else cast(sqlite3.Connection, connections.current())


# -- a shop that records orders --------------------------------------------------------------
class Shop:
    """An alliance on a fake clock with one campaign; orders come each by a click of its own."""

    def __init__(self, url: str, keys: dict[str, bytes], *, tally: Tally | None = None) -> None:
        self.clock = FakeClock(START)
        store = open_store(url)
        self.store: Store = store if tally is None else CountingStore(store, tally)
        self.raw_store = store
        self.alliance = Alliance(self.store, keys, clock=self.clock)
        self.alliance.add_campaign(
            Campaign(campaign_id="c1", merchant_id="m1", plan=PLAN, landing_domains=[DOMAIN])
        )
        self._links: dict[str, str] = {}
        self.orders = 0
        self.clicks = 0
        self.unexpected: collections.Counter[str] = collections.Counter()

    def close(self) -> None:
        self.alliance.close()

    def click(self, affiliate_id: str) -> str:
        link = self._links.get(affiliate_id)
        if link is None:
            link = self._links[affiliate_id] = self.alliance.create_link(
                affiliate_id=affiliate_id, campaign_id="c1", landing_url=f"https://{DOMAIN}/"
            )
        n = self.clicks
        self.clicks += 1
        ip = f"10.{n % 256}.{n // 256 % 256}.{1 + n // 65536 % 250}"  # a /24 per visitor
        return self.alliance.track_click(link, ip=ip, user_agent=UA).click_id

    def record(self, click_id: str, order_id: str | None = None) -> OrderOutcome:
        n = self.orders
        self.orders += 1
        order = _order(order_id or f"o{n}", n)
        return self.alliance.record_order(order, click_id=click_id)

    def _check(self, outcome: OrderOutcome, decision: str, status: str) -> bool:
        fine = (
            outcome.verdict.decision == decision
            and bool(outcome.commissions)
            and all(line.status == status for line in outcome.commissions)
        )
        if not fine:
            codes = ",".join(r.code for r in outcome.verdict.reasons) or "-"
            self.unexpected[f"{outcome.verdict.decision} ({codes}) where {decision}"] += 1
        return fine

    def _clicks(self, count: int) -> list[str]:
        clicks = []
        for k in range(count):
            clicks.append(self.click(AFFILIATES[(self.clicks + k) % len(AFFILIATES)]))
            self.clock.advance(timedelta(seconds=1))
        self.clock.advance(timedelta(minutes=10))  # orders come at a human pace after clicks
        return clicks

    def grow(self, total: int) -> None:
        """Record orders through the API until ``total`` orders exist."""
        while self.orders < total:
            for click_id in self._clicks(min(CHUNK, total - self.orders)):
                self._check(self.record(click_id), "allow", "pending")
                self.clock.advance(timedelta(seconds=1))

    def timed(self, count: int) -> float:
        """Seconds per ``record_order`` of ``count`` more allowed orders (clicks untimed)."""
        elapsed = 0.0
        for click_id in self._clicks(count):
            start = time.perf_counter()
            outcome = self.record(click_id)
            elapsed += time.perf_counter() - start
            self._check(outcome, "allow", "pending")
            self.clock.advance(timedelta(seconds=1))
        return elapsed / count

    def pairs(self, count: int, tag: str) -> tuple[float, float, int]:
        """Seconds per allowed and per frozen order, interleaved; how many came out as meant."""
        allowed = frozen = 0.0
        fine = 0
        for i in range(count):
            click_id = self.click(f"pa{tag}-{i // 10}")
            self.clock.advance(timedelta(seconds=30))
            start = time.perf_counter()
            outcome = self.record(click_id)
            allowed += time.perf_counter() - start
            fine += self._check(outcome, "allow", "pending")
            click_id = self.click(f"pf{tag}-{i // 10}")
            self.clock.advance(timedelta(seconds=3))  # too fast for a person: review
            start = time.perf_counter()
            outcome = self.record(click_id)
            frozen += time.perf_counter() - start
            fine += self._check(outcome, "review", "frozen")
        return allowed / count, frozen / count, fine


def _order_io() -> Any:
    """The order service's pricing helpers (``price_order``, ``line_measures``,
    ``fingerprint``), wherever the service keeps them."""
    for name in ("affiliate_sdk._services._order_io", "affiliate_sdk._services.orders"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if all(hasattr(module, f) for f in ("price_order", "line_measures", "fingerprint")):
            return module
    raise SystemExit("the order service's booking helpers were not found")


def _chain_key(alliance: Alliance) -> ChainKey:
    """The journal key of an alliance (held by its service context)."""
    return alliance._services.ctx.chain


# -- 1. the floor ----------------------------------------------------------------------------
class Floor:
    """The rows one order writes, as plain ``sqlite3`` writes them."""

    def __init__(
        self, probe: Path, written: dict[str, list[tuple[Any, ...]]], replaced: set[str]
    ) -> None:
        conn = sqlite3.connect(probe)
        self.schema = [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN "
                f"({','.join('?' * len(written))}) ORDER BY type = 'index', name",
                list(written),
            )
        ]
        self.plan: list[tuple[str, list[tuple[Any, ...]], list[int], list[int]]] = []
        for table, rows in sorted(written.items()):
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            names = [column[1] for column in info]
            pks = [column for column in info if column[5]]
            rowid = [
                i
                for i, column in enumerate(info)
                if len(pks) == 1 and column[5] and column[2].upper() == "INTEGER"
            ]
            unique = self._unique_columns(conn, table, names)
            verb = "INSERT OR REPLACE" if table in replaced else "INSERT"
            sql = f"{verb} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            keyed = [] if table in replaced else [names.index(name) for name in unique]
            self.plan.append((sql, rows, [] if table in replaced else rowid, keyed))
        conn.close()

    @staticmethod
    def _unique_columns(conn: sqlite3.Connection, table: str, names: list[str]) -> set[str]:
        """The last column of every unique key of ``table`` (primary key and unique indexes)."""
        unique: set[str] = set()
        for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
            if index[2]:
                columns = conn.execute(f"PRAGMA index_info({index[1]})").fetchall()
                if columns:
                    unique.add(names[columns[-1][1]])
        return unique

    def rows_for(self, n: int) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """The statements and rows of order ``n``: the probe's, with keys of its own."""
        token, new = TOKEN.encode(), f"FLOOR-{n:09d}".encode()
        out = []
        for sql, rows, rowid, keyed in self.plan:
            made = []
            for row in rows:
                values = list(row)
                for i, value in enumerate(values):
                    if isinstance(value, int) and i in keyed:
                        values[i] = value + n
                        continue
                    if isinstance(value, str):
                        changed: Any = value.replace(TOKEN, new.decode())
                    elif isinstance(value, bytes):
                        changed = value.replace(token, new)
                    else:
                        continue
                    if i in keyed and changed == value and len(value) >= 9:
                        changed = value[:-9] + f"{n:09d}"
                    values[i] = changed
                for i in rowid:
                    values[i] = None
                made.append(tuple(values))
            out.append((sql, made))
        return out

    def open(self, path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(_fresh(path), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute("PRAGMA synchronous = NORMAL")
        for statement in self.schema:
            conn.execute(statement)
        return conn

    @staticmethod
    def run(conn: sqlite3.Connection, orders: Sequence[list[tuple[str, list[Any]]]]) -> float:
        """Seconds per order: one transaction each, one ``executemany`` per table."""
        start = time.perf_counter()
        for statements in orders:
            conn.execute("BEGIN")
            for sql, rows in statements:
                conn.executemany(sql, rows)
            conn.execute("COMMIT")
        return (time.perf_counter() - start) / len(orders)


def _snapshot(path: Path) -> dict[str, collections.Counter[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    found = {t: collections.Counter(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    conn.close()
    return found


def probe_order(
    workdir: Path, keys: dict[str, bytes]
) -> tuple[dict[str, list[tuple[Any, ...]]], set[str], Tally, Tally]:
    """Record one simple order on a probe file: the rows it wrote and its round trips
    (on SQLite, then on memory)."""
    path = _fresh(workdir / "probe.db")
    tally = Tally()
    shop = Shop(f"sqlite:///{path}?click_commit=immediate", keys, tally=tally)
    clicks = [shop.click(AFFILIATES[0]) for _ in range(2)]
    shop.clock.advance(timedelta(minutes=10))
    shop.record(clicks[0])  # the first order of the affiliate sets up its history rows
    shop.clock.advance(timedelta(seconds=1))
    before = _snapshot(path)
    conn = _sqlite_connection(shop.raw_store)
    if conn is not None:
        conn.set_trace_callback(tally.trace)
    tally.active = True
    shop.record(clicks[1], order_id=TOKEN)
    tally.active = False
    if conn is not None:
        conn.set_trace_callback(None)
    shop.clock.advance(timedelta(seconds=2))
    shop.close()
    after = _snapshot(path)
    written: dict[str, list[tuple[Any, ...]]] = {}
    replaced: set[str] = set()
    for table, rows in after.items():
        new = rows - before.get(table, collections.Counter())
        if new:
            written[table] = list(new.elements())
            if before.get(table, collections.Counter()) - rows:
                replaced.add(table)

    memory = Tally()
    mshop = Shop("memory://", keys, tally=memory)
    clicks = [mshop.click(AFFILIATES[0]) for _ in range(2)]
    mshop.clock.advance(timedelta(minutes=10))
    mshop.record(clicks[0])
    mshop.clock.advance(timedelta(seconds=1))
    memory.active = True
    mshop.record(clicks[1], order_id=TOKEN)
    memory.active = False
    mshop.close()
    return written, replaced, tally, memory


def bench_floor(workdir: Path, keys: dict[str, bytes], orders: int, rounds: int) -> None:
    print("\n== 1. record_order on SQLite against a floor script ==")
    written, replaced, tally, memory = probe_order(workdir, keys)
    print("rows one simple attributed order writes (diff of the probe file):")
    for table, rows in sorted(written.items()):
        size = statistics.mean(sum(len(str(v)) for v in row if v is not None) for row in rows)
        how = "replaced" if table in replaced else "inserted"
        print(f"  {table:16} {len(rows)} row(s) {how}, ~{size:,.0f} bytes each")
    floor = Floor(workdir / "probe.db", written, replaced)
    total = sum(len(rows) for _, rows, _, _ in floor.plan)
    print(f"  floor: {total} rows in {len(floor.plan)} executemany calls, one transaction")

    calls, statements = sum(tally.calls.values()), len(tally.statements)
    hits = sum(1 for key in tally.calls if tally.sql[key])
    ok = "met" if calls <= 8 else "MISSED"
    print(
        f"store round trips for that order: {calls} repository calls (target <= 8 {ok}), "
        f"{hits} distinct methods ran SQL; {statements} SQL statements in all"
    )
    for key, count in sorted(tally.calls.items()):
        print(f"    {key:28} {count} call(s), {tally.sql[key]} SQL statement(s)")
    control = [s.split()[0] for s in tally.statements]
    print(
        "    statements by kind: "
        + ", ".join(f"{k} {v}" for k, v in collections.Counter(control).most_common())
    )
    print(f"  on memory://: {sum(memory.calls.values())} repository calls")

    shop = Shop(f"sqlite:///{_fresh(workdir / 'orders.db')}?click_commit=immediate", keys)
    conn = floor.open(workdir / "floor.db")
    prepared = [floor.rows_for(n) for n in range((rounds + 1) * orders)]
    shop.timed(min(orders, 100))  # warm both
    Floor.run(conn, prepared[:orders])
    store_runs, floor_runs = [], []
    for r in range(1, rounds + 1):
        store_runs.append(shop.timed(orders))
        floor_runs.append(Floor.run(conn, prepared[r * orders : (r + 1) * orders]))
    conn.close()
    shop.close()
    store, bare = statistics.median(store_runs), statistics.median(floor_runs)
    print(
        f"record_order, {orders:,} orders x {rounds} rounds: {_us(store)} per order; "
        f"floor {_us(bare)}; ratio {store / bare:.2f}x ({_verdict(store / bare, 4)})"
    )
    print(
        "  rounds (store / floor, µs): "
        + ", ".join(
            f"{s * 1e6:.0f}/{f * 1e6:.0f}" for s, f in zip(store_runs, floor_runs, strict=True)
        )
    )
    if shop.unexpected:
        print(f"  unexpected outcomes: {dict(shop.unexpected)}")


# -- 2 and 3. per-order cost as the history grows, frozen against allowed -------------------
def bench_stages(
    shops: dict[int, Shop], label: str, *, batch: int, rounds: int, pairs: int
) -> dict[int, float]:
    """Per-order cost at each stage (a shop holding that many orders; every shop is built
    first and they take turns, so the process's heap and the machine's load are the same for
    all); frozen against allowed at each stage."""
    for stage, shop in shops.items():
        start = time.perf_counter()
        before = shop.orders
        shop.grow(stage)
        grown = shop.orders - before
        build = time.perf_counter() - start
        print(f"  {label:7} {stage:>9,} orders built at {build / grown * 1e3:.2f} ms per order "
              f"with its click; {_load()}")  # fmt: skip
    order = list(shops)
    runs: dict[int, list[float]] = {stage: [] for stage in order}
    for turn in range(rounds * 2):  # each stage measured in every position of the turn
        for stage in order if turn % 2 == 0 else order[::-1]:
            runs[stage].append(shops[stage].timed(batch))
    costs = {stage: statistics.median(runs[stage]) for stage in order}
    for stage in order:
        allowed, frozen, fine = shops[stage].pairs(pairs, f"{label}{stage}")
        print(
            f"  {label:7} {stage:>9,} orders: record_order {_us(costs[stage])} "
            f"(turns {', '.join(f'{r * 1e6:.0f}' for r in runs[stage])}); {_load()}"
        )
        print(
            f"  {'':7} {'':>9}  frozen {_us(frozen)} vs allowed {_us(allowed)}: "
            f"{frozen / allowed:.2f}x ({_verdict(frozen / allowed, 2)}); "
            f"{fine}/{2 * pairs} outcomes as meant"
        )
    first, last = order[0], order[-1]
    ratio = costs[last] / costs[first]
    print(
        f"  {label}: per-order cost at {last:,} / at {first:,} = {ratio:.2f} "
        f"({_verdict(ratio, 1.2)})"
    )
    for shop in shops.values():
        if shop.unexpected:
            print(f"  {label}: unexpected outcomes: {dict(shop.unexpected)}")
    return costs


# -- filling the ledger past the API-built history -------------------------------------------
def _count(path: Path, sql: str, params: Sequence[object] = ()) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


def fill_ledger(shop: Shop, path: Path, target_lines: int) -> None:
    """Book orders with the order service's own pricing until the ledger holds
    ``target_lines`` lines (see the module docstring)."""
    io = _order_io()
    key = _chain_key(shop.alliance)
    have = _count(path, "SELECT count(*) FROM lines")
    missing = target_lines - have
    if missing <= 0:
        return
    start = time.perf_counter()
    while missing > 0:
        with shop.alliance.store.transaction() as tx:
            head = tx.journal.head()
            seq, previous = (0, GENESIS_HASH) if head is None else (head.seq, head.hash)
            proof = Proof(tx.journal, key)
            view = shop.alliance.catalog.view("m1", "c1", shop.clock.timestamp())
            entries: list[JournalRow] = []
            lines: list[LineRow] = []
            orders: list[OrderRow] = []
            for _ in range(min(FILL_BATCH, missing)):
                shop.clock.advance(timedelta(seconds=2))
                seq += 1
                entry, booked, order = _book(
                    shop, tx, proof, io=io, view=view, key=key, seq=seq, previous=previous
                )
                previous = entry.hash
                entries.append(entry)
                lines += booked
                orders.append(order)
                missing -= len(booked)
                if len(entries) == FILL_FLUSH:
                    _flush(tx, entries, lines, orders)
            _flush(tx, entries, lines, orders)
    elapsed = time.perf_counter() - start
    booked_lines = target_lines - have
    print(
        f"  filled {booked_lines:,} lines in {elapsed:.0f} s ({elapsed / booked_lines * 1e6:.0f} "
        f"µs per order): price_order, encode_entry, {FILL_BATCH:,} orders per transaction"
    )


def _flush(
    tx: UnitOfWork, entries: list[JournalRow], lines: list[LineRow], orders: list[OrderRow]
) -> None:
    tx.journal.append(entries)
    tx.ledger.append(lines)
    for order in orders:
        tx.orders.insert(order)
    entries.clear()
    lines.clear()
    orders.clear()


def _book(
    shop: Shop,
    tx: UnitOfWork,
    proof: Proof,
    *,
    io: Any,
    view: Any,
    key: ChainKey,
    seq: int,
    previous: bytes,
) -> tuple[JournalRow, list[LineRow], OrderRow]:
    """One order priced and booked as ``record_order`` books an order attributed to a click:
    its journal entry (lines and the order's money), its lines and its order row."""
    alliance, now = shop.alliance, shop.clock.now()
    now_ms = int(now.timestamp() * 1000)
    n = shop.orders
    shop.orders += 1
    order = _order(f"o{n}", n)
    affiliate_id = AFFILIATES[n % len(AFFILIATES)]
    click_id = new_id(now_ms - 1_600_000)
    booking = io.price_order(
        tx,
        alliance.catalog,
        proof,
        order=order,
        version=view.plan_at(now),
        timezone=view.campaign.timezone,
        parties=[(Party(affiliate_id, "c1", "m1", click_id), Decimal(1))],
        placed_at=now,
        now_ms=now_ms,
        fx=None,
    )
    if booking.totals or not booking.lines:  # pragma: no cover
        raise SystemExit("the fill books orders of a flat-rate plan only")
    lines = [LineRow(b.line, io.line_measures(b.measures), seq) for b in booking.lines]
    row = OrderRow(
        "m1", order.order_id, io.fingerprint(order), "CNY", order.total.to_minor(), 0,
        now_ms, now_ms, None, None, "",
    )  # fmt: skip
    commissions = [r.line for r in lines]
    at = commissions[0].created_at
    draft = JournalDraft(
        booking.event_id,
        "commission.booked",
        at,
        booking.postings,
        {"lines": [line.entry_id for line in commissions]},
        {
            "lines": {r.line.entry_id: line_doc(r) for r in lines},
            "orders": {order_key("m1", order.order_id): order_doc(row)},
        },
    )
    body, tag = encode_entry(seq, previous, draft, key)
    credit = Credit.model_construct(
        affiliate_id=affiliate_id,
        campaign_id="c1",
        click_id=click_id,
        weight=Decimal(1),
        clicked_at=now - timedelta(seconds=1600),
        signal="click",
        coupon_code=None,
    )
    outcome = OrderOutcome.model_construct(  # the parts are validated models already
        merchant_id="m1",
        order_id=order.order_id,
        total=order.total,
        placed_at=now,
        credits=[credit],
        commissions=commissions,
        verdict=ALLOW,
        breakdown=list(booking.items),
        notes=[],
        model=None,
        touches=[],
    )
    entry = JournalRow(seq, draft.event_id, int(at.timestamp() * 1000), body, tag, 0, seq)
    return entry, lines, row._replace(outcome_json=outcome.model_dump_json(), seq=seq)


# -- 4. windows ------------------------------------------------------------------------------
def _window_reads(alliance: Alliance, path: Path, hours: float, label: str) -> None:
    for span in (hours, 2 * hours) if label == "large" else (hours,):
        start, end = START + HOUR, START + HOUR + span * HOUR
        entries = _count(
            path,
            "SELECT count(*) FROM journal WHERE at_ms >= ? AND at_ms < ?",
            (int(start.timestamp() * 1000), int(end.timestamp() * 1000)),
        )
        calls: tuple[tuple[str, Callable[..., object]], ...] = (
            ("reconcile", alliance.ledger.reconcile),
            ("invoices", alliance.ledger.invoices),
        )
        for name, report in calls:
            call = functools.partial(report, start=start, end=end)
            runs = [_timed(call)[1] for _ in range(3)]
            _, peak = _traced(call)
            took = statistics.median(runs)
            print(
                f"    {name:10} {span:g} h window ({entries:,} entries): {took * 1e3:8.1f} ms "
                f"({took / max(entries, 1) * 1e6:.1f} µs/entry), peak {peak / 2**20:.1f} MiB"
            )


def _approve_windows(alliance: Alliance, hours: float) -> None:
    hold = timedelta(days=PLAN.hold_days)
    window = hours * HOUR
    first = START + hold + window
    approved, took = _timed(lambda: alliance.review.approve_due(first))
    traced, peak = _traced(lambda: alliance.review.approve_due(first + window))
    print(
        f"    approve_due {hours:g} h of due lines ({len(approved):,} lines): "
        f"{took * 1e3:8.1f} ms ({took / max(len(approved), 1) * 1e6:.1f} µs/line); next window "
        f"({len(traced):,} lines) peak {peak / 2**20:.1f} MiB"
    )


def bench_windows(shop: Shop, path: Path, keys: dict[str, bytes], hours: float, label: str) -> None:
    lines = _count(path, "SELECT count(*) FROM lines")
    entries = _count(path, "SELECT count(*) FROM journal")
    print(f"  at {lines:,} ledger lines, {entries:,} journal entries:")
    _window_reads(shop.alliance, path, hours, label)
    if label == "large":
        _approve_windows(shop.alliance, hours)
        return
    copy = _fresh(path.with_name(f"{path.stem}-copy.db"))
    source = sqlite3.connect(path)
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    clock = FakeClock(shop.clock.now())
    with Alliance.open(f"sqlite:///{copy}", keys=keys, clock=clock) as alliance:
        _approve_windows(alliance, hours)
    _fresh(copy)


# -- 5. verify_ledger ------------------------------------------------------------------------
def bench_verify(shop: Shop, path: Path, rounds: int, *, whole: int) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    links: list[tuple[bytes, bytes]] = conn.execute(
        "SELECT body, hash FROM journal ORDER BY seq"
    ).fetchall()
    conn.close()
    key = _chain_key(shop.alliance)
    size = sum(len(body) for body, _ in links)
    sha256 = hashlib.sha256
    chain_runs, sha_runs = [], []
    for _ in range(rounds):
        (checked, _), took = _timed(lambda: verify_chain(links, key))
        if checked != len(links):  # pragma: no cover
            raise SystemExit(f"the chain verified {checked} of {len(links)} entries")
        chain_runs.append(took / len(links))
        start = time.perf_counter()
        for body, _ in links:
            sha256(body).digest()
        sha_runs.append((time.perf_counter() - start) / len(links))
    chain, bare = statistics.median(chain_runs), statistics.median(sha_runs)
    print(
        f"  {len(links):,} entries ({size / len(links):,.0f} bytes each): bare sha256 "
        f"{_us(bare)} per entry"
    )
    print(
        f"    verify_chain           {_us(chain)} per entry: {chain / bare:.2f}x "
        f"({_verdict(chain / bare, 3)})"
    )
    if whole <= 0:
        return
    whole_runs = []
    for _ in range(whole):
        report, took = _timed(shop.alliance.ledger.verify_ledger)
        if not report.ok or report.entries != len(links):  # pragma: no cover
            raise SystemExit(f"verification failed: {report}")
        whole_runs.append(took / len(links))
    total = statistics.median(whole_runs)
    print(
        f"    verify_ledger (whole)  {_us(total)} per entry: {total / bare:.2f}x bare sha256 "
        f"({total * len(links):.1f} s; {whole} run(s); the report is ok)"
    )


# -- main ------------------------------------------------------------------------------------
def _machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cores ({model}), sqlite {sqlite3.sqlite_version}"
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="costs of the trunk against same-run baselines")
    parser.add_argument(
        "--parts", default="1,2", help="1,2: floor and stages; 3,4,5: the large ledger"
    )
    parser.add_argument("--orders", type=int, default=1000, help="orders per round in part 1")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement")
    parser.add_argument("--stages", default="1000,10000,100000", help="existing orders, part 2")
    parser.add_argument("--stores", default="memory,sqlite", help="stores of part 2")
    parser.add_argument("--batch", type=int, default=500, help="orders timed per round, part 2")
    parser.add_argument("--pairs", type=int, default=300, help="frozen/allowed pairs, part 3")
    parser.add_argument(
        "--api-orders", type=int, default=10_000, help="large ledger: orders through the API"
    )
    parser.add_argument(
        "--mid-lines", type=int, default=100_000, help="large ledger: the smaller size"
    )
    parser.add_argument("--lines", type=int, default=1_000_000, help="large ledger: its size")
    parser.add_argument("--window-hours", type=float, default=2.0, help="window of part 4")
    parser.add_argument(
        "--verify-runs", type=int, default=1, help="whole verify_ledger runs (0: none)"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    return parser.parse_args(argv)


def run_stages(args: argparse.Namespace, workdir: Path, keys: dict[str, bytes]) -> None:
    stages = sorted(int(s) for s in args.stages.split(","))
    print("\n== 2 (and 3). per-order cost as the history grows; frozen against allowed ==")
    for store in args.stores.split(","):
        shops: dict[int, Shop] = {}
        for stage in stages:
            if store == "memory":
                shops[stage] = Shop("memory://", keys)
            else:
                path = _fresh(workdir / f"history-{stage}.db")
                shops[stage] = Shop(f"sqlite:///{path}?click_commit=immediate", keys)
        bench_stages(shops, store, batch=args.batch, rounds=args.rounds, pairs=args.pairs)
        for shop in shops.values():
            shop.close()
        del shops


def run_large(args: argparse.Namespace, workdir: Path, keys: dict[str, bytes]) -> None:
    parts = {int(p) for p in args.parts.split(",")}
    path = _fresh(workdir / "ledger.db")
    shop = Shop(f"sqlite:///{path}?click_commit=immediate", keys)
    print(f"\n== the large ledger: {args.api_orders:,} orders through the API, then filled ==")
    _, took = _timed(lambda: shop.grow(args.api_orders))
    rate = took / max(shop.orders, 1)
    print(
        f"  {shop.orders:,} orders with their clicks through the API in {took:.0f} s "
        f"({rate * 1e3:.2f} ms per order): {args.lines:,} lines that way would take "
        f"{rate * args.lines / 60:.0f} min, so the rest is filled (module docstring)"
    )
    sizes = [("at the API-built history", None), ("small", args.mid_lines), ("large", args.lines)]
    for label, lines in sizes:
        if lines is not None:
            fill_ledger(shop, path, lines)
        have = _count(path, "SELECT count(*) FROM lines")
        print(f"\n-- {have:,} ledger lines --")
        if 3 in parts:
            allowed, frozen, fine = shop.pairs(args.pairs, f"{have}")
            print(
                f"  frozen {_us(frozen)} vs allowed {_us(allowed)}: {frozen / allowed:.2f}x "
                f"({_verdict(frozen / allowed, 2)}); {fine}/{2 * args.pairs} as meant; {_load()}"
            )
        if lines is None:
            continue
        if 5 in parts:
            bench_verify(shop, path, args.rounds, whole=args.verify_runs)
        if 4 in parts:
            bench_windows(shop, path, keys, args.window_hours, label)
    if shop.unexpected:
        print(f"  unexpected outcomes: {dict(shop.unexpected)}")
    shop.close()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    parts = {int(p) for p in args.parts.split(",")}
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-trunk-"))
    workdir.mkdir(parents=True, exist_ok=True)
    keys = {"k1": os.urandom(32)}
    began = time.perf_counter()
    print(_machine())
    print(f"workdir {workdir}; parts {sorted(parts)}; {_load()}")
    if 1 in parts:
        bench_floor(workdir, keys, args.orders, args.rounds)
    if 2 in parts:
        run_stages(args, workdir, keys)
    if parts & {3, 4, 5}:
        run_large(args, workdir, keys)
    print(f"\ntotal {time.perf_counter() - began:.0f} s; {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
