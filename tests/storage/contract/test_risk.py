"""The RiskContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import RiskContract


class TestRisk(RiskContract):
    pass
