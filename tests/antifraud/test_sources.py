"""Sources judged against their campaign's base rate: the bounds by hand, and the rules on the
real order path (a farm's network, injected clicks, flooded clicks), frozen back to the
source's first order whatever the order of arrival, and after a restart."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from pathlib import Path

import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.antifraud import sources
from affiliate_sdk.antifraud.sources import SourceCounts
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign

# -- the bounds, by hand ----------------------------------------------------------------------


def test_surprise_is_the_chernoff_exponent() -> None:
    # all 5 of 5 at rate 0.02: 5 * ln(1 / 0.02) = 5 * 3.912 = 19.56
    assert sources.surprise(5, 5, 0.02) == pytest.approx(19.56, abs=0.01)
    # 3 of 10 at 0.1: 10 * (0.3 ln 3 + 0.7 ln(0.7 / 0.9)) = 10 * (0.3296 - 0.1759) = 1.537
    assert sources.surprise(3, 10, 0.1) == pytest.approx(1.537, abs=0.001)
    assert sources.surprise(1, 10, 0.1) == 0.0  # what the rate makes likely is no surprise
    assert sources.surprise(0, 0, 0.5) == 0.0
    # 1 of 1000 at 0.02: 1000 * (0.001 ln 0.05 + 0.999 ln(0.999 / 0.98)) = 1000 * 0.016188
    assert sources.surprise_below(1, 1000, 0.02) == pytest.approx(16.19, abs=0.01)
    assert sources.surprise_below(30, 1000, 0.02) == 0.0


def test_high_conversion_is_judged_far_above_the_campaign_and_what_people_reach() -> None:
    # the campaign without the source: (20 + 0.02 * 50) / (1000 + 50) = 0.02; 5 of 5 clicks
    # buying: 5 * ln(1 / 0.02) = 19.56
    kw = {"factor": 10.0, "prior": 0.02, "floor": 0.01, "ceiling": 0.5}
    assert sources.high_conversion(5, 5, 25, 1_005, **kw) == pytest.approx(19.56, abs=0.01)
    assert sources.high_conversion(4, 10, 24, 1_010, **kw) is None  # 40%: people can
    assert sources.high_conversion(0, 10, 20, 1_010, **kw) is None
    # more orders than clicks counted (a click another process counted): clicks = orders
    assert sources.high_conversion(5, 2, 25, 1_005, **kw) == pytest.approx(19.56, abs=0.01)


def test_base_rates_lean_on_the_prior_until_the_campaign_has_events() -> None:
    assert sources.base_rate(0, 0, prior=0.02) == 0.02
    # (10 + 0.02 * 50) / (100 + 50) = 11 / 150
    assert sources.base_rate(10, 100, prior=0.02) == pytest.approx(11 / 150)


def test_fast_conversions_compare_the_source_with_the_rest_of_its_campaign() -> None:
    campaign = SourceCounts(timed=1000, fast=14)
    # the injector: 4 of 4 fast, against (14 - 4 + 0.5) / (1000 - 4 + 50) = 0.01004
    injector = sources.fast_conversions(SourceCounts(4, 4), campaign, minimum=3, prior=0.01)
    assert injector == pytest.approx(4 * math.log(1 / (10.5 / 1046)), abs=0.01)
    # a cashback site: 4 of 100 fast, at that rate, is not implausible enough
    cashback = sources.fast_conversions(SourceCounts(100, 4), campaign, minimum=3, prior=0.01)
    assert cashback is not None and cashback < 13.8
    assert sources.fast_conversions(SourceCounts(2, 2), campaign, minimum=3, prior=0.01) is None


def _low(orders: int, clicks: int, campaign_orders: int, campaign_clicks: int) -> float | None:
    return sources.low_conversion(
        orders,
        clicks,
        campaign_orders,
        campaign_clicks,
        minimum_clicks=1000,
        factor=5.0,
        prior=0.02,
        floor=0.01,
    )


def test_low_conversion_needs_a_factor_and_a_floor() -> None:
    # 2 orders of 20,000 clicks where the rest of the campaign converts 2 in 100
    flooded = _low(2, 20_000, 2_002, 120_000)
    assert flooded is not None and flooded > 100
    # an honest content site at 0.6%: below the campaign's 2%, not five times below
    assert _low(12, 2_000, 2_012, 102_000) is None
    assert _low(0, 999, 100, 5_000) is None  # too few clicks
    # floods drag the campaign's own rate down to 0.3%: the plans' 1% is the least taken
    dragged = _low(2, 20_000, 300, 100_000)
    assert dragged is not None and dragged > 100


def test_network_orders_judge_the_affiliates_share_as_the_campaign_sees_it() -> None:
    # a farm: 8 of the network's 8 customers, an affiliate with 8 of the campaign's 400
    farm = sources.network_orders(8, 8, 8, 400, minimum=5)
    assert farm == pytest.approx(8 * math.log(402 / 9), abs=0.01)
    # a carrier's address: 2 of its 12 customers through an affiliate with a fifth of all
    assert sources.network_orders(2, 12, 80, 400, minimum=5) is None
    assert sources.network_orders(6, 30, 80, 400, minimum=5) == 0.0
    # an affiliate that is its whole campaign has no others' share to stand out from
    alone = sources.network_orders(20, 20, 20, 20, minimum=5)
    assert alone is not None and alone < 13.8


# -- on the order path ------------------------------------------------------------------------

AFFILIATES = [f"aff{n}" for n in range(10)]


def _open(url: str, clock: FakeClock) -> Alliance:
    alliance = Alliance.open(url, keys={"k1": SECRET}, clock=clock)
    alliance.add_campaign(make_campaign())
    return alliance


def _buy(
    alliance: Alliance,
    clock: FakeClock,
    affiliate: str,
    n: int,
    *,
    ip: str,
    wait: timedelta = timedelta(minutes=30),
) -> str:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip=ip, user_agent=HUMAN_UA)
    clock.advance(wait)
    order = Order(
        order_id=f"o{n}",
        merchant_id="m1",
        total=Money("60.00", "CNY"),
        customer_id=f"cust{n}",
    )
    return alliance.record_order(order, click_id=click.click_id, ip=ip).verdict.decision


def _honest_week(alliance: Alliance, clock: FakeClock, orders: int = 200) -> None:
    """Orders spread over ten affiliates from homes all over."""
    for n in range(orders):
        _buy(alliance, clock, AFFILIATES[n % 10], 100_000 + n, ip=f"198.51.{n % 250}.{n % 7 + 1}")


def _status_of(alliance: Alliance, affiliate: str) -> dict[str, str]:
    return {line.order_id: line.status for line in alliance.commissions(affiliate_id=affiliate)}


def test_a_farm_network_is_reviewed_back_to_its_first_order(clock: FakeClock) -> None:
    with _open("memory://", clock) as alliance:
        _honest_week(alliance, clock)
        decisions = [_buy(alliance, clock, "farm", n, ip=f"203.0.113.{n + 1}") for n in range(10)]
        # (5 customers over 4 distinct hours are the least judged: the 6th, at half-hour steps)
        assert decisions[:5] == ["allow"] * 5 and set(decisions[5:]) == {"review"}
        assert set(_status_of(alliance, "farm").values()) == {"frozen"}  # the first five too
        assert "frozen" not in set(_status_of(alliance, "aff0").values())


def test_a_fleet_rented_across_one_providers_block_is_reviewed_back_to_its_first_order(
    clock: FakeClock,
) -> None:
    with _open("memory://", clock) as alliance:
        _honest_week(alliance, clock)
        # one machine per /24 of a /16 no range list names: no network stands out, the block does
        fleet = [_buy(alliance, clock, "fleet", n, ip=f"193.106.{n * 7}.{n + 2}") for n in range(9)]
        assert fleet[:5] == ["allow"] * 5 and set(fleet[5:]) == {"review"}
        assert set(_status_of(alliance, "fleet").values()) == {"frozen"}
        line = alliance.commissions(affiliate_id="fleet")[-1]
        assert "source.block_orders" in (line.reason or "")
        assert "frozen" not in set(_status_of(alliance, "aff0").values())


def test_a_block_whose_customers_buy_through_many_affiliates_passes(clock: FakeClock) -> None:
    with _open("memory://", clock) as alliance:
        _honest_week(alliance, clock)
        regional = [  # a small provider's block: its customers buy as the campaign's do
            _buy(alliance, clock, AFFILIATES[n % 5], 5_000 + n, ip=f"193.106.{n}.{n % 9 + 1}")
            for n in range(40)
        ]
        assert set(regional) == {"allow"}


def test_the_block_of_a_network_is_its_16_or_32() -> None:
    from affiliate_sdk._services.sources import block_of

    assert block_of("193.106.77.0/24") == "193.106.0.0/16"
    assert block_of("2a01:4f8:c17::/48") == "2a01:4f8::/32"
    assert block_of(None) is None and block_of("not a network") is None


def test_a_carriers_address_shared_by_customers_of_many_affiliates_passes(
    clock: FakeClock,
) -> None:
    with _open("memory://", clock) as alliance:
        _honest_week(alliance, clock)
        carrier = [
            _buy(alliance, clock, AFFILIATES[n % 4], 1_000 + n, ip="203.0.113.9") for n in range(40)
        ]
        assert set(carrier) == {"allow"}  # 40 customers on one address, ten per affiliate


def test_which_orders_are_held_does_not_depend_on_their_order(clock: FakeClock) -> None:
    held: list[set[str]] = []
    for seed in (1, 2):
        with _open("memory://", FakeClock(clock.now())) as alliance:
            inner = alliance.clock
            assert isinstance(inner, FakeClock)
            plan = [("farm", f"203.0.113.{n + 1}") for n in range(8)]
            plan += [(AFFILIATES[n % 10], f"198.51.{n}.1") for n in range(200)]
            random.Random(seed).shuffle(plan)
            for n, (affiliate, ip) in enumerate(plan):
                _buy(alliance, inner, affiliate, n, ip=ip)
            frozen = {
                f"{line.affiliate_id}"
                for line in alliance.commissions(merchant_id="m1")
                if line.status == "frozen"
            }
            counts = sum(
                1 for line in alliance.commissions(affiliate_id="farm") if line.status == "frozen"
            )
            held.append({*frozen, str(counts)})
    assert held[0] == held[1] == {"farm", "8"}


def test_injected_clicks_are_reviewed_and_the_count_survives_a_restart(
    clock: FakeClock, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with _open(url, clock) as alliance:
        _honest_week(alliance, clock, orders=120)
        for n in range(2):
            fast = timedelta(seconds=30)
            assert _buy(alliance, clock, "inject", n, ip=f"203.0.113.{n}", wait=fast) == "allow"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:  # a restart
        third = _buy(alliance, clock, "inject", 2, ip="203.0.113.7", wait=timedelta(seconds=30))
        assert third == "review"  # the two before the restart still count
        assert set(_status_of(alliance, "inject").values()) == {"frozen"}
        slow = _buy(alliance, clock, "aff1", 9_999, ip="198.51.100.77")
        assert slow == "allow"


def test_a_busy_shared_address_with_two_big_affiliates_is_not_a_farm(clock: FakeClock) -> None:
    with _open("memory://", clock) as alliance:
        # two affiliates share the campaign; 140 of their customers behind one carrier address
        decisions = {
            _buy(alliance, clock, f"aff{n % 2}", n, ip="203.0.113.9", wait=timedelta(minutes=10))
            for n in range(140)
        }
        assert decisions == {"allow"}


def test_blocked_clicks_are_no_clicks_of_the_campaign(clock: FakeClock) -> None:
    with _open("memory://", clock) as alliance:
        link = alliance.create_link(
            affiliate_id="aff1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        for n in range(5):  # rented machines (AWS): blocked, so never converting
            click = alliance.track_click(link, ip=f"3.5.140.{n + 1}", user_agent=HUMAN_UA)
            assert click.verdict.decision == "block"
        alliance.track_click(link, ip="198.51.100.1", user_agent=HUMAN_UA)
        now = int(clock.timestamp() * 1000)
        assert alliance.fraud.per_day.total("k/m1/c1/aff1", now) == 1
        assert alliance.fraud.per_day.total("k/m1/c1", now) == 1
