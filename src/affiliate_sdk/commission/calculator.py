"""Pure commission arithmetic: no I/O, no clock, exact to the minor unit.

``calculate(plan, order, ...)`` works out what an order earns under a plan,
line by line, and rounds once, at the order level.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal
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
#: The exponent marginal tier shares of an order's lines are cut to (the last line takes the rest).
_SHARE_QUANTUM: Final = Decimal("1e-30")


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


@attrs.frozen
class _TierPricing:
    """How the tiers price an order's base lines.

    ``exact`` is the tier commission on those lines, exact and in the order's
    currency, when marginal bands split the order (the lines then share it in
    proportion to their value, so the order total is rounded once from the
    exact marginal amount, not from a blended rate multiplied back).
    """

    rate: Decimal
    rule: str
    measure: Decimal
    after: TierState
    true_up: Decimal = _ZERO
    exact: Decimal | None = None


def _tier_rate(tiers: Tiers, tier: TierInput, tier_value: Money) -> _TierPricing:
    """The base rate the tier lines get, its label, the measure, the new state and true-up."""
    state = tier.state
    value = tier_value.amount * tier.fx_rate
    measure = value if tiers.basis != "affiliate_orders" else Decimal(1)
    if tiers.mode == "retroactive":
        rate, true_up, after = retroactive_step(tiers, state, measure, value)
        after = after._replace(paid=after.paid + value * rate)
        return _TierPricing(rate, f"tier {_pct(rate)}", measure, after, true_up)
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
            in_order_currency = _CONTEXT.divide(exact, tier.fx_rate)
            return _TierPricing(rate, label, measure, after, exact=in_order_currency)
    after = TierState(
        state.volume + measure, state.tier_base + value, rate, state.paid + value * rate
    )
    return _TierPricing(rate, f"tier {_pct(rate)}", measure, after)


@attrs.frozen
class _Lines:
    """An order's lines as first priced: ``None`` marks a line the base rate prices."""

    items: list[ItemCommission | None]
    base: list[tuple[int, LineItem | None, Money]]
    counted: list[Money]  # the eligible value of every line that is not excluded


@attrs.frozen
class _Base:
    """The base rate, its rule, and what the tiers and the target made of the order."""

    rate: Decimal
    rule: str
    tier: _TierPricing | None = None
    target_measure: Decimal | None = None
    bonus: Decimal = _ZERO
    points: Decimal = _ZERO


