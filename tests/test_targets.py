"""Targets, attainment steps, the over-target bonus and period caps, by hand."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from affiliate_sdk import Alliance, CommissionPlan, InvalidInput, Money, Order
from affiliate_sdk.commission.targets import Target, bonus_for, step_points
from affiliate_sdk.testing import FakeClock

from .conftest import HUMAN_UA, SECRET, browse, make_campaign


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


STEPS = [
    {"at": "100%", "points": "1%"},
    {"at": "150%", "points": "2%"},
    {"at": "200%", "points": "3%"},
]


def test_steps_and_bonus_by_hand() -> None:
    target = Target.model_validate(
        {"amount": {"amount": "10000.00", "currency": "CNY"}, "bonus_rate": "5%", "steps": STEPS}
    )
    assert step_points(target, Decimal("9999.99")) == 0
    assert step_points(target, Decimal(10000)) == Decimal("0.01")
    assert step_points(target, Decimal(15000)) == Decimal("0.02")
    assert step_points(target, Decimal(25000)) == Decimal("0.03")
    assert bonus_for(target, Decimal(9000), Decimal(10000)) == 0  # reaching is not exceeding
    assert bonus_for(target, Decimal(9000), Decimal(12000)) == Decimal("600.00")  # 5% of 12,000
    assert bonus_for(target, Decimal(12000), Decimal(13000)) == Decimal("50.00")  # 5% of 1,000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": {"amount": "0.00", "currency": "CNY"}}, "positive"),
        (
            {
                "amount": {"amount": "1.00", "currency": "CNY"},
                "steps": [{"at": "150%", "points": "2%"}, {"at": "100%", "points": "1%"}],
            },
            "ascending",
        ),
    ],
)
def test_bad_targets(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Target.model_validate(data)


def _alliance(clock: FakeClock, plan: dict[str, Any]) -> Alliance:
    alliance = Alliance.open(keys={"k1": SECRET}, clock=clock)
    alliance.add_campaign(make_campaign(plan=CommissionPlan.model_validate(plan)))
    return alliance


def _buy(
    alliance: Alliance, order_id: str, total: str, affiliate: str = "a1"
) -> list[tuple[str, Money]]:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip="203.0.113.1", user_agent=HUMAN_UA)
    browse(alliance)
    outcome = alliance.record_order(
        Order(order_id=order_id, merchant_id="m1", total=cny(total)), click_id=click.click_id
    )
    return [(c.kind, c.amount) for c in outcome.commissions]


def test_floor_plus_over_target_bonus(clock: FakeClock) -> None:
    # a small merchant: 6% raised to a 10% floor, plus 5% of the month once 10,000 is exceeded
    alliance = _alliance(
        clock,
        {
            "rate": "6%",
            "floor_rate": "10%",
            "target": {"amount": {"amount": "10000.00", "currency": "CNY"}, "bonus_rate": "5%"},
        },
    )
    assert _buy(alliance, "o1", "8000.00") == [("commission", cny("800.00"))]
    # 8,000 + 4,000 = 12,000 > 10,000: 5% of 12,000 = 600.00
    assert _buy(alliance, "o2", "4000.00") == [
        ("commission", cny("400.00")),
        ("bonus", cny("600.00")),
    ]
    # past the target, the bonus is 5% of each new order
    assert _buy(alliance, "o3", "1000.00") == [
        ("commission", cny("100.00")),
        ("bonus", cny("50.00")),
    ]
    # another affiliate has their own target
    assert _buy(alliance, "o4", "1000.00", affiliate="a2") == [("commission", cny("100.00"))]


def test_attainment_steps_add_points(clock: FakeClock) -> None:
    alliance = _alliance(
        clock,
        {
            "rate": "10%",
            "target": {"amount": {"amount": "1000.00", "currency": "CNY"}, "steps": STEPS},
        },
    )
    assert _buy(alliance, "o1", "900.00") == [("commission", cny("90.00"))]  # 90% of target
    assert _buy(alliance, "o2", "100.00") == [("commission", cny("11.00"))]  # 100%: 11%
    assert _buy(alliance, "o3", "500.00") == [("commission", cny("60.00"))]  # 150%: 12%
    assert _buy(alliance, "o4", "500.00") == [("commission", cny("65.00"))]  # 200%: 13%
    [line] = alliance.commissions(order_id="o4")
    assert line.rule == "base + 3% at 200% of target"
    # a refund brings attainment back down
    alliance.refund(merchant_id="m1", order_id="o4")
    assert _buy(alliance, "o5", "100.00") == [("commission", cny("12.00"))]  # 160%: 12%
    # a new month starts again
    clock.advance(timedelta(days=31))
    assert _buy(alliance, "o6", "100.00") == [("commission", cny("10.00"))]


def test_period_cap(clock: FakeClock) -> None:
    alliance = _alliance(
        clock,
        {"rate": "10%", "period_cap": {"amount": {"amount": "150.00", "currency": "CNY"}}},
    )
    assert _buy(alliance, "o1", "1000.00") == [("commission", cny("100.00"))]
    assert _buy(alliance, "o2", "1000.00") == [("commission", cny("50.00"))]  # trimmed
    assert _buy(alliance, "o3", "1000.00") == [("commission", cny("0.00"))]
    assert alliance.commissions(order_id="o2")[0].rule == "base; period cap 150.00 CNY"
    clock.advance(timedelta(days=31))
    assert _buy(alliance, "o4", "1000.00") == [("commission", cny("100.00"))]


LEVELS = {
    "currency": "CNY",
    "levels": [
        {"name": "basic", "from": 0, "share": "40%"},
        {"name": "strategic", "from": 1_000_000, "share": "55%"},
        {"name": "core", "from": 5_000_000, "share": "70%"},
    ],
}


def _shares(alliance: Alliance, order_id: str) -> dict[str, Money]:
    return {c.account: c.amount for c in alliance.commissions(order_id=order_id)}


def test_membership_levels_share_the_commission(clock: FakeClock) -> None:
    alliance = _alliance(clock, {"rate": "10%", "levels": LEVELS})
    _buy(alliance, "o1", "1000000.00")  # basic until this order: keeps 40% of 100,000
    assert _shares(alliance, "o1") == {"affiliate": cny("40000.00"), "platform": cny("60000.00")}
    _buy(alliance, "o2", "100.00")  # 1,000,000 reached: strategic keeps 55% of 10.00
    assert _shares(alliance, "o2") == {"affiliate": cny("5.50"), "platform": cny("4.50")}
    assert alliance.commissions(order_id="o2")[0].rule == "base; level strategic"
    _buy(alliance, "o3", "4000000.00")
    _buy(alliance, "o4", "100.00")  # 5,000,100 sold this year: core keeps 70%
    assert _shares(alliance, "o4") == {"affiliate": cny("7.00"), "platform": cny("3.00")}
    alliance.refund(merchant_id="m1", order_id="o3")  # back under 5,000,000: strategic again
    _buy(alliance, "o5", "100.00")
    assert _shares(alliance, "o5") == {"affiliate": cny("5.50"), "platform": cny("4.50")}


def test_levels_exclude_a_platform_take_and_must_start_at_zero() -> None:
    with pytest.raises(InvalidInput, match="drop platform_take"):
        CommissionPlan.model_validate({"rate": "10%", "levels": LEVELS, "platform_take": "5%"})
    with pytest.raises(InvalidInput, match="start at 0"):
        CommissionPlan.model_validate(
            {
                "rate": "1%",
                "levels": {"currency": "CNY", "levels": [{"name": "x", "from": 5, "share": "1%"}]},
            }
        )


def _renew(
    alliance: Alliance, order_id: str, renewal: int, total: str = "30.00"
) -> list[tuple[str, Money]]:
    outcome = alliance.record_order(
        Order(
            order_id=order_id,
            merchant_id="m1",
            total=cny(total),
            subscription_id="sub-9",
            renewal=renewal,
        )
    )
    return [(c.kind, c.amount) for c in outcome.commissions]


def _subscribe(alliance: Alliance) -> None:
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip="203.0.113.1", user_agent=HUMAN_UA)
    browse(alliance)
    alliance.record_order(
        Order(order_id="first", merchant_id="m1", total=cny("30.00"), subscription_id="sub-9"),
        click_id=click.click_id,
    )


def test_recurring_pays_the_first_n_renewals(clock: FakeClock) -> None:
    alliance = _alliance(clock, {"rate": "20%", "recurring": {"renewals": 2}})
    _subscribe(alliance)
    for month in (1, 2, 3):
        clock.advance(timedelta(days=31))  # long past the attribution window of the click
        paid = _renew(alliance, f"renewal-{month}", month)
        assert paid == ([("commission", cny("6.00"))] if month <= 2 else [])
    notes = alliance.record_order(
        Order(
            order_id="renewal-3",
            merchant_id="m1",
            total=cny("30.00"),
            subscription_id="sub-9",
            renewal=3,
        )
    ).notes
    assert "no commission: the plan does not pay renewal 3" in notes
    assert {c.affiliate_id for c in alliance.commissions()} == {"a1"}


def test_recurring_for_life_and_renewals_unpaid_without_it(clock: FakeClock) -> None:
    for_life = _alliance(clock, {"rate": "20%", "recurring": {}})
    _subscribe(for_life)
    assert _renew(for_life, "r36", 36) == [("commission", cny("6.00"))]
    one_off = _alliance(clock, {"rate": "20%"})
    _subscribe(one_off)
    assert _renew(one_off, "r1", 1) == []
    with pytest.raises(InvalidInput, match="subscription_id"):
        Order(order_id="x", merchant_id="m1", total=cny("1.00"), renewal=1)


def test_cpc_settles_valid_clicks_in_consecutive_windows(clock: FakeClock) -> None:
    alliance = _alliance(clock, {"per_click": {"amount": "0.30", "currency": "CNY"}})
    link = alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    start = clock.now()
    for _ in range(5):
        alliance.track_click(link, ip="203.0.113.1", user_agent=HUMAN_UA)
    alliance.track_click(link, ip="66.249.66.1", user_agent="Googlebot/2.1")  # blocked: unpaid
    clock.advance(timedelta(hours=1))
    middle = clock.now()
    [line] = alliance.settle_clicks("c1", start=start, end=middle)
    assert (line.affiliate_id, line.amount, line.rule) == ("a1", cny("1.50"), "cpc 0.30 CNY x 5")
    with pytest.raises(InvalidInput, match="settled up to"):
        alliance.settle_clicks("c1", start=start, end=middle)  # the same window twice
    alliance.track_click(link, ip="203.0.113.1", user_agent=HUMAN_UA)
    clock.advance(timedelta(hours=1))
    [later] = alliance.settle_clicks("c1", start=middle, end=clock.now())
    assert later.amount == cny("0.30")
    assert alliance.verify_ledger().ok


def test_cpm_books_completed_thousands_and_cpa_combines(clock: FakeClock) -> None:
    alliance = _alliance(
        clock,
        {
            "per_mille": {"amount": "30.00", "currency": "CNY"},
            "flat": {"amount": "8.00", "currency": "CNY"},
        },
    )
    assert alliance.record_impressions("c1", affiliate_id="a1", count=800, batch_id="b1") == []
    [cpm] = alliance.record_impressions("c1", affiliate_id="a1", count=2500, batch_id="b2")
    assert (cpm.amount, cpm.rule) == (cny("90.00"), "cpm 30.00 CNY x 3")  # 3,300: 3 thousands
    assert alliance.record_impressions("c1", affiliate_id="a1", count=2500, batch_id="b2") == []
    [more] = alliance.record_impressions("c1", affiliate_id="a1", count=700, batch_id="b3")
    assert more.amount == cny("30.00")  # 4,000
    assert _buy(alliance, "o1", "500.00") == [("commission", cny("8.00"))]  # CPA on top


def test_dynamic_affiliate_rate_is_kept_within_bounds(clock: FakeClock) -> None:
    from affiliate_sdk import Affiliate

    alliance = _alliance(clock, {"rate": "5%", "bounds": {"minimum": "0.5%", "maximum": "12%"}})
    alliance.add_affiliate(Affiliate(affiliate_id="a1", rate="9%"))  # valuable traffic
    alliance.add_affiliate(Affiliate(affiliate_id="a2", rate="20%"))  # asked too much
    alliance.add_affiliate(Affiliate(affiliate_id="a3", rate="0.1%"))  # poor traffic
    assert _buy(alliance, "o1", "100.00") == [("commission", cny("9.00"))]
    assert _buy(alliance, "o2", "100.00", affiliate="a2") == [("commission", cny("12.00"))]
    assert _buy(alliance, "o3", "1000.00", affiliate="a3") == [("commission", cny("5.00"))]
    assert _buy(alliance, "o4", "100.00", affiliate="a4") == [("commission", cny("5.00"))]
    assert alliance.commissions(order_id="o2")[0].rule == "affiliate rate; bounded to 12%"


def test_overrides_can_match_the_membership_level(clock: FakeClock) -> None:
    alliance = _alliance(
        clock,
        {
            "rate": "10%",
            "levels": LEVELS,
            "overrides": [
                {"name": "core-bonus", "match": {"affiliate_level": "core"}, "rate": "12%"}
            ],
        },
    )
    _buy(alliance, "o1", "5000000.00")  # basic: 10%, keeps 40%
    assert alliance.commissions(order_id="o1")[0].rule == "base; level basic"
    _buy(alliance, "o2", "100.00")  # core now: 12%, keeps 70% of 12.00
    assert _shares(alliance, "o2") == {"affiliate": cny("8.40"), "platform": cny("3.60")}
    assert alliance.commissions(order_id="o2")[0].rule == "core-bonus; level core"


def test_bonus_lines_are_approved_and_paid(clock: FakeClock) -> None:
    alliance = _alliance(
        clock,
        {
            "rate": "10%",
            "target": {"amount": {"amount": "1000.00", "currency": "CNY"}, "bonus_rate": "5%"},
        },
    )
    _buy(alliance, "o1", "2000.00")  # 200.00 + bonus 100.00
    clock.advance(timedelta(days=31))
    assert sorted(c.kind for c in alliance.approve_due()) == ["bonus", "commission"]
    clock.advance(timedelta(days=1))
    [batch] = alliance.pay_approved(run_id="r1")
    assert batch.amount == cny("300.00")


def test_closing_the_month_claws_back_a_bonus_that_refunds_undid(clock: FakeClock) -> None:
    alliance = _alliance(
        clock,
        {
            "rate": "10%",
            "target": {"amount": {"amount": "1000.00", "currency": "CNY"}, "bonus_rate": "5%"},
        },
    )
    _buy(alliance, "o1", "800.00")
    _buy(alliance, "o2", "400.00")  # 1,200 > 1,000: bonus 60.00
    alliance.refund(merchant_id="m1", order_id="o2", amount=Money("300.00", "CNY"))
    # 900 left: under the target, so the 60.00 bonus is not earned after all
    [claw] = alliance.close_period("c1", "2026-03")
    assert (claw.kind, claw.amount, claw.rule) == (
        "bonus",
        cny("-60.00"),
        "target missed; period 2026-03 closed",
    )
    assert alliance.close_period("c1", "2026-03") == []


def test_closing_a_month_still_over_target_trims_the_bonus_to_the_net_volume(
    clock: FakeClock,
) -> None:
    alliance = _alliance(
        clock,
        {
            "rate": "10%",
            "target": {"amount": {"amount": "1000.00", "currency": "CNY"}, "bonus_rate": "5%"},
        },
    )
    _buy(alliance, "o1", "1500.00")  # bonus 75.00
    alliance.refund(merchant_id="m1", order_id="o1", amount=Money("100.00", "CNY"))
    [trim] = alliance.close_period("c1", "2026-03")
    assert trim.amount == cny("-5.00")  # 5% of 1,400 = 70.00
