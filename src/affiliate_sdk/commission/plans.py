"""Commission plans: how a merchant pays for the sales affiliates bring."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from pydantic import Field

from affiliate_sdk._base import AffiliateModel, Rate

__all__ = ["DEFAULT_HOLD_DAYS", "CommissionPlan"]

#: Days a commission stays pending (refunds, returns, review) before approval.
DEFAULT_HOLD_DAYS: Final = 30


class CommissionPlan(AffiliateModel):
    """A CPS plan: ``rate`` of the order total is paid as commission.

    ``CommissionPlan(rate="10%")`` and ``CommissionPlan(rate=Decimal("0.1"))``
    are the same plan.
    """

    rate: Rate
    hold_days: int = Field(default=DEFAULT_HOLD_DAYS, ge=0, le=3650)

    @property
    def percent(self) -> Decimal:
        return self.rate * 100
