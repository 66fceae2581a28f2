"""Sources judged against their campaign's base rates, not against fixed counts alone.

A *source* is an affiliate on a campaign, or the part of its orders that come from one IP
network. Of a source's ``n`` events, ``k`` have some property: they came within a minute of
their click, or they are its orders at all (out of its clicks), or they came from one
network. The rest of the campaign says how common that property is (``p``, the *base
rate*: the campaign's share with this source's own events taken out, and a small prior, so
a young campaign or a source that is most of its campaign does not judge itself).

``surprise(k, n, p)`` is how implausible ``k`` or more of ``n`` is at rate ``p``: Chernoff's
bound on that chance, ``exp(-n * KL(k/n || p))``, as the exponent ``n * KL`` (0 when ``k/n``
is not above ``p``). ``surprise_below`` is the same for ``k`` or fewer. A rule fires when the
surprise passes ``FraudThresholds.source_surprise`` (ln 10^6 by default: with thousands of
sources judged a day, about one honest source a year by chance) and the source's count reaches
the rule's minimum, and, where the plans name a size ("far above", "far below"), the share
differs from the base rate by that factor too. Carrier-grade NAT and offices put many
honest customers behind one address, but their orders spread over affiliates as the
campaign's do: judged against the base rate, they pass.

Everything here is pure: the caller counts, in its unit of work, and passes the counts.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

__all__ = [
    "PRIOR_EVENTS",
    "SourceCounts",
    "base_rate",
    "fast_conversions",
    "high_conversion",
    "low_conversion",
    "network_orders",
    "surprise",
    "surprise_below",
]

#: Events of prior weight in a base rate: ``(k + p0 * m) / (n + m)`` with ``m`` of these.
PRIOR_EVENTS: Final = 50


class SourceCounts(NamedTuple):
    """What a source and its whole campaign have counted: orders that came through a click
    (``timed``), and of those the fast ones (within ``fast_conversion_seconds``)."""

    timed: int = 0
    fast: int = 0


def _kl(q: float, p: float) -> float:
    """The Kullback-Leibler divergence of a coin of bias ``q`` from one of bias ``p``."""
    total = 0.0
    if q > 0:
        total += q * math.log(q / p)
    if q < 1:
        total += (1 - q) * math.log((1 - q) / (1 - p))
    return total


def surprise(k: int, n: int, p: float) -> float:
    """``-ln`` of Chernoff's bound on the chance of ``k`` or more of ``n`` at rate ``p``."""
    if n <= 0 or k <= n * p:
        return 0.0
    p = min(max(p, 1e-9), 1 - 1e-9)
    return n * _kl(min(k / n, 1.0), p)


def surprise_below(k: int, n: int, p: float) -> float:
    """``-ln`` of Chernoff's bound on the chance of ``k`` or fewer of ``n`` at rate ``p``."""
    if n <= 0 or k >= n * p:
        return 0.0
    p = min(max(p, 1e-9), 1 - 1e-9)
    return n * _kl(max(k / n, 0.0), p)


def base_rate(part: int, whole: int, *, prior: float) -> float:
    """The campaign's rate from ``part`` of ``whole`` events (this source's own taken out by
    the caller), drawn towards ``prior`` by ``PRIOR_EVENTS`` events' weight."""
    return (max(part, 0) + prior * PRIOR_EVENTS) / (max(whole, 0) + PRIOR_EVENTS)


def fast_conversions(
    source: SourceCounts, campaign: SourceCounts, *, minimum: int, prior: float
) -> float | None:
    """How implausible the source's fast orders are against the campaign's (click injection:
    a click fired seconds before a purchase that was happening anyway); None below
    ``minimum`` fast orders. ``campaign`` includes the source."""
    if source.fast < minimum:
        return None
    p = base_rate(campaign.fast - source.fast, campaign.timed - source.timed, prior=prior)
    return surprise(source.fast, source.timed, p)


def low_conversion(
    orders: int,
    clicks: int,
    campaign_orders: int,
    campaign_clicks: int,
    *,
    minimum_clicks: int,
    factor: float,
    prior: float,
    floor: float = 0.0,
) -> float | None:
    """How implausibly few orders the source's clicks brought against the campaign's
    (click flooding, cookie stuffing: clicks on people who never chose the affiliate);
    None below ``minimum_clicks``, or when its conversion is not ``factor`` times below the
    campaign's. The campaign's counts include the source's; its rate is taken to be at
    least ``floor`` (clicks that never convert drag the campaign's own rate down with
    them, the more so the more there are)."""
    if clicks < minimum_clicks:
        return None
    p = base_rate(campaign_orders - orders, campaign_clicks - clicks, prior=prior)
    p = max(p, floor)
    if orders / clicks * factor > p:
        return None
    return surprise_below(orders, clicks, p)


def high_conversion(
    orders: int,
    clicks: int,
    campaign_orders: int,
    campaign_clicks: int,
    *,
    factor: float,
    prior: float,
    floor: float = 0.0,
    ceiling: float = 0.0,
) -> float | None:
    """How implausibly many orders the source's clicks brought against the campaign's
    (brushing: accounts that click and buy every time); None when its conversion is not
    ``factor`` times the campaign's, nor at least ``ceiling`` (what people browsing reach
    at most). ``orders`` are those whose click came within the window the ``clicks`` are
    counted over (a click not counted yet, or counted by another process's window: the
    clicks are at least the orders). The campaign's counts include the source's; its rate
    is taken to be at least ``floor`` (flooded clicks drag it down: against a dragged-down
    rate, honest sources would look far above it)."""
    if orders <= 0:
        return None
    clicks = max(clicks, orders)
    p = max(base_rate(campaign_orders - orders, campaign_clicks - clicks, prior=prior), floor)
    if orders / clicks < max(factor * p, ceiling):
        return None
    return surprise(orders, clicks, p)


def network_orders(
    here: int,
    network: int,
    affiliate: int,
    campaign: int,
    *,
    minimum: int,
    hours: int | None = None,
    minimum_hours: int = 1,
) -> float | None:
    """How implausible it is that ``here`` of the ``network`` customers who ordered from one
    IP network are this affiliate's, when the affiliate has ``affiliate`` of the campaign's
    ``campaign`` customers (each count includes the ones before it); None below
    ``minimum``. Many honest customers share a carrier's or an office's address, but
    they buy through affiliates as the campaign's customers do; a farm's accounts buy
    through one. The affiliate's share is taken whole, this network included (with one
    order of each kind of prior): an affiliate that is most of its campaign has no
    others' share to stand out from. ``hours`` is in how many distinct hours those orders
    came (None: not known); a farm works for hours on end, where an office's colleagues
    buy within an hour or two of a deal shared among them, so below ``minimum_hours`` the
    source is not judged."""
    if here < minimum or (hours is not None and hours < minimum_hours):
        return None
    p = (affiliate + 1) / (max(campaign, affiliate) + 2)
    return surprise(here, max(network, here), p)
