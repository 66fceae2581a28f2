"""The ClickContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import ClickContract


class TestClick(ClickContract):
    pass
