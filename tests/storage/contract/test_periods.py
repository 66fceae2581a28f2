"""The PeriodContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import PeriodContract


class TestPeriod(PeriodContract):
    pass
