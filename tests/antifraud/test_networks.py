"""Network kinds (datacenter, VPN, Tor...), geo mismatch and click flooding on the real paths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, FraudThresholds, InvalidInput, Money, Order
from affiliate_sdk.antifraud.networks import NetworkKinds
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, STORE_KINDS, make_campaign, store_url_for

KINDS = NetworkKinds(
    {
        "tor": ["192.0.2.128/25"],
        "datacenter": ["192.0.2.0/24", "2001:db8::/32"],
        "vpn": ["198.51.100.0/24"],
    }
)


def test_lookup_finds_the_kind_and_the_first_kind_wins_on_overlap() -> None:
    assert KINDS.kind("192.0.2.7") == "datacenter"
    assert KINDS.kind("192.0.2.200") == "tor"  # inside both: tor is named first
    assert KINDS.kind("198.51.100.255") == "vpn"
    assert KINDS.kind("2001:db8:1::5") == "datacenter"
    assert KINDS.kind("::ffff:192.0.2.7") == "datacenter"
    assert KINDS.kind("203.0.113.1") is None
    assert KINDS.kind("192.0.1.255") is None and KINDS.kind("192.0.3.0") is None
    assert len(KINDS) == 4  # datacenter is split around the tor block


def test_bad_ranges_and_addresses_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not an IP network"):
        NetworkKinds({"vpn": ["300.1.2.0/24"]})
    with pytest.raises(InvalidInput, match="plain word"):
        NetworkKinds({"v p n": ["10.0.0.0/8"]})
    with pytest.raises(InvalidInput, match="not an IPv4 or IPv6"):
        KINDS.kind("not-an-ip")


def test_bundled_ranges_know_the_big_clouds() -> None:
    bundled = NetworkKinds.bundled({"tor": ["185.220.101.0/24"]})
    assert bundled.kinds[0] == "tor"
    assert bundled.kind("185.220.101.7") == "tor"
    assert bundled.kind("3.5.140.2") == "datacenter"  # AWS
    assert bundled.kind("192.168.1.1") is None


@pytest.fixture(params=STORE_KINDS)
def alliance(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> Iterator[Alliance]:
    url = store_url_for(request.param, tmp_path)
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock, networks=KINDS) as alliance:
        alliance.add_campaign(make_campaign())
        yield alliance


def _link(alliance: Alliance, affiliate: str = "a1") -> str:
    return alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )


def test_datacenter_clicks_are_blocked_and_vpn_clicks_warned(alliance: Alliance) -> None:
    link = _link(alliance)
    server = alliance.track_click(link, ip="192.0.2.7", user_agent=HUMAN_UA)
    assert server.verdict.decision == "block"
    assert [r.code for r in server.verdict.reasons] == ["net.datacenter"]
    assert server.redirect_url.startswith("https://shop.example.com/")  # still redirected
    vpn = alliance.track_click(link, ip="198.51.100.9", user_agent=HUMAN_UA)
    assert vpn.verdict.decision == "allow"
    assert [(r.code, r.severity) for r in vpn.verdict.reasons] == [("net.vpn", "warn")]
    home = alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA)
    assert home.verdict.decision == "allow"


def test_a_campaign_can_block_vpns_too(alliance: Alliance) -> None:
    strict = FraudThresholds(block_network_kinds=frozenset({"datacenter", "vpn"}))
    alliance.add_campaign(make_campaign().model_copy(update={"fraud": strict}))
    vpn = alliance.track_click(_link(alliance), ip="198.51.100.9", user_agent=HUMAN_UA)
    assert vpn.verdict.decision == "block"


def _order(n: int, country: str | None) -> Order:
    return Order(
        merchant_id="m1",
        order_id=f"o{n}",
        total=Money("80.00", "EUR"),
        customer_id=f"cust{n}",
        country=country,
    )


def test_an_order_from_another_country_than_its_click_is_questioned(
    alliance: Alliance, clock: FakeClock
) -> None:
    link = _link(alliance)
    click = alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA, country="DE")
    clock.advance(timedelta(minutes=5))
    same = alliance.record_order(_order(1, "DE"), click_id=click.click_id)
    assert same.verdict.decision == "allow"
    other = alliance.record_order(_order(2, "BR"), click_id=click.click_id)
    assert [r.code for r in other.verdict.reasons] == ["geo.mismatch"]
    assert "DE" in other.verdict.reasons[0].message and "BR" in other.verdict.reasons[0].message
    unknown = alliance.record_order(_order(3, None), click_id=click.click_id)
    assert unknown.verdict.decision == "allow"
    with pytest.raises(InvalidInput, match="alpha-2"):
        alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA, country="Germany")


def test_click_flooding_reviews_an_affiliate_with_too_many_clicks_per_order(
    clock: FakeClock,
) -> None:
    limits = FraudThresholds(min_clicks_for_flooding=300, clicks_per_order=100)
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock, fraud=limits) as alliance:
        alliance.add_campaign(make_campaign())
        flood, honest = _link(alliance, "flood"), _link(alliance, "honest")
        last = {}
        for n in range(400):
            ip = f"10.{n // 250}.{n % 250}.1"
            last["flood"] = alliance.track_click(flood, ip=ip, user_agent=HUMAN_UA)
            if n % 20 == 0:
                last["honest"] = alliance.track_click(honest, ip=ip, user_agent=HUMAN_UA)
            clock.advance(timedelta(seconds=2))
        clock.advance(timedelta(minutes=3))  # a person's time to shop
        flooded = alliance.record_order(_order(1, None), click_id=last["flood"].click_id)
        fine = alliance.record_order(_order(2, None), click_id=last["honest"].click_id)
    assert [r.code for r in flooded.verdict.reasons] == ["affiliate.click_flooding"]
    assert flooded.verdict.decision == "review"
    assert fine.verdict.decision == "allow"
