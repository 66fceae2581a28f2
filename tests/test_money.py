from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal, Inexact, Rounded, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from affiliate_sdk import AffiliateError, CurrencyMismatch, InvalidAmount, Money, UnknownCurrency
from affiliate_sdk.money import MAX_MINOR_UNITS, MINOR_UNITS, bookable


def test_exact_decimal_arithmetic() -> None:
    total = Money("0.10", "USD") + Money("0.20", "USD")
    assert total == Money("0.30", "USD")
    assert Money("10.00", "USD") - Money("0.01", "USD") == Money("9.99", "USD")
    assert Money("199.00", "CNY") * Decimal("0.125") == Money("24.875", "CNY")
    assert -Money("1.00", "EUR") == Money("-1.00", "EUR")


@pytest.mark.parametrize("bad", [0.1, float("nan"), "abc", "NaN", "Infinity", None, True, [1]])
def test_refuses_floats_and_garbage(bad: object) -> None:
    with pytest.raises(InvalidAmount) as info:
        Money(bad, "USD")  # type: ignore[arg-type]
    assert isinstance(info.value, AffiliateError)
    assert isinstance(info.value, ValueError)


def test_refuses_float_factor() -> None:
    with pytest.raises(InvalidAmount):
        Money("1.00", "USD") * 0.5  # type: ignore[operator]


def test_refuses_mixed_currencies() -> None:
    with pytest.raises(CurrencyMismatch) as info:
        Money("1", "USD") + Money("1", "EUR")
    assert (info.value.left, info.value.right) == ("USD", "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money("1", "USD") < Money("2", "EUR")


@pytest.mark.parametrize("code", ["usd", "XYZ", "", "US"])
def test_unknown_currency(code: str) -> None:
    with pytest.raises(UnknownCurrency):
        Money("1", code)


@pytest.mark.parametrize(
    ("code", "digits", "rounded"),
    [
        ("JPY", 0, "1235"),
        ("CNY", 2, "1234.57"),
        ("USD", 2, "1234.57"),
        ("EUR", 2, "1234.57"),
        ("KWD", 3, "1234.568"),
        ("BHD", 3, "1234.568"),
    ],
)
def test_minor_units(code: str, digits: int, rounded: str) -> None:
    assert MINOR_UNITS[code] == digits
    assert Money("1234.5675", code).round() == Money(rounded, code)


def test_rounding_mode_is_named_and_default_is_half_even() -> None:
    assert Money("0.125", "USD").round() == Money("0.12", "USD")
    assert Money("0.135", "USD").round() == Money("0.14", "USD")
    assert Money("0.125", "USD").round(ROUND_HALF_UP) == Money("0.13", "USD")
    assert Money("2.5", "JPY").round() == Money("2", "JPY")


def test_immutable() -> None:
    m = Money("1.00", "USD")
    with pytest.raises(AttributeError):
        m.amount = Decimal(2)


def test_allocate_examples() -> None:
    assert Money("100.00", "USD").allocate([1, 1, 1]) == [
        Money("33.34", "USD"),
        Money("33.33", "USD"),
        Money("33.33", "USD"),
    ]
    assert Money("-0.05", "USD").allocate([1, 1]) == [Money("-0.03", "USD"), Money("-0.02", "USD")]
    assert Money("7", "JPY").allocate([Decimal("0.5"), Decimal("0.25"), Decimal("0.25")]) == [
        Money("3", "JPY"),
        Money("2", "JPY"),
        Money("2", "JPY"),
    ]
    assert Money("10.00", "USD").allocate([0, 1]) == [Money("0.00", "USD"), Money("10.00", "USD")]


@pytest.mark.parametrize("weights", [[], [0, 0], [-1, 2], [0.5, 0.5]])
def test_allocate_bad_weights(weights: list[object]) -> None:
    with pytest.raises(InvalidAmount):
        Money("1.00", "USD").allocate(weights)  # type: ignore[arg-type]


def test_allocate_needs_a_rounded_amount() -> None:
    with pytest.raises(InvalidAmount):
        Money("1.005", "USD").allocate([1, 1])


@given(
    units=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(["JPY", "CNY", "KWD"]),
    weights=st.lists(
        st.one_of(
            st.integers(min_value=0, max_value=10**6),
            st.fractions(min_value=0, max_value=1000),
            st.decimals(min_value=0, max_value=1000, places=4),
        ),
        min_size=1,
        max_size=12,
    ).filter(lambda ws: sum(Fraction(w) for w in ws) > 0),
)
def test_allocate_parts_always_sum_to_the_whole(
    units: int, currency: str, weights: list[int | Fraction | Decimal]
) -> None:
    whole = Money.from_minor(units, currency)
    parts = whole.allocate(weights)
    assert len(parts) == len(weights)
    assert sum((p.to_minor() for p in parts), 0) == units
    total_weight = sum(Fraction(w) for w in weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(units) * Fraction(weight) / total_weight
        assert abs(Fraction(part.to_minor()) - exact) < 1  # each part within one minor unit
        if weight == 0:
            assert part.to_minor() == 0


class _Holder(BaseModel):
    price: Money


def test_pydantic_round_trip_and_schema() -> None:
    holder = _Holder(price=Money("19.90", "EUR"))
    data = json.loads(holder.model_dump_json())
    assert data == {"price": {"amount": "19.90", "currency": "EUR"}}
    assert _Holder.model_validate(data).price == Money("19.90", "EUR")
    schema = _Holder.model_json_schema()
    money_schema = schema["properties"]["price"]
    assert money_schema["required"] == ["amount", "currency"]
    assert "CNY" in money_schema["properties"]["currency"]["enum"]


@pytest.mark.parametrize("huge", ["1e18", "-1000000000000000000", "1e400"])
def test_absurd_amounts_are_refused(huge: str) -> None:
    with pytest.raises(InvalidAmount, match="below 10"):
        Money(huge, "USD")


# --- hostile amounts: every one is refused with InvalidAmount, never a decimal signal ---


@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        ("1e999999999", "below 10"),
        ("-1e999999999", "below 10"),
        (Decimal("1E+999999999"), "below 10"),
        (Decimal("-1E+999999999999999999"), "below 10"),
        ("9" * 5000, "below 10"),
        ("1e-999999999", "digits after the point"),
        (Decimal("1E-999999999"), "digits after the point"),
        ("0." + "1" * 5000, "digits after the point"),
        ("NaN", "finite"),
        ("-NaN", "finite"),
        ("sNaN", "finite"),
        (Decimal("sNaN"), "finite"),
        ("Infinity", "finite"),
        ("-Infinity", "finite"),
    ],
)
def test_hostile_amounts_are_invalid_amounts(hostile: object, reason: str) -> None:
    with pytest.raises(InvalidAmount, match=reason):
        Money(hostile, "CNY")  # type: ignore[arg-type]


