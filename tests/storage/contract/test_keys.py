"""The KeyContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import KeyContract


class TestKey(KeyContract):
    pass
