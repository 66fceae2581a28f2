"""Subscription secrets are sealed at rest and follow the keyring's rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, WebhookError
from affiliate_sdk._services.wiring import DATA_KEYS
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking.keys import Keyring
from affiliate_sdk.webhooks.sealing import SecretBox
from affiliate_sdk.webhooks.signing import verify_signature
from affiliate_sdk.webhooks.subscriptions import PLATFORM_SCOPE, Subscription

from ..conftest import SECRET, make_campaign
from .receiver import Receiver
from .test_dispatch import HOOK_SECRET, _order, _subscribe

NEW_KEY = bytes(range(100, 132))


def _stored_secrets(alliance: Alliance) -> list[str]:
    with alliance.store.reader() as tx:
        row = tx.webhooks.get_subscription(PLATFORM_SCOPE, "s1")
    assert row is not None
    secrets: list[str] = json.loads(row.data)["secrets"]
    return secrets


def test_secrets_are_sealed_in_the_store_and_deliveries_still_verify(
    clock: FakeClock, tmp_path: Path
) -> None:
    receiver = Receiver()
    url = f"sqlite:///{tmp_path / 'sealed.db'}"
    try:
        with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
            alliance.add_campaign(make_campaign(rate="10%"))
            _subscribe(alliance, f"{receiver.url}/hook")
            [stored] = _stored_secrets(alliance)
            assert stored.startswith("sealed:v1:k1:") and HOOK_SECRET not in stored
            assert alliance.subscription("s1").secrets == [stored]  # write-only
            _order(alliance, clock, 1)
            assert alliance.dispatcher(allow_private=True).run_once().delivered == 1
        request = receiver.received[0]
        verify_signature(
            request.headers["Affiliate-Signature"],
            request.body,
            [HOOK_SECRET],
            now=clock.timestamp(),
        )
    finally:
        receiver.stop()


def test_rotation_reseals_and_a_removed_key_is_named(clock: FakeClock, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rotate.db'}"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
        _subscribe(alliance, "https://hooks.example/in")
    with Alliance.open(url, keys={"k1": SECRET, "k2": NEW_KEY}, clock=clock) as alliance:
        # The alliance reseals its sealed data keys too, besides s1's secret.
        assert alliance.reseal_secrets() == len(DATA_KEYS) + 1
        [stored] = _stored_secrets(alliance)
        assert stored.startswith("sealed:v1:k2:")
    with Alliance.open(url, keys={"k2": NEW_KEY}, clock=clock) as alliance:  # k1 is gone
        assert _stored_secrets(alliance) == [stored]
    box = SecretBox(Keyring({"k2": NEW_KEY}))
    assert box.open(stored, "s1") == HOOK_SECRET  # the old key is no longer needed
    with pytest.raises(WebhookError, match="'k2'"):
        SecretBox(Keyring({"k3": SECRET})).open(stored, "s1")
    with pytest.raises(WebhookError, match="another subscription"):
        box.open(stored, "s2")  # sealed for s1: does not open as s2's


def test_a_dispatcher_without_the_keys_says_so(clock: FakeClock) -> None:
    from affiliate_sdk.webhooks.dispatcher import Dispatcher

    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        alliance.subscribe(
            Subscription(
                subscription_id="s1",
                owner="platform",
                url="https://hooks.example/in",
                event_types=["commission.booked"],
                secrets=[HOOK_SECRET],
            )
        )
        _order(alliance, clock, 1)
        bare = Dispatcher(alliance.store, clock, resolver=lambda host, port: ["93.184.216.34"])
        with pytest.raises(WebhookError, match="sealed"):
            bare.run_once()
