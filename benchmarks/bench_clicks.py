"""Latency of each click under sustained load, and the click path against an earlier release.

Run: ``python benchmarks/bench_clicks.py [--clicks 200000] [--prev DIR] [--rounds 3]``

The workload is a stream of ``track_click`` calls with the variety of real
traffic: a dozen links of two campaigns, many visitors on distinct networks
(one in ten on IPv6), a few hundred browser user agents, some returning
visitors who bring back their visitor id (and the address and browser they
came with), referrers and countries on some clicks. A ``FakeClock`` moves
0.5-1.5 ms per click (1,000 clicks a second on average), so the once-a-second
exchange of the fraud counters with the store falls about every 1,000 clicks,
as it does in production at that rate. Each call is timed on its own with
``time.perf_counter_ns``; 2,000 clicks of the same kind run first, untimed.

With ``--rate N`` the clicks run on the system clock instead, as in production, each
step waiting out its share of the second so that N clicks arrive a second (a click
that ends late is followed at once); the velocity windows then exchange on their own
thread, and the exchange report stays empty. Every click then begins after a pause,
on cold caches: its median is several times the back-to-back one.

Every workload runs in a fresh process on SQLite (clicks committed by the
background writer, the default) and on ``memory://``. With ``--prev DIR`` (a
checkout of an earlier release, say ``git worktree add /tmp/prev 6c20213``) the
same workload runs against ``DIR/src`` too, in a process of its own: the two
take turns every ``--chunk`` clicks (who goes first alternates), so a change in
the machine's load falls on both alike; the medians and means are compared. Each
run is repeated ``--rounds`` times with fresh processes, with or without ``--prev``
(the ratio moves from run to run on a machine of two cores: one run says little).
The workload uses only what both releases share: ``Alliance.open``, ``add_campaign``,
``create_link``, ``track_click`` and ``affiliate_sdk.testing.FakeClock``.

``--run`` runs the workload in this process with whatever ``affiliate_sdk``
imports (for a profiler: ``python -m cProfile -s tottime
benchmarks/bench_clicks.py --run --json --clicks 50000 --stores sqlite``).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import hashlib
import hmac
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

#: p99 over the median, per store.
TAIL_TARGET = 3.0
#: The new release's median and mean over the earlier one's.
SPEED_TARGET = 1.03
WARMUP = 2_000
#: Timed clicks per turn when versions take turns.
CHUNK = 10_000
#: The velocity windows' exchange period (``DEFAULT_SYNC_MS`` in both releases).
EXCHANGE_MS = 1_000
SEED = 20261123
#: Clicks after an exchange that the tail report counts as right after it.
AFTER_EXCHANGE = 20
#: One call of the constant-work control (the machine's own tail) after every this many
#: timed clicks, and how much slower than its median a call must be to count as hit.
CONTROL_EVERY = 4
NOISE_US = 30
#: The control's spacing in this run (``--control``; 0: none).
_CONTROL = [CONTROL_EVERY]
#: Clicks a second of wall time when paced (``--rate``; 0: back to back on a ``FakeClock``).
_RATE = [0]
STORES = ("sqlite", "memory")
_PLATFORMS = (
    ("Windows NT 10.0; Win64; x64", "Windows"),
    ("Macintosh; Intel Mac OS X 10_15_7", "Mac"),
    ("X11; Linux x86_64", "Linux"),
    ("Linux; Android 14; Pixel 8", "Android"),
    ("Linux; Android 13; SM-S918B", "Android"),
)
_REFERRERS = (
    "https://www.google.com/",
    "https://news.example.org/deals/spring",
    "https://t.co/x7Yz",
    "https://blog.example.net/best-headphones-2026",
)
#: A dozen links, one per affiliate, some more popular: at 1,000 clicks a second the busiest
#: gets 9,000 a minute, under the default ``affiliate_clicks_per_minute`` of 10,000.
LINK_WEIGHTS = (15, 13, 12, 10, 9, 8, 7, 6, 6, 5, 5, 4)
LINKS = range(len(LINK_WEIGHTS))
_COUNTRIES = ("DE", "FR", "US", "GB", "NL", "PL", "ES", "IT")


def _user_agents() -> list[str]:
    """A few hundred browser user agents: Chrome, Edge, Firefox and Safari, desktop and mobile."""
    agents = []
    for version in range(110, 132):
        for system, kind in _PLATFORMS:
            mobile = " Mobile" if kind == "Android" else ""
            chrome = (
                f"Mozilla/5.0 ({system}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{version}.0.{6000 + version * 3}.{version % 90}{mobile} Safari/537.36"
            )
            agents.append(chrome)
            if kind == "Windows":
                agents.append(f"{chrome} Edg/{version}.0.{2000 + version}.{version % 40}")
            if kind != "Android":
                agents.append(
                    f"Mozilla/5.0 ({system}; rv:{version}.0) Gecko/20100101 Firefox/{version}.0"
                )
    for major in (15, 16, 17, 18):
        for minor in range(6):
            agents.append(
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) "
                f"AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{major}.{minor} "
                "Mobile/15E148 Safari/604.1"
            )
            agents.append(
                f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{major}.{minor} Safari/605.1.15"
            )
    return agents


def _address(visitor: int) -> str:
    """A distinct address per visitor, spread over /24 (IPv4) and /64 (IPv6) networks."""
    if visitor % 10 == 9:
        return f"2001:db8:{visitor % 65536:x}:{visitor // 65536:x}::{visitor % 251 + 1:x}"
    return (
        f"{visitor % 200 + 11}.{visitor // 200 % 256}.{visitor // 51200 % 256}.{visitor % 241 + 7}"
    )


@dataclass(frozen=True)
class Visit:
    link: int
    visitor: int  # the visitor's number: that of the visit where they were first seen
    returning: bool
    step: timedelta
    referrer: str | None
    country: str | None


def _visits(count: int, rng: random.Random) -> list[Visit]:
    steps = [timedelta(microseconds=500 + 10 * k) for k in range(101)]  # 0.5-1.5 ms
    visits: list[Visit] = []
    for i in range(count):
        returning = i >= 100 and rng.random() < 0.15
        visitor = i
        if returning:  # someone seen in the last 20,000 clicks (about 20 s) comes back
            visitor = visits[rng.randrange(max(0, i - 20_000), i)].visitor
        visits.append(
            Visit(
                link=rng.choices(LINKS, LINK_WEIGHTS)[0],
                visitor=visitor,
                returning=returning,
                step=rng.choice(steps),
                referrer=rng.choice(_REFERRERS) if rng.random() < 0.4 else None,
                country=rng.choice(_COUNTRIES) if rng.random() < 0.5 else None,
            )
        )
    return visits


def _control_work(target_ns: float) -> Callable[[int], bytes]:
    """The control: the same work every call (small dicts, one HMAC), repeated so that its
    median is about ``target_ns`` (the clicks' median, measured on the warm-up)."""
    key = b"\x5a" * 32

    def unit(n: int) -> bytes:
        held = {}
        name = f"key-{n % 100}"
        for j in range(60):
            held[name + str(j % 7)] = j
        return hmac.new(key, name.encode(), hashlib.sha256).digest()

    perf_ns = time.perf_counter_ns
    samples = []
    for n in range(2_000):
        start = perf_ns()
        unit(n)
        samples.append(perf_ns() - start)
    reps = max(1, round(target_ns / statistics.median(samples)))

    def work(n: int) -> bytes:
        for _ in range(reps - 1):
            unit(n)
        return unit(n)

    return work


def _control_figures(times: list[int], took_s: float) -> dict[str, float]:
    """The control's median, p99, share of calls over ``TAIL_TARGET`` times its median, and
    calls slowed by over ``NOISE_US`` per second of the run."""
    ordered = sorted(times)
    median = statistics.median(ordered)
    return {
        "median": median,
        "p99": _percentile(ordered, 0.99),
        "over_target": sum(1 for t in times if t > TAIL_TARGET * median) / len(times),
        "events_per_s": sum(1 for t in times if t > median + NOISE_US * 1000) / took_s,
    }


def _percentile(ordered: list[int], fraction: float) -> int:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _run_store(
    url: str, clicks: int, chunk: int, between: Callable[[], None] | None
) -> dict[str, Any]:
    """The workload on the store at ``url``; ``between`` is called (untimed) before each
    ``chunk`` timed clicks."""
    from affiliate_sdk import Alliance, Campaign, CommissionPlan
    from affiliate_sdk.testing import FakeClock

    rate = _RATE[0]
    clock = FakeClock()
    if rate:  # the wall clock, as in production: each step waits out its share of a second
        alliance = Alliance.open(url, keys={"k1": b"\x5a" * 32})
    else:
        alliance = Alliance.open(url, keys={"k1": b"\x5a" * 32}, clock=clock)
    for campaign_id, domain in (("spring-sale", "shop.example.com"), ("audio", "hifi.example.de")):
        alliance.add_campaign(
            Campaign(
                campaign_id=campaign_id,
                merchant_id="m-1001",
                plan=CommissionPlan(rate="8%"),
                landing_domains=[domain],
            )
        )
    links = [
        alliance.create_link(
            affiliate_id=f"aff-{k:04d}",
            campaign_id="spring-sale" if k % 3 else "audio",
            landing_url=(
                f"https://shop.example.com/products/{k}?variant=blue"
                if k % 3
                else f"https://hifi.example.de/p/{k}"
            ),
            sub_ids={"sub1": "newsletter", "sub2": f"slot{k}"},
            expires_in=timedelta(days=30),
        )
        for k in LINKS
    ]
    rng = random.Random(SEED)
    agents = _user_agents()
    warmup = _visits(WARMUP, rng)
    visits = _visits(clicks, rng)
    track = alliance.track_click
    perf_ns = time.perf_counter_ns
    due = [time.perf_counter()]
    stretch = 1_000 / rate if rate else 0.0  # the steps last 1 ms on average

    def advance(step: timedelta) -> None:
        if not rate:
            clock.advance(step)
            return
        due[0] += step.total_seconds() * stretch
        wait = due[0] - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # a late click goes at once: arrivals do not wait for clicks

    def stream(batch: list[Visit], offset: int, times: list[int] | None) -> dict[str, int]:
        visitor_ids: dict[int, str] = {}
        decisions: dict[str, int] = {}
        every = _CONTROL[0]
        for i, visit in enumerate(batch):
            if times is not None and every and i % every == every - 1:
                start = perf_ns()
                control(i)
                control_times.append(perf_ns() - start)
            if between is not None and times is not None and i % chunk == 0:
                between()
            number = visit.visitor + offset
            ip, agent = _address(number), agents[number % len(agents)]
            visitor_id = visitor_ids.get(visit.visitor) if visit.returning else None
            advance(visit.step)
            if not rate:  # on a FakeClock the shared windows exchange on the click that
                now_ms = int(clock.timestamp() * 1000)  # finds a second of it gone
                if now_ms - synced[0] >= EXCHANGE_MS:
                    synced[0] = now_ms
                    if times is not None:
                        exchanges.append(i)
            start = perf_ns()
            click = track(
                links[visit.link],
                ip=ip,
                user_agent=agent,
                referrer=visit.referrer,
                visitor_id=visitor_id,
                country=visit.country,
            )
            took = perf_ns() - start
            if times is not None:
                starts.append(start)
                times.append(took)
            elif warmup_times is not None:
                warmup_times.append(took)
            if not visit.returning:
                visitor_ids[visit.visitor] = click.visitor_id
            decision = click.verdict.decision
            decisions[decision] = decisions.get(decision, 0) + 1
        return decisions

    synced = [-(2**62)]  # when the velocity windows last exchanged: at the first click
    exchanges: list[int] = []
    starts: list[int] = []
    warmup_times: list[int] | None = []
    control_times: list[int] = []
    stream(warmup, 10_000_000, None)
    assert warmup_times is not None
    control = _control_work(statistics.median(warmup_times[len(warmup_times) // 2 :]))
    warmup_times = None
    times: list[int] = []
    pauses: list[tuple[int, int, int]] = []  # (start ns, duration ns, generation)
    began_gc = [0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began_gc[0] = perf_ns()
        else:
            pauses.append((began_gc[0], perf_ns() - began_gc[0], info["generation"]))

    gc.callbacks.append(on_gc)
    began = time.perf_counter()
    try:
        decisions = stream(visits, 0, times)
    finally:
        gc.callbacks.remove(on_gc)
    streamed_s = time.perf_counter() - began
    closing = time.perf_counter()
    alliance.close()
    closed = time.perf_counter() - closing
    ordered = sorted(times)
    slowest = sorted(range(len(times)), key=times.__getitem__)[-8:]
    exchange_set = set(exchanges)
    by_gc = [False] * len(times)
    for at, took, _ in pauses:  # the clicks a collection ran inside of
        j = bisect.bisect_right(starts, at) - 1
        if j >= 0 and starts[j] + times[j] >= at + took:
            by_gc[j] = True
    slow = [i for i, t in enumerate(times) if t > 1_000_000]
    exchange_times = sorted(times[i] for i in exchanges)
    median = statistics.median(ordered)
    over = [i for i, t in enumerate(times) if t > TAIL_TARGET * median]
    after: set[int] = set()  # the clicks right after an exchange
    for i in exchanges:
        after.update(range(i + 1, i + 1 + AFTER_EXCHANGE))
    tail = {
        "clicks": len(over),
        "in_gc": sum(1 for i in over if by_gc[i]),
        "on_exchange": sum(1 for i in over if i in exchange_set),
        "after_exchange": sum(1 for i in over if i in after and not by_gc[i]),
        "returning": sum(1 for i in over if visits[i].returning),
        "returning_median": statistics.median(
            t for t, v in zip(times, visits, strict=True) if v.returning
        ),
        "new_median": statistics.median(
            t for t, v in zip(times, visits, strict=True) if not v.returning
        ),
    }
    return {
        "clicks": len(times),
        "median": median,
        "tail": tail,
        "control": _control_figures(control_times, streamed_s) if control_times else {},
        "mean": statistics.fmean(ordered),
        "p90": _percentile(ordered, 0.90),
        "p99": _percentile(ordered, 0.99),
        "p999": _percentile(ordered, 0.999),
        "max": ordered[-1],
        "over_1ms": sum(1 for t in ordered if t > 1_000_000),
        "over_10ms": sum(1 for t in ordered if t > 10_000_000),
        "slowest": [[i, times[i], i in exchange_set, by_gc[i]] for i in reversed(slowest)],
        "exchange_clicks": len(exchanges),
        "exchange_median": statistics.median(exchange_times) if exchange_times else 0,
        "exchange_max": exchange_times[-1] if exchange_times else 0,
        "slow_on_exchange": sum(1 for i in slow if i in exchange_set),
        "slow_in_gc": sum(1 for i in slow if by_gc[i] and i not in exchange_set),
        "gc_collections": [sum(1 for p in pauses if p[2] == g) for g in range(3)],
        "gc_gen2_ms": [round(p[1] / 1e6, 2) for p in pauses if p[2] == 2],
        "chunk_medians": [
            statistics.median(times[at : at + chunk]) for at in range(0, len(times), chunk)
        ],
        "close_s": closed,
        "decisions": decisions,
    }


def run(
    clicks: int, stores: list[str], chunk: int = CHUNK, between: Callable[[], None] | None = None
) -> dict[str, Any]:
    """The workload on each store in this process, with whatever ``affiliate_sdk`` imports."""
    import affiliate_sdk

    workdir = Path(tempfile.mkdtemp(prefix="bench-clicks-"))
    try:
        results: dict[str, Any] = {"package": str(Path(affiliate_sdk.__file__).parent)}
        for store in stores:
            url = "memory://" if store == "memory" else f"sqlite:///{workdir / 'clicks.db'}"
            results[store] = _run_store(url, clicks, chunk, between)
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _serve(clicks: int, store: str, chunk: int) -> None:
    """The workload under the control of another process: before each chunk of clicks
    say ``ready`` and wait for a line on stdin; at the end print the results as JSON."""

    def between() -> None:
        print("ready", flush=True)
        if not sys.stdin.readline():
            raise SystemExit("the controlling process went away")

    print(json.dumps(run(clicks, [store], chunk, between)), flush=True)


class _Worker:
    """One version's workload in a process of its own, run a chunk at a time."""

    def __init__(self, name: str, src: Path, clicks: int, store: str, chunk: int) -> None:
        self.name, self.src = name, src
        command = [sys.executable, __file__, "--serve", "--clicks", str(clicks)]
        command += ["--stores", store, "--chunk", str(chunk), "--control", str(_CONTROL[0])]
        command += ["--rate", str(_RATE[0])]
        self._proc = subprocess.Popen(
            command,
            env=dict(os.environ, PYTHONPATH=str(src)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _line(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            raise SystemExit(f"the workload failed against {self.src}")
        return line

    def ready(self) -> None:
        if self._line().strip() != "ready":
            raise SystemExit(f"unexpected answer from the workload against {self.src}")

    def go(self) -> str:
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()
        return self._line()

    def result(self, line: str) -> dict[str, Any]:
        self._proc.wait()
        result: dict[str, Any] = json.loads(line)
        if Path(result["package"]).resolve() != (self.src / "affiliate_sdk").resolve():
            raise SystemExit(f"imported {result['package']}, not the package under {self.src}")
        return result


def _interleaved(
    versions: list[tuple[str, Path]], clicks: int, store: str, chunk: int
) -> dict[str, dict[str, Any]]:
    """Each version's workload in its own process, the chunks taking turns (who goes first
    alternates), so a change in the machine's load falls on both alike."""
    workers = [_Worker(name, src, clicks, store, chunk) for name, src in versions]
    for worker in workers:
        worker.ready()
    results: dict[str, dict[str, Any]] = {}
    chunks = -(-clicks // chunk)
    for k in range(chunks):
        for worker in workers if k % 2 == 0 else workers[::-1]:
            line = worker.go()
            if k == chunks - 1:
                results[worker.name] = worker.result(line)
            elif line.strip() != "ready":
                raise SystemExit(f"unexpected answer from the workload against {worker.src}")
            time.sleep(0.02)  # the idle side's writer thread finishes its batch meanwhile
    return results


def _us(ns: float) -> str:
    return f"{ns / 1000:,.2f}"


def _print_latencies(label: str, result: dict[str, Any], stores: list[str]) -> list[str]:
    missed = []
    for store in stores:
        r = result[store]
        tail = r["p99"] / r["median"]
        met = tail <= TAIL_TARGET
        if not met:
            missed.append(f"{label} {store} p99/median {tail:.2f}x")
        print(
            f"{label:<8}{store:<8}{_us(r['median']):>9}{_us(r['mean']):>9}{_us(r['p90']):>9}"
            f"{_us(r['p99']):>9}{_us(r['p999']):>10}{_us(r['max']):>11}{tail:>7.2f}x"
            f"  {'met' if met else 'MISSED'}  >1ms {r['over_1ms']}, >10ms {r['over_10ms']}"
        )
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clicks", type=int, default=200_000)
    parser.add_argument("--stores", default=",".join(STORES), help="sqlite, memory or both")
    parser.add_argument("--prev", type=Path, help="checkout of the release to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=CHUNK, help="timed clicks per turn")
    parser.add_argument("--run", action="store_true", help="run the workload in this process")
    parser.add_argument("--json", action="store_true", help="with --run: print one JSON line")
    parser.add_argument(
        "--control",
        type=int,
        default=CONTROL_EVERY,
        help="one control call after every N clicks (0: none)",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=0,
        help="clicks a second of wall time, on the system clock (0: back to back)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _CONTROL[0] = args.control
    _RATE[0] = args.rate
    stores = [s for s in args.stores.split(",") if s]
    if not stores or any(s not in STORES for s in stores):
        parser.error(f"--stores takes {', '.join(STORES)}")
    if args.serve:
        _serve(args.clicks, stores[0], args.chunk)
        return 0
    if args.run:
        result = run(args.clicks, stores)
        if args.json:
            print(json.dumps(result))
        else:
            _print_latencies("this", result, stores)
        return 0

    here = Path(__file__).resolve().parent.parent / "src"
    versions: list[tuple[str, Path]] = [("new", here)]
    if args.prev is not None:
        versions.insert(0, ("old", args.prev.resolve() / "src"))
    rounds = args.rounds
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(
        f"{args.clicks:,} timed clicks per store and run after {WARMUP:,} untimed, "
        f"{' and '.join(n for n, _ in versions)} taking turns every {args.chunk:,}; "
        f"times in us; target p99/median <= {TAIL_TARGET:g}x"
    )
    print(
        f"{'run':<8}{'store':<8}{'median':>9}{'mean':>9}{'p90':>9}{'p99':>9}{'p99.9':>10}"
        f"{'max':>11}{'p99/med':>8}"
    )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in versions}
    missed: list[str] = []
    for round_no in range(rounds):
        done: dict[str, dict[str, Any]] = {name: {} for name, _ in versions}
        for store in stores:
            for name, result in _interleaved(versions, args.clicks, store, args.chunk).items():
                done[name][store] = result[store]
        for name, _ in versions:
            runs[name].append(done[name])
            missed += _print_latencies(f"{name}{round_no + 1}", done[name], stores)
    for name, results in runs.items():
        for store in stores:
            last = results[-1][store]
            shown = ", ".join(
                f"#{i} {_us(t)}{' (exchange)' if x else ''}{' (gc)' if g else ''}"
                for i, t, x, g in last["slowest"][:5]
            )
            print(f"{name} {store}, last run: slowest clicks {shown}")
            print(
                f"  clicks over 1 ms: {last['over_1ms']}, of them on an exchange "
                f"{last['slow_on_exchange']}, in a collection {last['slow_in_gc']}; "
                f"{last['exchange_clicks']} exchange clicks: median "
                f"{_us(last['exchange_median'])}, max {_us(last['exchange_max'])}"
            )
            print(
                f"  gc collections per generation {last['gc_collections']}, "
                f"gen-2 pauses ms {last['gc_gen2_ms']}"
            )
            t, c = last["tail"], last["control"]
            if not c:
                continue
            print(
                f"  clicks over {TAIL_TARGET:g}x the median: {t['clicks']} "
                f"({t['clicks'] / last['clicks']:.2%}); in a collection {t['in_gc']}, on an "
                f"exchange {t['on_exchange']}, in the {AFTER_EXCHANGE} clicks after one "
                f"{t['after_exchange']}, returning visitors {t['returning']} (their median "
                f"{_us(t['returning_median'])}, new visitors' {_us(t['new_median'])})"
            )
            print(
                f"  control (the same work every call, as long as a click at the median, one "
                f"after every {_CONTROL[0]} clicks): median {_us(c['median'])}, p99 "
                f"{_us(c['p99'])} ({c['p99'] / c['median']:.2f}x), over {TAIL_TARGET:g}x its "
                f"median {c['over_target']:.2%}; calls slowed by over {NOISE_US} us: "
                f"{c['events_per_s']:.0f} a second"
            )
            print(f"  verdicts: {last['decisions']}")
    if args.prev is not None:
        print(f"new over old, target <= {SPEED_TARGET:g}x (per round, then over the rounds)")
        for store in stores:
            for stat in ("median", "mean"):
                old = [r[store][stat] for r in runs["old"]]
                new = [r[store][stat] for r in runs["new"]]
                ratios = [n / o for n, o in zip(new, old, strict=True)]
                ratio = statistics.median(new) / statistics.median(old)
                met = ratio <= SPEED_TARGET
                if not met:
                    missed.append(f"{store} {stat} new/old {ratio:.3f}x")
                print(
                    f"  {store:<7}{stat:<7} old {' '.join(_us(v) for v in old)}"
                    f" | new {' '.join(_us(v) for v in new)} | "
                    f"{' '.join(f'{x:.3f}' for x in ratios)} -> {ratio:.3f}x"
                    f"  {'met' if met else 'MISSED'}"
                )
            paired = [
                n / o
                for new_run, old_run in zip(runs["new"], runs["old"], strict=True)
                for n, o in zip(
                    new_run[store]["chunk_medians"], old_run[store]["chunk_medians"], strict=True
                )
            ]
            print(
                f"  {store:<7}median of each turn's new/old medians ({len(paired)} pairs): "
                f"{statistics.median(paired):.3f}x (quartiles "
                f"{' '.join(f'{q:.3f}' for q in statistics.quantiles(paired, n=4))})"
            )
    if missed:
        print("targets missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
