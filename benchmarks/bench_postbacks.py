"""The outbox and the dispatchers, each against its baseline in the same run.

Run: ``python benchmarks/bench_postbacks.py [--events 5000] [--deliveries 2000]``

1. Events enqueued per second on SQLite: a ``commission.booked`` event built
   from a ledger line and written with ``Store.add_events`` in a transaction
   of its own, against a bare one-row ``INSERT`` + ``COMMIT`` of a 200-byte row
   into a fresh WAL database (the median of three batches each).
2. Deliveries per second to a local HTTP server (a separate process on
   loopback, HTTP/1.1 keep-alive) answering 200 at once, then after
   ``--latency-ms`` (20): the sync dispatcher with one subscription
   (concurrency 1), and the async dispatcher with 32 subscriptions at once
   (concurrency 32), each over the same number of events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from affiliate_sdk import Alliance, Commission, Money
from affiliate_sdk.storage import open_store
from affiliate_sdk.webhooks.events import commission_events
from affiliate_sdk.webhooks.subscriptions import Subscription
from bench_commission import bare_insert

SECRET = "bench-secret-0123456789"
_SERVER = textwrap.dedent(
    """
    import sys
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if DELAY:
                time.sleep(DELAY)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    DELAY = float(sys.argv[1])
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def _line(n: int) -> Commission:
    at = datetime(2026, 11, 11, tzinfo=UTC)
    return Commission(
        entry_id=f"e{n:09d}",
        event_id=f"order/m1/o{n}/affiliate",
        merchant_id="m1",
        order_id=f"o{n}",
        campaign_id="c1",
        affiliate_id=f"aff-{n % 97}",
        click_id=f"click-{n}",
        account="affiliate",
        kind="commission",
        amount=Money("8.00", "USD"),
        status="pending",
        rate=Decimal("0.1"),
        basis=Money("80.00", "USD"),
        created_at=at,
    )


def enqueue(count: int, workdir: Path) -> float:
    """Seconds per event written to the SQLite outbox in a transaction of its own."""
    store = open_store(f"sqlite:///{workdir / 'outbox.db'}?click_commit=immediate")
    lines = [_line(n) for n in range(3 * count)]
    at = datetime(2026, 11, 11, tzinfo=UTC)
    runs = []
    for run in range(3):
        batch = lines[run * count : (run + 1) * count]
        start = time.perf_counter()
        for line in batch:
            with store.transaction() as tx:
                tx.outbox.add(commission_events("commission.booked", line.event_id, [line], at))
        runs.append((time.perf_counter() - start) / count)
    store.close()
    return statistics.median(runs)


def _server(latency: float) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-c", _SERVER, str(latency)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/hook"


def _alliance(workdir: Path, name: str, url: str, subscriptions: int, events: int) -> Alliance:
    alliance = Alliance.open(f"sqlite:///{workdir / name}", keys={"k1": os.urandom(32)})
    for n in range(subscriptions):
        alliance.subscribe(
            Subscription(
                subscription_id=f"s{n}",
                owner="affiliate",
                owner_id=f"aff-{n}",
                url=url,
                event_types=["commission.booked"],
                secrets=[SECRET],
            )
        )
    at = datetime(2026, 11, 11, tzinfo=UTC)
    store = alliance.store
    with store.transaction() as tx:
        for n in range(events):
            line = _line(n).model_copy(update={"affiliate_id": f"aff-{n % subscriptions}"})
            tx.outbox.add(commission_events("commission.booked", line.event_id, [line], at))
    return alliance


def deliver(workdir: Path, url: str, events: int) -> tuple[float, float]:
    """Deliveries per second: sync with one subscription, async with 32 at once."""
    workdir.mkdir()
    one = _alliance(workdir, "one.db", url, 1, events)
    dispatcher = one.dispatcher(allow_private=True)
    start = time.perf_counter()
    delivered = dispatcher.run_once(budget=events).delivered
    sync_rate = delivered / (time.perf_counter() - start)
    dispatcher.close()
    one.close()
    if delivered != events:  # pragma: no cover
        raise SystemExit(f"sync: {delivered} of {events} delivered")

    many = _alliance(workdir, "many.db", url, 32, events)

    async def run() -> int:
        dispatcher = many.async_dispatcher(allow_private=True)
        try:
            return (await dispatcher.run_once(budget=events, concurrency=32)).delivered
        finally:
            await dispatcher.aclose()

    start = time.perf_counter()
    delivered = asyncio.run(run())
    async_rate = delivered / (time.perf_counter() - start)
    many.close()
    if delivered != events:  # pragma: no cover
        raise SystemExit(f"async: {delivered} of {events} delivered")
    return sync_rate, async_rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="outbox and dispatcher benchmarks")
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--deliveries", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=int, default=20, help="the slow server's delay")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-postbacks-"))
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    per_event = enqueue(args.events, workdir)
    bare = bare_insert(workdir / "bare.db", args.events, autocheckpoint=True)
    print(
        f"enqueue on SQLite, {args.events:,} events: {per_event * 1e6:.2f} us/event "
        f"({1 / per_event:,.0f}/s); bare INSERT+COMMIT {bare * 1e6:.2f} us "
        f"({1 / bare:,.0f}/s); ratio {per_event / bare:.2f}x"
    )
    for latency_ms in (0, args.latency_ms):
        server, url = _server(latency_ms / 1000)
        try:
            sync_rate, async_rate = deliver(workdir / f"at-{latency_ms}", url, args.deliveries)
        finally:
            server.terminate()
            server.wait(timeout=timedelta(seconds=10).total_seconds())
        print(
            f"deliveries, {args.deliveries:,} events, server answering after {latency_ms} ms: "
            f"concurrency 1 (sync) {sync_rate:,.0f}/s; "
            f"concurrency 32 (async, 32 subscriptions) {async_rate:,.0f}/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
