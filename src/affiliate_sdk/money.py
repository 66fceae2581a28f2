"""Money: an exact ``Decimal`` amount in one ISO 4217 currency.

Floats are refused, currencies never mix, and rounding to the currency's minor
unit happens only when asked (``round()``), with the rounding mode named.

Every amount is finite, below ``MAX_MAGNITUDE`` and has at most ``MAX_SCALE``
digits after the point; arithmetic that would leave those bounds raises
``InvalidAmount``, never a ``decimal`` signal. An amount that is booked or
stored (an order's money, a refund, a plan's amounts) also fits in
``MAX_MINOR_UNITS`` minor units (``bookable``), the widest integer the stores
hold, so every backend accepts and refuses the same amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal, DecimalException, InvalidOperation
from fractions import Fraction
from typing import Any, Final

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from .errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

__all__ = [
    "DEFAULT_ROUNDING",
    "MAX_MAGNITUDE",
    "MAX_MINOR_UNITS",
    "MAX_SCALE",
    "MINOR_UNITS",
    "Money",
    "bookable",
    "minor_unit_exponent",
    "parse_amount",
    "sum_money",
]

#: Rounding used by ``Money.round()`` unless a mode is named: banker's rounding,
#: which does not drift up over many bookings.
DEFAULT_ROUNDING: Final = ROUND_HALF_EVEN

#: Arithmetic context: wide enough that no product of an amount and a rate is cut.
_CONTEXT: Final = Context(prec=60)
#: Amounts are below 10^18 in magnitude: far above any real order, well inside
#: the context's precision once multiplied by a rate.
MAX_MAGNITUDE: Final = Decimal(10) ** 18
#: Amounts have at most this many digits after the point: far finer than any
#: minor unit or exact share, and a bound on what one amount costs to work with.
MAX_SCALE: Final = 100
#: The most minor units an amount that is booked or stored may hold, either
#: sign: a signed 64-bit integer, the widest integer column of every store.
MAX_MINOR_UNITS: Final = 2**63 - 1
_INTEGER: Final = Decimal(0)

_ZERO_DIGIT = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DIGIT = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DIGIT = "CLF UYW"
_TWO_DIGIT = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN "
    "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
    "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
    "SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD "
    "TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)

#: ISO 4217 code -> number of digits after the decimal point.
MINOR_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(_TWO_DIGIT.split(), 2),
    **dict.fromkeys(_ZERO_DIGIT.split(), 0),
    **dict.fromkeys(_THREE_DIGIT.split(), 3),
    **dict.fromkeys(_FOUR_DIGIT.split(), 4),
}

_QUANTUM: Final[dict[str, Decimal]] = {
    code: Decimal(1).scaleb(-digits) for code, digits in MINOR_UNITS.items()
}

Number = Decimal | int


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (JPY 0, CNY 2, KWD 3)."""
    try:
        return MINOR_UNITS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrency(currency) from None


def parse_amount(value: object) -> Decimal:
    """An amount as a ``Decimal``: from a ``str``, ``int`` or ``Decimal``, within the bounds.

    Floats, booleans, NaN and infinities are refused, as are amounts of
    ``MAX_MAGNITUDE`` or more and amounts with more than ``MAX_SCALE`` digits
    after the point (``InvalidAmount``). A zero loses its sign: ``-0`` is ``0``.
    """
    if isinstance(value, bool):
        raise InvalidAmount(value, "booleans are not amounts")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmount(value, "not a decimal number") from None
    elif isinstance(value, float):
        raise InvalidAmount(value, "floats are inexact; pass a str or Decimal")
    else:
        raise InvalidAmount(value, f"unsupported type {type(value).__name__}")
    if not result.is_finite():
        raise InvalidAmount(value, "amount must be finite")
    exponent = int(result.as_tuple().exponent)
    if not result:  # a zero: no sign, and no exponent beyond the bounds
        return result.copy_abs() if -MAX_SCALE <= exponent <= 0 else _INTEGER
    if result.copy_abs() >= MAX_MAGNITUDE:
        raise InvalidAmount(value, "amount must be below 10^18 in magnitude")
    if exponent < -MAX_SCALE:
        raise InvalidAmount(value, f"amount has more than {MAX_SCALE} digits after the point")
    return result


