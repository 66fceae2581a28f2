"""Small alliances for the hostile properties, built inside each example.

``alliance()`` opens one on a ``FakeClock`` with two campaigns of merchant ``m1``:
``c1`` (10% of sales) and ``cpm`` (1.00 CNY per thousand impressions). ``clicked``
and ``ordered`` add the traffic and orders a property needs, ``seeded`` a ledger
with lines in each status the review calls move between.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import NamedTuple

from affiliate_sdk import (
    Alliance,
    Campaign,
    Click,
    CommissionPlan,
    Money,
    Order,
    OrderOutcome,
)
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, START

__all__ = ["HUMAN_UA", "LANDING", "Seeded", "alliance", "clicked", "ordered", "seeded"]

LANDING = "https://shop.example.com/p/1"


@contextmanager
def alliance(url: str = "memory://", *, plan: CommissionPlan | None = None) -> Iterator[Alliance]:
    """A fresh alliance at ``START`` with campaigns ``c1`` (``plan``, else 10%) and ``cpm``."""
    clock = FakeClock(START)
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as opened:
        opened.add_campaign(
            Campaign(
                campaign_id="c1",
                merchant_id="m1",
                plan=plan if plan is not None else CommissionPlan(rate="10%"),
                landing_domains=["shop.example.com", "*.cdn.example.com"],
            )
        )
        opened.add_campaign(
            Campaign(
                campaign_id="cpm",
                merchant_id="m1",
                plan=CommissionPlan(per_mille=Money("1.00", "CNY")),
                landing_domains=["shop.example.com"],
            )
        )
        yield opened


def advance(alliance: Alliance, delta: timedelta) -> None:
    clock = alliance.clock
    assert isinstance(clock, FakeClock)
    clock.advance(delta)


def clicked(alliance: Alliance, affiliate_id: str = "a1", campaign_id: str = "c1") -> Click:
    """A human's click on a fresh link, and five minutes of browsing after it."""
    url = alliance.create_link(
        affiliate_id=affiliate_id, campaign_id=campaign_id, landing_url=LANDING
    )
    click = alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA)
    advance(alliance, timedelta(minutes=5))
    return click


def ordered(
    alliance: Alliance, order_id: str, visitor_id: str, total: str = "199.00"
) -> OrderOutcome:
    return alliance.record_order(
        Order(order_id=order_id, merchant_id="m1", total=Money(total, "CNY")),
        visitor_id=visitor_id,
    )


class Seeded(NamedTuple):
    """A ledger's line ids by status, and the visitor the orders came from."""

    pending: str
    frozen: str
    approved: str
    visitor_id: str


def seeded(alliance: Alliance) -> Seeded:
    """Three credited orders: one line left pending, one frozen, one approved a day ago."""
    click = clicked(alliance)
    lines = [ordered(alliance, f"o{n}", click.visitor_id).commissions[0] for n in (1, 2, 3)]
    pending, frozen, approved = (line.entry_id for line in lines)
    alliance.freeze([frozen], reason="looks odd")
    alliance.approve([approved])
    advance(alliance, timedelta(days=2))
    return Seeded(pending, frozen, approved, click.visitor_id)
