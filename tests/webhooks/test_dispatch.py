"""Deliveries against a real HTTP server on loopback: success, retries, dead letters, replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from affiliate_sdk import Alliance, ForbiddenDestination, Money, Order
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks.dispatcher import Dispatcher
from affiliate_sdk.webhooks.signing import verify_signature
from affiliate_sdk.webhooks.subscriptions import Subscription, check_destination

from ..conftest import HUMAN_UA, SECRET, make_campaign
from .receiver import Answer, Receiver

HOOK_SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def alliance(clock: FakeClock, tmp_path: Path) -> Iterator[Alliance]:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        yield alliance


def _subscribe(alliance: Alliance, url: str, **extra: object) -> Subscription:
    fields: dict[str, object] = {
        "subscription_id": "s1",
        "owner": "platform",
        "url": url,
        "event_types": ["commission.booked"],
        "secrets": [HOOK_SECRET],
    }
    fields.update(extra)
    return alliance.subscribe(Subscription.model_validate(fields))


def _order(alliance: Alliance, clock: FakeClock, n: int, **sub_ids: str) -> None:
    link = alliance.create_link(
        affiliate_id="a1",
        campaign_id="c1",
        landing_url="https://shop.example.com/",
        sub_ids=sub_ids or None,
    )
    click = alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=10))
    alliance.record_order(
        Order(order_id=f"o{n}", merchant_id="m1", total=Money(f"{100 + n}.00", "USD")),
        click_id=click.click_id,
    )


def _dispatcher(alliance: Alliance, **options: object) -> Dispatcher:
    return alliance.dispatcher(allow_private=True, **options)  # type: ignore[arg-type]


def test_events_arrive_signed_in_order_and_verify(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    for n in range(3):
        _order(alliance, clock, n)
    report = _dispatcher(alliance).run_once()
    assert report.delivered == 3
    bodies = [json.loads(r.body) for r in receiver.received]
    assert [b["data"]["order_id"] for b in bodies] == ["o0", "o1", "o2"]
    for request in receiver.received:
        stamp = verify_signature(
            request.headers["Affiliate-Signature"],
            request.body,
            [HOOK_SECRET],
            now=clock.timestamp(),
        )
        assert stamp == int(clock.timestamp())
        assert request.headers["Idempotency-Key"] == json.loads(request.body)["event_id"]
        assert request.headers["Content-Type"] == "application/json"
    assert _dispatcher(alliance).run_once().delivered == 0  # nothing twice
    log = alliance.delivery_log("s1")
    assert [entry["status"] for entry in log] == [200, 200, 200]


def test_a_500_is_retried_later_with_the_same_idempotency_key(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    _order(alliance, clock, 1)
    receiver.script.append(Answer(500, body=b"boom"))
    first = _dispatcher(alliance).run_once()
    assert (first.delivered, first.retried) == (0, 1)
    assert _dispatcher(alliance).run_once().delivered == 0  # not due yet
    clock.advance(timedelta(minutes=2))
    assert _dispatcher(alliance).run_once().delivered == 1
    keys = [r.headers["Idempotency-Key"] for r in receiver.received]
    assert len(keys) == 2 and keys[0] == keys[1]
    log = alliance.delivery_log("s1")
    assert [(e["attempt"], e["status"], e["response_bytes"]) for e in log] == [
        (1, 500, 4),
        (2, 200, 2),
    ]


def test_a_timeout_is_retried(alliance: Alliance, clock: FakeClock, receiver: Receiver) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    _order(alliance, clock, 1)
    receiver.script.append(Answer(200, delay=1.0))
    report = _dispatcher(alliance, timeout=httpx.Timeout(0.3)).run_once()
    assert report.retried == 1
    assert alliance.delivery_log("s1")[0]["error"] == "timeout"


def test_429_waits_for_retry_after(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    _order(alliance, clock, 1)
    receiver.script.append(Answer(429, headers=(("Retry-After", "600"),)))
    assert _dispatcher(alliance).run_once().retried == 1
    clock.advance(timedelta(seconds=590))
    assert _dispatcher(alliance).run_once().delivered == 0
    clock.advance(timedelta(seconds=20))
    assert _dispatcher(alliance).run_once().delivered == 1


def test_410_dead_letters_and_disables_the_subscription(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    _order(alliance, clock, 1)
    _order(alliance, clock, 2)
    receiver.script.append(Answer(410))
    report = _dispatcher(alliance).run_once()
    assert (report.dead, report.delivered) == (1, 0)
    subscription = alliance.subscription("s1")
    assert not subscription.active and "410" in (subscription.disabled_reason or "")
    assert len(alliance.dead_letters("s1")) == 1
    alliance.enable("s1")
    assert _dispatcher(alliance).run_once().delivered == 1  # the second event, in order


def test_other_4xx_is_not_retried(alliance: Alliance, clock: FakeClock, receiver: Receiver) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    _order(alliance, clock, 1)
    _order(alliance, clock, 2)
    receiver.script.append(Answer(400))
    report = _dispatcher(alliance).run_once()
    assert (report.dead, report.delivered) == (1, 1)  # dead-lettered, then the next one
    assert alliance.subscription("s1").active


def test_a_server_down_during_a_batch_loses_nothing(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    receiver.stop()
    for n in range(4):
        _order(alliance, clock, n)
    assert _dispatcher(alliance).run_once().retried == 1
    receiver.start()
    for _ in range(10):
        clock.advance(timedelta(hours=1))
        _dispatcher(alliance).run_once()
    ids = [json.loads(r.body)["data"]["order_id"] for r in receiver.received]
    assert ids == ["o0", "o1", "o2", "o3"]  # each once, in order, after the outage


def test_the_outbox_survives_a_process_that_dies_before_dispatch(
    clock: FakeClock, tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    first = Alliance.open(url, keys={"k1": SECRET}, clock=clock)
    first.add_campaign(make_campaign(rate="10%"))
    _subscribe(first, f"{receiver.url}/hook")
    _order(first, clock, 1)
    first.store.close()  # the process goes away without dispatching
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as second:
        assert _dispatcher(second).run_once().delivered == 1
    assert json.loads(receiver.received[0].body)["data"]["order_id"] == "o1"


def test_loopback_and_private_destinations_are_refused(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    _order(alliance, clock, 1)
    report = alliance.dispatcher().run_once()  # private addresses not allowed
    assert report.refused == 1 and receiver.received == []
    assert "non-public" in (alliance.subscription("s1").disabled_reason or "")

    def resolve(answer: str) -> object:
        return lambda host, port: [answer]

    for address in ("169.254.169.254", "10.1.2.3", "::1", "fd00:ec2::254", "0.0.0.0"):
        with pytest.raises(ForbiddenDestination):
            check_destination("https://hooks.example/x", resolver=resolve(address))  # type: ignore[arg-type]
    public = check_destination("https://hooks.example/x", resolver=resolve("93.184.216.34"))  # type: ignore[arg-type]
    assert public == ["93.184.216.34"]
    with pytest.raises(ForbiddenDestination, match="does not resolve"):
        check_destination("https://nonexistent.invalid/x")


def test_postback_macros_are_url_encoded(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    hostile = {"sub1": "a&b=c", "sub2": "x y/../?#frag", "sub3": "<script>"}
    _subscribe(
        alliance,
        f"{receiver.url}/pb?click={{click_id}}&s1={{sub1}}&s2={{sub2}}&s3={{sub3}}"
        "&c={commission}&cur={currency}",
        owner="affiliate",
        owner_id="a1",
        method="GET",
        event_types=["click.attributed"],
    )
    _order(alliance, clock, 1, **hostile)
    assert _dispatcher(alliance).run_once().delivered == 1
    request = receiver.received[0]
    assert request.method == "GET" and urlsplit(request.path).path == "/pb"
    query = parse_qs(urlsplit(request.path).query)
    assert {name: query[name][0] for name in ("s1", "s2", "s3")} == {
        "s1": hostile["sub1"],
        "s2": hostile["sub2"],
        "s3": hostile["sub3"],
    }
    assert query["c"] == ["10.10"] and query["cur"] == ["USD"]
    with alliance.store.reader() as tx:
        rows = tx.outbox.after(0, limit=100)
    credited = [
        json.loads(row.data)["data"]["click_id"] for row in rows if row.type == "click.attributed"
    ]
    assert query["click"] == credited
    # A GET postback signs its request target (path and query), as the receiver sees it.
    verify_signature(
        request.headers["Affiliate-Signature"],
        request.path.encode(),
        [HOOK_SECRET],
        now=clock.timestamp(),
    )
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"


def test_subscriptions_refuse_unknown_macros_and_host_macros() -> None:
    base = {"subscription_id": "s", "owner": "platform", "secrets": [HOOK_SECRET]}
    with pytest.raises(ValueError, match="unknown macros"):
        Subscription.model_validate(
            {**base, "url": "https://x.example/?a={password}", "event_types": ["order.attributed"]}
        )
    with pytest.raises(ValueError, match="host"):
        Subscription.model_validate(
            {**base, "url": "https://{sub1}.example/", "event_types": ["order.attributed"]}
        )


def test_replay_delivers_again_from_an_event(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    for n in range(3):
        _order(alliance, clock, n)
    _dispatcher(alliance).run_once()
    second = json.loads(receiver.received[1].body)["event_id"]
    assert alliance.replay("s1", event_id=second) == 2
    assert _dispatcher(alliance).run_once().delivered == 2
    again = [json.loads(r.body)["event_id"] for r in receiver.received[3:]]
    assert again[0] == second and len(again) == 2


def test_the_async_dispatcher_delivers_too(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    _order(alliance, clock, 1)

    async def run() -> int:
        dispatcher = alliance.async_dispatcher(allow_private=True)
        try:
            return (await dispatcher.run_once()).delivered
        finally:
            await dispatcher.aclose()

    assert asyncio.run(run()) == 1
    assert len(receiver.received) == 1


def test_two_dispatchers_on_one_database_deliver_each_event_once(
    alliance: Alliance, clock: FakeClock, receiver: Receiver, tmp_path: Path
) -> None:
    import threading

    _subscribe(alliance, f"{receiver.url}/hook")
    for n in range(30):
        _order(alliance, clock, n)
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    others = [Alliance.open(url, keys={"k1": SECRET}, clock=clock) for _ in range(2)]
    reports = []

    def work(other: Alliance) -> None:
        for _ in range(5):
            reports.append(other.dispatcher(allow_private=True).run_once())

    threads = [threading.Thread(target=work, args=(other,)) for other in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.close()
    keys = [r.headers["Idempotency-Key"] for r in receiver.received]
    assert len(keys) == 30 and len(set(keys)) == 30  # every event, once
    assert sum(report.delivered for report in reports) == 30


def test_redirects_are_not_followed_and_big_answers_not_read_whole(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    _order(alliance, clock, 1)
    _order(alliance, clock, 2)
    receiver.script.append(Answer(302, headers=(("Location", "http://169.254.169.254/x"),)))
    receiver.script.append(Answer(200, body=b"y" * 1_000_000))
    report = _dispatcher(alliance).run_once()
    assert (report.dead, report.delivered) == (1, 1)
    assert len(receiver.received) == 2  # nothing went to the redirect's target
    log = alliance.delivery_log("s1")
    assert "redirect" in alliance.dead_letters("s1")[0]["reason"]
    assert log[1]["status"] == 200 and log[1]["response_bytes"] == 4096  # read no further


def test_requests_go_to_the_checked_address_with_the_name_in_host_and_sni() -> None:
    from affiliate_sdk.webhooks.dispatcher import _pinned

    target, host, pinned, extensions = _pinned(
        "https://hooks.example:8443/in?a=%26b", "2001:db8::7"
    )
    assert (target, host) == ("/in?a=%26b", "hooks.example:8443")
    assert pinned == "https://[2001:db8::7]:8443/in?a=%26b"
    assert extensions == {"sni_hostname": "hooks.example"}
    target, host, pinned, extensions = _pinned("http://hooks.example", "93.184.216.34")
    assert (target, host, pinned, extensions) == (
        "/",
        "hooks.example",
        "http://93.184.216.34",
        {},
    )


def test_pruning_keeps_what_a_subscription_has_not_received(
    alliance: Alliance, clock: FakeClock, receiver: Receiver
) -> None:
    _subscribe(alliance, f"{receiver.url}/hook")
    for n in range(3):
        _order(alliance, clock, n)
    receiver.stop()  # nothing delivered yet
    clock.advance(timedelta(days=40))
    assert alliance.prune_outbox() == 0  # old, but the subscription has not passed them
    receiver.start()
    assert _dispatcher(alliance).run_once().delivered == 3
    with alliance.store.reader() as tx:
        total = len(tx.outbox.after(0, limit=1000))
        assert total == tx.outbox.last_seq() > 3  # (click and order events besides the 3)
    assert alliance.prune_outbox(older_than=timedelta(days=30)) == total  # every event passed
    with alliance.store.reader() as tx:
        assert tx.outbox.after(0, limit=100) == []
    _order(alliance, clock, 9)
    assert _dispatcher(alliance).run_once().delivered == 1  # the cursor still works
