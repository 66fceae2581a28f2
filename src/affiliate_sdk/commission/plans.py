"""Commission plans: how a merchant pays for the sales affiliates bring."""

from __future__ import annotations

from decimal import Decimal

from affiliate_sdk._base import AffiliateModel, Rate

__all__ = ["CommissionPlan"]


class CommissionPlan(AffiliateModel):
    """A CPS plan: ``rate`` of the order total is paid as commission.

    ``CommissionPlan(rate="10%")`` and ``CommissionPlan(rate=Decimal("0.1"))``
    are the same plan.
    """

    rate: Rate

    @property
    def percent(self) -> Decimal:
        return self.rate * 100
