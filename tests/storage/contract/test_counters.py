"""The CounterContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import CounterContract


class TestCounter(CounterContract):
    pass
