"""Commission plans: every rule with a hand-computed example."""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import CommissionPlan, InvalidInput, LineItem, Money, Order
from affiliate_sdk.commission.calculator import OrderContext, calculate, eligible_amounts


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def _order(*items: tuple[str, str | None, int, str], **extra: object) -> Order:
    lines = [
        LineItem(sku=sku, category=category, quantity=quantity, unit_price=cny(price))
        for sku, category, quantity, price in items
    ]
    subtotal = sum((line.unit_price * line.quantity for line in lines), cny("0"))
    total = subtotal
    for part in ("shipping", "tax"):
        if part in extra:
            total = total + extra[part]  # type: ignore[operator]
    if "discount" in extra:
        total = total - extra["discount"]  # type: ignore[operator]
    return Order(order_id="o1", merchant_id="m1", total=total, items=lines, **extra)


def test_cps_on_the_eligible_amount_excludes_shipping_tax_and_spreads_discount() -> None:
    order = _order(
        ("tea", "tea", 2, "60.00"),  # 120.00
        ("pot", "teaware", 1, "80.00"),  # 80.00
        shipping=cny("12.00"),
        tax=cny("26.00"),
        discount=cny("20.00"),
    )
    # the 20.00 discount splits 12.00 / 8.00 in proportion to 120 / 80
    assert [amount for _, amount in eligible_amounts(order)] == [cny("108.00"), cny("72.00")]
    result = calculate(CommissionPlan(rate="10%"), order)
    assert result.gross == cny("18.00")
    assert [i.rule for i in result.items] == ["base", "base"]


def test_excluded_categories_and_skus_earn_nothing() -> None:
    plan = CommissionPlan(
        rate="10%", eligibility={"exclude_categories": ["gift-card"], "exclude_skus": ["sample"]}
    )
    order = _order(
        ("tea", "tea", 1, "100.00"), ("gc", "gift-card", 1, "50.00"), ("sample", "tea", 1, "5.00")
    )
    result = calculate(plan, order)
    assert result.gross == cny("10.00")
    assert [i.rule for i in result.items] == ["base", "excluded", "excluded"]


def test_order_without_lines_pays_on_total_less_shipping_and_tax() -> None:
    order = Order(
        order_id="o1", merchant_id="m1", total=cny("138.00"), shipping=cny("10.00"), tax=cny("8.00")
    )
    assert calculate(CommissionPlan(rate="15%"), order).gross == cny("18.00")  # 15% of 120.00


def test_cpa_flat_per_order_and_cps_plus_flat_bonus() -> None:
    order = _order(("sofa", "furniture", 1, "4999.00"))
    assert calculate(CommissionPlan(flat=cny("50.00")), order).gross == cny("50.00")
    hybrid = calculate(CommissionPlan(rate="3%", flat=cny("20.00")), order)
    assert hybrid.gross == cny("169.97")  # 149.97 + 20.00
    assert hybrid.rule == "base; flat per order"


def test_most_specific_override_wins_and_ties_go_to_the_first_declared() -> None:
    plan = CommissionPlan(
        rate="10%",
        overrides=[
            {"name": "beauty", "match": {"category": "cosmetics"}, "rate": "20%"},
            {
                "name": "beauty-new",
                "match": {"category": "cosmetics", "new_customer": True},
                "rate": "25%",
            },
            {"name": "serum-sku", "match": {"sku": "serum-50"}, "rate": "22%"},
            {"name": "cn-new", "match": {"country": "CN", "new_customer": True}, "rate": "12%"},
            {"name": "vip", "match": {"affiliate_group": "vip"}, "rate": "18%"},
        ],
    )
    order = _order(
        ("serum-50", "cosmetics", 1, "100.00"),
        ("mask", "cosmetics", 1, "100.00"),
        ("tea", "tea", 1, "100.00"),
        country="CN",
        new_customer=True,
    )
    result = calculate(plan, order)
    # serum-50: sku (1 field) vs beauty-new (2 fields) -> beauty-new; mask: beauty-new;
    # tea: cn-new (2 fields)
    assert [i.rule for i in result.items] == ["beauty-new", "beauty-new", "cn-new"]
    assert result.gross == cny("62.00")
    returning = calculate(plan, order.model_copy(update={"new_customer": False}))
    # serum-50: sku and beauty both 1 field: beauty is declared first
    assert [i.rule for i in returning.items] == ["beauty", "beauty", "base"]
    vip = calculate(
        plan, order.model_copy(update={"new_customer": None}), OrderContext(affiliate_group="vip")
    )
    assert [i.rule for i in vip.items] == ["beauty", "beauty", "vip"]


