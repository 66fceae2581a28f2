"""Velocity counting on Redis: a click's counts against a bare ``INCR`` pipeline, same run.

Run: ``python benchmarks/bench_redis_counts.py [--clicks 20000] [--url redis://...]``
(a Redis server at ``--url``, ``AFFILIATE_SDK_TEST_REDIS`` or ``redis://127.0.0.1:6379/0``;
``scripts/test-servers`` starts one).

A click counts five keys in the windows on the server (network, visitor, device and
affiliate per minute, visitor and affiliate per day), in one pipeline of the window script
(``storage.redis.windows``): the sums come back, exact across processes. The baseline
sends five ``INCR`` of the same keys in one pipeline, the least a client can do per click
for shared counts, and learns no window's total. Keys are new networks and visitors each
click, on a dozen affiliates, as in ``bench_clicks.py``. Both take turns in chunks of 1,000
clicks, so the server and the machine are the same for both.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid

import redis

from affiliate_sdk.storage.redis import RedisCounters
from affiliate_sdk.storage.redis.windows import RedisWindow, count_on_server

CHUNK = 1_000


def _items(minute: RedisWindow, day: RedisWindow, n: int) -> list[tuple[RedisWindow, str, int]]:
    affiliate = f"a/aff-{n % 12}"
    return [
        (day, affiliate, 1),
        (minute, f"n/{n % 200 + 11}.{n // 200 % 256}.{n // 51200 % 256}.0/24", 1),
        (minute, f"v/visitor-{n}", 1),
        (minute, f"d/device-{n}", 1),
        (minute, affiliate, 1),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clicks", type=int, default=20_000)
    parser.add_argument(
        "--url", default=os.environ.get("AFFILIATE_SDK_TEST_REDIS", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args(argv)
    prefix = f"affiliate-sdk-bench:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(args.url)
    counters = RedisCounters(args.url, prefix=prefix)
    minute = counters.window("velocity/minute", 60_000, buckets=6)
    day = counters.window("velocity/day", 86_400_000, buckets=4)
    perf_ns = time.perf_counter_ns
    ours: list[int] = []
    bare: list[int] = []
    try:
        client.ping()
        for n in range(200):  # warm-up: scripts loaded, connections open
            count_on_server(_items(minute, day, -n - 1), 1_000_000)
        for start in range(0, args.clicks, CHUNK):
            for n in range(start, min(start + CHUNK, args.clicks)):
                now_ms = 1_000_000 + n  # a click a millisecond
                began = perf_ns()
                count_on_server(_items(minute, day, n), now_ms)
                ours.append(perf_ns() - began)
            for n in range(start, min(start + CHUNK, args.clicks)):
                keys = [f"{prefix}bare:{key}" for _, key, _ in _items(minute, day, n)]
                began = perf_ns()
                pipeline = client.pipeline(transaction=False)
                for key in keys:
                    pipeline.incr(key)
                pipeline.execute()
                bare.append(perf_ns() - began)
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=1_000):
            client.delete(key)
        counters.close()
        client.close()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"redis-py {redis.__version__}; {args.clicks:,} clicks of 5 keys each"
    )
    print("per click, us      median     mean      p99")
    for label, times in (("windows", ours), ("bare INCR", bare)):
        ordered = sorted(times)
        p99 = ordered[int(0.99 * len(ordered))]
        print(
            f"{label:<12}{statistics.median(ordered) / 1e3:>10.1f}"
            f"{statistics.fmean(ordered) / 1e3:>9.1f}{p99 / 1e3:>9.1f}"
        )
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"windows over bare INCR pipeline (medians): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
