"""Every amount and currency in a plan is checked when the plan loads, naming the field."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from affiliate_sdk import CommissionPlan, InvalidInput, Money
from affiliate_sdk.commission.plans import Match, Override
from affiliate_sdk.fx import StaticFxRates

from .support import BANDS, Book, amounts, cny, order

_LEVELS: list[dict[str, Any]] = [
    {"name": "basic", "from": 0, "share": "40%"},
    {"name": "core", "from": 1_000_000, "share": "70%"},
]


def _money(amount: str, currency: str = "CNY") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def _refused(data: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as info:
        CommissionPlan.model_validate(data)
    assert info.value.errors
    return str(info.value)


def test_a_negative_flat_per_unit_is_refused_when_the_plan_loads() -> None:
    # the attacker's override: three units of "x" booked -150.00 to the affiliate
    with pytest.raises(InvalidInput, match=r"flat_per_unit: .*must not be negative"):
        Override(match=Match(sku="x"), flat_per_unit=Money("-50.00", "CNY"))
    message = _refused(
        {"rate": "10%", "overrides": [{"match": {"sku": "x"}, "flat_per_unit": _money("-50.00")}]}
    )
    assert "overrides.0.flat_per_unit:" in message


def _with_amount(path: str, amount: dict[str, str]) -> dict[str, Any]:
    """A plan that loads, with ``amount`` at ``path``."""
    if path == "overrides.0.flat_per_unit":
        return {"rate": "10%", "overrides": [{"match": {"sku": "x"}, "flat_per_unit": amount}]}
    if path == "target.amount":
        return {"rate": "10%", "target": {"amount": amount}}
    if path == "period_cap.amount":
        return {"rate": "10%", "period_cap": {"amount": amount}}
    return {"rate": "10%", path: amount}


PLAN_AMOUNTS = [
    "flat",
    "per_click",
    "per_mille",
    "order_cap",
    "overrides.0.flat_per_unit",
    "target.amount",
    "period_cap.amount",
]


@pytest.mark.parametrize("path", PLAN_AMOUNTS)
@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (_money("-0.01"), "must not be negative"),
        (_money("0.001"), "digits below the CNY minor unit"),
        (_money("92233720368547758.08"), "MAX_MINOR_UNITS"),  # 2^63 fen
        (_money("1e999999999"), "below 10\\^18"),
        (_money("NaN"), "finite"),
        (_money("1.00", "cny"), "ISO 4217"),
        (_money("1.00", "XXX"), "ISO 4217"),
        ({"amount": "1.00", "currency": ["CNY"]}, "ISO 4217"),
        ({"amount": 1.5, "currency": "CNY"}, "floats"),
    ],
)
def test_every_plan_amount_is_whole_non_negative_bounded_and_in_a_known_currency(
    path: str, amount: dict[str, Any], reason: str
) -> None:
    CommissionPlan.model_validate(_with_amount(path, _money("92233720368547758.07")))
    message = _refused(_with_amount(path, amount))
    assert f"{path}:" in message
    assert re.search(reason, message), message


@pytest.mark.parametrize(
    ("plan_data", "field"),
    [
        ({"tiers": {"currency": "cny", "bands": BANDS}}, "tiers.currency:"),
        ({"tiers": {"currency": "XXX", "bands": BANDS}}, "tiers.currency:"),
        ({"rate": "10%", "levels": {"currency": "XXX", "levels": _LEVELS}}, "levels.currency:"),
        ({"rate": "10%", "levels": {"currency": "usd", "levels": _LEVELS}}, "levels.currency:"),
        (
            {
                "tiers": {"currency": "CNY", "bands": BANDS},
                "period_cap": {"amount": _money("100.00", "USD")},
            },
            "tiers.currency is CNY, period_cap.amount.currency is USD",
        ),
        ({"rate": "10%", "target": {"amount": _money("1000.00", "cny")}}, "target.amount:"),
        (
            {"rate": "10%", "flat": _money("1.00", "USD"), "target": {"amount": _money("1000.00")}},
            "flat.currency is USD, target.amount.currency is CNY",
        ),
        (
            {
                "rate": "10%",
                "levels": {"currency": "CNY", "levels": _LEVELS},
                "order_cap": _money("5.00", "EUR"),
            },
            "order_cap.currency is EUR, levels.currency is CNY",
        ),
    ],
)
def test_plans_that_would_break_every_order_are_refused_at_load(
    plan_data: dict[str, Any], field: str
) -> None:
    assert field in _refused(plan_data)


def test_a_plan_in_one_currency_still_converts_orders_in_another() -> None:
    plan_data = {
        "tiers": {"currency": "CNY", "bands": BANDS},
        "period_cap": {"amount": _money("100.00")},
        "levels": {"currency": "CNY", "levels": _LEVELS},
    }
    one_currency = CommissionPlan.model_validate(plan_data)
    assert set(one_currency.currencies.values()) == {"CNY"}
    book = Book(one_currency, fx=StaticFxRates({("USD", "CNY"): "7.2"}))
    # 100 USD = 720 CNY at 15% = 15 USD = 108 CNY, over the 100 CNY cap: 100 / 7.2 = 13.888...
    # USD, rounded down to 13.88; the basic level keeps 40%: the alliance takes 60% of 13.88 =
    # 8.328 -> 8.33, the affiliate the rest, 5.55
    assert amounts(book(order("o1", "100.00", "USD"))) == [
        ("affiliate", "commission", Money("5.55", "USD")),
        ("platform", "commission", Money("8.33", "USD")),
    ]


@pytest.mark.parametrize(
    ("tiers", "reason"),
    [
        (
            {
                "currency": "CNY",
                "bands": [
                    {"from": 0, "to": "0.001", "rate": "1%"},
                    {"from": "0.001", "rate": "2%"},
                ],
            },
            "bands.0.to: .*whole CNY minor units",
        ),
        (
            {
                "currency": "CNY",
                "bands": [{"from": 0, "to": "-1", "rate": "1%"}, {"from": "-1", "rate": "2%"}],
            },
            "must not be negative",
        ),
        (
            {
                "currency": "CNY",
                "bands": [{"from": 0, "to": 0.5, "rate": "1%"}, {"from": 0.5, "rate": "2%"}],
            },
            "floats",
        ),
        (
            {
                "currency": "CNY",
                "bands": [
                    {"from": 0, "to": "1e999999999", "rate": "1%"},
                    {"from": "1e999999999", "rate": "2%"},
                ],
            },
            "below 10\\^18",
        ),
        (
            {
                "currency": "CNY",
                "bands": [
                    {"from": 0, "to": "92233720368547758.08", "rate": "1%"},
                    {"from": "92233720368547758.08", "rate": "2%"},
                ],
            },
            "MAX_MINOR_UNITS",
        ),
        (
            {
                "basis": "affiliate_orders",
                "bands": [{"from": 0, "to": "2.5", "rate": "1%"}, {"from": "2.5", "rate": "2%"}],
            },
            "bands.0.to: .*whole numbers",
        ),
    ],
)
def test_tier_band_bounds_are_whole_non_negative_amounts(
    tiers: dict[str, Any], reason: str
) -> None:
    message = _refused({"tiers": tiers})
    assert "tiers" in message
    assert re.search(reason, message), message


@pytest.mark.parametrize(
    ("threshold", "reason"),
    [
        ("0.001", "levels.1.from: .*whole CNY minor units"),
        ("-5", "must not be negative"),
        ("NaN", "finite"),
    ],
)
def test_level_thresholds_are_whole_non_negative_amounts(threshold: str, reason: str) -> None:
    levels = [_LEVELS[0], {**_LEVELS[1], "from": threshold}]
    message = _refused({"rate": "10%", "levels": {"currency": "CNY", "levels": levels}})
    assert re.search(reason, message), message


@pytest.mark.parametrize(
    "plan_data",
    [
        {"rate": "1e999999999%"},
        {"rate": "10%", "floor_rate": "-1e999999999%"},
        {
            "rate": "10%",
            "target": {
                "amount": _money("100.00"),
                "steps": [{"at": "1e999999999%", "points": "1%"}],
            },
        },
    ],
)
def test_rates_beyond_decimal_range_are_invalid_input(plan_data: dict[str, Any]) -> None:
    assert "is not a rate" in _refused(plan_data)


def test_a_positive_flat_per_unit_books_per_unit() -> None:
    plan_data = {
        "rate": "10%",
        "overrides": [{"match": {"sku": "x"}, "flat_per_unit": _money("50.00")}],
    }
    book = Book(CommissionPlan.model_validate(plan_data))
    sold = order(
        "o1", "300.00", items=[{"sku": "x", "quantity": 3, "unit_price": _money("100.00")}]
    )
    assert amounts(book(sold)) == [("affiliate", "commission", cny("150.00"))]


@pytest.mark.parametrize(
    "rate", [Decimal("1E-99"), "1e-999999999", "1e-999999999%", "0." + "0" * 40 + "1"]
)
def test_rates_finer_than_forty_places_are_refused(rate: object) -> None:
    # such a rate times an amount would leave Money's bounds when an order is booked
    bands = [{"from": 0, "rate": rate}]
    message = _refused({"tiers": {"currency": "CNY", "bands": bands}})
    assert "tiers.bands.0.rate:" in message
    assert "at most 40 digits after the point" in message
    finest = "0." + "0" * 39 + "1"
    assert CommissionPlan.model_validate({"rate": finest}).rate == Decimal(finest)
