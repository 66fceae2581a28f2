"""Commission plans: how a merchant pays for the sales affiliates bring.

A plan is data: it loads from a dict, JSON or TOML (``CommissionPlan.model_validate``)
and exports JSON Schema, so a host can store one per merchant or campaign.
Invalid plans fail at load with a message naming the field: every amount in
a plan is whole minor units, not negative, in a known currency
(``commission.amounts``), and a plan counts and pays in one currency (orders
in other currencies convert through the alliance's FX provider).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from typing import Final

from pydantic import Field, model_validator

from affiliate_sdk._base import AffiliateModel, Rate
from affiliate_sdk.commission.amounts import PlanMoney
from affiliate_sdk.commission.targets import Levels, PeriodCap, Target
from affiliate_sdk.commission.tiers import Tiers

__all__ = [
    "DEFAULT_HOLD_DAYS",
    "CommissionPlan",
    "Eligibility",
    "Match",
    "Override",
    "RateBounds",
    "Recurring",
]

#: Days a commission stays pending (refunds, returns, review) before approval.
DEFAULT_HOLD_DAYS: Final = 30


class Eligibility(AffiliateModel):
    """Which parts of an order earn commission.

    Shipping, tax and order-level discounts are never commissionable: the
    discount is spread over the items in proportion to their value. Items
    in ``exclude_categories`` or ``exclude_skus`` earn nothing.
    """

    exclude_categories: list[str] = Field(default_factory=list)
    exclude_skus: list[str] = Field(default_factory=list)


class Match(AffiliateModel):
    """Conditions an override applies under; every field set must match.

    ``sku`` and ``category`` match an order line; the others match the order
    (``country``, ``new_customer``) or the affiliate (``affiliate_group``,
    ``channel``, and ``affiliate_level``: the name of its membership level
    under the plan's ``levels``). Specificity is the number of fields set.
    """

    sku: str | None = None
    category: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    new_customer: bool | None = None
    affiliate_group: str | None = None
    affiliate_level: str | None = None
    channel: str | None = None

    @cached_property
    def conditions(self) -> tuple[tuple[str, object], ...]:
        """The fields this match sets, with the values they must have."""
        return tuple((name, value) for name, value in self if value is not None)

    @cached_property
    def specificity(self) -> int:
        return len(self.conditions)


class Override(AffiliateModel):
    """A rate (or flat amount per unit) for the lines and orders it matches.

    The most specific matching override wins for each line; among equally
    specific ones, the one declared first. ``name`` is recorded on the booked
    commission as the rule that produced it.
    """

    name: str | None = None
    match: Match
    rate: Rate | None = None
    flat_per_unit: PlanMoney | None = None

    @model_validator(mode="after")
    def _pays_something(self) -> Override:
        if (self.rate is None) == (self.flat_per_unit is None):
            raise ValueError("an override sets exactly one of rate or flat_per_unit")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        fields = ", ".join(f"{k}={v}" for k, v in self.match.model_dump().items() if v is not None)
        return f"override({fields})"


class Recurring(AffiliateModel):
    """Subscriptions: renewals earn commission for the affiliate of the first order.

    ``renewals`` is how many renewals pay (the first N); ``None`` pays for life.
    """

    renewals: int | None = Field(default=None, ge=1)


class RateBounds(AffiliateModel):
    """The effective rate is kept within ``[minimum, maximum]`` (e.g. 0.5%-12%)."""

    minimum: Rate
    maximum: Rate

    @model_validator(mode="after")
    def _ordered(self) -> RateBounds:
        if self.minimum > self.maximum:
            raise ValueError("minimum must not exceed maximum")
        return self


class CommissionPlan(AffiliateModel):
    """What a campaign pays.

    ``CommissionPlan(rate="10%")`` pays 10% of the eligible amount (CPS).
    ``flat`` pays a fixed amount per order (CPA); with a rate too, it is a
    bonus on top (CPS + flat). ``per_click`` pays each click that was not
    blocked (CPC) and ``per_mille`` each thousand recorded impressions (CPM),
    settled by ``Alliance.settle_traffic``; they combine with the others
    (e.g. CPM + CPA). Overrides change the rate per category, SKU,
    country, new customer, affiliate group or channel. Caps, floors and
    bounds shape the effective rate: ``category_caps`` limit the rate in a
    category, ``floor_rate`` guarantees a minimum, ``bounds`` clamp a
    dynamically set rate, ``order_cap`` limits the commission of one order.
    ``tiers`` set the base rate from the period's volume instead of ``rate``;
    a ``target`` adds attainment steps and an over-target bonus; a
    ``period_cap`` limits what an affiliate earns in a period; ``levels`` give
    the affiliate a share of each commission by its membership level;
    ``recurring`` pays subscription renewals (without it, renewals earn nothing).
    ``platform_take`` overrides the alliance's take for this plan;
    ``parent_share`` pays the affiliate's recruiter that share of the
    affiliate's commission, on top (two-tier).
    """

    rate: Rate | None = None
    flat: PlanMoney | None = None
    per_click: PlanMoney | None = None
    per_mille: PlanMoney | None = None
    eligibility: Eligibility = Field(default_factory=Eligibility)
    overrides: list[Override] = Field(default_factory=list)
    category_caps: dict[str, Rate] = Field(default_factory=dict)
    floor_rate: Rate | None = None
    bounds: RateBounds | None = None
    order_cap: PlanMoney | None = None
    tiers: Tiers | None = None
    target: Target | None = None
    period_cap: PeriodCap | None = None
    levels: Levels | None = None
    recurring: Recurring | None = None
    platform_take: Rate | None = None
    parent_share: Rate | None = None
    hold_days: int = Field(default=DEFAULT_HOLD_DAYS, ge=0, le=3650)

    @model_validator(mode="after")
    def _one_share_rule(self) -> CommissionPlan:
        if self.levels is not None and self.platform_take is not None:
            raise ValueError("levels set the affiliate's share: drop platform_take")
        return self

    @model_validator(mode="after")
    def _one_currency(self) -> CommissionPlan:
        found = self.currencies
        if len(set(found.values())) > 1:
            named = ", ".join(f"{field} is {code}" for field, code in found.items())
            raise ValueError(
                f"a plan's amounts and currencies must all be in one currency: {named}"
            )
        return self

    @model_validator(mode="after")
    def _pays_something(self) -> CommissionPlan:
        pays = (self.rate, self.flat, self.tiers, self.per_click, self.per_mille)
        if all(value is None for value in pays) and not self.overrides:
            raise ValueError("a plan needs a rate, tiers, a flat, per-click or per-mille amount")
        return self

    @property
    def currencies(self) -> dict[str, str]:
        """Each field of the plan that names a currency, and that currency."""
        found: dict[str, str] = {}
        for name in ("flat", "per_click", "per_mille", "order_cap"):
            amount = getattr(self, name)
            if amount is not None:
                found[f"{name}.currency"] = amount.currency
        for n, override in enumerate(self.overrides):
            if override.flat_per_unit is not None:
                found[f"overrides.{n}.flat_per_unit.currency"] = override.flat_per_unit.currency
        if self.tiers is not None and self.tiers.currency is not None:
            found["tiers.currency"] = self.tiers.currency
        if self.target is not None:
            found["target.amount.currency"] = self.target.amount.currency
        if self.period_cap is not None:
            found["period_cap.amount.currency"] = self.period_cap.amount.currency
        if self.levels is not None:
            found["levels.currency"] = self.levels.currency
        return found

    @property
    def percent(self) -> Decimal | None:
        return None if self.rate is None else self.rate * 100
