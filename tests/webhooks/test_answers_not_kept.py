"""The delivery log keeps no receiver's answer: its length and a keyed digest, on every store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks.subscriptions import Subscription

from ..conftest import HUMAN_UA, SECRET, make_campaign

#: What a receiver echoes back: personal data the platform must not keep.
ECHO = b'{"received": true, "customer": "alice.liddell@example.com", "phone": "+44 20 7946 0958"}'


@pytest.fixture(params=["memory", "sqlite"])
def alliance(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> Iterator[Alliance]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'hooks.db'}"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        yield alliance


def _deliver(alliance: Alliance, clock: FakeClock) -> list[dict[str, object]]:
    alliance.subscribe(
        Subscription(
            subscription_id="s1",
            owner="platform",
            url="https://hooks.example.com/in",
            event_types=["commission.booked"],
            secrets=["whsec-0123456789abcdef"],
        )
    )
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip="203.0.113.4", user_agent=HUMAN_UA)
    alliance.record_order(
        Order(order_id="o1", merchant_id="m1", total=Money("50.00", "USD")),
        click_id=click.click_id,
    )
    answers = iter([httpx.Response(500, content=ECHO), httpx.Response(200, content=ECHO)])
    dispatcher = alliance.dispatcher(
        transport=httpx.MockTransport(lambda request: next(answers)),
        resolver=lambda host, port: ["93.184.216.34"],
    )
    assert dispatcher.run_once().retried == 1
    clock.advance(timedelta(minutes=5))
    assert dispatcher.run_once().delivered == 1
    return alliance.delivery_log("s1")


def test_the_log_keeps_the_answers_length_and_keyed_digest_not_its_text(
    alliance: Alliance, clock: FakeClock
) -> None:
    log = _deliver(alliance, clock)
    assert [(e["status"], e["response_bytes"]) for e in log] == [(500, len(ECHO)), (200, len(ECHO))]
    for entry in log:
        assert entry["response"] is None  # kept for callers that read it: never the answer
        digest = str(entry["response_digest"])
        assert digest.startswith("k1:") and len(digest) == 3 + 64
        assert b"alice" not in repr(entry).encode()
        assert alliance.webhooks.response_matches(entry, ECHO)
        assert not alliance.webhooks.response_matches(entry, ECHO.replace(b"alice", b"bruce"))
    # Keyed: the digest is no plain hash anyone could match a guess against.
    assert hashlib.sha256(ECHO).hexdigest() not in str(log[0]["response_digest"])


def test_no_answer_reaches_the_sqlite_file(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "hooks.db"
    with Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        _deliver(alliance, clock)
    files = [p for p in tmp_path.iterdir() if p.name.startswith("hooks.db")]
    assert files
    for file in files:
        raw = file.read_bytes()
        assert b"alice.liddell" not in raw and b"7946" not in raw, file.name
