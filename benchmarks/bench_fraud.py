"""Fraud checks on the click path, each against its baseline in the same run.

Run: ``python benchmarks/bench_fraud.py [--agents 100000] [--clicks 100000]``

1. The bot user-agent check per distinct user agent, against the stdlib ``re``
   alternation.
2. The per-click verdict (the velocity windows of a returning visitor: per
   minute, per day, the seven-day frequency cap, the campaign's and the
   affiliate's day on it; paid click ids, the bundled network ranges) on top of
   a remembered user-agent verdict, for clicks from distinct networks, against
   ``verify_link`` of distinct links; target: at most 3x.

``--agents`` distinct user agents (seeded: browsers with varied versions and
platforms, one in ten a crawler taken from the dataset's own examples with a
varied suffix) are each checked once, as ``track_click`` does on first sight
of a user agent. Baseline in the same run: one Python ``re`` alternation of
every pattern (``search``), the obvious way to do it. Target: at most 5 µs per
user agent.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import tempfile
import time

import crawleruseragents

from affiliate_sdk import Alliance, Campaign, CommissionPlan
from affiliate_sdk.antifraud.networks import NetworkKinds
from affiliate_sdk.antifraud.useragents import BotUserAgents, bundled_patterns
from affiliate_sdk.tracking.clicks import IpPseudonymizer

#: Batches of each kind, taken in turns.
BATCHES = 7


def agents(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    crawlers = [
        instance
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        for instance in entry.get("instances", [])
    ]
    systems = [
        "Windows NT 10.0; Win64; x64",
        "Macintosh; Intel Mac OS X 10_15_7",
        "X11; Linux x86_64",
        "Linux; Android 14; Pixel 8",
        "iPhone; CPU iPhone OS 17_5 like Mac OS X",
    ]
    made: set[str] = set()
    while len(made) < count:
        if rng.random() < 0.1:
            made.add(f"{rng.choice(crawlers)} r{rng.randrange(10**6)}")
        else:
            made.add(
                f"Mozilla/5.0 ({rng.choice(systems)}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{rng.randrange(80, 140)}.0.{rng.randrange(10000)}.{rng.randrange(300)} "
                f"Safari/537.36"
            )
    return sorted(made)


def click_verdicts(clicks: int, store: str = "memory://") -> tuple[float, float]:
    """Seconds per click verdict and per ``verify_link`` (medians of ``BATCHES`` batches each,
    taken in turns), on ``store`` (on SQLite the windows are shared with other processes on
    the file, and their last exchange is waited for before a ``verify_link`` batch)."""
    kinds = NetworkKinds.bundled()  # the datacenter lookup runs on every click
    with Alliance.open(store, keys={"k1": os.urandom(32)}, networks=kinds) as alliance:
        alliance.add_campaign(
            Campaign(
                campaign_id="c1",
                merchant_id="m1",
                plan=CommissionPlan(rate="10%"),
                landing_domains=["shop.example.com"],
            )
        )
        links = [
            alliance.create_link(
                affiliate_id=f"aff-{n % 97}",
                campaign_id="c1",
                landing_url="https://shop.example.com/",
            )
            for n in range(4096)
        ]
        agent = alliance.fraud.user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
        limits = alliance.campaign("c1").fraud or alliance.settings.fraud
        now_ms = int(alliance.clock.timestamp() * 1000)
        # Parsed as track_click parses them before the verdict: packed address and /24.
        addresses = [
            IpPseudonymizer.parse(f"81.{n % 256}.{n // 256 % 256}.9") for n in range(65_536)
        ]
        affiliates = [f"aff-{n}" for n in range(97)]
        # returning visitors: every window is counted (minute, day, the week's cap, the
        # campaign's and the affiliate's on it)
        visitors = [f"v{n}" for n in range(50_000)]
        verdicts, verifies = [], []
        clock = time.perf_counter
        exchanger = alliance.fraud.exchanger
        for batch in range(BATCHES):  # alternately: both see the machine as it is then
            start = clock()
            at_ms = now_ms + batch * 120_000  # each batch in a minute of its own
            for n in range(clicks):
                alliance.fraud.click_verdict(
                    links[n % 4096],
                    agent,
                    limits,
                    affiliate_id=affiliates[n % 97],
                    visitor_id=visitors[n % 50_000],
                    packed_ip=addresses[n % 65_536][0],
                    ip_network=addresses[n % 65_536][1],
                    device_id=None,
                    # the alliance's clock runs as the wall's, as it does in production
                    # (a shared window's exchanges follow it)
                    now_ms=at_ms + int((clock() - start) * 1000),
                    scope="m1/c1",
                )
            verdicts.append((clock() - start) / clicks)
            if exchanger is not None:  # the verdicts' last exchange is not verify_link's load
                exchanger.exchange_now()
            start = clock()
            for n in range(clicks):
                alliance.verify_link(links[n % 4096])
            verifies.append((clock() - start) / clicks)
    return statistics.median(verdicts), statistics.median(verifies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fraud checks on the click path")
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--clicks", type=int, default=100_000)
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    sample = agents(args.agents)
    bots = BotUserAgents()
    bots.match("warm-up")  # compiles the set
    start = time.perf_counter()
    ours = [bots.match(agent) is not None for agent in sample]
    per_agent = (time.perf_counter() - start) / len(sample)

    combined = re.compile("|".join(f"(?:{p})" for p in bundled_patterns()))
    subset = sample[: max(len(sample) // 10, 1)]  # the baseline is slow: a tenth of the sample
    start = time.perf_counter()
    theirs = [combined.search(agent) is not None for agent in subset]
    baseline = (time.perf_counter() - start) / len(subset)
    if theirs != ours[: len(subset)]:  # pragma: no cover
        raise SystemExit("the two matchers disagree")
    verdict = "met" if per_agent <= 5e-6 else "MISSED"
    print(
        f"{len(sample):,} distinct user agents ({sum(ours):,} bots), engine {bots.engine}: "
        f"{per_agent * 1e6:.2f} us each (target <= 5 us {verdict}); "
        f"re alternation on {len(subset):,} of them: {baseline * 1e6:.2f} us each, "
        f"{baseline / per_agent:.0f}x slower"
    )
    with tempfile.TemporaryDirectory() as folder:
        for name, store in (("memory", "memory://"), ("sqlite", f"sqlite:///{folder}/bench.db")):
            verdict_cost, verify_cost = click_verdicts(args.clicks, store)
            ratio = verdict_cost / verify_cost
            verdict = "met" if ratio <= 3 else "MISSED"
            print(
                f"click verdict on {name} ({args.clicks:,} clicks, distinct networks): "
                f"{verdict_cost * 1e6:.2f} us; verify_link {verify_cost * 1e6:.2f} us; "
                f"ratio {ratio:.2f}x (target <= 3x {verdict})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
