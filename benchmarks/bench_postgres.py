"""``record_order`` on PostgreSQL against a floor script of plain psycopg, in the same run.

Run: ``python benchmarks/bench_postgres.py --url postgresql://user@host/db [--orders 500]
[--rounds 3]``

The floor is found as in ``bench_trunk.py`` part 1: one simple attributed order is recorded
on a probe SQLite file and every table is diffed before and after it. The floor then
writes those same rows (keys made unique per order; rows the order replaced are upserted)
into a fresh PostgreSQL schema made by the store's own migrations, with plain psycopg on
one connection: one transaction per order, one ``executemany`` per table. The store records
orders through ``Alliance.record_order`` on ``postgresql://`` in a schema of its own.
Rounds alternate store and floor; the medians and their ratio (target: at most 4x).
Also the statements the store sends for one order, by kind, and, when the server runs on this
machine, the CPU its processes spent per order (store and floor) and per click
(``track_click``), read from ``/proc``: what a capacity estimate for a server rests on. Where
the database has ``pg_stat_statements``, also the time the server spent executing the store's
statements per order.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from affiliate_sdk.storage.postgres import _connection, upgrade
from bench_trunk import Floor, Shop, _us, _verdict, probe_order

KEYS = {"k1": bytes(range(32))}
_INSERT = re.compile(r"INSERT(?: OR REPLACE)? INTO (\w+) \(([^)]*)\)")


class PostgresFloor:
    """The probe order's rows, written by plain psycopg into the store's own tables."""

    def __init__(self, floor: Floor, conn: psycopg.Connection[Any], schema: str) -> None:
        self.conn = conn
        #: Per table: the statement, the columns it writes, the one numbered here (if any).
        self.plan: list[tuple[str, list[int], int | None]] = []
        self._floor = floor
        self._numbers: collections.Counter[str] = collections.Counter()
        for sql, _rows, rowid, _keyed in floor.plan:
            match = _INSERT.match(sql)
            assert match is not None, sql
            table, columns = match.group(1), [c.strip() for c in match.group(2).split(",")]
            # SQLite numbers its INTEGER PRIMARY KEY; PostgreSQL's identity columns likewise,
            # other keys (the journal's and the outbox's seq) are numbered here
            assigned = [i for i in rowid if self._identity(schema, table, columns[i])]
            kept = [i for i in range(len(columns)) if i not in assigned]
            numbered = next((kept.index(i) for i in rowid if i not in assigned), None)
            names = [columns[i] for i in kept]
            statement = (
                f"INSERT INTO {schema}.{table} ({', '.join(names)}) "
                f"VALUES ({', '.join(['%s'] * len(names))})"
            )
            if sql.startswith("INSERT OR REPLACE"):
                keys = self._primary_key(schema, table)
                rest = [n for n in names if n not in keys]
                statement += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(
                    f"{n} = excluded.{n}" for n in rest
                )
            self.plan.append((statement, kept, numbered))

    def _identity(self, schema: str, table: str, column: str) -> bool:
        row = self.conn.execute(
            "SELECT is_identity FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s AND column_name = %s",
            (schema, table, column),
        ).fetchone()
        return row is not None and row[0] == "YES"

    def _primary_key(self, schema: str, table: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (f"{schema}.{table}",),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def rows_for(self, n: int) -> list[tuple[str, list[tuple[Any, ...]]]]:
        out = []
        for (statement, kept, numbered), (_sql, rows) in zip(
            self.plan, self._floor.rows_for(n), strict=True
        ):
            made = []
            for row in rows:
                values = [row[i] for i in kept]
                if numbered is not None:
                    self._numbers[statement] += 1
                    values[numbered] = self._numbers[statement]
                made.append(tuple(values))
            out.append((statement, made))
        return out

    def run(self, orders: Sequence[list[tuple[str, list[tuple[Any, ...]]]]]) -> float:
        """Seconds per order: one transaction each, one ``executemany`` per table."""
        start = time.perf_counter()
        for statements in orders:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for statement, rows in statements:
                    cur.executemany(statement, rows)
        return (time.perf_counter() - start) / len(orders)


def _server_cpu_s() -> float | None:
    """CPU seconds spent so far by this machine's PostgreSQL processes (None: none seen)."""
    total, seen = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, _, rest = text.partition(") ")
        if name.endswith("(postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
            seen = True
    return total / os.sysconf("SC_CLK_TCK") if seen else None


def _with_cpu(run: Any, *args: Any) -> tuple[float, float | None]:
    """``run(*args)`` (seconds per item) and the server's CPU seconds while it ran."""
    before = _server_cpu_s()
    seconds = run(*args)
    after = _server_cpu_s()
    return seconds, None if before is None or after is None else after - before


def _clicks_cpu(shop: Shop, count: int) -> tuple[float, float | None]:
    """Seconds per ``track_click`` and the server's CPU seconds per click."""
    before, start = _server_cpu_s(), time.perf_counter()
    for n in range(count):
        shop.click(f"cpu-{n % 50}")
    seconds = (time.perf_counter() - start) / count
    after = _server_cpu_s()
    return seconds, None if before is None or after is None else (after - before) / count


def _executor_time(conn: psycopg.Connection[Any], shop: Shop, count: int) -> float | None:
    """Seconds the server spent executing the store's statements per order, from
    ``pg_stat_statements`` (None where the extension is not installed)."""
    try:
        conn.execute("SELECT pg_stat_statements_reset()")
    except psycopg.Error:
        return None
    shop.timed(count)
    row = conn.execute(
        "SELECT sum(total_exec_time) FROM pg_stat_statements WHERE query NOT LIKE "
        "'%pg_stat_statements%'"
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0]) / 1000 / count


