"""Pure commission arithmetic: no I/O, no clock, exact to the minor unit.

``calculate(plan, order, ...)`` works out what an order earns under a plan,
line by line, and rounds once, at the order level.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import lru_cache
from typing import Final

import attrs

from affiliate_sdk.commission.plans import CommissionPlan, Match, Override
from affiliate_sdk.commission.targets import bonus_for, step_points
from affiliate_sdk.commission.tiers import (
    Tiers,
    TierState,
    marginal_commission,
    retroactive_step,
)
from affiliate_sdk.models import ItemCommission, LineItem, Order
from affiliate_sdk.money import Money, sum_money

__all__ = [
    "COMMISSION_ROUNDING",
    "Calculation",
    "CommissionSplit",
    "OrderContext",
    "TargetInput",
    "TierInput",
    "calculate",
    "effective_rate",
    "eligible_amounts",
    "fraction",
    "reversal_for_refund",
    "split_commission",
]

#: Rounding applied once, where a commission amount is booked.
COMMISSION_ROUNDING: Final = ROUND_HALF_EVEN
_CONTEXT: Final = Context(prec=60)
_ZERO: Final = Decimal(0)


@attrs.frozen
class CommissionSplit:
    """A commission and who gets it: ``gross == affiliate + platform``."""

    gross: Money
    affiliate: Money
    platform: Money


@attrs.frozen
class OrderContext:
    """What overrides can match beyond the order itself."""

    affiliate_group: str | None = None
    channel: str | None = None
    affiliate_rate: Decimal | None = None
    affiliate_level: str | None = None


@attrs.frozen
class TierInput:
    """The tier scope's period totals before this order, and the FX rate into tier currency."""

    state: TierState = attrs.field(factory=TierState)
    fx_rate: Decimal = Decimal(1)


@attrs.frozen
class TargetInput:
    """The affiliate's period volume before this order (target currency) and the FX rate."""

    volume: Decimal = _ZERO
    fx_rate: Decimal = Decimal(1)


@attrs.frozen
class Calculation:
    """An order's commission under a plan: ``gross`` is rounded once.

    With tiers: ``tier_measure`` is what the order added to the volume,
    ``tier_state`` the totals after it, and ``true_up`` the exact amount (in
    the tiers' currency) owed on the period's earlier orders when a
    retroactive band was crossed.
    """

    gross: Money
    items: tuple[ItemCommission, ...]
    rule: str
    capped: bool
    tier_measure: Decimal | None = None
    tier_state: TierState | None = None
    true_up: Decimal = _ZERO
    target_measure: Decimal | None = None
    bonus: Decimal = _ZERO


def split_commission(gross: Money, take: Decimal) -> CommissionSplit:
    """The platform keeps ``take`` of ``gross`` (rounded once); the affiliate the rest."""
    platform = (gross * take).round(COMMISSION_ROUNDING)
    return CommissionSplit(gross=gross, affiliate=gross - platform, platform=platform)


def eligible_amounts(order: Order) -> list[tuple[LineItem | None, Money]]:
    """Each line's commissionable value: its price times quantity less its share of the discount.

    An order-level discount is spread over the lines in proportion to their
    value (``Money.allocate``, so the shares add up to the discount exactly).
    Shipping and tax are never part of it. An order without lines has one
    pseudo-line: its total less shipping and tax.
    """
    currency = order.total.currency
    if not order.items:
        value = order.total
        for part in (order.shipping, order.tax):
            if part is not None:
                value = value - part
        return [(None, value if value.amount > 0 else Money.zero(currency))]
    values = [item.unit_price * item.quantity for item in order.items]
    discount = order.discount
    if not discount:
        return [
            (item, value if value.amount > 0 else Money.zero(currency))
            for item, value in zip(order.items, values, strict=True)
        ]
    weights = [value.to_minor() for value in values]
    shares = discount.allocate(weights) if any(weights) else [Money.zero(currency)] * len(values)
    result: list[tuple[LineItem | None, Money]] = []
    for item, value, share in zip(order.items, values, shares, strict=True):
        net = value - share
        result.append((item, net if net.amount > 0 else Money.zero(currency)))
    return result


