"""What the fraud rules look at: the fact sheet of a click and of an order.

Both are named tuples (cheap to build on the click path, no validation) and
carry only plain values the caller has already worked out: velocities,
what matched the blacklist, how an order relates to earlier ones. A rule is
a function of one fact sheet and the thresholds in force that returns a
``Reason`` or ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from affiliate_sdk.models import FraudThresholds, Reason

__all__ = ["ClickFacts", "ClickRule", "OrderFacts", "OrderRule"]


class ClickFacts(NamedTuple):
    """What is known of a click when it is judged (a named tuple: cheap on the click path)."""

    user_agent: str | None
    bot_pattern: str | None
    network_kind: str | None = None  # "datacenter", "vpn", "tor", ... when the host knows
    network_clicks: int = 0  # clicks from the IP network in the last minute, this one included
    visitor_clicks: int = 0
    device_clicks: int = 0  # clicks from the host's device fingerprint in the last minute
    affiliate_clicks: int = 0
    visitor_affiliate_clicks_today: int = 0
    paid_parameters: tuple[str, ...] = ()
    blacklisted: tuple[str, ...] = ()  # what matched: "network", "device", "affiliate"
    visitor_touches_week: int = 0  # a returning visitor's clicks over seven days, this one too


class OrderFacts(NamedTuple):
    """What is known of an order when it is judged."""

    seconds_since_click: float | None = None
    self_referral: tuple[str, ...] = ()  # what the affiliate and customer share: "email", ...
    duplicates: int = 0  # earlier orders with the same customer, amount and lines
    near_duplicates: int = 0  # earlier orders with the same customer and lines, another amount
    payment_customers: int = 0  # customers seen paying with this order's payment fingerprint
    network_customers: int = 0  # the affiliate's customers ordering from this IP network this week
    coupon_without_click: bool = False
    affiliate_orders: int = 0
    affiliate_refunds: int = 0
    affiliate_clicks_today: int = 0  # the credited affiliate's clicks over the last day
    affiliate_orders_today: int = 0  # and its attributed orders, this one included
    affiliate_timed_orders: int = (
        0  # the affiliate's orders that came through a click, this one too
    )
    affiliate_late_orders: int = 0  # those that came ``late_conversion_hours`` or more after it
    value_sigmas: float | None = None  # log-value distance from the merchant's mean
    click_country: str | None = None
    order_country: str | None = None
    blacklisted: tuple[str, ...] = ()  # "payment", "device", "affiliate", "network"
    affiliate_grade: str | None = None
    # how implausible, against the campaign's base rate (``antifraud.sources``; None: not
    # judged, too few to say): the affiliate's fast orders, its conversion of clicks, and
    # its share of this order's network's customers
    channel_allowed: bool = True  # the campaign lets the affiliate's channel earn on it
    fast_surprise: float | None = None
    conversion_surprise: float | None = None
    network_surprise: float | None = None
    # its share of the customers of this order's address block (/16, /32: a provider's)
    block_surprise: float | None = None
    high_surprise: float | None = None  # its conversion of clicks, too high
    # its orders refunded after their commission was approved (``antifraud.cashout``):
    # judged on refunds, so without end once they flagged the source, else None
    cashout_surprise: float | None = None


#: A click rule: the click's facts and the thresholds in force to a reason, or None.
ClickRule = Callable[[ClickFacts, FraudThresholds], Reason | None]
#: An order rule: the order's facts and the thresholds in force to a reason, or None.
OrderRule = Callable[[OrderFacts, FraudThresholds], Reason | None]
