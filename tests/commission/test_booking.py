"""Booking an order from plain facts: every rule with amounts worked out by hand."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import CommissionPlan, InvalidAmount, LineItem, MissingFxRate, Money
from affiliate_sdk.commission.booking import (
    Party,
    TrafficHome,
    book_order,
    book_traffic,
    period_keys,
)
from affiliate_sdk.commission.ledger import Posting
from affiliate_sdk.commission.periods import Totals
from affiliate_sdk.commission.plans import Match, Override
from affiliate_sdk.fx import StaticFxRates
from affiliate_sdk.models import Affiliate

from .support import A1, BANDS, NOW, ZONE, Book, amounts, cny, facts, ids, order, plan

A2 = Party("a2", "c2", "m1", None)
A3 = Party("a3", "c1", "m1", "k3")


def test_flat_rate_books_one_pending_line_with_its_hold() -> None:
    booking = book_order(facts(plan(rate="10%"), order("o1", "199.00")), new_id=ids())
    [booked] = booking.lines
    line = booked.line
    assert (line.account, line.kind, line.amount) == ("affiliate", "commission", cny("19.90"))
    assert (line.entry_id, line.event_id, line.status) == (
        "e0001",
        "order/m1/o1/affiliate",
        "pending",
    )
    assert (line.rate, line.basis, line.rule) == (Decimal("0.1"), cny("199.00"), "base")
    assert line.hold_until == NOW + timedelta(days=30)
    assert (line.campaign_id, line.click_id, line.plan_version) == ("c1", "k1", 1)
    assert booking.event_id == "order/m1/o1"
    assert booking.postings == (
        Posting("affiliate/a1/pending", cny("19.90")),
        Posting("merchant/m1/payable", cny("-19.90")),
    )
    assert booking.paid_renewal is None
    assert booking.totals == {}


def test_overrides_price_their_lines_and_name_the_rule() -> None:
    beauty = {"name": "beauty", "match": {"category": "cosmetics"}, "rate": "20%"}
    items = [
        LineItem(sku="tea", category="tea", quantity=2, unit_price=cny("60.00")),
        LineItem(sku="lip", category="cosmetics", quantity=1, unit_price=cny("80.00")),
    ]
    sold = order("o1", "200.00", items=items)
    booking = book_order(facts(plan(rate="10%", overrides=[beauty]), sold), new_id=ids())
    [line] = booking.commissions
    # 120.00 x 10% + 80.00 x 20% = 12.00 + 16.00; 28.00 of 200.00 is 14%
    assert (line.amount, line.rate, line.rule) == (cny("28.00"), Decimal("0.14"), "base; beauty")
    assert [item.amount for item in booking.items] == [cny("12.00"), cny("16.00")]


def test_group_override_and_a_bounded_affiliate_rate() -> None:
    vip = {"match": {"affiliate_group": "vip"}, "rate": "12%"}
    booked = book_order(
        facts(
            plan(rate="10%", overrides=[vip]),
            order("o1", "100.00"),
            affiliate=Affiliate(affiliate_id="a1", group="vip"),
        ),
        new_id=ids(),
    )
    assert [(x.amount, x.rule) for x in booked.commissions] == [
        (cny("12.00"), "override(affiliate_group=vip)")
    ]
    bounded = plan(rate="10%", bounds={"minimum": "0.5%", "maximum": "12%"})
    fast = Affiliate(affiliate_id="a1", rate="15%")
    [line] = book_order(
        facts(bounded, order("o2", "100.00"), affiliate=fast), new_id=ids()
    ).commissions
    assert (line.amount, line.rule) == (cny("12.00"), "affiliate rate; bounded to 12%")


def test_marginal_tiers_split_a_straddling_order() -> None:
    book = Book(plan(tiers={"mode": "marginal", "currency": "CNY", "bands": BANDS}))
    assert amounts(book(order("o1", "90000.00"))) == [("affiliate", "commission", cny("13500.00"))]
    second = book(order("o2", "20000.00"))
    # 10,000 at 15% + 10,000 at 20% = 1,500 + 2,000
    [line] = second.commissions
    assert (line.amount, line.rule) == (cny("3500.00"), "tiers 10000.00 at 15% + 10000.00 at 20%")
    [totals] = second.totals.values()
    assert (totals.volume, totals.paid, totals.booked) == (
        Decimal(110_000),
        Decimal(17_000),
        Decimal(17_000),
    )
    [booked] = second.lines
    assert booked.measures is not None
    assert (booked.measures.tier_measure, booked.measures.tier_paid) == (
        Decimal(20_000),
        Decimal(3_500),
    )


@pytest.mark.parametrize("basis", ["affiliate_sales", "merchant_sales"])
def test_marginal_tiers_round_the_exact_marginal_amount_once(basis: str) -> None:
    book = Book(plan(tiers={"mode": "marginal", "basis": basis, "currency": "CNY", "bands": BANDS}))
    # 85,714.38 x 15% = 12,857.157 -> 12,857.16
    assert [x.amount for x in book(order("o1", "85714.38")).commissions] == [cny("12857.16")]
    # 14,285.62 x 15% + 0.11 x 20% = 2,142.843 + 0.022 = 2,142.865 -> 2,142.86 (half even)
    second = book(order("o2", "14285.73"))
    assert [x.amount for x in second.commissions] == [cny("2142.86")]
    [totals] = second.totals.values()
    # exact 12,857.157 + 2,142.865; booked 12,857.16 + 2,142.86
    assert (totals.paid, totals.booked) == (Decimal("15000.022"), Decimal("15000.02"))


def test_marginal_amount_is_the_same_when_the_order_has_several_lines() -> None:
    book = Book(plan(tiers={"mode": "marginal", "currency": "CNY", "bands": BANDS}))
    book(order("o1", "85714.38"))
    items = [
        LineItem(sku="a", quantity=1, unit_price=cny("10000.00")),
        LineItem(sku="b", quantity=1, unit_price=cny("4285.73")),
    ]
    second = book(order("o2", "14285.73", items=items))
    assert [x.amount for x in second.commissions] == [cny("2142.86")]  # 2,142.865 half even
    assert sum((item.amount for item in second.items), cny("0")) == cny("2142.865")


def test_retroactive_tiers_book_a_true_up_when_a_band_is_crossed() -> None:
    book = Book(plan(tiers={"mode": "retroactive", "currency": "CNY", "bands": BANDS}))
    assert amounts(book(order("o1", "90000.00"))) == [("affiliate", "commission", cny("13500.00"))]
    second = book(order("o2", "20000.00"))
    # 20,000 at 20% = 4,000; and 90,000 x (20% - 15%) = 4,500 for the earlier order
    assert amounts(second) == [
        ("affiliate", "commission", cny("4000.00")),
        ("affiliate", "trueup", cny("4500.00")),
    ]
    trueup = second.commissions[1]
    assert (trueup.event_id, trueup.rule) == (
        "order/m1/o2/trueup/affiliate",
        "retroactive tier true-up",
    )
    assert (trueup.rate, trueup.basis) == (Decimal("0.2"), cny("110000.00"))
    key = "tier/campaign/c1/affiliate_sales/a1/2026-Q2"
    assert second.totals[key] == Totals(
        Decimal(110_000), Decimal(110_000), Decimal("0.2"), Decimal(22_000), Decimal(22_000)
    )
    assert second.lines[1].measures is not None and second.lines[1].measures.tier_key == key


def test_order_count_tiers() -> None:
    bands = [{"from": 0, "to": 2, "rate": "5%"}, {"from": 2, "rate": "8%"}]
    book = Book(plan(tiers={"basis": "affiliate_orders", "bands": bands}))
    got = [book(order(f"o{n}", "100.00")).commissions[0].amount for n in range(4)]
    assert got == [cny("5.00"), cny("5.00"), cny("8.00"), cny("8.00")]


def test_tier_volume_in_another_currency_converts() -> None:
    tiers = plan(tiers={"mode": "marginal", "currency": "CNY", "bands": BANDS})
    book = Book(tiers, fx=StaticFxRates({("USD", "CNY"): "7.2"}))
    # 13,000 USD = 93,600 CNY at 15% = 14,040 CNY = 1,950 USD
    assert book(order("o1", "13000.00", "USD")).commissions[0].amount == Money("1950.00", "USD")
    second = book(order("o2", "1000.00", "USD"))
    # 7,200 CNY: 6,400 at 15% + 800 at 20% = 1,120 CNY = 155.5555... USD -> 155.56
    [booked] = second.lines
    assert booked.line.amount == Money("155.56", "USD")
    assert booked.measures is not None and booked.measures.fx_rate == Decimal("7.2")
    with pytest.raises(MissingFxRate):
        book_order(facts(tiers, order("o3", "10.00", "EUR")), new_id=ids())


def test_over_target_bonus_pays_the_whole_period_once_crossed() -> None:
    target = {"period": "month", "amount": cny("50000.00"), "bonus_rate": "5%"}
    book = Book(plan(rate="10%", target=target))
    assert amounts(book(order("o1", "40000.00"))) == [("affiliate", "commission", cny("4000.00"))]
    second = book(order("o2", "20000.00"))
    # 60,000 passed 50,000: 5% of the month's 60,000 = 3,000
    assert amounts(second) == [
        ("affiliate", "commission", cny("2000.00")),
        ("affiliate", "bonus", cny("3000.00")),
    ]
    bonus = second.commissions[1]
    assert (bonus.event_id, bonus.basis, bonus.rule) == (
        "order/m1/o2/bonus/affiliate",
        cny("60000.00"),
        "over-target bonus",
    )
    key = "target/campaign/c1/affiliate_sales/a1/2026-05"
    assert (second.totals[key].volume, second.totals[key].paid) == (Decimal(60_000), Decimal(3_000))
    assert second.lines[0].measures is not None
    assert second.lines[0].measures.counts == ((key, Decimal("20000.00")),)
    # later orders earn the bonus on their own value: 10,000 x 5%
    assert amounts(book(order("o3", "10000.00")))[1] == ("affiliate", "bonus", cny("500.00"))


def test_attainment_steps_add_points() -> None:
    target = {"amount": cny("50000.00"), "steps": [{"at": "100%", "points": "1%"}]}
    book = Book(plan(rate="10%", target=target))
    book(order("o1", "40000.00"))
    [line] = book(order("o2", "20000.00")).commissions
    # 60,000 is 120% of the target: 11% of 20,000
    assert (line.amount, line.rule) == (cny("2200.00"), "base + 1% at 120% of target")


def test_period_cap_trims_what_would_go_over() -> None:
    book = Book(plan(rate="10%", period_cap={"period": "month", "amount": cny("1000.00")}))
    assert book(order("o1", "8000.00")).commissions[0].amount == cny("800.00")
    [line] = book(order("o2", "5000.00")).commissions
    # 500 wanted, 200 left under the cap
    assert (line.amount, line.rule) == (cny("200.00"), "base; period cap 1000.00 CNY")
    third = book(order("o3", "100.00"))
    assert third.commissions[0].amount == cny("0.00")
    assert third.totals["cap/campaign/c1/affiliate_sales/a1/2026-05"].paid == 1000


def test_parent_earns_its_share_on_top() -> None:
    member = Affiliate(affiliate_id="a1", parent_id="p1")
    booking = book_order(
        facts(
            plan(rate="10%", parent_share="10%"),
            order("o1", "1000.00"),
            affiliate=member,
            take=Decimal("0.2"),
        ),
        new_id=ids(),
    )
    # 100.00: 80.00 to a1, 20.00 taken; p1 earns 10% of a1's 80.00
    assert amounts(booking) == [
        ("affiliate", "commission", cny("80.00")),
        ("platform", "commission", cny("20.00")),
        ("parent", "commission", cny("8.00")),
    ]
    parent = booking.lines[2]
    assert (parent.line.affiliate_id, parent.line.event_id) == (
        "p1",
        "order/m1/o1/affiliate/parent",
    )
    assert (parent.line.rule, parent.line.basis) == ("parent share 10%", cny("80.00"))
    assert parent.measures is None  # its volume counted once, on a1's line


def test_membership_level_sets_the_affiliates_share() -> None:
    levels = {
        "currency": "CNY",
        "levels": [
            {"name": "basic", "from": 0, "share": "40%"},
            {"name": "strategic", "from": 1_000_000, "share": "55%"},
            {"name": "core", "from": 5_000_000, "share": "70%"},
        ],
    }
    key = "level/affiliate/a1/2026"
    book = Book(plan(rate="10%", levels=levels), totals={key: Totals(volume=Decimal(1_200_000))})
    booking = book(order("o1", "1000.00"))
    # 100.00 at level strategic: 55.00 to the affiliate, 45.00 to the alliance
    assert amounts(booking) == [
        ("affiliate", "commission", cny("55.00")),
        ("platform", "commission", cny("45.00")),
    ]
    assert booking.commissions[0].rule == "base; level strategic"
    assert booking.totals[key].volume == 1_201_000


def test_platform_take_is_split_off_each_line() -> None:
    booking = book_order(
        facts(plan(rate="10%"), order("o1", "199.00"), take=Decimal("0.2")), new_id=ids()
    )
    # 19.90 x 20% = 3.98
    assert amounts(booking) == [
        ("affiliate", "commission", cny("15.92")),
        ("platform", "commission", cny("3.98")),
    ]
    assert booking.commissions[1].event_id == "order/m1/o1/platform"


def test_several_parties_share_the_commission_to_the_cent() -> None:
    parties = ((A1, Decimal("0.5")), (A2, Decimal("0.3")), (A3, Decimal("0.2")))
    booking = book_order(
        facts(plan(rate="10%"), order("o1", "333.30"), parties=parties, take=Decimal("0.2")),
        new_id=ids(),
    )
    # 33.33 = 3,333 cents: 1,666.5 / 999.9 / 666.6 -> floors 1,666 / 999 / 666, the two cents
    # left go to the largest remainders (.9, .6): 16.66 / 10.00 / 6.67; then 20% taken of each
    got = [(x.affiliate_id, x.account, x.amount) for x in booking.commissions]
    assert got == [
        ("a1", "affiliate", cny("13.33")),
        ("a1", "platform", cny("3.33")),
        ("a2", "affiliate", cny("8.00")),
        ("a2", "platform", cny("2.00")),
        ("a3", "affiliate", cny("5.34")),
        ("a3", "platform", cny("1.33")),
    ]
    assert sum((x.amount for x in booking.commissions), cny("0")) == cny("33.33")
    assert booking.commissions[2].event_id == "order/m1/o1/credit/a2/c2/affiliate"
    assert booking.commissions[2].click_id is None


@given(
    total=st.integers(min_value=1, max_value=10_000_000),
    weights=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=5),
    take=st.decimals(min_value=0, max_value=1, places=3),
)
def test_shares_and_takes_always_add_up_to_the_commission(
    total: int, weights: list[int], take: Decimal
) -> None:
    parties = tuple(
        (Party(f"a{n}", "c1", "m1", None), Decimal(w) / sum(weights)) for n, w in enumerate(weights)
    )
    sold = order("o1", str(Money.from_minor(total, "CNY").amount))
    booking = book_order(facts(plan(rate="12.5%"), sold, parties=parties, take=take), new_id=ids())
    gross = (sold.total * Decimal("0.125")).round()
    assert sum((x.amount for x in booking.commissions), cny("0")) == gross


def test_renewals_pay_only_under_recurring() -> None:
    recurring = plan(rate="10%", recurring={"renewals": 2})
    first = order("r1", "100.00", subscription_id="s1", renewal=1)
    assert book_order(facts(recurring, first), new_id=ids()).paid_renewal is True
    third = order("r3", "100.00", subscription_id="s1", renewal=3)
    unpaid = book_order(facts(recurring, third), new_id=ids())
    assert (unpaid.paid_renewal, unpaid.lines, unpaid.totals) == (False, (), {})
    assert book_order(facts(plan(rate="10%"), first), new_id=ids()).paid_renewal is False


def test_period_keys_name_every_total_the_plan_reads() -> None:
    full = plan(
        tiers={"currency": "CNY", "bands": BANDS},
        target={"amount": cny("1000.00")},
        period_cap={"amount": cny("100.00")},
        levels={"currency": "CNY", "levels": [{"name": "basic", "from": 0, "share": "40%"}]},
    )
    keys = period_keys(full, A1, placed_at=NOW, timezone=ZONE)
    assert keys.names == (
        "tier/campaign/c1/affiliate_sales/a1/2026-Q2",
        "target/campaign/c1/affiliate_sales/a1/2026-05",
        "level/affiliate/a1/2026",
        "cap/campaign/c1/affiliate_sales/a1/2026-05",
    )
    assert period_keys(plan(rate="1%"), A1, placed_at=NOW, timezone=ZONE).names == ()


def test_traffic_lines_are_booked_under_their_reference() -> None:
    home = TrafficHome(
        merchant_id="m1",
        campaign_id="c1",
        affiliate_id="a1",
        plan_version=3,
        hold_days=7,
        take=Decimal("0.2"),
    )
    booked = book_traffic(
        home,
        cny("0.50") * 12,
        rule="cpc 0.50 CNY x 12",
        reference="cpc/c1/a1/1-2",
        now=NOW,
        new_id=ids(),
    )
    # 6.00: 1.20 taken, 4.80 to the affiliate
    assert [(x.account, x.amount) for x in booked.lines] == [
        ("affiliate", cny("4.80")),
        ("platform", cny("1.20")),
    ]
    line = booked.lines[0]
    assert (line.order_id, line.event_id) == (
        "cpc/c1/a1/1-2",
        "traffic/cpc%2Fc1%2Fa1%2F1-2/affiliate",
    )
    assert (line.rate, line.basis, line.plan_version) == (Decimal(0), cny("6.00"), 3)
    assert line.hold_until == NOW + timedelta(days=7)
    assert booked.event_id == "traffic/cpc%2Fc1%2Fa1%2F1-2"
    assert sum((p.amount for p in booked.postings), cny("0")) == cny("0")


# --- defence in depth: a plan that skipped validation still books nothing negative ---


def _unvalidated(flat_per_unit: Money) -> CommissionPlan:
    """A 10% plan whose override for "x" never went through validation (``model_construct``)."""
    override = Override.model_construct(
        name=None, match=Match(sku="x"), rate=None, flat_per_unit=flat_per_unit
    )
    return CommissionPlan.model_construct(rate=Decimal("0.1"), overrides=[override])


def test_booking_refuses_a_negative_line_from_a_plan_that_skipped_validation() -> None:
    negative = _unvalidated(cny("-50.00"))
    three = LineItem(sku="x", quantity=3, unit_price=cny("100.00"))
    with pytest.raises(InvalidAmount, match="line 'x' would earn a negative commission"):
        book_order(facts(negative, order("o1", "300.00", items=[three])), new_id=ids())
    # a positive line beside it (10% of 2,000.00 = 200.00 against -150.00) does not hide it
    other = LineItem(sku="y", unit_price=cny("2000.00"))
    with pytest.raises(InvalidAmount, match="line 'x'"):
        book_order(facts(negative, order("o2", "2300.00", items=[three, other])), new_id=ids())
    # the same plan with +50.00 books 3 x 50.00
    booking = book_order(
        facts(_unvalidated(cny("50.00")), order("o3", "300.00", items=[three])), new_id=ids()
    )
    assert amounts(booking) == [("affiliate", "commission", cny("150.00"))]


def test_booking_refuses_a_negative_order_commission_from_a_plan_that_skipped_validation() -> None:
    negative_flat = CommissionPlan.model_construct(rate=Decimal("0.1"), flat=cny("-30.00"))
    # 10% of 100.00 = 10.00, plus -30.00: -20.00
    with pytest.raises(InvalidAmount, match="negative commission"):
        book_order(facts(negative_flat, order("o1", "100.00")), new_id=ids())


def test_traffic_refuses_a_negative_commission() -> None:
    home = TrafficHome(
        merchant_id="m1", campaign_id="c1", affiliate_id="a1", plan_version=1, hold_days=7
    )
    with pytest.raises(InvalidAmount, match="a commission cannot be negative"):
        book_traffic(
            home, cny("-0.30") * 4, rule="cpc", reference="cpc/c1/a1/1-2", now=NOW, new_id=ids()
        )
    # a period close may take money back: its true-ups and bonus adjustments are signed
    close = book_traffic(
        home,
        cny("-45.00"),
        rule="target missed",
        reference="close/c1/a1/2026-05",
        now=NOW,
        new_id=ids(),
        kind="bonus",
    )
    assert [x.amount for x in close.lines] == [cny("-45.00")]
