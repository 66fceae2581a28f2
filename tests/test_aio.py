"""The alliance for async hosts: calls awaited off the event loop, even while another
process holds SQLite's write lock."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, MalformedLink, Money, Order

from .conftest import HUMAN_UA, SECRET, make_campaign
from .webhooks.receiver import receiver_elsewhere
from .webhooks.services.support import subscription

#: The event loop's largest stall allowed while calls wait for the store.
STALL_BUDGET_S = 0.010
HOLD_S = 1.0

_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
time.sleep(60)  # killed by then: its exit does not compete for the processor with the loop
"""


@contextmanager
def _lock_held(path: Path) -> Iterator[None]:
    """Another process holds the file's write lock for ``HOLD_S`` from now."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(HOLD_S)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        yield
    finally:
        holder.kill()
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()


def _best_of_three(run: Callable[[Path], float], directory: Path) -> None:
    """The machine may take the processor away for a few ms at any time
    (docs/performance.md): of three runs, one must stay in the budget. Blocking the loop
    fails all three."""
    stalls = []
    for attempt in range(3):
        stall = run(directory / f"alliance-{attempt}.db")
        stalls.append(stall)
        if stall < STALL_BUDGET_S:
            break
    shown = [round(s * 1000, 1) for s in stalls]
    assert min(stalls) < STALL_BUDGET_S, f"the loop stalled {shown} ms"


async def _largest_stall(stop: asyncio.Event) -> float:
    """How much longer than asked the loop once took to come back to a 1 ms sleep."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    while not stop.is_set():
        began = loop.time()
        await asyncio.sleep(0.001)
        worst = max(worst, loop.time() - began - 0.001)
    return worst


def test_the_loop_runs_on_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    # The machine may take the processor away for a few ms at any time (docs/performance.md):
    # of three runs, one must stay in the budget. Blocking the loop fails all three.
    stalls = []
    for attempt in range(3):
        stall = _one_run(tmp_path / f"alliance-{attempt}.db")
        stalls.append(stall)
        if stall < STALL_BUDGET_S:
            break
    assert min(stalls) < STALL_BUDGET_S, (
        f"the loop stalled {[round(s * 1000, 1) for s in stalls]} ms"
    )


def _one_run(path: Path) -> float:
    """The loop's largest stall while clicks and an order are awaited and another process
    holds the write lock (the order waits for it)."""
    with Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}) as alliance:
        return awaited_while_held(alliance, _lock_held(path))


def awaited_while_held(alliance: Alliance, held: AbstractContextManager[None]) -> float:
    """On a fresh alliance: the loop's largest stall while 20 clicks and an order are awaited
    inside ``held`` (another process holding the store's write lock: the order waits)."""
    alliance.add_campaign(make_campaign())
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    with held:

        async def endpoint() -> tuple[float, float, list[str]]:
            stop = asyncio.Event()
            monitor = asyncio.create_task(_largest_stall(stop))
            clicks = [
                await alliance.aio.track_click(link, ip=f"198.51.100.{n + 1}", user_agent=HUMAN_UA)
                for n in range(20)
            ]
            began = time.monotonic()
            order = Order(order_id="o1", merchant_id="m1", total=Money("80.00", "CNY"))
            await alliance.aio.record_order(order, click_id=clicks[0].click_id)
            waited = time.monotonic() - began
            stop.set()
            return await monitor, waited, [c.verdict.decision for c in clicks]

        stall, waited, decisions = asyncio.run(endpoint())
    assert decisions == ["allow"] * 20
    assert waited > HOLD_S / 2  # the order did wait for the other process's lock
    assert [c.order_id for c in alliance.commissions()] == ["o1"]
    return stall


def dispatched_while_held(
    alliance: Alliance, hook_url: str, held: AbstractContextManager[None]
) -> float:
    """On a fresh alliance: one order's event, then the loop's largest stall during an async
    dispatcher pass inside ``held`` (another process holding the write lock: the pass waits)."""
    alliance.add_campaign(make_campaign())
    alliance.subscribe(subscription(hook_url))
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip="198.51.100.1", user_agent=HUMAN_UA)
    order = Order(order_id="o1", merchant_id="m1", total=Money("80.00", "CNY"))
    alliance.record_order(order, click_id=click.click_id)
    with held:

        async def dispatch() -> tuple[float, float, int]:
            stop = asyncio.Event()
            monitor = asyncio.create_task(_largest_stall(stop))
            began = time.monotonic()
            async with alliance.async_dispatcher(allow_private=True) as dispatcher:
                report = await dispatcher.run_once()
            waited = time.monotonic() - began
            stop.set()
            return await monitor, waited, report.delivered

        stall, waited, delivered = asyncio.run(dispatch())
    assert delivered == 1
    assert waited > HOLD_S / 2  # the pass did wait for the other process's lock
    return stall


def test_calls_run_on_the_alliances_worker_threads() -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}) as alliance:

        async def where() -> str:
            return await alliance.aio.run(lambda: threading.current_thread().name)

        assert asyncio.run(where()).startswith("affiliate-sdk-aio")
        assert alliance.aio is alliance.aio


def test_an_error_is_raised_to_the_awaiting_caller() -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}) as alliance:

        async def verify() -> None:
            await alliance.aio.verify_link("https://shop.example.com/?aff=forged")

        with pytest.raises(MalformedLink):
            asyncio.run(verify())


def test_a_forked_child_makes_a_pool_of_its_own() -> None:
    import os
    import signal

    with Alliance.open("memory://", keys={"k1": SECRET}) as alliance:

        async def one() -> int:
            return await alliance.aio.run(lambda: 1)

        assert asyncio.run(one()) == 1  # the parent's pool has threads
        pid = os.fork()
        if pid == 0:  # the child: exits by itself in any case
            signal.alarm(20)
            code = 1
            try:
                code = 0 if asyncio.run(one()) == 1 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def test_the_async_dispatcher_leaves_the_loop_free_while_the_lock_is_held(
    tmp_path: Path,
) -> None:
    with receiver_elsewhere() as receiver:

        def one_run(path: Path) -> float:
            with Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}) as alliance:
                return dispatched_while_held(alliance, f"{receiver}/{path.stem}", _lock_held(path))

        _best_of_three(one_run, tmp_path)
