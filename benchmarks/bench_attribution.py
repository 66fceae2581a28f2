"""Batch attribution against the ``ChannelAttribution`` package, side by side in one run.

Run: ``python benchmarks/bench_attribution.py [--journeys 1000000] [--wide 100000]
[--nsim 1e7] [--no-baseline]``

Two seeded synthetic datasets: 13 channels with geometric path lengths of mean 3
(``--journeys`` journeys), and a wide one of 200 channels with mean length 8
(``--wide`` journeys). Each journey converts with a probability that grows with
the strength of the channels it touched; converted journeys carry a log-normal
value. Both libraries get the same aggregated table (distinct paths with their
conversions, value and nulls).

Ours: the five rule-based models, Markov order 1 and 2 (exact), from the table.
Baseline, when installed (``pip install -e '.[bench]'``; GPL, only ever run
here): ``ChannelAttribution.heuristic_models`` and ``markov_model`` order 1 and
2 with ``max_step=1000`` (a long step limit, so its simulated paths end as the
exact chain's do), ``nsim_start=--nsim`` and ``conv_par=--conv-par`` (1e7 and
0.005: a high-precision run) on the 13-channel set; on the wide set
``--wide-nsim`` and ``--wide-conv-par`` (1e6 and 0.05 by default: at 1e7 and
0.005 it ran for over 25 minutes without finishing order 1 on this machine). For each: seconds, peak
resident memory above the start of the run, the speed ratio, and the largest
difference between the two libraries' Markov credits, relative to the larger
channel's credit.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from affiliate_sdk.attribution import HEURISTICS, Journeys, heuristic, markov

T = TypeVar("T")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@contextlib.contextmanager
def _peak() -> Iterator[list[int]]:
    """Samples resident memory every millisecond; yields [peak above start] when done."""
    start = _rss()
    peak = [start]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.001):
            peak[0] = max(peak[0], _rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result = [0]
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result[0] = max(peak[0], _rss()) - start


def measure(run: Callable[[], T]) -> tuple[T, float, int]:
    with _peak() as peak:
        start = time.perf_counter()
        value = run()
        seconds = time.perf_counter() - start
    return value, seconds, peak[0]


def generate(
    journeys: int, channels: int, mean_length: float, seed: int
) -> tuple[list[str], list[float], list[float], list[float], list[str]]:
    """Aggregated rows (path strings " > "-joined, conversions, value, nulls) and channel names."""
    rng = np.random.Generator(np.random.PCG64(seed))
    names = [f"ch{n:03d}" for n in range(channels)]
    popularity = rng.dirichlet(np.full(channels, 2.0))
    strength = rng.normal(0.0, 0.5, channels)
    lengths = rng.geometric(1.0 / mean_length, journeys)
    touches = rng.choice(channels, size=int(lengths.sum()), p=popularity)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    logit = -4.0 + np.add.reduceat(strength[touches], starts) + 0.15 * lengths
    converted = rng.random(journeys) < 1.0 / (1.0 + np.exp(-logit))
    value = np.where(converted, rng.lognormal(4.0, 0.6, journeys), 0.0)
    table: dict[str, list[float]] = {}
    text = np.array(names)[touches]
    for n, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        key = " > ".join(text[start : start + length])
        row = table.setdefault(key, [0.0, 0.0, 0.0])
        if converted[n]:
            row[0] += 1
            row[1] += float(value[n])
        else:
            row[2] += 1
    paths = list(table)
    rows = list(table.values())
    return paths, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], names


def ours(paths: list[str], conv: list[float], value: list[float], nulls: list[float]) -> Any:
    return Journeys.from_paths(zip(paths, conv, value, nulls, strict=True))


def compare(
    label: str,
    data: tuple[list[str], list[float], list[float], list[float], list[str]],
    *,
    nsim: float,
    conv_par: float,
    baseline: Any,
    orders: tuple[int, ...],
) -> None:
    paths, conv, value, nulls, _names = data
    print(f"\n{label}: {len(paths):,} distinct paths, {sum(conv) + sum(nulls):,.0f} journeys")
    journeys, load, _ = measure(lambda: ours(paths, conv, value, nulls))
    print(f"  ours  load the table                    {load:8.3f} s")
    _, seconds, memory = measure(lambda: [heuristic(journeys, m) for m in HEURISTICS])
    print(f"  ours  5 rule-based models               {seconds:8.3f} s  {memory / 2**20:7.1f} MiB")
    frame = None
    if baseline is not None:
        import pandas as pd

        frame = pd.DataFrame({"path": paths, "conv": conv, "value": value, "null": nulls})
        _, theirs, memory = measure(
            lambda: _quiet(
                lambda: baseline.heuristic_models(
                    frame, "path", "conv", var_value="value", flg_pro=False
                )
            )
        )
        print(
            f"  base  heuristic_models                  {theirs:8.3f} s  {memory / 2**20:7.1f} MiB"
        )
    for order in orders:

        def run_ours(order: int = order) -> Any:
            return markov(journeys, order)

        def run_theirs(order: int = order) -> Any:
            return _quiet(
                lambda: baseline.markov_model(
                    frame,
                    "path",
                    "conv",
                    var_value="value",
                    var_null="null",
                    order=order,
                    nsim_start=nsim,
                    max_step=1000,
                    conv_par=conv_par,
                    verbose=False,
                    flg_pro=False,
                )
            )

        result, seconds, memory = measure(run_ours)
        print(
            f"  ours  Markov order {order} (exact)             {seconds:8.3f} s"
            f"  {memory / 2**20:7.1f} MiB  {result.details['states']:,} states"
        )
        if baseline is None:
            continue
        found, theirs, memory = measure(run_theirs)
        credits = dict(zip(found["channel_name"], found["total_conversions"], strict=True))
        mine = result.as_dict()
        scale = max(abs(c) for c, _ in mine.values())
        gap = max(abs(mine[name][0] - credits.get(name, 0.0)) for name in mine) / scale
        print(
            f"  base  markov_model order {order} (nsim {nsim:.0e}, conv_par {conv_par})"
            f"  {theirs:8.3f} s"
            f"  {memory / 2**20:7.1f} MiB  ours faster by {theirs / seconds:.1f}x"
            f" ({theirs / (seconds + load):.1f}x with the table load),"
            f" credits differ by at most {gap:.3%}"
        )


def per_order(orders: int) -> None:
    """Attribution's share of ``record_order``: three clicks per order, linear model."""
    from datetime import UTC, datetime, timedelta

    from affiliate_sdk import Alliance, AttributionPolicy, Campaign, CommissionPlan, Money, Order
    from affiliate_sdk._services._attribution import attribute
    from affiliate_sdk.testing import FakeClock

    clock = FakeClock(datetime(2026, 11, 1, tzinfo=UTC))
    with Alliance.open("memory://", keys={"k1": os.urandom(32)}, clock=clock) as alliance:
        alliance.add_campaign(
            Campaign(
                campaign_id="c1",
                merchant_id="m1",
                plan=CommissionPlan(rate="10%"),
                landing_domains=["shop.example.com"],
                attribution=AttributionPolicy(model="linear"),
            )
        )
        links = [
            alliance.create_link(
                affiliate_id=f"a{n}", campaign_id="c1", landing_url="https://shop.example.com/"
            )
            for n in range(3)
        ]
        visitors = []
        for n in range(2 * orders):
            visitor = None
            for link in links:
                click = alliance.track_click(
                    link,
                    ip=f"10.{n % 256}.{n // 256 % 256}.1",  # one network per visitor
                    user_agent="Mozilla/5.0 (X11)",
                    visitor_id=visitor,
                )
                visitor = click.visitor_id
                clock.advance(timedelta(seconds=2))
            visitors.append(visitor)
        clock.advance(timedelta(hours=1))
        made = [
            Order(order_id=f"o{n}", merchant_id="m1", total=Money("120.00", "CNY"))
            for n in range(2 * orders)
        ]
        start = time.perf_counter()
        for order, visitor in zip(made[:orders], visitors[:orders], strict=True):
            alliance.record_order(order, visitor_id=visitor)
        recorded = (time.perf_counter() - start) / orders
        placed_ms = int(clock.timestamp() * 1000)
        now = clock.timestamp()
        start = time.perf_counter()
        for order, visitor in zip(made[orders:], visitors[orders:], strict=True):
            with alliance.store.reader() as tx:
                attribute(
                    tx,
                    alliance.catalog,
                    order,
                    placed_ms=placed_ms,
                    visitor_id=visitor,
                    click_id=None,
                    now=now,
                )
        attributed = (time.perf_counter() - start) / orders
        if not alliance.record_order(made[-1], visitor_id=visitors[-1]).credits:
            raise SystemExit("the benchmark's clicks earned nothing: check its traffic")
    print(
        f"\nper order (memory://, 3 clicks, linear): record_order {recorded * 1e6:.1f} us,"
        f" of which attribution {attributed * 1e6:.1f} us = {attributed / recorded:.1%}"
        " (budget 10%)"
    )


