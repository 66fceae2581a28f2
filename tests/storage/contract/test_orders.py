"""The OrderContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import OrderContract


class TestOrder(OrderContract):
    pass
