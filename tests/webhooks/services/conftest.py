"""Fixtures of the webhook service tests: a loopback receiver and a service on a memory store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from affiliate_sdk._services.webhooks import WebhookService
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.testing import FakeClock

from ..receiver import Receiver
from .support import make_service


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def service(clock: FakeClock, store: MemoryStore) -> WebhookService:
    return make_service(clock, store)