class Money:
    """An immutable amount of one currency.

    >>> Money("199.00", "CNY") + Money("0.50", "CNY")
    Money('199.50', 'CNY')
    """

    __slots__ = ("amount", "currency")

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        if not isinstance(currency, str) or currency not in _QUANTUM:
            raise UnknownCurrency(currency)
        object.__setattr__(self, "amount", parse_amount(amount))
        object.__setattr__(self, "currency", currency)

    @classmethod
    def _trusted(cls, amount: Decimal, currency: str) -> Money:
        """A Money from a known currency and a computed amount (results of Money arithmetic)."""
        if not amount.is_finite() or amount.copy_abs() >= MAX_MAGNITUDE:
            raise InvalidAmount(amount, "the result must be finite and below 10^18 in magnitude")
        if not amount:
            amount = amount.copy_abs()  # no negative zero
        money = object.__new__(cls)
        object.__setattr__(money, "amount", amount)
        object.__setattr__(money, "currency", currency)
        return money

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Nothing, written to the currency's minor unit (``0.00 CNY``)."""
        try:
            return _ZEROS[currency]
        except KeyError:
            raise UnknownCurrency(currency) from None

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        """Money from an integer count of minor units (cents, fen, yen)."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise InvalidAmount(units, "minor units are a whole number")
        return cls._trusted(Decimal(units).scaleb(-minor_unit_exponent(currency)), currency)

    # -- immutability ----------------------------------------------------------
    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Money is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Money is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Money, (str(self.amount), self.currency))

    # -- inspection ------------------------------------------------------------
    @property
    def exponent(self) -> int:
        return MINOR_UNITS[self.currency]

    @property
    def is_rounded(self) -> bool:
        """True when the amount has no digits below the currency's minor unit."""
        quantum = _QUANTUM[self.currency]
        return self.amount == self.amount.quantize(
            quantum, rounding=DEFAULT_ROUNDING, context=_CONTEXT
        )

    def to_minor(self) -> int:
        """The amount in minor units; the amount must already be rounded."""
        if not self.is_rounded:
            raise InvalidAmount(self.amount, f"has digits below the {self.currency} minor unit")
        return int(self.amount.scaleb(self.exponent, context=_CONTEXT))

    def round(self, rounding: str = DEFAULT_ROUNDING) -> Money:
        """Round to the currency's minor unit with the named ``decimal`` mode."""
        quantum = _QUANTUM[self.currency]
        return Money._trusted(
            self.amount.quantize(quantum, rounding=rounding, context=_CONTEXT), self.currency
        )

    # -- arithmetic --------------------------------------------------------------
    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"expected Money, got {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)
        return other

    def __add__(self, other: Money) -> Money:
        return Money._trusted(_CONTEXT.add(self.amount, self._same(other).amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money._trusted(
            _CONTEXT.subtract(self.amount, self._same(other).amount), self.currency
        )

    def __mul__(self, factor: Number) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise InvalidAmount(factor, "money can only be multiplied by a Decimal or int")
        try:
            product = _CONTEXT.multiply(self.amount, Decimal(factor))
        except DecimalException:  # overflow, or a signalling NaN
            raise InvalidAmount(factor, f"{self} times it is out of range") from None
        return Money._trusted(product, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money._trusted(self.amount.copy_negate(), self.currency)

    def __abs__(self) -> Money:
        return Money._trusted(self.amount.copy_abs(), self.currency)

    def __bool__(self) -> bool:
        return bool(self.amount)

    # -- comparison --------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency == other.currency and self.amount == other.amount

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency!r})"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    # -- splitting ---------------------------------------------------------------
    def allocate(self, weights: Sequence[Decimal | int | Fraction]) -> list[Money]:
        """Split into parts proportional to ``weights`` whose sum is exactly ``self``.

        Each part gets the floor of its exact share in minor units; the minor
        units left over go one each to the parts with the largest remainders
        (earlier parts first on ties). Weights are non-negative, not all zero.
        """
        if not weights:
            raise InvalidAmount(weights, "allocate needs at least one weight")
        shares: list[Fraction] = []
        for weight in weights:
            if isinstance(weight, bool) or not isinstance(weight, Decimal | int | Fraction):
                raise InvalidAmount(weight, "weights must be Decimal, int or Fraction")
            if weight < 0:
                raise InvalidAmount(weight, "weights must not be negative")
            shares.append(Fraction(weight))
        total_weight = sum(shares, Fraction(0))
        if total_weight == 0:
            raise InvalidAmount(weights, "weights must not all be zero")
        units = self.to_minor()
        sign = -1 if units < 0 else 1
        units = abs(units)
        exact = [share * units / total_weight for share in shares]
        parts = [int(x) for x in exact]  # floor: every share is non-negative
        leftover = units - sum(parts)
        order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
        for i in order[:leftover]:
            parts[i] += 1
        return [Money.from_minor(sign * p, self.currency) for p in parts]

    # -- pydantic ------------------------------------------------------------------
    @classmethod
    def _coerce(cls, value: object) -> Money:
        if isinstance(value, Money):
            return value
        if isinstance(value, dict) and set(value) == {"amount", "currency"}:
            return cls(value["amount"], value["currency"])
        raise InvalidAmount(value, 'expected Money or {"amount": "...", "currency": "..."}')

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda m: {"amount": str(m.amount), "currency": m.currency}
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "object",
            "title": "Money",
            "properties": {
                "amount": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
                "currency": {"type": "string", "enum": sorted(MINOR_UNITS)},
            },
            "required": ["amount", "currency"],
            "additionalProperties": False,
        }


#: One immutable zero per currency.
_ZEROS: Final[dict[str, Money]] = {
    code: Money._trusted(Decimal(0).scaleb(-digits), code) for code, digits in MINOR_UNITS.items()
}


def sum_money(amounts: Iterable[Money], currency: str | None = None) -> Money:
    """The sum of ``amounts`` (one currency); ``currency`` names it when there may be none."""
    total: Money | None = None if currency is None else Money.zero(currency)
    for amount in amounts:
        total = amount if total is None else total + amount
    if total is None:
        raise InvalidAmount([], "cannot sum no amounts without a currency")
    return total


def bookable(value: Money, *, allow_negative: bool = False) -> Money:
    """``value`` as it is booked and stored, written with its currency's exponent (``199.00``).

    A booked amount is in whole minor units, holds at most ``MAX_MINOR_UNITS``
    of them and is not negative unless ``allow_negative`` (reversals); else
    ``InvalidAmount``.
    """
    if not value.is_rounded:
        raise InvalidAmount(value, f"has digits below the {value.currency} minor unit")
    if not allow_negative and value.amount < 0:
        raise InvalidAmount(value, "must not be negative")
    if abs(value.to_minor()) > MAX_MINOR_UNITS:
        raise InvalidAmount(
            value, f"holds more than MAX_MINOR_UNITS (2^63 - 1) {value.currency} minor units"
        )
    return value.round()
