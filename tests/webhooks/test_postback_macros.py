"""Postback macros: the SDK's values come from the event; sub-ids cannot stand in for them."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from affiliate_sdk import Alliance, InvalidInput, Money, Order
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks._requests import postback_url
from affiliate_sdk.webhooks.subscriptions import Subscription

from ..conftest import HUMAN_UA, SECRET, make_campaign

HOOK_SECRET = "whsec-0123456789abcdef"
#: Sub-ids named like every macro of the SDK's own, each claiming another value.
CLAIMS = {
    "commission": "9999.00",
    "amount": "123456.00",
    "order_id": "forged-order",
    "click_id": "forged-click",
    "currency": "XBT",
    "event_id": "forged-event",
    "event_type": "forged-type",
    "sub1": "spring",
}
TEMPLATE = (
    "https://track.pat.example/pb?payout={commission}&amount={amount}&oid={order_id}"
    "&cid={click_id}&cur={currency}&eid={event_id}&et={event_type}&s1={sub1}"
    "&claimed={sub.commission}&claimed_oid={sub.order_id}&s1_again={sub.sub1}&none={sub.nope}"
)


def _postback(clock: FakeClock, sub_ids: dict[str, str]) -> httpx.Request:
    """The postback of one order credited to a link made with ``sub_ids``."""
    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="10%"))
        alliance.subscribe(
            Subscription(
                subscription_id="pb",
                owner="affiliate",
                owner_id="a1",
                url=TEMPLATE,
                method="GET",
                event_types=["click.attributed"],
                secrets=[HOOK_SECRET],
            )
        )
        link = alliance.create_link(
            affiliate_id="a1",
            campaign_id="c1",
            landing_url="https://shop.example.com/",
            sub_ids=sub_ids,
        )
        click = alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA)
        clock.advance(timedelta(minutes=5))
        alliance.record_order(
            Order(order_id="o1", merchant_id="m1", total=Money("80.00", "USD")),
            click_id=click.click_id,
        )
        dispatcher = alliance.dispatcher(
            transport=httpx.MockTransport(receiver), resolver=lambda host, port: ["93.184.216.34"]
        )
        assert dispatcher.run_once().delivered == 1
        (booked,) = alliance.commissions(order_id="o1")
        assert str(booked.amount.amount) == "8.00"
        (request,) = seen
        assert request.url.params["cid"] == click.click_id
        return request


def test_sub_ids_named_like_macros_do_not_change_the_sdks_values(clock: FakeClock) -> None:
    params = _postback(clock, CLAIMS).url.params
    assert params["payout"] == "8.00"  # the commission booked, not the affiliate's 9999.00
    assert params["amount"] == "80.00" and params["oid"] == "o1" and params["cur"] == "USD"
    assert params["eid"] not in ("", CLAIMS["event_id"])
    assert params["et"] == "click.attributed"
    # The affiliate's values, in their own namespace.
    assert params["claimed"] == "9999.00" and params["claimed_oid"] == "forged-order"
    assert params["s1"] == params["s1_again"] == "spring"
    assert params["none"] == ""  # a sub-id the link does not have: empty


def test_the_macros_are_filled_the_same_without_sub_ids(clock: FakeClock) -> None:
    params = _postback(clock, {}).url.params
    assert (params["payout"], params["s1"], params["claimed"]) == ("8.00", "", "")


def test_postback_url_sets_the_sdks_values_last() -> None:
    event = {
        "event_id": "e1",
        "type": "click.attributed",
        "data": {"commission": "8.00", "sub_ids": {"commission": "9999.00", "sub2": "b"}},
    }
    url = "https://x.example/?c={commission}&s={sub.commission}&s2={sub2}&e={event_id}"
    subscription = Subscription(
        subscription_id="s",
        owner="platform",
        url=url,
        event_types=["click.attributed"],
        secrets=[HOOK_SECRET],
    )
    assert postback_url(subscription, event) == "https://x.example/?c=8.00&s=9999.00&s2=b&e=e1"


@pytest.mark.parametrize(
    "macro", ["{payout}", "{sub6}", "{sub.}", "{Sub1}", "{sub.a-b}", "{sub.commission}{password}"]
)
def test_unknown_macros_are_refused_when_subscribing(macro: str) -> None:
    with pytest.raises(InvalidInput, match="unknown macros"):
        Subscription(
            subscription_id="s",
            owner="affiliate",
            owner_id="a1",
            url=f"https://track.pat.example/pb?x={macro}",
            event_types=["click.attributed"],
            secrets=[HOOK_SECRET],
        )