def test_flat_per_unit_override() -> None:
    plan = CommissionPlan(
        rate="5%",
        overrides=[
            {
                "match": {"category": "furniture"},
                "flat_per_unit": {"amount": "100.00", "currency": "CNY"},
            }
        ],
    )
    result = calculate(
        plan, _order(("sofa", "furniture", 2, "3000.00"), ("lamp", "lighting", 1, "200.00"))
    )
    assert result.gross == cny("210.00")  # 2 x 100.00 + 5% of 200.00
    assert result.items[0].rule == "override(category=furniture)"


def test_category_cap_floor_and_bounds() -> None:
    capped = CommissionPlan(
        rate="10%",
        overrides=[{"match": {"category": "cosmetics"}, "rate": "35%"}],
        category_caps={"cosmetics": "30%"},
    )
    result = calculate(capped, _order(("cream", "cosmetics", 1, "100.00")))
    assert result.gross == cny("30.00")
    assert "capped at 30% for cosmetics" in result.items[0].rule
    floored = calculate(
        CommissionPlan(rate="6%", floor_rate="10%"), _order(("tea", "tea", 1, "100.00"))
    )
    assert floored.gross == cny("10.00")
    dynamic = CommissionPlan(rate="15%", bounds={"minimum": "0.5%", "maximum": "12%"})
    assert calculate(dynamic, _order(("tea", "tea", 1, "100.00"))).gross == cny("12.00")
    low = dynamic.model_copy(update={"rate": Decimal("0.001")})
    assert calculate(low, _order(("tea", "tea", 1, "1000.00"))).gross == cny("5.00")


def test_order_cap_and_rounding_once() -> None:
    plan = CommissionPlan(rate="12.5%", order_cap=cny("100.00"))
    assert calculate(plan, _order(("a", None, 1, "0.20"))).gross == cny("0.02")  # 0.025 half-even
    three = calculate(
        plan, _order(("a", None, 1, "0.04"), ("b", None, 1, "0.04"), ("c", None, 1, "0.04"))
    )
    assert three.gross == cny("0.02")  # 3 x 0.005 = 0.015 -> 0.02, not 3 x 0.01
    big = calculate(plan, _order(("tv", None, 1, "9999.00")))
    assert (big.gross, big.capped) == (cny("100.00"), True)


def test_plans_load_from_dict_json_and_toml_and_export_schema() -> None:
    data = {
        "rate": "10%",
        "overrides": [{"name": "beauty", "match": {"category": "cosmetics"}, "rate": "30%"}],
        "category_caps": {"cosmetics": "30%"},
        "hold_days": 14,
    }
    plan = CommissionPlan.model_validate(data)
    assert CommissionPlan.model_validate_json(json.dumps(data)) == plan
    toml = """
rate = "10%"
hold_days = 14
category_caps = { cosmetics = "30%" }
[[overrides]]
name = "beauty"
rate = "30%"
match = { category = "cosmetics" }
"""
    assert CommissionPlan.model_validate(tomllib.loads(toml)) == plan
    assert CommissionPlan.model_validate_json(plan.model_dump_json()) == plan
    schema = CommissionPlan.model_json_schema()
    assert "overrides" in schema["properties"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"rate": "10%", "bonus": "5%"}, "bonus"),
        ({"rate": "-5%"}, "rate"),
        ({"rate": "120%"}, "rate"),
        ({"rate": 0.1}, "rate"),
        ({}, "(model)"),
        ({"rate": "10%", "overrides": [{"match": {"category": "x"}}]}, "overrides.0"),
        (
            {"rate": "10%", "overrides": [{"match": {"colour": "red"}, "rate": "1%"}]},
            "overrides.0.match.colour",
        ),
        ({"rate": "10%", "bounds": {"minimum": "12%", "maximum": "1%"}}, "bounds"),
        ({"flat": {"amount": "-1.00", "currency": "CNY"}}, "flat"),
        ({"rate": "10%", "hold_days": -1}, "hold_days"),
    ],
)
def test_invalid_plans_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        CommissionPlan.model_validate(data)
    assert field in str(info.value)


@given(
    prices=st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=8),
    discount_share=st.fractions(min_value=0, max_value=1),
)
def test_discount_spreading_conserves_money(prices: list[int], discount_share: object) -> None:
    items = [
        LineItem(sku=f"s{i}", unit_price=Money.from_minor(p, "CNY")) for i, p in enumerate(prices)
    ]
    subtotal = sum(prices)
    discount = int(subtotal * discount_share)  # type: ignore[operator]
    order = Order(
        order_id="o",
        merchant_id="m",
        total=Money.from_minor(subtotal - discount, "CNY"),
        items=items,
        discount=Money.from_minor(discount, "CNY"),
    )
    eligible = [amount.to_minor() for _, amount in eligible_amounts(order)]
    assert sum(eligible) == subtotal - discount
    assert all(0 <= e <= p for e, p in zip(eligible, prices, strict=True))
