"""The base of every public pydantic model, the field types they share, and identifier checks.

``AffiliateModel`` is the frozen, strict base that raises ``InvalidInput``;
``Rate``, ``Identifier`` and ``Text`` are the annotated field types;
``check_identifier`` applies the identifier rule on hot paths where no model
is built.

Every string that enters through the public API must be valid Unicode text:
encodable as UTF-8, so it can be hashed, signed, stored and logged. Python
strings may hold lone surrogates (``"\\ud800"``, say from a host decoding bytes
with ``surrogateescape``) that no codec accepts; ``check_text`` refuses them
with ``InvalidInput`` naming the field (one ``str.isascii()`` first, so ASCII
costs next to nothing), and ``UnicodeText`` is the model field type that does
the same. ``Identifier`` and ``Text`` refuse them already (their patterns only
match valid text).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Final, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic import StringConstraints as _Constraints

from affiliate_sdk.errors import InvalidInput

__all__ = [
    "IDENTIFIER_PATTERN",
    "MAX_RATE_SCALE",
    "TEXT_MAX_LENGTH",
    "AffiliateModel",
    "Identifier",
    "Rate",
    "Text",
    "UnicodeText",
    "check_identifier",
    "check_text",
    "check_texts",
    "parse_rate",
]

#: Merchant, campaign and affiliate ids: 1-128 characters, safe in URLs,
#: postback macros and log lines without escaping.
IDENTIFIER_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}"
_IDENTIFIER: Final = re.compile(IDENTIFIER_PATTERN)

#: The longest free-text field (an order id, a SKU, a coupon code).
TEXT_MAX_LENGTH: Final = 256

#: Rates have at most this many digits after the point: far finer than any real
#: rate, and what keeps a rate times an amount within Money's bounds.
MAX_RATE_SCALE: Final = 40


class AffiliateModel(BaseModel):
    """Frozen, strict about unknown fields, and raising ``InvalidInput``.

    Validation failures surface as ``affiliate_sdk.InvalidInput`` (a
    ``ValueError`` in the ``AffiliateError`` tree) naming each bad field,
    whether the model is built with keywords, ``model_validate`` or
    ``model_validate_json``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None

    # Nested models are validated by pydantic's core, not through this __init__,
    # so errors inside them keep their full location (``overrides.0.match.x``).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate ``obj``, raising ``InvalidInput`` instead of pydantic's error."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Validate a JSON document, raising ``InvalidInput`` instead of pydantic's error."""
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None


def parse_rate(value: object) -> Decimal:
    """``"12.5%"`` -> ``Decimal("0.125")``; a ``Decimal``/int/str fraction as is."""
    if isinstance(value, float):
        raise ValueError("rates must not be floats; write '12.5%' or Decimal('0.125')")
    if isinstance(value, bool):
        raise ValueError("a rate must be a number")
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return Decimal(text[:-1].strip()) / 100
            return Decimal(text)
        except ArithmeticError:  # not a number, or a percentage out of decimal's range
            raise ValueError(f"{value!r} is not a rate like '12.5%' or '0.125'") from None
    if isinstance(value, Decimal | int):
        return Decimal(value)
    raise ValueError(f"{value!r} is not a rate like '12.5%' or '0.125'")


def _check_fraction(value: Decimal) -> Decimal:
    if not value.is_finite() or not 0 <= value <= 1:
        raise ValueError("a rate must lie between 0% and 100%")
    if int(value.as_tuple().exponent) < -MAX_RATE_SCALE:
        raise ValueError(f"a rate has at most {MAX_RATE_SCALE} digits after the point")
    return value


def check_identifier(field: str, value: object) -> str:
    """Return ``value`` if it is a valid identifier, else raise ``InvalidInput``."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidInput(
            f"{field} must be 1-128 characters of A-Z a-z 0-9 _ . : @ - "
            f"starting with a letter or digit; got {value!r}",
            errors=[{"loc": (field,), "msg": "invalid identifier", "type": "identifier"}],
        )
    return value


def check_text(field: str, value: str) -> str:
    """Return ``value`` if it is valid Unicode text (no lone surrogates), else raise
    ``InvalidInput`` naming ``field`` (``TypeError`` if it is no string at all)."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, not {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"{field} must be valid Unicode text: it holds a lone surrogate",
                errors=[{"loc": (field,), "msg": _NOT_UNICODE, "type": "unicode"}],
            ) from None
    return value


def check_texts(**fields: object) -> None:
    """``check_text`` on each string given by keyword (``None`` and other types pass)."""
    for field, value in fields.items():
        if isinstance(value, str) and not value.isascii():
            check_text(field, value)


def _valid_unicode(value: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(_NOT_UNICODE) from None
    return value


_NOT_UNICODE: Final = "must be valid Unicode text (no lone surrogates)"

#: A fraction in [0, 1], written as ``"12.5%"`` or ``Decimal("0.125")``, with at most
#: ``MAX_RATE_SCALE`` digits after the point.
Rate = Annotated[Decimal, BeforeValidator(parse_rate), AfterValidator(_check_fraction)]

#: Merchant, campaign and affiliate ids.
Identifier = Annotated[str, _Constraints(pattern=f"^{IDENTIFIER_PATTERN}$")]

#: A string of any length that must be valid Unicode text (see the module's docstring).
UnicodeText = Annotated[str, AfterValidator(_valid_unicode)]

#: Free text a merchant chooses (order ids, SKUs, coupon codes): 1-256
#: characters, no control characters.
Text = Annotated[
    str, Field(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$")
]