def _matches(match: Match, item: LineItem | None, order: Order, context: OrderContext) -> bool:
    for name, wanted in match.conditions:
        if name == "sku":
            actual: object = None if item is None else item.sku
        elif name == "category":
            actual = None if item is None else item.category
        elif name == "country":
            actual = order.country
        elif name == "new_customer":
            actual = order.new_customer
        elif name == "affiliate_group":
            actual = context.affiliate_group
        elif name == "affiliate_level":
            actual = context.affiliate_level
        else:
            actual = context.channel
        if actual != wanted:
            return False
    return True


def _override(
    overrides: Sequence[Override], item: LineItem | None, order: Order, context: OrderContext
) -> Override | None:
    """The most specific matching override; the first declared among equals."""
    best: Override | None = None
    for override in overrides:
        if _matches(override.match, item, order, context) and (
            best is None or override.match.specificity > best.match.specificity
        ):
            best = override
    return best


@lru_cache(maxsize=1024)
def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _shape(plan: CommissionPlan, rate: Decimal, category: str | None) -> tuple[Decimal, list[str]]:
    """Apply the category cap, floor and bounds to a rate, saying which applied."""
    notes: list[str] = []
    cap = plan.category_caps.get(category) if category is not None else None
    if cap is not None and rate > cap:
        rate, notes = cap, [f"capped at {_pct(cap)} for {category}"]
    if plan.floor_rate is not None and rate < plan.floor_rate:
        rate = plan.floor_rate
        notes.append(f"floor {_pct(plan.floor_rate)}")
    if plan.bounds is not None:
        bounded = min(max(rate, plan.bounds.minimum), plan.bounds.maximum)
        if bounded != rate:
            rate = bounded
            notes.append(f"bounded to {_pct(bounded)}")
    return rate, notes


def _tier_rate(
    tiers: Tiers, tier: TierInput, tier_value: Money
) -> tuple[Decimal, str, Decimal, TierState, Decimal]:
    """The base rate the tier lines get, its label, the measure, new state and true-up."""
    state = tier.state
    value = tier_value.amount * tier.fx_rate
    measure = value if tiers.basis != "affiliate_orders" else Decimal(1)
    if tiers.mode == "retroactive":
        rate, true_up, after = retroactive_step(tiers, state, measure, value)
        return (
            rate,
            f"tier {_pct(rate)}",
            measure,
            after._replace(paid=after.paid + value * rate),
            true_up,
        )
    if tiers.basis == "affiliate_orders":
        rate = tiers.rate_at(state.volume)
    else:
        exact, pieces = marginal_commission(tiers.bands, state.volume, measure)
        rate = exact / measure if measure else tiers.rate_at(state.volume)
        if len(pieces) > 1:
            label = "tiers " + " + ".join(f"{p:f} at {_pct(r)}" for _, p, r in pieces)
            after = TierState(
                state.volume + measure, state.tier_base + value, rate, state.paid + exact
            )
            return rate, label, measure, after, _ZERO
    after = TierState(
        state.volume + measure, state.tier_base + value, rate, state.paid + value * rate
    )
    return rate, f"tier {_pct(rate)}", measure, after, _ZERO


