"""The storage contract as pytest test classes, for hosts that write their own backend.

Needs pytest (a development dependency: ``pip install pytest``); nothing else
in ``affiliate_sdk`` imports this package.

Each class checks one repository of ``affiliate_sdk.storage.contract`` (plus
``TransactionContract`` for the unit of work itself, and ``StoreContract``
for all of them at once). Its tests take a ``store`` fixture, a fresh, empty
``Store``, that the subclass or a ``conftest.py`` provides::

    import pytest
    from affiliate_sdk.testing.contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            opened = MyStore(tmp_path / "db")
            yield opened
            opened.close()

The classes are named ``*Contract``, so pytest collects only the host's
``Test*`` subclasses. Expected values are written out by hand; a backend
passes when it reads back what the contract says, in the order it says.
One module holds each repository's class (``catalog``, ``clicks``, ...,
``transactions``); this package gathers them.
"""

from __future__ import annotations

from ._support import EDGE_IDS as EDGE_IDS  # the awkward ids, as before the split
from .catalog import CatalogContract
from .clicks import ClickContract
from .counters import CounterContract
from .journal import JournalContract
from .keys import KeyContract
from .ledger import LedgerContract
from .orders import OrderContract
from .outbox import OutboxContract
from .periods import PeriodContract
from .risk import RiskContract
from .sanctions import SanctionContract
from .transactions import TransactionContract
from .webhooks import WebhookContract

__all__ = [
    "CatalogContract",
    "ClickContract",
    "CounterContract",
    "JournalContract",
    "KeyContract",
    "LedgerContract",
    "OrderContract",
    "OutboxContract",
    "PeriodContract",
    "RiskContract",
    "SanctionContract",
    "StoreContract",
    "TransactionContract",
    "WebhookContract",
]


class StoreContract(
    TransactionContract,
    CatalogContract,
    ClickContract,
    OrderContract,
    LedgerContract,
    JournalContract,
    PeriodContract,
    RiskContract,
    SanctionContract,
    OutboxContract,
    WebhookContract,
    KeyContract,
    CounterContract,
):
    """Every repository's contract at once, for a backend that implements them all."""
