"""Source counts: what a booking counts per source, and how implausible its sources look.

The counts live in the store (``RiskRepo.tallies`` and ``bump``), written in the order's
unit of work, so they survive a restart, every app server sees the same, and a booking that
fails counts nothing. Per campaign (``scope``: merchant and campaign) and per affiliate on it:

- ``src/{scope}[/{affiliate}]``: orders that came through a click, and the fast ones;
- ``o6/{scope}[/{affiliate}]/{n}``: orders of the ``n``-th six hours (the last four: a day,
  as the clicks' day window counts);
- ``w/{scope}[/{affiliate}]/{n}``: orders of the ``n``-th week, and of weeks that begin half
  a week later (``{n}h``), so that a source is judged by at least three and a half days;
- ``flagged/{code}/{scope}/{affiliate}[/{network}]``: a source rule flagged the source, which
  stays flagged.

The customers who ordered from an IP network are kept as distinct sets per week bucket (both
kinds), for all affiliates (``net_week``) and per affiliate (``net_affiliate_week``, and the
hours they ordered in, ``net_affiliate_hours``). The
clicks come from the velocity windows (``k/{scope}[/{affiliate}]`` in the day window).

When a source rule fires on a source for the first time, the source's commission that is
still pending is frozen for review too (``earlier_of``): which orders are held does not
depend on whether the source's fraud arrived before its threshold was reached or after.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Final, NamedTuple

from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.antifraud import sources
from affiliate_sdk.antifraud.sources import SourceCounts
from affiliate_sdk.models import FraudThresholds
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import LineFilter, LineRow

if TYPE_CHECKING:
    from .fraud import FraudService

__all__ = [
    "AFFILIATE_RULES",
    "NETWORK_RULES",
    "SourceOrder",
    "block_of",
    "earlier_of",
    "judge_sources",
    "source_keys",
]

#: Reason codes of the source rules that judge an affiliate on its campaign as a whole.
AFFILIATE_RULES: Final = frozenset(
    {
        "source.fast_conversions",
        "source.low_conversion",
        "source.high_conversion",
        "source.cash_out",  # flagged by refunds (``_services.cashout``), read here
    }
)
#: Reason codes of the source rules that judge an affiliate's orders from one network.
NETWORK_RULES: Final = frozenset({"source.network_orders", "source.block_orders"})
_HOUR_MS: Final = 3_600_000
_SIX_HOURS_MS: Final = 6 * _HOUR_MS
_WEEK_MS: Final = 7 * 86_400_000
_DAY_S: Final = 86_400
#: Distinct customers kept per network and week (enough to judge a share of them).
_CUSTOMERS_KEPT: Final = 64
_PAGE: Final = 500
#: The base rates a young campaign starts from: a person rarely buys within a minute of a
#: click; about one click in fifty ends in an order.
_FAST_PRIOR: Final = 0.01
_CONVERSION_PRIOR: Final = 0.02


class SourceOrder(NamedTuple):
    """What the source counts need of an attributed order."""

    scope: str  # the campaign's path key: merchant and campaign
    affiliate_id: str
    placed_ms: int
    seconds_since_click: float | None
    ip_network: str | None
    customer: str | None  # the customer's digest in the distinct sets
    repeat: bool = False  # it repeats an earlier order of the customer's (a duplicate)


def _weeks(placed_ms: int) -> tuple[str, str]:
    """(the week bucket judged by, the other one), as ``_week`` explains."""
    first, second = placed_ms // _WEEK_MS, (placed_ms + _WEEK_MS // 2) // _WEEK_MS
    since_first = placed_ms - first * _WEEK_MS
    since_second = placed_ms + _WEEK_MS // 2 - second * _WEEK_MS
    judged, other = (f"{first}", f"{second}h")
    return (judged, other) if since_first >= since_second else (other, judged)


def source_keys(order: SourceOrder) -> tuple[list[str], list[str]]:
    """The tallies ``judge_sources`` reads for ``order`` (read with the affiliate's
    standing, in the same call): those it writes back (the source's and the campaign's
    orders through a click, of these six hours and of both week buckets), and those it only
    reads (the day's earlier six hours, and the flags, which ``earlier_of`` sets)."""
    mine = f"{order.scope}/{order.affiliate_id}"  # identifiers: no "/" to escape
    bucket = order.placed_ms // _SIX_HOURS_MS
    earlier = [bucket - back for back in (1, 2, 3)]
    weeks = _weeks(order.placed_ms)
    written = [
        f"src/{mine}",
        f"src/{order.scope}",
        f"o6/{mine}/{bucket}",
        f"o6/{order.scope}/{bucket}",
        *(f"w/{mine}/{week}" for week in weeks),
        *(f"w/{order.scope}/{week}" for week in weeks),
    ]
    read = [
        *(f"o6/{mine}/{n}" for n in earlier),
        *(f"o6/{order.scope}/{n}" for n in earlier),
        *(_flag(code, order) for code in _CODES),
    ]
    return written, read


#: The source rules, in the order ``judge_sources`` answers for them.
_CODES: Final = (
    "source.fast_conversions",
    "source.low_conversion",
    "source.network_orders",
    "source.block_orders",
    "source.high_conversion",
    "source.cash_out",
)


def _flag(code: str, order: SourceOrder) -> str:
    """The tally that marks the order's source flagged by the rule of ``code``."""
    mine = f"{order.scope}/{order.affiliate_id}"
    if code == "source.block_orders":
        return f"flagged/{code}/{mine}/{block_of(order.ip_network) or '-'}"
    if code in NETWORK_RULES:
        return f"flagged/{code}/{mine}/{order.ip_network or '-'}"
    return f"flagged/{code}/{mine}"


def judge_sources(
    fraud: FraudService,
    tx: UnitOfWork,
    order: SourceOrder,
    counts: Sequence[tuple[int, ...]],
    limits: FraudThresholds,
) -> tuple[list[float | None], dict[str, tuple[int, ...]]]:
    """Count the order in its sources and judge them: the surprises (in ``_CODES``' order) of
    the affiliate's fast orders, of its conversion over the last day (too low), of its
    share of the order's network and of its block, and of its conversion too high
    (None where there are too few to judge; without end once a rule has flagged the
    source); and the tallies to write back. ``counts`` are the tallies of
    ``source_keys(order)``, written then read, as read."""
    written, read = source_keys(order)
    now = dict(zip([*written, *read], (_first(found, 2) for found in counts), strict=True))
    writes: dict[str, tuple[int, ...]] = {}

    def add(key: str, *deltas: int) -> int:
        after = tuple(a + b for a, b in zip(now[key], deltas, strict=False))
        writes[key] = now[key] = after
        return after[0]

    fast = None
    if order.seconds_since_click is not None:
        quick = int(order.seconds_since_click < limits.fast_conversion_seconds)
        add(written[0], 1, quick)
        add(written[1], 1, quick)
        fast = sources.fast_conversions(
            SourceCounts(*now[written[0]]),
            SourceCounts(*now[written[1]]),
            minimum=limits.min_fast_orders,
            prior=_FAST_PRIOR,
        )
    seconds = order.seconds_since_click
    # its click of the last day, and no order reported again: a conversion of that click
    within = int(seconds is not None and seconds < _DAY_S and not order.repeat)
    for key in written[2:4]:
        add(key, 1, within)
    day = [now[key] for key in (written[2], *read[:3], written[3], *read[3:6])]
    low, high = _conversion(fraud, order, day, limits)
    affiliate, _, campaign_orders, _ = (add(key, 1) for key in written[4:8])
    network, block = (
        _network(tx, order, at, affiliate=affiliate, campaign=campaign_orders, limits=limits)
        for at in (order.ip_network, block_of(order.ip_network))
    )
    judged = [fast, low, network, block, high, None]  # cash-out: judged on refunds
    for place, key in enumerate(read[6:]):
        if now[key][0]:  # flagged before: the source stays flagged
            judged[place] = math.inf
    return judged, writes


def _first(found: tuple[int, ...], size: int) -> tuple[int, ...]:
    """A tally as read, in ``size`` places (a tally never kept counts zeros)."""
    return (*found[:size], *(0,) * (size - len(found)))


def _conversion(
    fraud: FraudService, order: SourceOrder, day: list[tuple[int, ...]], limits: FraudThresholds
) -> tuple[float | None, float | None]:
    """``low_conversion`` and ``high_conversion`` of the source's orders and clicks of the
    last day (``day``: the source's tallies of the last four six hours, then the
    campaign's: orders, and of them those whose click came within a day)."""
    mine = f"{order.scope}/{order.affiliate_id}"
    clicks = fraud.per_day.total(f"k/{mine}", order.placed_ms)
    campaign_clicks = fraud.per_day.total(f"k/{order.scope}", order.placed_ms)
    orders, campaign_orders = (sum(t[0] for t in day[at : at + 4]) for at in (0, 4))
    low = sources.low_conversion(
        orders,
        clicks,
        campaign_orders,
        campaign_clicks,
        minimum_clicks=limits.min_clicks_for_flooding,
        factor=limits.low_conversion_factor,
        prior=_CONVERSION_PRIOR,
        floor=float(limits.expected_conversion),
    )
    # too high: only the orders whose click is of the same day (a journey of days is no
    # conversion of today's clicks)
    quick, campaign_quick = (sum(t[1] for t in day[at : at + 4]) for at in (0, 4))
    high = sources.high_conversion(
        quick,
        clicks,
        campaign_quick,
        campaign_clicks,
        factor=limits.high_conversion_factor,
        prior=_CONVERSION_PRIOR,
        floor=float(limits.expected_conversion),
        ceiling=float(limits.plausible_conversion),
    )
    return low, high


@lru_cache(maxsize=4096)
def block_of(network: str | None) -> str | None:
    """The address block of an IP network as ``track_click`` names it (a /24 or /48): its
    /16, or /32 of IPv6, the size providers hand out and rent machines from (worked out
    once per network: an order asks for it for its flag and its judgement, and a freeze
    for each pending order)."""
    if network is None:
        return None
    try:
        parsed = ipaddress.ip_network(network)
    except ValueError:
        return None
    return str(parsed.supernet(new_prefix=16 if parsed.version == 4 else 32))


def _network(
    tx: UnitOfWork,
    order: SourceOrder,
    network: str | None,
    *,
    affiliate: int,
    campaign: int,
    limits: FraudThresholds,
) -> float | None:
    """``network_orders`` of ``network`` (the order's, or its block) this week (the
    customers kept as sets)."""
    if network is None or order.customer is None:
        return None
    everyone = here = hours = 0
    hour = str(order.placed_ms // _HOUR_MS)
    for place, week in enumerate(_weeks(order.placed_ms)):  # both buckets; the first judges
        at = path_key(order.scope, network, week)
        pair = path_key(at, order.affiliate_id)
        sizes = (
            tx.risk.add_distinct("net_week", at, order.customer, keep=_CUSTOMERS_KEPT),
            tx.risk.add_distinct("net_affiliate_week", pair, order.customer, keep=_CUSTOMERS_KEPT),
            tx.risk.add_distinct("net_affiliate_hours", pair, hour, keep=_CUSTOMERS_KEPT),
        )
        if place == 0:
            everyone, here, hours = sizes
    if everyone >= _CUSTOMERS_KEPT:
        return None  # the sets keep their newest: past that, shares of them mean nothing
    return sources.network_orders(
        here,
        everyone,
        affiliate,
        campaign,
        minimum=limits.min_network_customers,
        hours=hours,
        minimum_hours=limits.min_network_hours,
    )


def earlier_of(
    tx: UnitOfWork, order: SourceOrder, merchant_id: str, campaign_id: str, codes: set[str]
) -> list[LineRow]:
    """The pending lines of the sources that the rules of ``codes`` flag for the first time:
    every pending line of the orders of the affiliate on the campaign (``AFFILIATE_RULES``),
    or of its orders from the order's network (``NETWORK_RULES``)."""
    new = [code for code in sorted(codes & (AFFILIATE_RULES | NETWORK_RULES))
           if tx.risk.bump(_flag(code, order), [1])[0] == 1]  # fmt: skip
    if not new:
        return []  # flagged before: what was pending then was frozen then
    whole = bool(AFFILIATE_RULES.intersection(new))
    network = None if whole else order.ip_network
    block = None if whole or "source.block_orders" not in new else block_of(network)
    orders: dict[str, None] = {}
    for row in _pending(tx, merchant_id, order.affiliate_id):
        if row.line.campaign_id == campaign_id:
            orders.setdefault(row.line.order_id)
    if network is not None:
        kept = [tx.orders.get(merchant_id, order_id) for order_id in orders]
        orders = {
            row.order_id: None
            for row in kept
            if row and (row.ip_network == network or (block and block_of(row.ip_network) == block))
        }
    held: list[LineRow] = []
    for order_id in orders:
        where = LineFilter(merchant_id=merchant_id, order_id=order_id, status="pending")
        held += tx.ledger.query(where, limit=_PAGE)
    return held


def _pending(tx: UnitOfWork, merchant_id: str, affiliate_id: str) -> Iterator[LineRow]:
    where = LineFilter(merchant_id=merchant_id, affiliate_id=affiliate_id, status="pending")
    after: str | None = None
    while page := tx.ledger.query(where, after=after, limit=_PAGE):
        yield from page
        after = page[-1].line.entry_id
