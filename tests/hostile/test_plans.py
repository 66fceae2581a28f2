"""Hostile campaigns and commission plans, through ``add_campaign``.

A plan or campaign is accepted or refused with an ``AffiliateError`` (the catalog
unchanged then). What is accepted can take traffic: links, clicks, orders, refunds
and period closes on it succeed or raise an ``AffiliateError``, and its orders
never book a negative commission (only reversals are negative).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import (
    AffiliateError,
    Alliance,
    Campaign,
    Click,
    Commission,
    CommissionPlan,
    LineItem,
    Money,
    Order,
    OrderOutcome,
)

from ._state import check
from ._world import HUMAN_UA, advance, alliance
from .strategies import (
    HOSTILE,
    SLOW,
    datetimes,
    domains,
    identifiers,
    plans,
    strings,
    texts,
    timedeltas,
    variants,
)

_ZONES = ["UTC", "Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT+12", "Mars/Olympus", "", "../UTC"]


def _catalog(a: Alliance) -> object:
    return a.campaigns(), [a.plan_versions(c.campaign_id, merchant_id="m1") for c in a.campaigns()]


def _added(a: Alliance, build: Any, effective: datetime | None = None) -> Campaign | None:
    """``add_campaign(build())``, checked: a refusal changes neither book nor catalog."""
    catalog = _catalog(a)
    added = check(a, lambda: a.add_campaign(build(), plan_effective_from=effective))
    if isinstance(added, AffiliateError):
        assert _catalog(a) == catalog, "a refused campaign changed the catalog"
        return None
    return added


def assert_no_negative_commission(outcome: OrderOutcome) -> None:
    for line in outcome.commissions:
        if line.kind not in ("reversal", "clawback"):
            assert line.amount.amount >= 0, f"{line.kind} of {line.amount} ({line.rule})"


def _trade(a: Alliance, campaign: Campaign) -> None:
    """Traffic on an accepted campaign: every step books or raises a typed error."""
    landing = f"https://{campaign.landing_domains[0].removeprefix('*.')}/p/1"
    if campaign.landing_domains[0].startswith("*."):
        landing = f"https://www.{campaign.landing_domains[0][2:]}/p/1"
    link = check(
        a,
        lambda: a.create_link(
            affiliate_id="a1",
            campaign_id=campaign.campaign_id,
            landing_url=landing,
            merchant_id=campaign.merchant_id,
        ),
    )
    if isinstance(link, AffiliateError):
        return
    click = check(a, lambda: a.track_click(link, ip="203.0.113.7", user_agent=HUMAN_UA))
    if not isinstance(click, Click):
        return
    advance(a, timedelta(minutes=5))
    order = Order(
        order_id="o-plan",
        merchant_id=campaign.merchant_id,
        total=Money("199.00", "CNY"),
        items=[
            LineItem(sku="sku-1", category="books", quantity=2, unit_price=Money("50.00", "CNY")),
            LineItem(sku="sku-2", quantity=1, unit_price=Money("99.00", "CNY")),
        ],
    )
    outcome = check(a, lambda: a.record_order(order, visitor_id=click.visitor_id))
    if not isinstance(outcome, OrderOutcome):
        return
    assert_no_negative_commission(outcome)
    check(a, lambda: a.refund(campaign.merchant_id, "o-plan", Money("99.00", "CNY")))
    for period in ("2026-03", "2026-Q1", "2026"):

        def close(period: str = period) -> list[Commission]:
            return a.close_period(campaign.campaign_id, period, merchant_id=campaign.merchant_id)

        check(a, close)


@HOSTILE
@given(plan=plans(), effective=st.one_of(st.none(), datetimes()))
def test_a_plan_is_refused_typed_or_books_no_negative_commission(
    plan: dict[str, Any], effective: datetime | None
) -> None:
    with alliance() as a:

        def build() -> Campaign:
            return Campaign(
                campaign_id="c1",
                merchant_id="m1",
                plan=CommissionPlan.model_validate(plan),
                landing_domains=["shop.example.com"],
            )

        campaign = _added(a, build, effective)
        if campaign is not None:
            _trade(a, campaign)


campaign_specs = variants(
    {"campaign_id": "c2", "merchant_id": "m1", "landing_domains": ["shop.example.com"]},
    {
        "campaign_id": identifiers("c2"),
        "merchant_id": identifiers("m1"),
        "landing_domains": st.lists(st.one_of(st.just("shop.example.com"), domains()), max_size=3),
        "active": st.booleans(),
        "country": st.one_of(st.none(), st.just("DE"), strings(3)),
        "category": st.one_of(st.none(), texts("books")),
        "attribution_window": timedeltas(),
        "timezone": st.one_of(st.sampled_from(_ZONES), strings(12), st.just("a" * 300)),
    },
)


@SLOW
@given(spec=campaign_specs)
def test_a_campaign_is_refused_typed_or_takes_traffic(spec: dict[str, Any]) -> None:
    with alliance() as a:
        campaign = _added(a, lambda: Campaign(plan=CommissionPlan(rate="10%"), **spec))
        if campaign is not None and campaign.active:
            _trade(a, campaign)
