"""Shape rules for identifiers, shared by the models and the hot paths."""

from __future__ import annotations

import re
from typing import Final

from .errors import InvalidInput

__all__ = ["IDENTIFIER_PATTERN", "check_identifier"]

#: Merchant, campaign and affiliate ids: 1-128 characters, safe in URLs,
#: postback macros and log lines without escaping.
IDENTIFIER_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}"
_IDENTIFIER: Final = re.compile(IDENTIFIER_PATTERN)


def check_identifier(field: str, value: object) -> str:
    """Return ``value`` if it is a valid identifier, else raise ``InvalidInput``."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidInput(
            f"{field} must be 1-128 characters of A-Z a-z 0-9 _ . : @ - "
            f"starting with a letter or digit; got {value!r}",
            errors=[{"loc": (field,), "msg": "invalid identifier", "type": "identifier"}],
        )
    return value
