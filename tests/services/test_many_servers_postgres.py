"""Four app servers on one PostgreSQL database and one Redis: processes of their own.

Each test starts fresh processes (as app servers are started), opens the same
``postgresql://`` store in them and lets them work at once: identical checkouts book
once; a network's clicks are counted across processes; several dispatchers deliver each
event once, in order; a process killed with SIGKILL mid-booking leaves a book that
verifies.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Event
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign
from ..servers import POSTGRES_URL, REDIS_URL, drop_schemas, postgres_schema_name, redis_prefix
from ..webhooks.receiver import Receiver
from ..webhooks.services.support import body_of, subscription

PROCESSES = 4
WAIT_S = 90.0
KEYS = {"k1": SECRET}

Work = Callable[[str, int, Any], object]


@pytest.fixture
def url() -> Iterator[str]:
    schema = postgres_schema_name()
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        drop_schemas([schema])


def _serve(job: tuple[Work, str, int, Any], go: Event, out: Any) -> None:
    """One app server: wait for the others, do the work, report what it returned."""
    work, url, worker, arg = job
    try:
        go.wait(WAIT_S)
        out.put((worker, work(url, worker, arg)))
    except BaseException as exc:  # the parent reports it
        out.put((worker, f"failed: {exc!r}"))


def _run_servers(work: Work, url: str, arg: Any = None) -> list[Any]:
    """Start ``PROCESSES`` fresh processes running ``work`` at once; their results."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    out: Any = context.Queue()
    workers = [
        context.Process(target=_serve, args=((work, url, n, arg), go, out))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    go.set()
    results = dict(out.get(timeout=WAIT_S) for _ in workers)
    for worker in workers:
        worker.join(WAIT_S)
    failed = [r for r in results.values() if isinstance(r, str) and r.startswith("failed")]
    assert not failed, failed
    return [results[n] for n in range(PROCESSES)]


def _setup(url: str) -> str:
    """A campaign and one affiliate's link; the link."""
    with Alliance.open(url, keys=KEYS, clock=FakeClock()) as alliance:
        alliance.add_campaign(make_campaign())
        return alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )


def _count(url: str, sql: str) -> int:
    schema = url.rpartition("schema=")[2]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


# -- identical checkouts ------------------------------------------------------------------------
def _checkouts(url: str, worker: int, click_id: str) -> list[str]:
    order = Order(order_id="o1", merchant_id="m1", total=Money("80.00", "CNY"))
    with Alliance.open(url, keys=KEYS) as alliance:
        return [
            alliance.record_order(order, click_id=click_id).model_dump_json() for _ in range(10)
        ]


def test_forty_identical_checkouts_over_four_servers_book_once(url: str) -> None:
    link = _setup(url)
    with Alliance.open(url, keys=KEYS) as alliance:
        click = alliance.track_click(link, ip="198.51.100.7", user_agent=HUMAN_UA)
    results = _run_servers(_checkouts, url, click.click_id)
    outcomes = {outcome for result in results for outcome in result}
    assert sum(len(result) for result in results) == 40
    assert len(outcomes) == 1  # every checkout got the first booking's outcome
    assert _count(url, "SELECT count(*) FROM orders") == 1
    with Alliance.open(url, keys=KEYS) as alliance:
        commissions = alliance.commissions(order_id="o1")
        # 10% of 80.00 CNY, once: the affiliate's line (and the platform's share, if any)
        assert [c.amount for c in commissions if c.account == "affiliate"] == [Money("8.00", "CNY")]
        assert alliance.verify_ledger().ok


# -- clicks from one network ------------------------------------------------------------------
def _clicks(url: str, worker: int, arg: tuple[str, str]) -> list[str]:
    link, counters = arg
    with Alliance.open(url, keys=KEYS, counters=counters) as alliance:
        return [
            alliance.track_click(
                link, ip=f"198.51.100.{worker * 10 + n + 1}", user_agent=f"{HUMAN_UA} {worker}-{n}"
            ).verdict.decision
            for n in range(10)
        ]


def test_a_networks_31st_click_is_blocked_whichever_server_sees_it(url: str) -> None:
    link = _setup(url)
    with redis_prefix() as prefix:
        counters = f"{REDIS_URL}?prefix={quote(prefix)}"
        results = _run_servers(_clicks, url, (link, counters))
    decisions = [d for result in results for d in result]
    assert len(decisions) == 40
    assert decisions.count("allow") == 30  # the default limit: 30 a minute per network
    assert _count(url, "SELECT count(*) FROM clicks") == 40


