"""Loading what an order's attribution looks at, and applying the customer binding.

The decision itself is pure (``tracking.attribution.decide``); these functions
do the reads before it and the one write after it, inside the order's unit of
work. Every read is confined to the order's merchant.
"""

from __future__ import annotations

from contextlib import suppress
from fractions import Fraction
from typing import Final

from affiliate_sdk.errors import UnknownCampaign
from affiliate_sdk.models import MAX_ATTRIBUTION_WINDOW, Order
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import BindingRow
from affiliate_sdk.tracking.attribution import (
    Binding,
    CampaignRules,
    Coupon,
    Decision,
    Share,
    View,
    decide,
)
from affiliate_sdk.tracking.clicks import ClickRow

from .catalog import CatalogService, coupon_code

__all__ = ["MAX_LINKED_VISITORS", "attribute", "bind_customer", "renewal"]

#: The most recent visitor ids (devices) of a customer whose clicks an order considers.
MAX_LINKED_VISITORS: Final = 20
_LOOKBACK_MS: Final = int(MAX_ATTRIBUTION_WINDOW.total_seconds() * 1000)


def renewal(tx: UnitOfWork, order: Order, subscription_id: str) -> Decision:
    """A renewal is credited to the click that earned the subscription's first order."""
    bound = tx.orders.renewal_click(order.merchant_id, subscription_id)
    click = None if bound is None else tx.clicks.get(bound)
    if click is None or click.merchant_id != order.merchant_id:
        return Decision(notes=[f"subscription {subscription_id} has no attributed first order"])
    return Decision(
        signal="click",
        campaign_id=click.campaign_id,
        shares=[Share(click.affiliate_id, click.campaign_id, click, Fraction(1), "click", None)],
        notes=[f"renewal {order.renewal} of {subscription_id} is credited to its first click"],
    )


def _candidates(
    tx: UnitOfWork,
    order: Order,
    placed_ms: int,
    visitor_id: str | None,
    click_id: str | None,
    *,
    views_count: bool,
) -> tuple[list[ClickRow], list[View], list[str]]:
    """The clicks and views of the order's visitor, its customer's other devices, and
    the click named (of this merchant only), with notes on what was not found."""
    merchant_id = order.merchant_id
    notes: list[str] = []
    clicks: list[ClickRow] = []
    if click_id is not None:
        given = tx.clicks.get(click_id)
        if given is None or given.merchant_id != merchant_id:
            notes.append(f"click id {click_id} is unknown")
        else:
            clicks.append(given)
    visitors = [] if visitor_id is None else [visitor_id]
    if order.customer_id is not None:  # the customer's other devices
        visitors += tx.clicks.visitors_of(merchant_id, order.customer_id, limit=MAX_LINKED_VISITORS)
    since = placed_ms - _LOOKBACK_MS
    views: list[View] = []
    for visitor in dict.fromkeys(visitors):
        clicks += tx.clicks.by_visitor(merchant_id, visitor, since_ms=since, until_ms=placed_ms)
        if views_count or not clicks:  # views count, or explain why an order went uncredited
            views += [
                View(
                    v.impression_id, v.affiliate_id, v.campaign_id, v.merchant_id, v.at_ms, v.earns
                )
                for v in tx.clicks.impressions(
                    merchant_id, visitor, since_ms=since, until_ms=placed_ms
                )
            ]
    return clicks, views, notes


def attribute(
    tx: UnitOfWork,
    catalog: CatalogService,
    order: Order,
    *,
    placed_ms: int,
    visitor_id: str | None,
    click_id: str | None,
    now: float,
) -> Decision:
    """Load the order's clicks, coupons, binding and policies; let the pure rules decide."""
    merchant_id = order.merchant_id
    views_count = catalog.view_through(merchant_id, now)
    clicks, views, notes = _candidates(
        tx, order, placed_ms, visitor_id, click_id, views_count=views_count
    )
    coupons: list[Coupon | str] = []
    for code in dict.fromkeys(coupon_code(c) for c in order.coupon_codes):
        found = tx.catalog.get_coupon(merchant_id, code)
        coupons.append(
            code if found is None else Coupon(code, found.affiliate_id, found.campaign_id)
        )
    binding = None
    if order.customer_id is not None:
        row = tx.orders.get_binding(merchant_id, order.customer_id)
        if row is not None:
            binding = Binding(row.affiliate_id, row.campaign_id, row.click_id, row.until_ms)
    if not (clicks or views or coupons or binding or click_id):
        notes.append("no click id, visitor id, coupon or customer binding was given")
    involved = [c.campaign_id for c in clicks]
    involved += [c.campaign_id for c in coupons if isinstance(c, Coupon)]
    involved += [] if binding is None else [binding.campaign_id]
    involved += [view.campaign_id for view in views]
    campaigns: dict[str, CampaignRules] = {}
    for campaign_id in dict.fromkeys(involved):
        with suppress(UnknownCampaign):  # its touches are then passed over, with a note
            view = catalog.view(merchant_id, campaign_id, now)
            campaign = view.campaign
            campaigns[campaign_id] = CampaignRules(
                campaign.attribution, view.window_ms, campaign.active
            )
    channels: dict[str, str | None] = {}
    for click in clicks:
        if click.affiliate_id not in channels:
            member = catalog.member(tx, click.affiliate_id)
            channels[click.affiliate_id] = None if member is None else member.channel
    decision = decide(
        clicks,
        merchant_id=merchant_id,
        placed_at_ms=placed_ms,
        campaigns=campaigns,
        channels=channels,
        coupons=coupons,
        binding=binding,
        views=views,
    )
    decision.notes[:0] = notes
    return decision


def bind_customer(
    tx: UnitOfWork,
    catalog: CatalogService,
    order: Order,
    party: tuple[str, str, str | None],
    *,
    campaign_id: str,
    placed_ms: int,
    now: float,
) -> None:
    """Bind the order's customer to ``party`` (affiliate, campaign, click) when the
    campaign's policy says so and no binding holds yet."""
    policy = catalog.view(order.merchant_id, campaign_id, now).campaign.attribution
    if not policy.bind_customers or order.customer_id is None:
        return
    found = tx.orders.get_binding(order.merchant_id, order.customer_id)
    if found is not None and (found.until_ms is None or placed_ms < found.until_ms):
        return  # still bound (to this affiliate or another)
    period = policy.binding_period
    until_ms = None if period is None else placed_ms + int(period.total_seconds() * 1000)
    affiliate_id, party_campaign, click_id = party
    tx.orders.put_binding(
        BindingRow(
            order.merchant_id, order.customer_id, affiliate_id, party_campaign, click_id, until_ms
        )
    )
