"""Hostile numbers, currencies and plans: what gets in is sound, the rest is an ``AffiliateError``.

Every input here comes from outside (a host's API, a stored plan, an attacker):
strings, ``Decimal``s and ints at and past every bound, NaN and infinities,
exponents beyond ``decimal``'s range, currencies of every type, and plans
built from them. Anything refused must be refused with an error of the SDK's
tree (``CommissionPlan.model_validate`` wraps pydantic's into ``InvalidInput``);
anything accepted must hold its bounds, and a plan that loads must book an
ordinary order of its currency, with no negative line.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import event, given, settings
from hypothesis import strategies as st

from affiliate_sdk import AffiliateError, CommissionPlan, InvalidInput, LineItem, Money, Order
from affiliate_sdk.money import MAX_MAGNITUDE, MAX_MINOR_UNITS, MAX_SCALE, MINOR_UNITS, bookable

from ..commission.support import Book

_SETTINGS = settings(max_examples=200, deadline=None)

# --- strategies ---------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(
    [
        "NaN",
        "-NaN",
        "sNaN",
        "-sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        "-0",
        "-0.00",
        "0E+999999999",
        "-0E-999999999",
        "1e999999999",
        "-1e999999999",
        "1e-999999999",
        "1E+999999999999999999",
        "1e99999999999999999999",
        "9" * 400,
        "0." + "1" * 400,
        "92233720368547758.07",  # 2^63 - 1 fen
        "92233720368547758.08",  # 2^63 fen
        "-92233720368547758.08",
        "999999999999999999.99",
        "1000000000000000000",
        " 1.00 ",
        "1_000",
        "\u0661\u0662\u0663",  # Arabic-Indic digits
        "",
        " ",
        "1,00",
        "0x10",
        "1e",
        ".",
        "-",
        "1.2.3",
        "\x00",
        "\u00bd",
    ]
)

#: Decimals built from their parts: any coefficient, exponents far beyond any context.
EXPONENT_DECIMALS = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=40),
    st.integers(-(10**9), 10**9),
)

NEAR_2_63 = st.builds(
    lambda sign, offset: sign * (2**63 + offset), st.sampled_from([1, -1]), st.integers(-3, 3)
)

HOSTILE_NUMBERS: st.SearchStrategy[Any] = st.one_of(
    HOSTILE_TEXT,
    st.decimals(allow_nan=True, allow_infinity=True),
    EXPONENT_DECIMALS,
    EXPONENT_DECIMALS.map(str),
    st.integers(min_value=-(2**70), max_value=2**70),
    NEAR_2_63,
    NEAR_2_63.map(lambda units: Decimal(units).scaleb(-2)),
    NEAR_2_63.map(lambda units: str(Decimal(units).scaleb(-2))),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
)

HOSTILE_CURRENCIES: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(
        ["CNY", "USD", "JPY", "KWD", "cny", "Cny", "XXX", "XTS", "", " CNY", "CNY ", "CN", "CNYY"]
    ),
    st.sampled_from(
        ["\uff23\uff2e\uff39", "C\u200bNY", "\u0421NY"]
    ),  # full-width, zero-width, Cyrillic
    st.text(max_size=4),
    st.binary(max_size=3),
    st.integers(),
    st.none(),
    st.lists(st.sampled_from(["CNY", "USD"]), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)

#: A factor for Money arithmetic: the Decimal and int kinds Money multiplies by.
FACTORS: st.SearchStrategy[Decimal | int] = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    EXPONENT_DECIMALS,
    st.integers(min_value=-(2**80), max_value=2**80),
)


#: Of every ten values a plan is made of, about one is hostile: enough plans load to book.
_VALID_SHARE = 9


def _mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``valid`` about nine times in ten, ``hostile`` the rest.

    (``st.one_of`` would flatten the hostile strategy's own branches beside the
    valid one, each as likely: the choice is drawn first instead.)
    """
    return st.integers(0, _VALID_SHARE).flatmap(lambda n: hostile if n == 0 else valid)


VALID_AMOUNTS = st.decimals(min_value=0, max_value=10**6, places=2).map(str)
AMOUNTS = _mostly(VALID_AMOUNTS, HOSTILE_NUMBERS)
CURRENCIES = _mostly(st.just("CNY"), HOSTILE_CURRENCIES)
MONEY = _mostly(
    st.fixed_dictionaries({"amount": AMOUNTS, "currency": CURRENCIES}),
    st.one_of(
        st.fixed_dictionaries(
            {"amount": st.sampled_from(["-50.00", "-0.01"]), "currency": CURRENCIES}
        ),
        HOSTILE_NUMBERS,
    ),
)
RATES = _mostly(
    st.sampled_from(["0%", "10%", "12.5%", "100%", "0.05", Decimal("0.2")]),
    st.one_of(
        st.sampled_from(
            ["-1%", "101%", "1e999999999%", "-1e999999999%", "NaN%", "sNaN", "1e-999999999"]
        ),
        HOSTILE_NUMBERS,
    ),
)
VOLUMES = _mostly(st.integers(1, 10**7).map(str), HOSTILE_NUMBERS)


@st.composite
def tiers(draw: st.DrawFn) -> dict[str, Any]:
    """Contiguous bands from 0 whose bounds may be hostile."""
    cuts = sorted(draw(st.sets(st.integers(1, 10**7), max_size=3)))
    bounds: list[Any] = [0, *(draw(_mostly(st.just(str(cut)), HOSTILE_NUMBERS)) for cut in cuts)]
    bands = [
        {"from": lower, "to": upper, "rate": draw(RATES)}
        for lower, upper in itertools.pairwise(bounds)
    ]
    bands.append({"from": bounds[-1], "rate": draw(RATES)})
    return {
        "currency": draw(CURRENCIES),
        "mode": draw(st.sampled_from(["marginal", "retroactive"])),
        "basis": draw(st.sampled_from(["affiliate_sales", "affiliate_orders", "merchant_sales"])),
        "bands": bands,
    }


