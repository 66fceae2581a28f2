"""Bot user-agent check per distinct user agent, against the stdlib ``re`` alternation.

Run: ``python benchmarks/bench_useragents.py [--agents 100000]``

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
import time

import crawleruseragents

from affiliate_sdk.antifraud.useragents import BotUserAgents, bundled_patterns


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bot user-agent check")
    parser.add_argument("--agents", type=int, default=100_000)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
