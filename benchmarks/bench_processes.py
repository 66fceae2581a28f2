"""Throughput of several app-server processes on one store: clicks/s and orders/s.

Run: ``python benchmarks/bench_processes.py [--processes 1,2,4] [--seconds 5]
[--counters redis://127.0.0.1:6379/0] [--store postgresql://user@host/db] [--merchants 16]``

Each process is started fresh (``spawn``, as app servers are), opens the alliance on one
SQLite file (or, with ``--store``, one PostgreSQL database, a fresh schema per run),
waits for the others, then for ``--seconds`` tracks clicks back to back
(distinct visitors and networks, spread over a thousand affiliates' links to the campaigns
of ``--merchants`` merchants, whose orders a PostgreSQL journal keeps on their own chains,
so that no affiliate sends the hundreds of clicks per order that the click-flooding rule
freezes) and, in a second phase,
records orders, each to a click of its own from the first phase, ten minutes of the
alliance's clock later (a buyer's pace: every order is booked, which the run checks). The
processes share one clock base and each advances its own ``FakeClock`` a millisecond a
call, so the velocity windows see a plausible rate. The figures are the sums over the
processes per second of the phase, and each one's ratio to one process's, measured in the
same run. With ``--counters`` the velocity windows count on that server (give each run a
fresh ``?prefix=``) instead of the file.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any, NamedTuple

KEYS = {"k1": b"\x5a" * 32}
#: Affiliates (one link each) the clicks are spread over.
AFFILIATES = 1_000
#: The alliance clock's start in every process (and in the setup that makes the links).
BASE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class _Job(NamedTuple):
    url: str
    counters: str | None
    links: list[tuple[str, str]]
    worker: int
    seconds: float


def _serve(job: _Job, start: Barrier, out: multiprocessing.Queue[Any]) -> None:
    """One app server: clicks for ``seconds``, then orders for ``seconds``; the counts."""
    from affiliate_sdk import Alliance, Money, Order
    from affiliate_sdk.testing import FakeClock

    clock = FakeClock(BASE)
    step = timedelta(milliseconds=1)
    try:
        with Alliance.open(job.url, keys=KEYS, counters=job.counters, clock=clock) as alliance:
            start.wait(60)
            clicked: list[tuple[str, str]] = []
            ends = time.monotonic() + job.seconds
            while time.monotonic() < ends:
                n = len(clicked)
                link, merchant = job.links[n % len(job.links)]
                click = alliance.track_click(
                    link,
                    ip=f"{n % 200 + 11}.{n // 200 % 256}.{job.worker}.{n % 241 + 7}",
                    user_agent=f"Mozilla/5.0 (X11; Linux x86_64) bench/{job.worker}.{n}",
                )
                clicked.append((click.click_id, merchant))
                clock.advance(step)
            clock.advance(timedelta(minutes=10))
            start.wait(60)
            orders, booked = 0, 0
            ends = time.monotonic() + job.seconds
            while time.monotonic() < ends and orders < len(clicked):
                click_id, merchant = clicked[orders]
                order = Order(
                    order_id=f"w{job.worker}-{orders}",
                    merchant_id=merchant,
                    total=Money("80.00", "EUR"),
                )
                outcome = alliance.record_order(order, click_id=click_id)
                booked += outcome.verdict.decision == "allow" and bool(outcome.commissions)
                orders += 1
                clock.advance(step)
        out.put((len(clicked), orders, booked))
    except BaseException as exc:  # reported by the parent
        out.put(repr(exc))


def _store_url(store: str | None, processes: int, workdir: Path) -> str:
    if store is None:
        return f"sqlite:///{workdir / f'p{processes}.db'}"
    joiner = "&" if "?" in store else "?"
    return f"{store}{joiner}schema=bench_processes_{os.getpid()}_{processes}"


def _drop_schema(url: str) -> None:
    if url.startswith("postgresql://"):
        import psycopg

        base, _, query = url.partition("?")
        schema = query.rpartition("schema=")[2]
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _run(
    url: str, processes: int, seconds: float, counters: str | None, merchants: int
) -> tuple[int, int, int]:
    from affiliate_sdk import Alliance, Campaign, CommissionPlan
    from affiliate_sdk.testing import FakeClock

    with Alliance.open(url, keys=KEYS, clock=FakeClock(BASE)) as setup:
        for m in range(merchants):
            setup.add_campaign(
                Campaign(
                    campaign_id=f"spring-{m}",
                    merchant_id=f"m-{1001 + m}",
                    plan=CommissionPlan(rate="8%"),
                    landing_domains=["shop.example.com"],
                )
            )
        links = [
            (
                setup.create_link(
                    affiliate_id=f"aff-{k}",
                    campaign_id=f"spring-{k % merchants}",
                    landing_url=f"https://shop.example.com/p/{k}",
                ),
                f"m-{1001 + k % merchants}",
            )
            for k in range(AFFILIATES)
        ]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    out: multiprocessing.Queue[Any] = context.Queue()
    workers = [
        context.Process(target=_serve, args=(_Job(url, counters, links, n, seconds), start, out))
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds * 2 + 120) for _ in workers]
    for worker in workers:
        worker.join(60)
    failed = [r for r in results if not isinstance(r, tuple)]
    if failed:
        raise SystemExit(f"a process failed: {failed[0]}")
    return tuple(sum(r[i] for r in results) for i in range(3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--counters", default=None)
    parser.add_argument("--store", default=None, help="postgresql://... (default: SQLite)")
    parser.add_argument("--merchants", type=int, default=16)
    args = parser.parse_args(argv)
    counts = [int(p) for p in args.processes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-processes-"))
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"{'PostgreSQL' if args.store else 'SQLite'}, counters "
        f"{'on ' + args.counters if args.counters else 'in the store'}; "
        f"{args.merchants} merchants; {args.seconds:g} s per phase"
    )
    print("processes   clicks/s   x one   orders/s   x one   booked")
    try:
        base: tuple[float, float] | None = None
        for processes in counts:
            url = _store_url(args.store, processes, workdir)
            try:
                clicks, orders, booked = _run(
                    url, processes, args.seconds, args.counters, args.merchants
                )
            finally:
                _drop_schema(url)
            rates = (clicks / args.seconds, orders / args.seconds)
            base = base or rates
            print(
                f"{processes:>9}{rates[0]:>11,.0f}{rates[0] / base[0]:>8.2f}"
                f"{rates[1]:>11,.0f}{rates[1] / base[1]:>8.2f}{booked / max(orders, 1):>9.1%}"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
