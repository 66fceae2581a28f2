"""The amounts and currencies a plan holds, checked when the plan loads. Pure.

A plan that loads can price every order in its currency: each amount in it
(``flat``, ``per_click``, ``per_mille``, ``order_cap``, an override's
``flat_per_unit``, a target, a period cap) is a ``PlanMoney``, each
currency a ``Currency`` and each volume (a tier band's bounds, a level's
threshold) a ``PlanVolume``. A commission is never negative because a plan
says so: only reversals take booked money back.

* ``Currency``: an ISO 4217 code as ``Money`` takes it (upper case, ``CNY``);
* ``PlanMoney``: ``Money`` in whole minor units, not negative, within
  ``MAX_MINOR_UNITS`` (``money.bookable``);
* ``PlanVolume``: a ``Decimal`` amount or count, not negative, parsed as
  ``Money`` parses amounts (no floats, NaN or infinities); whole minor units
  of the currency it counts in are checked by the model that names it
  (``whole_units``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator

from affiliate_sdk.errors import InvalidAmount, UnknownCurrency
from affiliate_sdk.money import (
    MAX_MINOR_UNITS,
    MINOR_UNITS,
    Money,
    bookable,
    minor_unit_exponent,
    parse_amount,
)

__all__ = ["Currency", "PlanMoney", "PlanVolume", "check_currency", "whole_units"]

_ZERO: Final = Decimal(0)


def check_currency(value: object) -> str:
    """``value`` if it is an ISO 4217 code ``Money`` knows, else ``UnknownCurrency``."""
    if not isinstance(value, str) or value not in MINOR_UNITS:
        raise UnknownCurrency(value)
    return value


def _plan_money(value: Money) -> Money:
    return bookable(value)


def _non_negative(value: Decimal) -> Decimal:
    if value < _ZERO:
        raise InvalidAmount(value, "must not be negative")
    return value


def whole_units(value: Decimal, currency: str | None) -> Decimal:
    """``value`` if it is whole minor units of ``currency`` (whole numbers for None).

    It must also hold at most ``MAX_MINOR_UNITS`` of them; else ``InvalidAmount``.
    """
    digits = 0 if currency is None else minor_unit_exponent(currency)
    numerator, denominator = value.as_integer_ratio()  # exact, whatever the decimal context
    units, rest = divmod(numerator * 10**digits, denominator)
    unit = "whole numbers" if currency is None else f"whole {currency} minor units"
    if rest:
        raise InvalidAmount(value, f"must be in {unit}")
    if abs(units) > MAX_MINOR_UNITS:
        raise InvalidAmount(value, f"holds more than MAX_MINOR_UNITS (2^63 - 1) {unit}")
    return value


#: An ISO 4217 currency code, upper case.
Currency = Annotated[str, BeforeValidator(check_currency)]

#: An amount a plan pays or counts: whole minor units, not negative, within MAX_MINOR_UNITS.
PlanMoney = Annotated[Money, AfterValidator(_plan_money)]

#: A volume a plan counts (a band bound, a level threshold): not negative, no float.
PlanVolume = Annotated[Decimal, BeforeValidator(parse_amount), AfterValidator(_non_negative)]
