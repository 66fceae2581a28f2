"""Commission plans and the pure arithmetic that books them."""

from .calculator import cps_split, reversal_for_refund
from .plans import CommissionPlan

__all__ = ["CommissionPlan", "cps_split", "reversal_for_refund"]
