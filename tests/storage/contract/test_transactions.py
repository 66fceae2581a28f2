"""The TransactionContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import TransactionContract


class TestTransaction(TransactionContract):
    pass
