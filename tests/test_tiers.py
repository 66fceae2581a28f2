"""Volume tiers: the seed example by hand, properties, and booking through the alliance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import (
    Alliance,
    CommissionPlan,
    InvalidInput,
    MissingFxRate,
    Money,
    Order,
)
from affiliate_sdk.commission.tiers import (
    Tiers,
    TierState,
    marginal_commission,
    period_bounds,
    period_key,
    retroactive_step,
)
from affiliate_sdk.fx import StaticFxRates
from affiliate_sdk.testing import FakeClock

from .conftest import HUMAN_UA, SECRET, browse, make_campaign

SEED_BANDS: list[dict[str, Any]] = [
    {"from": 0, "to": 100_000, "rate": "15%"},
    {"from": 100_000, "to": 300_000, "rate": "20%"},
    {"from": 300_000, "rate": "25%"},
]


def seed_tiers(mode: str = "marginal", **extra: object) -> Tiers:
    return Tiers.model_validate({"mode": mode, "currency": "CNY", "bands": SEED_BANDS, **extra})


def test_seed_example_marginal_splits_a_straddling_order() -> None:
    tiers = seed_tiers()
    # 90,000 sold; an order of 20,000 earns 10,000 at 15% and 10,000 at 20%
    total, pieces = marginal_commission(tiers.bands, Decimal(90_000), Decimal(20_000))
    assert total == Decimal("3500.00")
    assert [(index, portion) for index, portion, _ in pieces] == [
        (0, Decimal(10_000)),
        (1, Decimal(10_000)),
    ]
    # the whole quarter at 350,000: 15,000 + 40,000 + 12,500
    assert marginal_commission(tiers.bands, Decimal(0), Decimal(350_000))[0] == Decimal("67500.00")


def test_seed_example_retroactive_true_up() -> None:
    tiers = seed_tiers("retroactive")
    state = TierState()
    rate, true_up, state = retroactive_step(tiers, state, Decimal(90_000), Decimal(90_000))
    assert (rate, true_up) == (Decimal("0.15"), Decimal(0))
    rate, true_up, state = retroactive_step(tiers, state, Decimal(20_000), Decimal(20_000))
    # 110,000 reached 20%: the earlier 90,000 is owed another 5% = 4,500
    assert (rate, true_up) == (Decimal("0.2"), Decimal("4500.00"))
    assert state.volume == 110_000


def test_boundary_belongs_to_the_upper_band() -> None:
    tiers = seed_tiers()
    assert tiers.rate_at(Decimal("99999.99")) == Decimal("0.15")
    assert tiers.rate_at(Decimal(100_000)) == Decimal("0.2")


@given(
    before=st.decimals(min_value=0, max_value=500_000, places=2),
    first=st.decimals(min_value=0, max_value=200_000, places=2),
    second=st.decimals(min_value=0, max_value=200_000, places=2),
)
def test_marginal_is_additive_continuous_and_non_decreasing(
    before: Decimal, first: Decimal, second: Decimal
) -> None:
    bands = seed_tiers().bands
    whole = marginal_commission(bands, before, first + second)[0]
    parts = marginal_commission(bands, before, first)[0]
    parts += marginal_commission(bands, before + first, second)[0]
    assert whole == parts  # splitting an order never changes what it earns
    assert whole >= marginal_commission(bands, before, first)[0]  # more volume never earns less
    assert whole <= (first + second) * Decimal("0.25")


@given(st.lists(st.decimals(min_value=1, max_value=150_000, places=2), min_size=1, max_size=12))
def test_retroactive_true_ups_make_the_total_volume_times_final_rate(orders: list[Decimal]) -> None:
    tiers = seed_tiers("retroactive")
    state = TierState()
    paid = Decimal(0)
    for amount in orders:
        rate, true_up, state = retroactive_step(tiers, state, amount, amount)
        paid += amount * rate + true_up
    assert paid == sum(orders) * tiers.rate_at(sum(orders, Decimal(0)))


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ([{"from": 0, "to": 100, "rate": "1%"}, {"from": 50, "rate": "2%"}], "overlap"),
        ([{"from": 0, "to": 100, "rate": "1%"}, {"from": 150, "rate": "2%"}], "gap"),
        ([{"from": 10, "rate": "1%"}], "start at 0"),
        ([{"from": 0, "to": 100, "rate": "1%"}], "open-ended"),
        ([{"from": 0, "to": 100, "rate": "-1%"}, {"from": 100, "rate": "2%"}], "rate"),
        ([], "at least 1"),
    ],
)
def test_bad_bands(bands: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        CommissionPlan.model_validate({"tiers": {"currency": "CNY", "bands": bands}})


def test_retroactive_rates_may_not_fall_as_the_volume_grows() -> None:
    falling = [{"from": 0, "to": 350, "rate": "10%"}, {"from": 350, "rate": "5%"}]
    plan = {"tiers": {"currency": "CNY", "bands": falling}}
    assert CommissionPlan.model_validate(plan).tiers is not None  # marginal: each band its own
    with pytest.raises(InvalidInput, match="may not fall"):
        CommissionPlan.model_validate({"tiers": {**plan["tiers"], "mode": "retroactive"}})


def test_periods_follow_the_merchant_time_zone() -> None:
    # 31 March 20:00 UTC is already 1 April in Shanghai
    instant = datetime(2026, 3, 31, 20, 0, tzinfo=UTC)
    assert period_key(instant, "quarter", "UTC") == "2026-Q1"
    assert period_key(instant, "quarter", "Asia/Shanghai") == "2026-Q2"
    assert period_key(instant, "month", "Asia/Shanghai") == "2026-04"
    assert period_key(instant, "year", "America/Los_Angeles") == "2026"
    start, end = period_bounds("2026-Q4", "Asia/Shanghai")
    assert (start.month, end.year, end.month) == (10, 2027, 1)


# --- through the alliance --------------------------------------------------------------


def _alliance(clock: FakeClock, tiers: dict[str, object], **options: Any) -> Alliance:
    alliance = Alliance.open(keys={"k1": SECRET}, clock=clock, **options)
    plan = CommissionPlan.model_validate({"tiers": tiers})
    alliance.add_campaign(make_campaign(plan=plan, timezone="Asia/Shanghai"))
    return alliance


def _buy(
    alliance: Alliance, order_id: str, total: str, currency: str = "CNY", affiliate: str = "a1"
) -> list[Any]:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip="203.0.113.1", user_agent=HUMAN_UA)
    browse(alliance)
    outcome = alliance.record_order(
        Order(order_id=order_id, merchant_id="m1", total=Money(total, currency)),
        click_id=click.click_id,
    )
    return [(c.kind, c.amount) for c in outcome.commissions]


def test_marginal_tiers_through_the_alliance(clock: FakeClock) -> None:
    alliance = _alliance(clock, {"mode": "marginal", "currency": "CNY", "bands": SEED_BANDS})
    assert _buy(alliance, "o1", "90000.00") == [("commission", Money("13500.00", "CNY"))]
    assert _buy(alliance, "o2", "20000.00") == [("commission", Money("3500.00", "CNY"))]
    [line] = alliance.commissions(order_id="o2")
    assert line.rule == "tiers 10000.00 at 15% + 10000.00 at 20%"
    # another affiliate's volume is counted separately
    assert _buy(alliance, "o3", "1000.00", affiliate="a2") == [
        ("commission", Money("150.00", "CNY"))
    ]
    # a refund takes volume back out: the next order is in the 15% band again
    alliance.refund(merchant_id="m1", order_id="o2", amount=Money("15000.00", "CNY"))
    assert _buy(alliance, "o4", "1000.00") == [("commission", Money("150.00", "CNY"))]
    # a new quarter starts from zero (in the merchant's time zone)
    clock.set(datetime(2026, 3, 31, 16, 0, tzinfo=UTC))  # 1 April 00:00 in Shanghai
    assert _buy(alliance, "o5", "100.00") == [("commission", Money("15.00", "CNY"))]
    assert alliance.verify_ledger().ok


def test_retroactive_tiers_book_a_true_up(clock: FakeClock) -> None:
    alliance = _alliance(clock, {"mode": "retroactive", "currency": "CNY", "bands": SEED_BANDS})
    assert _buy(alliance, "o1", "90000.00") == [("commission", Money("13500.00", "CNY"))]
    assert _buy(alliance, "o2", "20000.00") == [
        ("commission", Money("4000.00", "CNY")),
        ("trueup", Money("4500.00", "CNY")),
    ]
    total = sum((c.amount for c in alliance.commissions()), Money.zero("CNY"))
    assert total == Money("22000.00", "CNY")  # 110,000 x 20%
    [row] = alliance.reconcile(
        start=clock.now() - timedelta(days=1), end=clock.now() + timedelta(days=1)
    )
    assert row.balanced


def test_an_order_after_refunds_may_book_a_negative_true_up(clock: FakeClock) -> None:
    # the one negative line an order books: re-pricing the period's earlier orders down
    alliance = _alliance(clock, {"mode": "retroactive", "currency": "CNY", "bands": SEED_BANDS})
    _buy(alliance, "o1", "90000.00")  # 13,500 at 15%
    _buy(alliance, "o2", "20000.00")  # 4,000 at 20% and a 4,500 true-up on the first 90,000
    alliance.refund(merchant_id="m1", order_id="o2")  # back to 90,000: the 15% band
    # 5,000 at 15% = 750; the earlier 90,000 at 15% instead of 20%: -4,500
    assert _buy(alliance, "o3", "5000.00") == [
        ("commission", Money("750.00", "CNY")),
        ("trueup", Money("-4500.00", "CNY")),
    ]
    assert alliance.verify_ledger().ok


def test_order_count_tiers(clock: FakeClock) -> None:
    bands = [{"from": 0, "to": 2, "rate": "5%"}, {"from": 2, "rate": "8%"}]
    alliance = _alliance(clock, {"basis": "affiliate_orders", "bands": bands})
    amounts = [_buy(alliance, f"o{n}", "100.00")[0][1] for n in range(4)]
    assert amounts == [Money("5.00", "CNY")] * 2 + [Money("8.00", "CNY")] * 2


def test_volume_in_another_currency_converts_and_records_the_rate(clock: FakeClock) -> None:
    alliance = _alliance(
        clock,
        {"mode": "marginal", "currency": "CNY", "bands": SEED_BANDS},
        fx=StaticFxRates({("USD", "CNY"): "7.2"}),
    )
    _buy(alliance, "o1", "13000.00", currency="USD")  # 93,600 CNY of volume, all at 15%
    # 1,000 USD = 7,200 CNY: 6,400 at 15% + 800 at 20% = 1,120 CNY, i.e. 15.5556% of the order
    assert _buy(alliance, "o2", "1000.00", currency="USD") == [
        ("commission", Money("155.56", "USD"))
    ]
    [line] = alliance.commissions(order_id="o2")
    assert (line.fx_rate, line.tier_measure) == (Decimal("7.2"), Decimal("7200.000"))


def test_missing_exchange_rate_is_a_typed_error_and_writes_nothing(clock: FakeClock) -> None:
    alliance = _alliance(clock, {"mode": "marginal", "currency": "CNY", "bands": SEED_BANDS})
    with pytest.raises(MissingFxRate) as info:
        _buy(alliance, "o1", "10.00", currency="EUR")
    assert (info.value.base, info.value.quote) == ("EUR", "CNY")
    assert alliance.commissions() == []
    assert alliance.verify_ledger().entries == 0


def test_closing_a_retroactive_period_after_refunds_books_the_negative_true_up(
    clock: FakeClock,
) -> None:
    alliance = _alliance(clock, {"mode": "retroactive", "currency": "CNY", "bands": SEED_BANDS})
    _buy(alliance, "o1", "90000.00")  # 13,500 at 15%
    _buy(alliance, "o2", "20000.00")  # 4,000 at 20% + 4,500 true-up: 22,000 in all
    alliance.refund(merchant_id="m1", order_id="o2")  # back to 90,000: the 15% band
    booked = sum((c.amount for c in alliance.commissions()), Money.zero("CNY"))
    assert booked == Money("18000.00", "CNY")  # the true-up is not undone by the refund itself
    [closing] = alliance.close_period("c1", "2026-Q1")
    assert (closing.kind, closing.amount) == ("trueup", Money("-4500.00", "CNY"))
    assert closing.rule == "tier rate 15%; period 2026-Q1 closed"
    total = sum((c.amount for c in alliance.commissions()), Money.zero("CNY"))
    assert total == Money("13500.00", "CNY")  # 90,000 x 15%
    assert alliance.close_period("c1", "2026-Q1") == []
    assert alliance.verify_ledger().ok
    [row] = alliance.reconcile(
        start=clock.now() - timedelta(days=1), end=clock.now() + timedelta(days=1)
    )
    assert row.balanced


def test_closing_a_period_that_kept_its_band_books_nothing(clock: FakeClock) -> None:
    alliance = _alliance(clock, {"mode": "retroactive", "currency": "CNY", "bands": SEED_BANDS})
    _buy(alliance, "o1", "90000.00")
    _buy(alliance, "o2", "20000.00")
    alliance.refund(merchant_id="m1", order_id="o2", amount=Money("5000.00", "CNY"))
    # 105,000 left, still at 20%: 21,000 due; booked 13,500 + 4,500 + 4,000 - 1,000 = 21,000
    assert alliance.close_period("c1", "2026-Q1") == []


def test_true_ups_are_approved_and_paid_like_commission(clock: FakeClock) -> None:
    alliance = _alliance(clock, {"mode": "retroactive", "currency": "CNY", "bands": SEED_BANDS})
    _buy(alliance, "o1", "90000.00")
    _buy(alliance, "o2", "20000.00")  # 4,000 + a 4,500 true-up
    clock.advance(timedelta(days=31))
    approved = alliance.approve_due()
    assert sorted(c.kind for c in approved) == ["commission", "commission", "trueup"]
    clock.advance(timedelta(days=1))
    [batch] = alliance.pay_approved(run_id="r1")
    assert batch.amount == Money("22000.00", "CNY")
    assert alliance.verify_ledger().ok
