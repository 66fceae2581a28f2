"""Services built by hand over a fresh memory store, with a clock that stands still."""

from __future__ import annotations

import os

import pytest

from affiliate_sdk._services.context import ServiceContext
from affiliate_sdk._services.journal import JournalWriter
from affiliate_sdk._services.ledger import LedgerService
from affiliate_sdk._services.payouts import PayoutService
from affiliate_sdk._services.review import ReviewService
from affiliate_sdk.commission.journal import ChainKey
from affiliate_sdk.settings import AllianceSettings
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking.clicks import IpPseudonymizer
from affiliate_sdk.tracking.keys import Keyring

from .books import START, Books


@pytest.fixture
def books() -> Books:
    store = MemoryStore()
    ctx = ServiceContext(
        store=store,
        clock=FakeClock(START),
        keyring=Keyring({"k1": os.urandom(32)}),
        settings=AllianceSettings(),
        pseudonyms=IpPseudonymizer(os.urandom(32)),
        chain=ChainKey(os.urandom(32)),
    )
    writer = JournalWriter(ctx.chain, checkpoint_key=None, checkpoint_every=1000)
    ledger = LedgerService(ctx, writer)
    return Books(
        store=store,
        ctx=ctx,
        writer=writer,
        ledger=ledger,
        review=ReviewService(ctx, writer, ledger),
        payouts=PayoutService(ctx, writer, ledger),
    )
