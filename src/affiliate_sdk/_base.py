"""The base of every public pydantic model, and the field types they share."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic import StringConstraints as _Constraints

from ._validation import IDENTIFIER_PATTERN
from .errors import InvalidInput

__all__ = ["AffiliateModel", "Identifier", "Rate", "parse_rate"]


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
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
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
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a rate like '12.5%' or '0.125'") from None
    if isinstance(value, Decimal | int):
        return Decimal(value)
    raise ValueError(f"{value!r} is not a rate like '12.5%' or '0.125'")


def _check_fraction(value: Decimal) -> Decimal:
    if not value.is_finite() or not 0 <= value <= 1:
        raise ValueError("a rate must lie between 0% and 100%")
    return value


#: A fraction in [0, 1], written as ``"12.5%"`` or ``Decimal("0.125")``.
Rate = Annotated[Decimal, BeforeValidator(parse_rate), AfterValidator(_check_fraction)]

#: Merchant, campaign and affiliate ids.
Identifier = Annotated[str, _Constraints(pattern=f"^{IDENTIFIER_PATTERN}$")]
