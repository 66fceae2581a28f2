"""Several app servers on one store and one Redis: processes of their own, for real.

Four processes (started fresh, as app servers are) open the same SQLite file with their
velocity counters on the test Redis server and click at once from one network: whichever
process sees them, exactly the clicks up to the limit pass.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from affiliate_sdk import Alliance
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign
from ..servers import REDIS_URL, redis_prefix

PROCESSES = 4
CLICKS = 10  # each: 40 from one network, against the default limit of 30 a minute
WAIT_S = 60.0


class _Job(NamedTuple):
    url: str
    counters: str
    link: str
    worker: int


def _clicks(job: _Job, go: Event, out: multiprocessing.Queue[object]) -> None:
    """One app server: open the alliance, wait for the others, click, report the verdicts."""
    url, counters, link, worker = job
    try:
        with Alliance.open(url, keys={"k1": SECRET}, counters=counters) as alliance:
            go.wait(WAIT_S)
            decisions = []
            for n in range(CLICKS):
                click = alliance.track_click(
                    link,
                    ip=f"198.51.100.{worker * CLICKS + n + 1}",
                    user_agent=f"{HUMAN_UA} {worker}-{n}",
                )
                decisions.append(click.verdict.decision)
            out.put(decisions)
    except BaseException as exc:  # the parent reports it
        out.put(repr(exc))


def test_a_networks_clicks_are_counted_across_processes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "alliance.db"
    url = f"sqlite:///{path}"
    with redis_prefix() as prefix:
        counters = f"{REDIS_URL}?prefix={quote(prefix)}"
        with Alliance.open(url, keys={"k1": SECRET}, clock=FakeClock()) as setup:
            setup.add_campaign(make_campaign())
            link = setup.create_link(
                affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
            )
        context = multiprocessing.get_context("spawn")
        go = context.Event()
        out: multiprocessing.Queue[object] = context.Queue()
        workers = [
            context.Process(target=_clicks, args=(_Job(url, counters, link, n), go, out))
            for n in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        go.set()
        results = [out.get(timeout=WAIT_S) for _ in workers]
        for worker in workers:
            worker.join(WAIT_S)
        assert all(isinstance(r, list) for r in results), results
        decisions = [d for r in results if isinstance(r, list) for d in r]
        assert len(decisions) == PROCESSES * CLICKS
        assert decisions.count("allow") == 30  # the network's 31st click on is blocked
        assert decisions.count("block") == PROCESSES * CLICKS - 30
    with closing(sqlite3.connect(path)) as conn:  # every process wrote its clicks
        (stored,) = conn.execute("SELECT count(*) FROM clicks").fetchone()
    assert stored == PROCESSES * CLICKS
