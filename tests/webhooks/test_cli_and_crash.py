"""The webhooks command, and an outbox that outlives a killed process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from affiliate_sdk import Alliance
from affiliate_sdk.cli import main
from affiliate_sdk.testing import FakeClock

from ..conftest import SECRET, make_campaign
from ..servers import POSTGRES_URL, drop_schemas, postgres_schema_name
from .receiver import Answer, Receiver
from .test_dispatch import HOOK_SECRET, _order, _subscribe


def test_a_process_killed_after_booking_loses_no_event(tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    receiver = Receiver()
    script = textwrap.dedent(
        f"""
        import os
        from datetime import UTC, datetime, timedelta
        from affiliate_sdk import Alliance, Campaign, CommissionPlan, Money, Order
        from affiliate_sdk.testing import FakeClock
        from affiliate_sdk.webhooks.subscriptions import Subscription

        clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
        alliance = Alliance.open("sqlite:///{db}", keys={{"k1": bytes(range(32))}}, clock=clock)
        alliance.add_campaign(Campaign(campaign_id="c1", merchant_id="m1",
            plan=CommissionPlan(rate="10%"), landing_domains=["shop.example.com"]))
        alliance.subscribe(Subscription(subscription_id="s1", owner="platform",
            url="{receiver.url}/hook", event_types=["commission.booked"],
            secrets=["{HOOK_SECRET}"]))
        link = alliance.create_link(affiliate_id="a1", campaign_id="c1",
            landing_url="https://shop.example.com/")
        agent = "Mozilla/5.0 (X11) Firefox/128"
        click = alliance.track_click(link, ip="203.0.113.9", user_agent=agent)
        clock.advance(timedelta(minutes=10))
        alliance.record_order(Order(order_id="o1", merchant_id="m1",
            total=Money("50.00", "USD")), click_id=click.click_id)
        os._exit(9)  # killed after the booking committed, before any dispatch
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], check=False)
    assert killed.returncode == 9
    try:
        with Alliance.open(f"sqlite:///{db}", keys={"k1": SECRET}) as alliance:
            report = alliance.dispatcher(allow_private=True).run_once()
        assert report.delivered == 1
        assert json.loads(receiver.received[0].body)["data"]["order_id"] == "o1"
    finally:
        receiver.stop()


@pytest.fixture
def db(tmp_path: Path, clock: FakeClock) -> Path:
    return tmp_path / "cli.db"


def test_the_command_lists_dispatches_retries_and_replays(
    db: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver()
    try:
        with Alliance.open(f"sqlite:///{db}", keys={"k1": SECRET}, clock=clock) as alliance:
            alliance.add_campaign(make_campaign(rate="10%"))
            _subscribe(alliance, f"{receiver.url}/hook")
            _order(alliance, clock, 1)
            _order(alliance, clock, 2)
        # Every command needs the alliance's keys: its data keys and the secrets are sealed.
        assert main(["webhooks", "dispatch", "--db", str(db), "--allow-private"]) == 2
        assert "AFFILIATE_SDK_KEYS" in capsys.readouterr().err
        assert main(["webhooks", "list", "--db", str(db)]) == 2
        assert "AFFILIATE_SDK_KEYS" in capsys.readouterr().err
        monkeypatch.setenv("AFFILIATE_SDK_KEYS", f"k9={bytes(range(50, 82)).hex()}")
        assert main(["webhooks", "dispatch", "--db", str(db), "--allow-private"]) == 1
        assert "sealed with keyring key 'k1'" in capsys.readouterr().err  # the key to bring
        assert receiver.received == []
        monkeypatch.setenv("AFFILIATE_SDK_KEYS", f"k1={SECRET.hex()}")
        receiver.script.append(Answer(410))
        assert main(["webhooks", "dispatch", "--db", str(db), "--allow-private"]) == 0
        assert json.loads(capsys.readouterr().out)["dead"] == 1
        assert main(["webhooks", "list", "--db", str(db)]) == 0
        listed = capsys.readouterr().out
        assert "s1  platform" in listed and "disabled (HTTP 410" in listed
        assert "dead letters 1" in listed
        assert main(["webhooks", "retry", "--db", str(db), "s1"]) == 0
        assert "enabled, due now" in capsys.readouterr().out
        assert main(["webhooks", "dispatch", "--db", str(db), "--allow-private"]) == 0
        assert json.loads(capsys.readouterr().out)["delivered"] == 1
        first = json.loads(receiver.received[0].body)["event_id"]
        assert main(["webhooks", "retry", "--db", str(db), "s1", "--event", first]) == 0
        assert "2 event(s)" in capsys.readouterr().out
        assert main(["webhooks", "dispatch", "--db", str(db), "--allow-private"]) == 0
        assert json.loads(capsys.readouterr().out)["delivered"] == 2
        since = (clock.now() - timedelta(days=1)).isoformat()
        assert main(["webhooks", "replay", "--db", str(db), "s1", "--since", since]) == 0
        assert "2 event(s)" in capsys.readouterr().out
        assert main(["webhooks", "replay", "--db", str(db), "s1"]) == 2
        assert main(["webhooks", "prune", "--db", str(db), "--days", "30"]) == 0
        assert capsys.readouterr().out.strip() == "0 event(s) pruned"  # all younger
        assert main(["webhooks", "list", "--db", str(db / "nope")]) == 2
    finally:
        receiver.stop()


def test_the_command_dispatches_from_a_postgresql_store(
    clock: FakeClock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = postgres_schema_name()
    url = f"{POSTGRES_URL}?schema={schema}"
    receiver = Receiver()
    try:
        with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
            alliance.add_campaign(make_campaign(rate="10%"))
            _subscribe(alliance, f"{receiver.url}/hook")
            _order(alliance, clock, 1)
        monkeypatch.setenv("AFFILIATE_SDK_KEYS", f"k1={SECRET.hex()}")
        assert main(["webhooks", "dispatch", "--url", url, "--allow-private"]) == 0
        assert json.loads(capsys.readouterr().out)["delivered"] >= 1
        assert receiver.received
        assert main(["webhooks", "list", "--url", url]) == 0
        assert "s1  platform" in capsys.readouterr().out
    finally:
        receiver.stop()
        drop_schemas([schema])
