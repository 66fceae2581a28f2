"""Exchange rates, injected: the SDK never fetches them itself.

Tier volumes are counted in a plan's currency; an order in another currency
is converted with the host's ``FxRates`` provider at the time of the order,
and the rate used is recorded on the booked commission.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from affiliate_sdk.errors import MissingFxRate

__all__ = ["FxRates", "StaticFxRates"]


@runtime_checkable
class FxRates(Protocol):
    def rate(self, base: str, quote: str, at: datetime) -> Decimal:
        """Units of ``quote`` one unit of ``base`` buys at ``at``."""
        ...


class StaticFxRates:
    """Fixed rates, for tests and hosts that set rates by hand.

    ``StaticFxRates({("USD", "CNY"): "7.1"})`` also answers CNY -> USD with
    the inverse; any currency converts to itself at 1.
    """

    def __init__(self, rates: Mapping[tuple[str, str], Decimal | str]) -> None:
        self._rates: dict[tuple[str, str], Decimal] = {}
        for (base, quote), value in rates.items():
            rate = Decimal(value) if isinstance(value, str) else value
            if not rate.is_finite() or rate <= 0:
                raise MissingFxRate(base, quote)
            self._rates[(base, quote)] = rate
            self._rates.setdefault((quote, base), Decimal(1) / rate)

    def rate(self, base: str, quote: str, at: datetime) -> Decimal:
        if base == quote:
            return Decimal(1)
        try:
            return self._rates[(base, quote)]
        except KeyError:
            raise MissingFxRate(base, quote) from None
