"""The event loop's largest stall during an async dispatcher pass while another process holds
the store's write lock, against a control pass in the same run.

Run: ``python benchmarks/bench_loop_stall.py [--rounds 12] [--store postgresql://...]``

Each round opens a fresh alliance (SQLite in a temporary directory, or a fresh PostgreSQL
schema with ``--store``), records one order for a subscription whose receiver runs in a
process of its own, and then, while another process holds the write lock for a second, runs
one ``async_dispatcher()`` pass with a monitor task that sleeps 1 ms at a time and keeps how
late it came back: the largest lateness while the lock was held, and over the whole pass. The
control round runs the same monitor while a worker thread waits the same second and then
does a few ms of Python work (what any threaded step costs the loop through the interpreter
lock). Printed: each round's figures, their medians and maxima, and the pass's median over
the control's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEYS = {"k1": b"\x5b" * 32}
HOLD_S = 1.0

_RECEIVER = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H); print(s.server_address[1], flush=True)
s.serve_forever()
"""
_SQLITE_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE"); print("holding", flush=True)
time.sleep(float(sys.argv[2])); conn.execute("ROLLBACK"); time.sleep(60)
"""
_POSTGRES_HOLDER = """
import sys, time
import psycopg
with psycopg.connect(sys.argv[1]) as conn:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(sys.argv[3]),))
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
time.sleep(60)
"""


async def _monitor(stop: asyncio.Event, held_until: list[float]) -> tuple[float, float]:
    """(largest lateness while the lock was held, largest over the whole pass)."""
    loop = asyncio.get_running_loop()
    held = worst = 0.0
    while not stop.is_set():
        began = loop.time()
        await asyncio.sleep(0.001)
        late = loop.time() - began - 0.001
        worst = max(worst, late)
        if held_until and time.monotonic() < held_until[0]:
            held = max(held, late)
    return held, worst


def _hold(url: str | None, path: Path, schema: str) -> tuple[subprocess.Popen[str], float]:
    """Start the process that holds the lock; it holds it until the monotonic time returned."""
    if url is None:
        args = [sys.executable, "-c", _SQLITE_HOLDER, str(path), str(HOLD_S)]
    else:
        from affiliate_sdk.storage.postgres._schema import lock_key

        key = str(lock_key(schema, "write"))
        args = [sys.executable, "-c", _POSTGRES_HOLDER, url, str(HOLD_S), key]
    holder = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "holding\n"
    return holder, time.monotonic() + HOLD_S


def _round(url: str | None, receiver: str, workdir: Path, n: int) -> tuple[float, float]:
    from affiliate_sdk import Alliance, Campaign, CommissionPlan, Money, Order, Subscription

    schema = f"bench_stall_{os.getpid()}_{n}"
    path = workdir / f"r{n}.db"
    store = f"sqlite:///{path}" if url is None else f"{url}?schema={schema}"
    try:
        with Alliance.open(store, keys=KEYS) as alliance:
            alliance.add_campaign(
                Campaign(
                    campaign_id="c1",
                    merchant_id="m1",
                    plan=CommissionPlan(rate="10%"),
                    landing_domains=["shop.example.com"],
                )
            )
            alliance.subscribe(
                Subscription(
                    subscription_id="s1",
                    owner="platform",
                    url=f"{receiver}/{n}",
                    event_types=["commission.booked"],
                    secrets=["s" * 32],
                )
            )
            link = alliance.create_link(
                affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
            )
            agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"
            click = alliance.track_click(link, ip="198.51.100.1", user_agent=agent)
            order = Order(order_id="o1", merchant_id="m1", total=Money("80.00", "CNY"))
            alliance.record_order(order, click_id=click.click_id)
            holder, until = _hold(url, path, schema)
            try:

                async def run() -> tuple[float, float]:
                    stop = asyncio.Event()
                    monitor = asyncio.create_task(_monitor(stop, [until]))
                    async with alliance.async_dispatcher(allow_private=True) as dispatcher:
                        await dispatcher.run_once()
                    stop.set()
                    return await monitor

                return asyncio.run(run())
            finally:
                holder.kill()
                holder.wait(30)
    finally:
        if url is not None:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _control() -> tuple[float, float]:
    def step() -> None:
        time.sleep(HOLD_S)
        for _ in range(300):
            hashlib.sha256(json.dumps({"a": list(range(100))}).encode()).digest()

    async def run() -> tuple[float, float]:
        stop = asyncio.Event()
        monitor = asyncio.create_task(_monitor(stop, [time.monotonic() + HOLD_S]))
        await asyncio.to_thread(step)
        stop.set()
        return await monitor

    return asyncio.run(run())


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.1f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--store", default=None, help="postgresql://... (default: SQLite)")
    args = parser.parse_args(argv)
    receiver = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None
    base = f"http://127.0.0.1:{int(receiver.stdout.readline())}"
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"{'PostgreSQL' if args.store else 'SQLite'}; lock held {HOLD_S:g} s; "
        f"switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    try:
        with tempfile.TemporaryDirectory() as workdir:
            passes: list[Any] = [
                _round(args.store, base, Path(workdir), n) for n in range(args.rounds)
            ]
        controls = [_control() for _ in range(args.rounds)]
    finally:
        receiver.kill()
        receiver.wait(10)
    for label, rows in (("dispatcher pass", passes), ("control", controls)):
        held, whole = [r[0] for r in rows], [r[1] for r in rows]
        print(f"{label}: while held (ms): {_ms(held)}")
        print(f"{label}: whole pass (ms): {_ms(whole)}")
        print(
            f"{label}: median {statistics.median(whole) * 1000:.1f} ms, max "
            f"{max(whole) * 1000:.1f} ms; while held: median {statistics.median(held) * 1000:.1f}"
            f" ms, max {max(held) * 1000:.1f} ms"
        )
    ratio = statistics.median(p[1] for p in passes) / statistics.median(c[1] for c in controls)
    print(f"pass over control (medians, whole pass): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
