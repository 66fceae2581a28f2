"""The LedgerContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import LedgerContract


class TestLedger(LedgerContract):
    pass