# -- several dispatchers ------------------------------------------------------------------------
def _dispatch(url: str, worker: int, arg: tuple[int, str | None]) -> int:
    expected, counters = arg  # with counters on Redis, the dispatchers' leases are there
    delivered = 0
    with Alliance.open(url, keys=KEYS, counters=counters) as alliance:
        dispatcher = alliance.dispatcher(allow_private=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                delivered += dispatcher.run_once().delivered
                if _count(url, "SELECT count(*) FROM webhook_log") >= expected:
                    break
        finally:
            dispatcher.close()
    return delivered


@pytest.mark.parametrize("leases", ["postgres", "redis"])
def test_several_dispatchers_deliver_each_event_once_in_order(url: str, leases: str) -> None:
    link = _setup(url)
    receiver = Receiver()
    try:
        with Alliance.open(url, keys=KEYS) as alliance:
            for hook in ("s1", "s2"):  # two subscriptions: each in order, each once
                alliance.subscribe(subscription(f"{receiver.url}/{hook}", subscription_id=hook))
            for n in range(30):
                click = alliance.track_click(link, ip=f"203.0.113.{n + 1}", user_agent=HUMAN_UA)
                order = Order(order_id=f"o{n}", merchant_id="m1", total=Money("50.00", "CNY"))
                alliance.record_order(order, click_id=click.click_id)
        expected = _count(url, "SELECT count(*) FROM outbox WHERE type = 'commission.booked'")
        assert expected >= 15  # (orders the fraud rules held are not booked)
        with redis_prefix() as prefix:
            counters = f"{REDIS_URL}?prefix={quote(prefix)}" if leases == "redis" else None
            delivered = _run_servers(_dispatch, url, (2 * expected, counters))
        assert sum(delivered) == 2 * expected
        by_hook = {
            hook: [body_of(r)["event_id"] for r in receiver.received if r.path == f"/{hook}"]
            for hook in ("s1", "s2")
        }
        schema = url.rpartition("schema=")[2]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            in_order = [
                row[0]
                for row in conn.execute(
                    f"SELECT event_id FROM {schema}.outbox WHERE type = 'commission.booked' "
                    "ORDER BY seq"
                )
            ]
        for ids in by_hook.values():
            assert ids == in_order  # each event once, in the order written
    finally:
        receiver.stop()


# -- kill -9 mid-booking ----------------------------------------------------------------------
def _book_forever(url: str, link: str, ready: Any) -> None:
    with Alliance.open(url, keys=KEYS) as alliance:
        n = 0
        while True:
            click = alliance.track_click(link, ip=f"192.0.2.{n % 250 + 1}", user_agent=HUMAN_UA)
            order = Order(order_id=f"k{n}", merchant_id="m1", total=Money("30.00", "CNY"))
            alliance.record_order(order, click_id=click.click_id)
            n += 1
            ready.value = n


def test_a_server_killed_mid_booking_leaves_a_book_that_verifies(url: str) -> None:
    link = _setup(url)
    context = multiprocessing.get_context("spawn")
    ready = context.Value("i", 0)
    child = context.Process(target=_book_forever, args=(url, link, ready))
    child.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while ready.value < 25 and time.monotonic() < deadline and child.is_alive():
            time.sleep(0.01)
        assert ready.value >= 25, "the booking process did not get going"
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)  # somewhere inside a booking, most likely
    finally:
        child.join(WAIT_S)
    assert child.exitcode == -signal.SIGKILL
    with Alliance.open(url, keys=KEYS) as alliance:
        verification = alliance.verify_ledger()
        assert verification.ok, verification
        booked = _count(url, "SELECT count(*) FROM orders")
        assert booked >= 25
        # every stored order has its whole booking: the lines its outcome names
        paid = _count(
            url, "SELECT count(*) FROM orders WHERE outcome_json::jsonb -> 'commissions' <> '[]'"
        )
        assert paid >= 1
        assert _count(url, "SELECT count(DISTINCT order_id) FROM lines") == paid
        entries = _count(url, "SELECT count(*) FROM journal")
        assert verification.entries == entries >= booked
