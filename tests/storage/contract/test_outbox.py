"""The OutboxContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import OutboxContract


class TestOutbox(OutboxContract):
    pass
