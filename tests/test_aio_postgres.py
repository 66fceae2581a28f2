"""The async face on PostgreSQL: the event loop runs on while another process holds the
schema's write lock and the awaited order waits for it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.storage.postgres._schema import lock_key

from .conftest import HUMAN_UA, SECRET, make_campaign
from .servers import POSTGRES_URL, drop_schemas, postgres_schema_name
from .test_aio import HOLD_S, STALL_BUDGET_S, _largest_stall, awaited_while_held
from .webhooks.receiver import Receiver
from .webhooks.services.support import subscription

_HOLDER = """
import sys, time
import psycopg
with psycopg.connect(sys.argv[1]) as conn:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(sys.argv[2]),))
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
"""


@contextmanager
def _lock_held(schema: str) -> Iterator[None]:
    """Another process holds the schema's write lock for ``HOLD_S`` from now."""
    key = str(lock_key(schema, "write"))
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, POSTGRES_URL, key, str(HOLD_S)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        yield
    finally:
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()


def _one_run(schema: str) -> float:
    with Alliance.open(f"{POSTGRES_URL}?schema={schema}", keys={"k1": SECRET}) as alliance:
        return awaited_while_held(alliance, _lock_held(schema))


def test_the_loop_runs_on_while_another_process_holds_the_write_lock() -> None:
    stalls = []
    for _ in range(3):  # of three runs, one must stay in the budget (docs/performance.md)
        schema = postgres_schema_name()
        try:
            stalls.append(_one_run(schema))
        finally:
            drop_schemas([schema])
        if stalls[-1] < STALL_BUDGET_S:
            break
    shown = [round(s * 1000, 1) for s in stalls]
    assert min(stalls) < STALL_BUDGET_S, f"the loop stalled {shown} ms"


def _dispatch_run(schema: str, receiver: Receiver) -> float:
    with Alliance.open(f"{POSTGRES_URL}?schema={schema}", keys={"k1": SECRET}) as alliance:
        alliance.add_campaign(make_campaign())
        alliance.subscribe(subscription(f"{receiver.url}/{schema}"))
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        click = alliance.track_click(link, ip="198.51.100.1", user_agent=HUMAN_UA)
        order = Order(order_id="o1", merchant_id="m1", total=Money("80.00", "CNY"))
        alliance.record_order(order, click_id=click.click_id)
        with _lock_held(schema):

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


def test_the_async_dispatcher_leaves_the_loop_free_while_the_lock_is_held() -> None:
    receiver = Receiver()
    stalls = []
    try:
        for _ in range(3):
            schema = postgres_schema_name()
            try:
                stalls.append(_dispatch_run(schema, receiver))
            finally:
                drop_schemas([schema])
            if stalls[-1] < STALL_BUDGET_S:
                break
    finally:
        receiver.stop()
    shown = [round(s * 1000, 1) for s in stalls]
    assert min(stalls) < STALL_BUDGET_S, f"the loop stalled {shown} ms"