def _quiet(run: Callable[[], T]) -> T:
    with contextlib.redirect_stdout(io.StringIO()):
        return run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="batch attribution benchmark")
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--wide", type=int, default=100_000)
    parser.add_argument("--nsim", type=float, default=1e7)
    parser.add_argument("--conv-par", type=float, default=0.005)
    parser.add_argument("--wide-nsim", type=float, default=1e6)
    parser.add_argument("--wide-conv-par", type=float, default=0.05)
    parser.add_argument("--only", choices=["narrow", "wide"], default=None)
    parser.add_argument("--markov-orders", default="1,2", help="comma-separated, e.g. 1")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--orders", type=int, default=5_000, help="per-order attribution runs")
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    per_order(args.orders)
    baseline = None
    if not args.no_baseline:
        try:
            baseline = _quiet(lambda: __import__("ChannelAttribution"))
        except ImportError:
            print("ChannelAttribution is not installed: ours only (pip install -e '.[bench]')")
    orders = tuple(int(order) for order in args.markov_orders.split(","))
    if args.only != "wide":
        compare(
            "13 channels, mean length 3",
            generate(args.journeys, 13, 3.0, seed=1),
            nsim=args.nsim,
            conv_par=args.conv_par,
            baseline=baseline,
            orders=orders,
        )
    if args.only != "narrow":
        compare(
            "200 channels, mean length 8",
            generate(args.wide, 200, 8.0, seed=2),
            nsim=args.wide_nsim,
            conv_par=args.wide_conv_par,
            baseline=baseline,
            orders=orders,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
