"""Volume tiers: the rate depends on how much has been sold in the period. Pure.

Bands are half-open, ``[from, to)``: a volume of exactly 100,000 has reached
the band that starts at 100,000. Two readings:

* **marginal**: each band's part of the volume earns that band's rate, like
  income tax; an order that straddles a boundary is split across the bands;
* **retroactive**: the whole period's volume earns the rate of the band it
  has reached; when an order lifts the volume into a higher band, a true-up
  pays the difference on the period's earlier volume, and closing the period
  after refunds that fell back below a band books the negative true-up. Rates
  may not fall from band to band (reaching a band would take commission back).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, field_validator, model_validator

from affiliate_sdk._base import AffiliateModel, Rate
from affiliate_sdk.commission.amounts import Currency, PlanVolume, whole_units

__all__ = [
    "Period",
    "TierBand",
    "TierState",
    "Tiers",
    "marginal_commission",
    "period_bounds",
    "period_key",
    "retroactive_step",
]

Period = Literal["month", "quarter", "year"]
_ZERO: Final = Decimal(0)


class TierBand(AffiliateModel):
    """Volumes from ``from`` (inclusive) to ``to`` (exclusive; none for the top band)."""

    lower: PlanVolume = Field(alias="from")
    upper: PlanVolume | None = Field(default=None, alias="to")
    rate: Rate

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    @model_validator(mode="after")
    def _ordered(self) -> TierBand:
        if self.upper is not None and self.upper <= self.lower:
            raise ValueError("a band's 'to' must be above its 'from'")
        return self


class Tiers(AffiliateModel):
    """Volume tiers over a ``period`` on a ``basis``, read in ``mode``.

    ``basis``: ``affiliate_sales`` (the affiliate's eligible sales in this
    campaign), ``affiliate_orders`` (their order count) or ``merchant_sales``
    (the merchant's total across affiliates). Sales volumes are counted in
    ``currency``; other currencies convert through the alliance's FX provider.
    Band bounds are whole minor units of ``currency`` (whole orders for
    ``affiliate_orders``).
    """

    period: Period = "quarter"
    basis: Literal["affiliate_sales", "affiliate_orders", "merchant_sales"] = "affiliate_sales"
    mode: Literal["marginal", "retroactive"] = "marginal"
    currency: Currency | None = None
    bands: list[TierBand] = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _contiguous(cls, bands: list[TierBand]) -> list[TierBand]:
        if bands[0].lower != 0:
            raise ValueError("the first band must start at 0")
        for band, following in itertools.pairwise(bands):
            if band.upper is None:
                raise ValueError("only the last band may be open-ended")
            if following.lower < band.upper:
                raise ValueError(f"bands overlap at {following.lower}")
            if following.lower > band.upper:
                raise ValueError(f"gap between {band.upper} and {following.lower}")
        if bands[-1].upper is not None:
            raise ValueError("the last band must be open-ended (no 'to')")
        return bands

    @model_validator(mode="after")
    def _currency(self) -> Tiers:
        if self.currency is None and (
            self.basis != "affiliate_orders" or self.mode == "retroactive"
        ):
            raise ValueError("sales-based and retroactive tiers need a currency to count in")
        if self.mode == "retroactive" and self.basis == "merchant_sales":
            raise ValueError(
                "retroactive tiers need an affiliate basis: true-ups go to one affiliate"
            )
        if self.mode == "retroactive":
            for lower, higher in itertools.pairwise(self.bands):
                if higher.rate < lower.rate:
                    raise ValueError(
                        f"retroactive rates may not fall as the volume grows (band from "
                        f"{higher.lower} pays {higher.rate} after {lower.rate}): reaching it "
                        "would take back commission already booked"
                    )
        return self

    @model_validator(mode="after")
    def _whole_bounds(self) -> Tiers:
        unit = None if self.basis == "affiliate_orders" else self.currency
        for n, band in enumerate(self.bands):
            for name, bound in (("from", band.lower), ("to", band.upper)):
                if bound is None:
                    continue
                try:
                    whole_units(bound, unit)
                except ValueError as exc:
                    raise ValueError(f"bands.{n}.{name}: {exc}") from None
        return self

    def rate_at(self, volume: Decimal) -> Decimal:
        """The rate of the band ``volume`` has reached."""
        rate = self.bands[0].rate
        for band in self.bands:
            if volume >= band.lower:
                rate = band.rate
        return rate


class TierState(NamedTuple):
    """A period's running totals for one tier scope, exact, in the tiers' currency.

    ``volume`` is the basis measure so far (net of refunds); ``tier_base`` the
    eligible value paid at tier rates; ``rate`` the rate last applied; ``paid``
    the tier commission booked so far, true-ups included.
    """

    volume: Decimal = _ZERO
    tier_base: Decimal = _ZERO
    rate: Decimal = _ZERO
    paid: Decimal = _ZERO


def marginal_commission(
    bands: Sequence[TierBand], before: Decimal, amount: Decimal
) -> tuple[Decimal, list[tuple[int, Decimal, Decimal]]]:
    """Exact commission on ``amount`` sold on top of ``before``, band by band.

    Returns the total and the pieces ``(band index, portion, rate)``.
    """
    pieces: list[tuple[int, Decimal, Decimal]] = []
    start, end = before, before + amount
    for index, band in enumerate(bands):
        upper = band.upper if band.upper is not None else end
        low, high = max(start, band.lower), min(end, upper)
        if high > low:
            pieces.append((index, high - low, band.rate))
    return sum((portion * rate for _, portion, rate in pieces), _ZERO), pieces


def retroactive_step(
    tiers: Tiers, state: TierState, measure: Decimal, base: Decimal
) -> tuple[Decimal, Decimal, TierState]:
    """One order under retroactive tiers.

    ``measure`` is the order's addition to the volume (its sales, or 1 for an
    order count) and ``base`` the value it pays on. Returns the order's rate,
    the exact true-up owed on the period's earlier tier-paid value (positive
    when a band is crossed upward) and the new state.
    """
    volume = state.volume + measure
    rate = tiers.rate_at(volume)
    true_up = state.tier_base * (rate - state.rate) if state.tier_base else _ZERO
    return rate, true_up, TierState(volume, state.tier_base + base, rate, state.paid + true_up)


def period_key(instant: datetime, period: Period, timezone: str) -> str:
    """The period containing ``instant`` in ``timezone``: ``2026-03``, ``2026-Q1``, ``2026``."""
    local = instant.astimezone(ZoneInfo(timezone))
    if period == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if period == "quarter":
        return f"{local.year:04d}-Q{(local.month - 1) // 3 + 1}"
    return f"{local.year:04d}"


def period_bounds(key: str, timezone: str) -> tuple[datetime, datetime]:
    """The start (inclusive) and end (exclusive) of a period key, as aware datetimes."""
    zone = ZoneInfo(timezone)
    year = int(key[:4])
    if len(key) == 4:
        first, months = 1, 12
    elif key[5] == "Q":
        first, months = (int(key[6]) - 1) * 3 + 1, 3
    else:
        first, months = int(key[5:7]), 1
    start = datetime(year, first, 1, tzinfo=zone)
    end_month = first + months
    end = datetime(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1, tzinfo=zone)
    return start, end
