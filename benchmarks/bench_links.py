"""Cost of the link and click hot paths, as ratios to one raw HMAC-SHA256.

Run: ``python benchmarks/bench_links.py [--rounds 25] [--links 4096]``

Each operation runs ``--rounds`` rounds; a round times a batch of the operation
over ``--links`` distinct links right after a batch of
``hmac.new(key, msg, sha256).digest()`` on a message as long as a token, and
the round's ratio is the one over the other. Figures are medians over rounds.
The alliance runs on the system clock, so ids carry real, advancing time.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from affiliate_sdk import (
    Alliance,
    Campaign,
    CommissionPlan,
    InvalidSignature,
    LinkError,
    SystemClock,
)

TARGETS = {
    "verify_link": 2.0,
    "verify_link (forged)": 1.0,
    "track_click (memory://)": 6.0,
    "track_click (sqlite)": 15.0,
}
USER_AGENTS = [
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    f"Chrome/{100 + i}.0.0.0 Safari/537.36"
    for i in range(50)
]


def _alliance(url: str, clock: SystemClock) -> Alliance:
    alliance = Alliance.open(url, keys={"k1": os.urandom(32)}, clock=clock)
    alliance.add_campaign(
        Campaign(
            campaign_id="spring-sale",
            merchant_id="m-1001",
            plan=CommissionPlan(rate="10%"),
            landing_domains=["shop.example.com"],
        )
    )
    return alliance


def _links(alliance: Alliance, count: int) -> list[str]:
    return [
        alliance.create_link(
            affiliate_id=f"aff-{i % 97:04d}",
            campaign_id="spring-sale",
            landing_url=f"https://shop.example.com/products/{i}?variant=blue",
            sub_ids={"sub1": "newsletter", "sub2": f"slot{i % 7}"},
            expires_in=timedelta(days=30),
        )
        for i in range(count)
    ]


def _batch(fn: Callable[[int], object], count: int) -> float:
    """Seconds per call of ``fn(i)`` for i in range(count)."""
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - start) / count


def _breakdown(alliance: Alliance, forged: list[str], rounds: int) -> None:
    """Median cost of each part of rejecting a forged link."""
    key = alliance.keyring.signing_key
    tokens = [link.rpartition("/")[2].encode("ascii") for link in forged]
    signed = [token.rpartition(b".")[0] for token in tokens]

    def tag(i: int) -> object:
        return key.tag_b64(signed[i])

    def split(i: int) -> object:
        return forged[i].rpartition("/")[2].encode("ascii").split(b".")

    def raise_and_catch(i: int) -> object:
        try:
            raise InvalidSignature("k1")
        except LinkError as exc:
            return exc

    print("parts of a forged-link rejection (medians per call):")
    for name, fn in (
        ("HMAC tag + base64url", tag),
        ("split the link", split),
        ("raise + catch", raise_and_catch),
    ):
        took = statistics.median(_batch(fn, len(forged)) for _ in range(rounds))
        print(f"  {name:<26}{took * 1e6:>8.2f} us")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--links", type=int, default=4096)
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the parts of a forged-link rejection",
    )
    args = parser.parse_args(argv)
    rounds, n = args.rounds, args.links

    clock = SystemClock()
    memory = _alliance("memory://", clock)
    links = _links(memory, n)
    token_length = len(links[0].rsplit("/", 1)[1])
    key, message = os.urandom(32), os.urandom(token_length)
    forged = [link[:-22] + ("A" if link[-22] != "A" else "B") + link[-21:] for link in links]
    for link in forged:
        try:
            memory.verify_link(link)
        except LinkError:
            continue
        raise SystemExit("a forged link verified")  # pragma: no cover

    workdir = Path(tempfile.mkdtemp(prefix="bench-links-"))
    sqlite = _alliance(f"sqlite:///{workdir / 'bench.db'}", clock)
    sqlite_links = _links(sqlite, n)
    durable = _alliance(f"sqlite:///{workdir / 'immediate.db'}?click_commit=immediate", clock)
    durable_links = _links(durable, n)
    # Spread over /24 networks the way separate visitors are (no network bursts).
    ips = [f"10.{i % 256}.{i // 256 % 256}.{i // 65536 % 250 + 1}" for i in range(n)]

    def baseline(i: int) -> object:
        return hmac.new(key, message, hashlib.sha256).digest()

    def create(i: int) -> object:
        return memory.create_link(
            affiliate_id="aff-0001",
            campaign_id="spring-sale",
            landing_url="https://shop.example.com/products/1?variant=blue",
            sub_ids={"sub1": "newsletter", "sub2": "slot1"},
            expires_in=timedelta(days=30),
        )

    def verify(i: int) -> object:
        return memory.verify_link(links[i])

    def verify_forged(i: int) -> object:
        try:
            return memory.verify_link(forged[i])
        except LinkError as exc:
            return exc

    def click_memory(i: int) -> object:
        return memory.track_click(links[i], ip=ips[i], user_agent=USER_AGENTS[i % 50])

    def click_sqlite(i: int) -> object:
        return sqlite.track_click(sqlite_links[i], ip=ips[i], user_agent=USER_AGENTS[i % 50])

    def click_sqlite_immediate(i: int) -> object:
        return durable.track_click(durable_links[i], ip=ips[i], user_agent=USER_AGENTS[i % 50])

    cases: dict[str, Callable[[int], object]] = {
        "create_link": create,
        "verify_link": verify,
        "verify_link (forged)": verify_forged,
        "track_click (memory://)": click_memory,
        "track_click (sqlite)": click_sqlite,
        "track_click (sqlite, immediate)": click_sqlite_immediate,
    }
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"{rounds} rounds x {n} distinct links; token {token_length} bytes; medians per call")
    print(f"{'operation':<32}{'median':>11}{'baseline':>11}{'ratio':>9}{'target':>9}")
    missed = []
    for name, fn in cases.items():
        _batch(fn, min(n, 512))  # warm up: memos, statement caches, first touches
        times, bases, ratios = [], [], []
        for _ in range(rounds):
            base = _batch(baseline, n)
            took = _batch(fn, n)
            times.append(took)
            bases.append(base)
            ratios.append(took / base)
        ratio = statistics.median(ratios)
        target = TARGETS.get(name)
        note = "" if target is None else f"<= {target:g}x" + ("" if ratio <= target else " MISSED")
        if target is not None and ratio > target:
            missed.append(name)
        print(
            f"{name:<32}{statistics.median(times) * 1e6:>8.2f} us"
            f"{statistics.median(bases) * 1e6:>8.2f} us{ratio:>8.2f}x  {note}"
        )
    if args.breakdown:
        _breakdown(memory, forged, rounds)
    memory.close()
    sqlite.close()
    durable.close()
    if missed:
        print("targets missed: " + ", ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
