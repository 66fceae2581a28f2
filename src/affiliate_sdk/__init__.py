"""affiliate_sdk: run an affiliate (CPS) alliance inside your own platform.

Signed tracking links, click tracking, attribution, commission, fraud checks
and a ledger, embedded in the host's process over a pluggable store.

>>> from affiliate_sdk import Alliance, Campaign, CommissionPlan
"""

from .alliance import Alliance
from .clock import Clock, SystemClock
from .commission.plans import CommissionPlan
from .errors import (
    AffiliateError,
    CampaignError,
    CampaignInactive,
    CommissionError,
    CommissionStateError,
    ConflictingOrder,
    ConflictingRefund,
    CurrencyMismatch,
    ForbiddenLanding,
    InvalidAmount,
    InvalidInput,
    InvalidKey,
    InvalidSignature,
    LedgerImbalance,
    LinkError,
    LinkExpired,
    MalformedLink,
    MissingFxRate,
    MoneyError,
    OrderError,
    RefundExceedsOrder,
    SchemaVersionError,
    StorageError,
    UnknownCampaign,
    UnknownCommission,
    UnknownCurrency,
    UnknownKey,
    UnknownOrder,
    UnsupportedStore,
)
from .models import (
    Affiliate,
    Campaign,
    Commission,
    Credit,
    Invoice,
    LedgerVerification,
    LineItem,
    Merchant,
    Order,
    OrderOutcome,
    PayoutBatch,
    PlanVersion,
    Reason,
    ReconciliationRow,
    RefundOutcome,
    Statement,
    Verdict,
)
from .money import Money
from .storage import Store
from .tracking.clicks import Click, VisitorCookie
from .tracking.keys import Keyring
from .tracking.links import LinkClaims

__version__ = "0.1.0"

__all__ = [
    "Affiliate",
    "AffiliateError",
    "Alliance",
    "Campaign",
    "CampaignError",
    "CampaignInactive",
    "Click",
    "Clock",
    "Commission",
    "CommissionError",
    "CommissionPlan",
    "CommissionStateError",
    "ConflictingOrder",
    "ConflictingRefund",
    "Credit",
    "CurrencyMismatch",
    "ForbiddenLanding",
    "InvalidAmount",
    "InvalidInput",
    "InvalidKey",
    "InvalidSignature",
    "Invoice",
    "Keyring",
    "LedgerImbalance",
    "LedgerVerification",
    "LineItem",
    "LinkClaims",
    "LinkError",
    "LinkExpired",
    "MalformedLink",
    "Merchant",
    "MissingFxRate",
    "Money",
    "MoneyError",
    "Order",
    "OrderError",
    "OrderOutcome",
    "PayoutBatch",
    "PlanVersion",
    "Reason",
    "ReconciliationRow",
    "RefundExceedsOrder",
    "RefundOutcome",
    "SchemaVersionError",
    "Statement",
    "StorageError",
    "Store",
    "SystemClock",
    "UnknownCampaign",
    "UnknownCommission",
    "UnknownCurrency",
    "UnknownKey",
    "UnknownOrder",
    "UnsupportedStore",
    "Verdict",
    "VisitorCookie",
]