@st.composite
def levels(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "currency": draw(CURRENCIES),
        "levels": [
            {"name": "basic", "from": 0, "share": draw(RATES)},
            {"name": "core", "from": draw(VOLUMES), "share": draw(RATES)},
        ],
    }


ATTAINMENT = _mostly(st.sampled_from(["100%", "150%", "200%"]), st.one_of(RATES, HOSTILE_NUMBERS))
TARGETS = st.fixed_dictionaries(
    {"amount": MONEY},
    optional={
        "bonus_rate": RATES,
        "steps": st.lists(st.fixed_dictionaries({"at": ATTAINMENT, "points": RATES}), max_size=2),
    },
)
OVERRIDES = st.lists(
    st.fixed_dictionaries(
        {"match": st.sampled_from([{"sku": "x"}, {"category": "c"}])},
        optional={"rate": RATES, "flat_per_unit": MONEY},
    ),
    max_size=2,
)
PLANS = st.fixed_dictionaries(
    {"rate": RATES},
    optional={
        "flat": MONEY,
        "per_click": MONEY,
        "per_mille": MONEY,
        "order_cap": MONEY,
        "overrides": OVERRIDES,
        "floor_rate": RATES,
        "tiers": tiers(),
        "target": TARGETS,
        "period_cap": st.fixed_dictionaries({"amount": MONEY}),
        "levels": levels(),
        "parent_share": RATES,
    },
)

# --- money ------------------------------------------------------------------------------

_T = TypeVar("_T")


def _attempt(build: Callable[[], _T]) -> _T | AffiliateError:
    """What ``build`` returns, or the ``AffiliateError`` it raised; any other error fails."""
    try:
        return build()
    except AffiliateError as exc:
        return exc


@_SETTINGS
@given(value=HOSTILE_NUMBERS, factor=FACTORS, currency=st.sampled_from(["CNY", "JPY", "KWD"]))
def test_a_hostile_number_is_bounded_money_or_an_affiliate_error(
    value: Any, factor: Decimal | int, currency: str
) -> None:
    money = _attempt(lambda: Money(value, currency))
    if isinstance(money, AffiliateError):
        event("refused")
        return
    event("accepted")
    amount = money.amount
    assert amount.is_finite()
    assert amount.copy_abs() < MAX_MAGNITUDE
    assert not (amount.is_zero() and amount.is_signed())
    assert int(amount.as_tuple().exponent) >= -MAX_SCALE
    # whatever Money does next gives Money or an AffiliateError, never a decimal signal
    operations: list[Callable[[], object]] = [
        lambda: money + money,
        lambda: money - money * 3,
        lambda: money * factor,
        lambda: -money,
        money.round,
        money.to_minor,
        lambda: bookable(money, allow_negative=True),
        lambda: money.allocate([1, 2]),
    ]
    for operation in operations:
        _attempt(operation)


@_SETTINGS
@given(units=st.one_of(NEAR_2_63, st.integers(-(2**64), 2**64)))
def test_bookable_money_fits_a_signed_64_bit_integer(units: int) -> None:
    money = _attempt(lambda: bookable(Money.from_minor(units, "CNY"), allow_negative=True))
    if isinstance(money, AffiliateError):
        assert abs(units) > MAX_MINOR_UNITS
    else:
        assert money.to_minor() == units


@_SETTINGS
@given(currency=HOSTILE_CURRENCIES)
def test_a_hostile_currency_is_known_or_an_affiliate_error(currency: Any) -> None:
    known = isinstance(currency, str) and currency in MINOR_UNITS
    money = _attempt(lambda: Money("1.00", currency))
    assert isinstance(money, Money) == known
    levels = {"currency": currency, "levels": [{"name": "basic", "from": 0, "share": "50%"}]}
    plan = _attempt(lambda: CommissionPlan.model_validate({"rate": "10%", "levels": levels}))
    if known:
        assert isinstance(plan, CommissionPlan)
    else:
        assert isinstance(plan, InvalidInput)
        assert "levels.currency:" in str(plan)


# --- plans ------------------------------------------------------------------------------


@_SETTINGS
@given(data=PLANS)
def test_a_hostile_plan_is_refused_or_books_only_non_negative_commission(
    data: dict[str, Any],
) -> None:
    plan = _attempt(lambda: CommissionPlan.model_validate(data))
    if isinstance(plan, AffiliateError):
        event("refused")
        assert isinstance(plan, InvalidInput)  # pydantic's errors arrive wrapped, field by field
        assert plan.errors
        return
    event("loaded")
    # one currency for every amount in it: two simple orders of that currency book
    [currency] = set(plan.currencies.values()) or {"CNY"}
    three = LineItem(sku="x", quantity=3, unit_price=Money("100", currency))
    one = LineItem(sku="y", category="c", unit_price=Money("50", currency))
    book = Book(plan)
    for order_id in ("o1", "o2"):
        sold = Order(
            order_id=order_id, merchant_id="m1", total=Money("350", currency), items=[three, one]
        )
        booking = book(sold)
        for line in booking.commissions:
            assert line.amount.amount >= 0, (line.kind, line.amount, line.rule)
            assert abs(line.amount.to_minor()) <= MAX_MINOR_UNITS
        for item in booking.items:
            assert item.amount.amount >= 0, item