def calculate(
    plan: CommissionPlan,
    order: Order,
    context: OrderContext | None = None,
    tier: TierInput | None = None,
    target: TargetInput | None = None,
) -> Calculation:
    """What ``order`` earns under ``plan``.

    Per line: excluded lines earn nothing; otherwise the most specific
    matching override sets the rate (or a flat amount per unit), else the
    plan's rate; then the category cap, the floor and the bounds apply. The
    plan's ``flat`` amount is added per order; the sum is rounded once
    (``ROUND_HALF_EVEN``) and limited by ``order_cap``.
    """
    context = context or OrderContext()
    currency = order.total.currency
    excluded_categories = set(plan.eligibility.exclude_categories)
    excluded_skus = set(plan.eligibility.exclude_skus)
    items: list[ItemCommission | None] = []
    base_lines: list[tuple[int, LineItem | None, Money]] = []
    counted: list[Money] = []  # the eligible value of every line that is not excluded
    for item, eligible in eligible_amounts(order):
        sku = None if item is None else item.sku
        category = None if item is None else item.category
        if item is not None and (item.sku in excluded_skus or category in excluded_categories):
            zero = Money.zero(currency)
            items.append(
                ItemCommission(
                    sku=sku,
                    category=category,
                    eligible=zero,
                    rate=None,
                    amount=zero,
                    rule="excluded",
                )
            )
            continue
        counted.append(eligible)
        override = _override(plan.overrides, item, order, context)
        if override is None:
            base_lines.append((len(items), item, eligible))
            items.append(None)  # priced below, once the base rate is known
            continue
        if override.flat_per_unit is not None:
            quantity = 1 if item is None else item.quantity
            items.append(
                ItemCommission(
                    sku=sku,
                    category=category,
                    eligible=eligible,
                    rate=None,
                    amount=override.flat_per_unit * quantity,
                    rule=override.label,
                )
            )
            continue
        items.append(_priced(plan, item, eligible, override.rate or _ZERO, override.label))
    measure: Decimal | None = None
    state: TierState | None = None
    true_up = _ZERO
    base_rate, base_rule = plan.rate or _ZERO, "base"
    if context.affiliate_rate is not None:
        base_rate, base_rule = context.affiliate_rate, "affiliate rate"
    if plan.tiers is not None and base_lines:
        tier_value = sum_money((eligible for _, _, eligible in base_lines), currency)
        base_rate, base_rule, measure, state, true_up = _tier_rate(
            plan.tiers, tier or TierInput(), tier_value
        )
    target_measure: Decimal | None = None
    bonus = _ZERO
    if plan.target is not None:
        position = target or TargetInput()
        target_measure = sum_money(counted, currency).amount * position.fx_rate
        after = position.volume + target_measure
        points = step_points(plan.target, after)
        if points:
            base_rate += points
            base_rule += f" + {_pct(points)} at {_pct(after / plan.target.amount.amount)} of target"
        bonus = bonus_for(plan.target, position.volume, after)
    for at, item, eligible in base_lines:
        items[at] = _priced(plan, item, eligible, base_rate, base_rule)
    priced = [i for i in items if i is not None]
    exact = sum_money((i.amount for i in priced), currency)
    rules = list(dict.fromkeys(i.rule for i in priced if i.rule != "excluded"))
    if plan.flat is not None:
        exact = exact + plan.flat
        rules.append("flat per order")
    gross = exact.round(COMMISSION_ROUNDING)
    capped = plan.order_cap is not None and gross > plan.order_cap
    if capped and plan.order_cap is not None:
        gross = plan.order_cap
        rules.append("order cap")
    return Calculation(
        gross=gross,
        items=tuple(priced),
        rule="; ".join(rules) or "none",
        capped=capped,
        tier_measure=measure,
        tier_state=state,
        true_up=true_up,
        target_measure=target_measure,
        bonus=bonus,
    )


def _priced(
    plan: CommissionPlan, item: LineItem | None, eligible: Money, rate: Decimal, rule: str
) -> ItemCommission:
    category = None if item is None else item.category
    shaped, notes = _shape(plan, rate, category)
    return ItemCommission(
        sku=None if item is None else item.sku,
        category=category,
        eligible=eligible,
        rate=shaped,
        amount=eligible * shaped,
        rule="; ".join([rule, *notes]),
    )


def effective_rate(calculation: Calculation) -> Decimal:
    """The one rate every paying line used, or commission over eligible value (6 places)."""
    rates = {item.rate for item in calculation.items if item.rate is not None and item.eligible}
    if len(rates) == 1 and not calculation.capped:
        return rates.pop()
    eligible = sum((item.eligible.amount for item in calculation.items), _ZERO)
    if not eligible:
        return _ZERO
    return (calculation.gross.amount / eligible).quantize(Decimal("0.000001"))


def fraction(part: Money, whole: Money) -> Decimal:
    """``part / whole`` to 60 significant digits (0 for an empty whole)."""
    return _CONTEXT.divide(part.amount, whole.amount) if whole else _ZERO


def _share(booked: Money, part: Money, whole: Money) -> Money:
    exact = _CONTEXT.divide(_CONTEXT.multiply(booked.amount, part.amount), whole.amount)
    return Money(exact, booked.currency).round(COMMISSION_ROUNDING)


def reversal_for_refund(
    booked: Money, order_total: Money, refunded_before: Money, refund: Money
) -> Money:
    """The (negative) entry that reverses ``booked`` in proportion to ``refund``.

    Reversals are cumulative: after refunds totalling ``r`` the entries reversed
    add up to ``round(booked * r / order_total)``, so a full refund, in one step
    or many, reverses exactly what was booked.
    """
    if not order_total:
        return Money.zero(booked.currency)
    before = _share(booked, refunded_before, order_total)
    after = _share(booked, refunded_before + refund, order_total)
    return before - after
