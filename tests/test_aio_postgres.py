"""The async face on PostgreSQL: the event loop runs on while another process holds the
schema's write lock and the awaited order waits for it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from affiliate_sdk import Alliance
from affiliate_sdk.storage.postgres._schema import lock_key

from .conftest import SECRET
from .servers import POSTGRES_URL, drop_schemas, postgres_schema_name
from .test_aio import HOLD_S, STALL_BUDGET_S, awaited_while_held, dispatched_while_held
from .webhooks.receiver import receiver_elsewhere

_HOLDER = """
import sys, time
import psycopg
with psycopg.connect(sys.argv[1]) as conn:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(sys.argv[2]),))
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
time.sleep(60)  # killed by then: its exit does not compete for the processor with the loop
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
        holder.kill()
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


def _dispatch_run(schema: str, receiver: str) -> float:
    with Alliance.open(f"{POSTGRES_URL}?schema={schema}", keys={"k1": SECRET}) as alliance:
        return dispatched_while_held(alliance, f"{receiver}/{schema}", _lock_held(schema))


def test_the_async_dispatcher_leaves_the_loop_free_while_the_lock_is_held() -> None:
    stalls = []
    with receiver_elsewhere() as receiver:
        for _ in range(3):
            schema = postgres_schema_name()
            try:
                stalls.append(_dispatch_run(schema, receiver))
            finally:
                drop_schemas([schema])
            if stalls[-1] < STALL_BUDGET_S:
                break
    shown = [round(s * 1000, 1) for s in stalls]
    assert min(stalls) < STALL_BUDGET_S, f"the loop stalled {shown} ms"