def _price_lines(plan: CommissionPlan, order: Order, context: OrderContext) -> _Lines:
    """Price the excluded lines and those an override sets; mark the rest for the base rate."""
    currency = order.total.currency
    excluded_categories = set(plan.eligibility.exclude_categories)
    excluded_skus = set(plan.eligibility.exclude_skus)
    lines = _Lines(items=[], base=[], counted=[])
    for item, eligible in eligible_amounts(order):
        sku = None if item is None else item.sku
        category = None if item is None else item.category
        if item is not None and (item.sku in excluded_skus or category in excluded_categories):
            zero = Money.zero(currency)
            lines.items.append(
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
        lines.counted.append(eligible)
        override = _override(plan.overrides, item, order, context)
        if override is None:
            lines.base.append((len(lines.items), item, eligible))
            lines.items.append(None)  # priced once the base rate is known
        elif override.flat_per_unit is not None:
            quantity = 1 if item is None else item.quantity
            lines.items.append(
                ItemCommission(
                    sku=sku,
                    category=category,
                    eligible=eligible,
                    rate=None,
                    amount=override.flat_per_unit * quantity,
                    rule=override.label,
                )
            )
        else:
            lines.items.append(
                _priced(plan, item, eligible, override.rate or _ZERO, override.label)
            )
    return lines


def _base_rate(
    plan: CommissionPlan,
    currency: str,
    context: OrderContext,
    lines: _Lines,
    *,
    tier: TierInput | None,
    target: TargetInput | None,
) -> _Base:
    """The rate of the lines no override prices: plan, affiliate or tier rate, plus target steps."""
    rate, rule = plan.rate or _ZERO, "base"
    if context.affiliate_rate is not None:
        rate, rule = context.affiliate_rate, "affiliate rate"
    pricing: _TierPricing | None = None
    if plan.tiers is not None and lines.base:
        tier_value = sum_money((eligible for _, _, eligible in lines.base), currency)
        pricing = _tier_rate(plan.tiers, tier or TierInput(), tier_value)
        rate, rule = pricing.rate, pricing.rule
    if plan.target is None:
        return _Base(rate, rule, pricing)
    position = target or TargetInput()
    measure = sum_money(lines.counted, currency).amount * position.fx_rate
    after = position.volume + measure
    points = step_points(plan.target, after)
    if points:
        rule += f" + {_pct(points)} at {_pct(after / plan.target.amount.amount)} of target"
    bonus = bonus_for(plan.target, position.volume, after)
    return _Base(rate + points, rule, pricing, measure, bonus, points)


def _exact_shares(base: list[tuple[int, LineItem | None, Money]], exact: Decimal) -> list[Decimal]:
    """``exact`` shared by the base lines in proportion to their value; the last takes the rest."""
    whole = sum((eligible.amount for _, _, eligible in base), _ZERO)
    if not whole:
        return [_ZERO] * len(base)
    shares = [
        _CONTEXT.divide(_CONTEXT.multiply(exact, eligible.amount), whole).quantize(
            _SHARE_QUANTUM, rounding=ROUND_DOWN, context=_CONTEXT
        )
        for _, _, eligible in base[:-1]
    ]
    # the shares are cut to a fixed exponent so the rest, and any sum of them, stay exact
    rest = exact
    for share in shares:
        rest = _CONTEXT.subtract(rest, share)
    return [*shares, rest]


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
    (``COMMISSION_ROUNDING``) and limited by ``order_cap``. Marginal tiers
    that split an order pay the exact marginal amount (shared by the lines in
    proportion to their value), rounded once with the rest.
    """
    context = context or OrderContext()
    currency = order.total.currency
    lines = _price_lines(plan, order, context)
    base = _base_rate(plan, currency, context, lines, tier=tier, target=target)
    pricing = base.tier
    exact = None if pricing is None else pricing.exact
    shares = None if exact is None else _exact_shares(lines.base, exact)
    for n, (at, item, eligible) in enumerate(lines.base):
        at_rate = None
        if shares is not None:
            at_rate = Money(shares[n], currency) + eligible * base.points
        lines.items[at] = _priced(plan, item, eligible, base.rate, base.rule, at_rate=at_rate)
    priced = [i for i in lines.items if i is not None]
    total = sum_money((i.amount for i in priced), currency)
    rules = list(dict.fromkeys(i.rule for i in priced if i.rule != "excluded"))
    if plan.flat is not None:
        total = total + plan.flat
        rules.append("flat per order")
    gross = total.round(COMMISSION_ROUNDING)
    capped = plan.order_cap is not None and gross > plan.order_cap
    if capped and plan.order_cap is not None:
        gross = plan.order_cap
        rules.append("order cap")
    return Calculation(
        gross=gross,
        items=tuple(priced),
        rule="; ".join(rules) or "none",
        capped=capped,
        tier_measure=None if pricing is None else pricing.measure,
        tier_state=None if pricing is None else pricing.after,
        true_up=_ZERO if pricing is None else pricing.true_up,
        target_measure=base.target_measure,
        bonus=base.bonus,
    )


def _priced(
    plan: CommissionPlan,
    item: LineItem | None,
    eligible: Money,
    rate: Decimal,
    rule: str,
    *,
    at_rate: Money | None = None,
) -> ItemCommission:
    """A line at ``rate`` once shaped; ``at_rate`` is its exact amount when the rate stands."""
    category = None if item is None else item.category
    shaped, notes = _shape(plan, rate, category)
    amount = at_rate if at_rate is not None and shaped == rate else eligible * shaped
    return ItemCommission(
        sku=None if item is None else item.sku,
        category=category,
        eligible=eligible,
        rate=shaped,
        amount=amount,
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