def _statements(shop: Shop, count: int) -> collections.Counter[str]:
    """The statements the store sends for each of ``count`` more orders, by first word."""
    seen: collections.Counter[str] = collections.Counter()
    execute = _connection.PostgresDb._execute
    many = _connection.PostgresDb.many

    def traced(self: Any, conn: Any, sql: str, params: Any, doing: str) -> Any:
        seen[sql.split(maxsplit=1)[0]] += 1
        return execute(self, conn, sql, params, doing)

    def traced_many(self: Any, sql: str, params: Any, **options: Any) -> None:
        seen["(executemany)"] += 1
        many(self, sql, params, **options)

    _connection.PostgresDb._execute = traced  # type: ignore[method-assign]
    _connection.PostgresDb.many = traced_many  # type: ignore[method-assign]
    try:
        shop.timed(count)
    finally:
        _connection.PostgresDb._execute = execute  # type: ignore[method-assign]
        _connection.PostgresDb.many = many  # type: ignore[method-assign]
    return seen


def _rounds(
    shop: Shop, floor: PostgresFloor, prepared: list[Any], orders: int, rounds: int
) -> None:
    """Store and floor in turns; their medians, ratio and server CPU per order."""
    store_runs, floor_runs = [], []
    store_cpu: list[float] = []
    floor_cpu: list[float] = []
    for r in range(1, rounds + 1):
        seconds, cpu = _with_cpu(shop.timed, orders)
        store_runs.append(seconds)
        if cpu is not None:
            store_cpu.append(cpu / orders)
        seconds, cpu = _with_cpu(floor.run, prepared[r * orders : (r + 1) * orders])
        floor_runs.append(seconds)
        if cpu is not None:
            floor_cpu.append(cpu / orders)
    store, bare = statistics.median(store_runs), statistics.median(floor_runs)
    print(
        f"record_order, {orders:,} orders x {rounds} rounds: {_us(store)} per "
        f"order; floor {_us(bare)}; ratio {store / bare:.2f}x ({_verdict(store / bare, 4)})"
    )
    print(
        "  rounds (store / floor, µs): "
        + ", ".join(
            f"{s * 1e6:.0f}/{f * 1e6:.0f}" for s, f in zip(store_runs, floor_runs, strict=True)
        )
    )
    if store_cpu and floor_cpu:
        print(
            f"  server CPU per order: store {_us(statistics.median(store_cpu))}, "
            f"floor {_us(statistics.median(floor_cpu))}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql://user@host/db")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    store_schema, floor_schema = (f"bench_{kind}_{os.getpid()}" for kind in ("store", "floor"))
    with psycopg.connect(args.url, autocommit=True) as conn:
        server = conn.info.server_version
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"PostgreSQL {server // 10000}.{server % 10000}, psycopg {psycopg.__version__}"
    )
    written, replaced, _tally, _memory = probe_order(workdir, KEYS)
    floor = Floor(workdir / "probe.db", written, replaced)
    print(f"floor: {sum(len(r) for _, r, _, _ in floor.plan)} rows in {len(floor.plan)} tables")
    conn = psycopg.connect(args.url, autocommit=True)
    shop = Shop(f"{args.url}?schema={store_schema}", KEYS)
    try:
        upgrade(conn, floor_schema)
        pg_floor = PostgresFloor(floor, conn, floor_schema)
        prepared = [pg_floor.rows_for(n) for n in range((args.rounds + 1) * args.orders)]
        shop.timed(min(args.orders, 100))  # warm both
        pg_floor.run(prepared[: args.orders])
        seen = _statements(shop, 100)
        print(
            "store statements per order (BEGIN and the locks go with the first): "
            + ", ".join(f"{kind} {n / 100:g}" for kind, n in seen.most_common())
        )
        _rounds(shop, pg_floor, prepared, args.orders, args.rounds)
        executing = _executor_time(conn, shop, args.orders)
        if executing is not None:
            print(
                f"  server time executing the store's statements: {_us(executing)} per order "
                "(its click included)"
            )
        click_s, click_cpu = _clicks_cpu(shop, args.orders * 4)
        print(
            f"track_click, {args.orders * 4:,} clicks: {_us(click_s)} per click"
            + ("" if click_cpu is None else f"; server CPU {_us(click_cpu)} per click")
        )
        if shop.unexpected:
            print(f"  unexpected outcomes: {dict(shop.unexpected)}")
    finally:
        shop.close()
        for schema in (store_schema, floor_schema):
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
