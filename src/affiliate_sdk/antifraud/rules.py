"""Fraud rules and their verdicts, under the names they have always been imported by.

The rules live by kind: ``click_rules`` (and ``USER_AGENT_RULES``),
``order_rules``, the fact sheets in ``facts`` and ``judge`` in ``verdicts``.
Each rule looks at one fact sheet (``ClickFacts`` or ``OrderFacts``) and the
thresholds in force (``FraudThresholds``) and returns a ``Reason`` or
``None``; ``judge`` adds the scores up into a ``Verdict``.
"""

from __future__ import annotations

from affiliate_sdk.models import FraudThresholds

from .click_rules import (
    CLICK_RULES,
    HEADLESS_MARKERS,
    PAID_CLICK_PARAMETERS,
    USER_AGENT_RULES,
    click_blacklist,
    click_velocity,
    frequency_cap,
    headless,
    hosting_network,
    known_bot,
    paid_search,
)
from .facts import ClickFacts, ClickRule, OrderFacts, OrderRule
from .order_rules import (
    ORDER_RULES,
    channel_not_allowed,
    click_flooding,
    coupon_without_click,
    duplicate_order,
    farm_block,
    farm_network,
    fast_conversions,
    flat_conversion_times,
    geo_mismatch,
    grade_c,
    high_conversion,
    low_conversion,
    near_duplicate,
    order_blacklist,
    refund_rate,
    self_referral,
    shared_network,
    shared_payment,
    too_fast,
    value_outlier,
)
from .verdicts import Severity, judge

__all__ = [
    "CLICK_RULES",
    "HEADLESS_MARKERS",
    "ORDER_RULES",
    "PAID_CLICK_PARAMETERS",
    "USER_AGENT_RULES",
    "ClickFacts",
    "ClickRule",
    "FraudThresholds",
    "OrderFacts",
    "OrderRule",
    "Severity",
    "channel_not_allowed",
    "click_blacklist",
    "click_flooding",
    "click_velocity",
    "coupon_without_click",
    "duplicate_order",
    "farm_block",
    "farm_network",
    "fast_conversions",
    "flat_conversion_times",
    "frequency_cap",
    "geo_mismatch",
    "grade_c",
    "headless",
    "high_conversion",
    "hosting_network",
    "judge",
    "known_bot",
    "low_conversion",
    "near_duplicate",
    "order_blacklist",
    "paid_search",
    "refund_rate",
    "self_referral",
    "shared_network",
    "shared_payment",
    "too_fast",
    "value_outlier",
]
