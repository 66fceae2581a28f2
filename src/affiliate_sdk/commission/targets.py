"""Period targets: attainment steps, the over-target bonus and period caps. Pure.

An affiliate's eligible sales in a campaign are counted per period (in the
campaign's time zone). Against a ``Target``:

* **attainment steps** add percentage points to the base rate of an order
  that brings attainment to or past a step (``+1`` point at 100%, ``+2`` at
  150%, ``+3`` at 200%);
* the **over-target bonus** pays ``bonus_rate`` of the period's whole volume
  once the volume exceeds the target: the order that crosses it books the
  bonus on everything sold so far in the period, later orders on their own
  value.

A ``PeriodCap`` limits what one affiliate earns from a campaign in a period.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Final

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from affiliate_sdk._base import AffiliateModel, Rate, parse_rate
from affiliate_sdk.commission.amounts import Currency, PlanMoney, PlanVolume, whole_units
from affiliate_sdk.commission.tiers import Period
from affiliate_sdk.money import Money

__all__ = ["Level", "Levels", "PeriodCap", "Target", "TargetStep", "bonus_for", "step_points"]

_ZERO: Final = Decimal(0)

#: Attainment written as ``"150%"`` or ``Decimal("1.5")``; may exceed 100%.
Attainment = Annotated[Decimal, BeforeValidator(parse_rate), Field(gt=0)]


class TargetStep(AffiliateModel):
    """At ``at`` attainment (``"150%"``), add ``points`` to the rate (``"2%"``)."""

    at: Attainment
    points: Rate


class Target(AffiliateModel):
    """A sales target per affiliate and period, with steps and an over-target bonus."""

    period: Period = "month"
    amount: PlanMoney
    bonus_rate: Rate | None = None
    steps: list[TargetStep] = Field(default_factory=list)

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.amount <= 0:
            raise ValueError("a target must be positive")
        return value

    @field_validator("steps")
    @classmethod
    def _ascending(cls, steps: list[TargetStep]) -> list[TargetStep]:
        if [s.at for s in steps] != sorted({s.at for s in steps}):
            raise ValueError("steps must be in ascending order of attainment, without repeats")
        return steps


class PeriodCap(AffiliateModel):
    """At most ``amount`` of commission per affiliate per ``period`` from this campaign."""

    period: Period = "month"
    amount: PlanMoney


class Level(AffiliateModel):
    """A membership level: from ``from`` annual sales on, the affiliate keeps ``share``."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    name: str = Field(min_length=1, max_length=64)
    lower: PlanVolume = Field(alias="from")
    share: Rate


class Levels(AffiliateModel):
    """Membership levels by the affiliate's annual sales, counted in ``currency``.

    The affiliate keeps its level's ``share`` of each commission and the
    alliance keeps the rest (in place of the platform take). Sales count in
    the calendar year (UTC) across the campaigns whose plans use levels; an
    order is priced at the level reached before it.
    """

    currency: Currency
    levels: list[Level] = Field(min_length=1)

    @field_validator("levels")
    @classmethod
    def _from_zero_ascending(cls, levels: list[Level]) -> list[Level]:
        if levels[0].lower != 0:
            raise ValueError("the first level must start at 0")
        if [lv.lower for lv in levels] != sorted({lv.lower for lv in levels}):
            raise ValueError("levels must ascend by annual sales without repeats")
        return levels

    @model_validator(mode="after")
    def _whole_thresholds(self) -> Levels:
        for n, level in enumerate(self.levels):
            try:
                whole_units(level.lower, self.currency)
            except ValueError as exc:
                raise ValueError(f"levels.{n}.from: {exc}") from None
        return self

    def level_at(self, annual_sales: Decimal) -> Level:
        reached = self.levels[0]
        for level in self.levels:
            if annual_sales >= level.lower:
                reached = level
        return reached


def step_points(target: Target, volume: Decimal) -> Decimal:
    """The points earned at ``volume`` (in the target's currency)."""
    attainment = volume / target.amount.amount
    points = _ZERO
    for step in target.steps:
        if attainment >= step.at:
            points = step.points
    return points


def bonus_for(target: Target, before: Decimal, after: Decimal) -> Decimal:
    """The exact over-target bonus an order moving the volume from ``before`` to ``after`` earns."""
    if target.bonus_rate is None:
        return _ZERO
    goal = target.amount.amount
    if after <= goal:
        return _ZERO
    if before > goal:
        return (after - before) * target.bonus_rate
    return after * target.bonus_rate