def test_the_scale_bound_is_one_hundred_places() -> None:
    assert Money("0." + "0" * 99 + "1", "CNY").amount == Decimal(1).scaleb(-100)
    with pytest.raises(InvalidAmount):
        Money("0." + "0" * 100 + "1", "CNY")


@pytest.mark.parametrize("zero", ["-0", "-0.00", "0E+999999999", "-0E-999999999"])
def test_a_zero_has_no_sign_and_a_bounded_exponent(zero: str) -> None:
    money = Money(zero, "CNY")
    assert money == Money.zero("CNY")
    assert not money.amount.is_signed()
    assert money.round() == Money.zero("CNY")
    assert str(money.round()) == "0.00 CNY"


def test_negating_or_rounding_to_zero_gives_an_unsigned_zero() -> None:
    assert str(-Money.zero("CNY")) == "0.00 CNY"
    assert str(Money("-0.001", "CNY").round()) == "0.00 CNY"
    assert str(Money("1.00", "CNY") - Money("1.00", "CNY")) == "0.00 CNY"


@pytest.mark.parametrize(
    "factor",
    [
        Decimal("1e999990"),  # past the decimal context's largest exponent
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        10**40,
    ],
)
def test_products_out_of_range_are_invalid_amounts(factor: Decimal | int) -> None:
    with pytest.raises(InvalidAmount):
        Money("100000000000000000", "CNY") * factor


def test_sums_out_of_range_are_invalid_amounts() -> None:
    almost = Money("900000000000000000", "CNY")
    with pytest.raises(InvalidAmount):
        almost + almost
    with pytest.raises(InvalidAmount):
        -almost - almost


@pytest.mark.parametrize("currency", [["CNY"], {"CNY": 1}, b"CNY", 156, None, "cny", " CNY"])
def test_a_currency_of_any_type_is_an_unknown_currency(currency: object) -> None:
    with pytest.raises(UnknownCurrency):
        Money("1.00", currency)  # type: ignore[arg-type]


def test_money_does_not_depend_on_the_hosts_decimal_context() -> None:
    with localcontext() as host:
        host.prec = 5
        host.traps[Inexact] = True
        host.traps[Rounded] = True
        price = Money("123456.785", "CNY")
        assert price.round() == Money("123456.78", "CNY")  # 8 digits, half-even
        assert not price.is_rounded
        assert Money("123456.78", "CNY").to_minor() == 12345678
        assert -price == Money("-123456.785", "CNY")
        assert abs(-price) == price


def test_bookable_amounts_fit_in_a_signed_64_bit_integer() -> None:
    assert MAX_MINOR_UNITS == 9_223_372_036_854_775_807
    most = Money("92233720368547758.07", "CNY")
    assert bookable(most) == most
    assert bookable(-most, allow_negative=True) == -most
    # without minor units, Money's own bound (below 10^18) comes first
    assert bookable(Money("999999999999999999", "JPY")).to_minor() == 10**18 - 1
    with pytest.raises(InvalidAmount, match="MAX_MINOR_UNITS"):
        bookable(Money("92233720368547758.08", "CNY"))
    with pytest.raises(InvalidAmount, match="MAX_MINOR_UNITS"):
        bookable(Money("9223372036854775.808", "KWD"))
    with pytest.raises(InvalidAmount, match="negative"):
        bookable(Money("-0.01", "CNY"))
    with pytest.raises(InvalidAmount, match="minor unit"):
        bookable(Money("0.001", "CNY"))
    assert str(bookable(Money("5", "CNY"))) == "5.00 CNY"
