"""The SanctionContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import SanctionContract


class TestSanction(SanctionContract):
    pass
