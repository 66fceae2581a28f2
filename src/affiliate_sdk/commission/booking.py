"""Booking an order's commission: from loaded facts to ledger lines and new period totals. Pure.

The service loads what an order is priced with (``PricingFacts``: the plan
version in force when it was placed, the parties it is credited to, the
primary's registration, the platform take, the period totals named by
``period_keys`` and the FX rates) and calls ``book_order``. The ``Booking``
it gets back holds everything to apply in one unit of work: the ledger lines
(each with what it added to the period totals, for refunds), the full new
value of every period total it changed, the breakdown, and the journal entry.

Rules, in order:

* the plan prices the order (``calculator.calculate``) with the primary's
  tier, target and membership-level standing before the order;
* the tier totals advance; ``booked`` grows by the order's tier commission
  rounded once (``COMMISSION_ROUNDING``, in the tiers' currency) and by the
  true-up as booked, so a close can true up the per-order rounding;
* a retroactive band crossed books a ``trueup`` line, a target passed a
  ``bonus`` line (both to the primary);
* a period cap trims the amounts in order (``ROUND_DOWN``, never above it);
* nothing an order books is negative but a ``trueup`` that re-prices the
  period after refunds (``InvalidAmount`` otherwise, for a plan that was
  built without validation);
* the commission is shared among the parties by their weights
  (``Money.allocate``: the shares add up to the whole); each share is split
  into the affiliate's line and the platform's take (or the alliance's share
  under membership levels);
* with a ``parent_share``, each party's recruiter earns that share of the
  party's lines, on top.

Renewals pay only under ``recurring`` (the first N, or all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import attrs

from affiliate_sdk.commission.calculator import (
    COMMISSION_ROUNDING,
    Calculation,
    OrderContext,
    TargetInput,
    TierInput,
    calculate,
    effective_rate,
    split_commission,
)
from affiliate_sdk.commission.lifecycle import from_merchant
from affiliate_sdk.commission.lines import NewId, split_lines
from affiliate_sdk.commission.parent_share import parent_line
from affiliate_sdk.commission.period_cap import trim_to_cap
from affiliate_sdk.commission.periods import (
    Totals,
    join_id,
    level_key,
    scope_key,
)
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.commission.pricing import (
    BookedLine,
    Booking,
    Measures,
    Party,
    PeriodKeys,
    PricingFacts,
)
from affiliate_sdk.commission.targets import PeriodCap
from affiliate_sdk.commission.tiers import Period, TierState
from affiliate_sdk.commission.traffic import TrafficBooking, TrafficHome, book_traffic, home_lines
from affiliate_sdk.errors import InvalidAmount, InvalidInput, MissingFxRate
from affiliate_sdk.fx import FxRates
from affiliate_sdk.money import Money, sum_money

__all__ = [
    "BookedLine",
    "Booking",
    "Measures",
    "Party",
    "PeriodKeys",
    "PricingFacts",
    "TrafficBooking",
    "TrafficHome",
    "book_order",
    "book_traffic",
    "fx_rate",
    "home_lines",
    "pays_renewal",
    "period_keys",
    "split_lines",
]

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)


@attrs.frozen(slots=True)
class _Part:
    """One amount the order books before it is shared: its kind, rule and line fields."""

    kind: str
    amount: Money
    rate: Decimal
    basis: Money
    rule: str
    fields: Mapping[str, object] = attrs.field(factory=dict)
    measures: Measures | None = None


@attrs.frozen(slots=True)
class _Priced:
    """The calculation and the standing it was made with."""

    calculation: Calculation
    tier: TierInput | None
    target: TargetInput | None
    counts: dict[str, Decimal]
    take: Decimal
    level_rule: str


def pays_renewal(plan: CommissionPlan, renewal: int) -> bool:
    """Whether ``plan`` pays subscription renewal number ``renewal``."""
    recurring = plan.recurring
    return recurring is not None and (recurring.renewals is None or renewal <= recurring.renewals)


def fx_rate(fx: FxRates | None, base: str, quote: str | None, at: datetime) -> Decimal:
    """Units of ``quote`` per unit of ``base`` at ``at`` (1 for the same or no currency)."""
    if quote is None or base == quote:
        return _ONE
    if fx is None:
        raise MissingFxRate(base, quote)
    return fx.rate(base, quote, at)


def period_keys(
    plan: CommissionPlan, primary: Party, *, placed_at: datetime, timezone: str
) -> PeriodKeys:
    """The period totals an order placed at ``placed_at`` reads and advances under ``plan``."""

    def scoped(what: str, period: Period, basis: str) -> str:
        return scope_key(
            what,
            period,
            basis,
            merchant_id=primary.merchant_id,
            campaign_id=primary.campaign_id,
            affiliate_id=primary.affiliate_id,
            placed_at=placed_at,
            timezone=timezone,
        )

    tiers, target, cap = plan.tiers, plan.target, plan.period_cap
    return PeriodKeys(
        tier=None if tiers is None else scoped("tier", tiers.period, tiers.basis),
        target=None if target is None else scoped("target", target.period, "affiliate_sales"),
        level=None if plan.levels is None else level_key(primary.affiliate_id, placed_at),
        cap=None if cap is None else scoped("cap", cap.period, "affiliate_sales"),
    )


def book_order(facts: PricingFacts, *, new_id: NewId) -> Booking:
    """Price an order and build its ledger lines and new period totals (see the module doc)."""
    order, plan = facts.order, facts.plan.plan
    event_id = join_id("order", order.merchant_id, order.order_id)
    paid_renewal: bool | None = None
    if order.renewal:
        paid_renewal = pays_renewal(plan, order.renewal)
        if not paid_renewal:
            return Booking((), {}, (), False, event_id, ())
    if not facts.parties:
        raise InvalidInput("an order is booked for at least one party")
    keys = period_keys(plan, facts.primary, placed_at=facts.placed_at, timezone=facts.timezone)
    totals: dict[str, Totals] = {}
    priced = _price(facts, keys, totals)
    parts = _parts(facts, keys, priced)
    _refuse_negative(priced.calculation, parts)
    if plan.period_cap is not None and keys.cap is not None:
        parts = _capped(facts, parts, plan.period_cap, keys.cap, totals)
    if keys.target is not None:
        bonus = sum((p.amount.amount for p in parts if p.kind == "bonus"), _ZERO)
        if bonus:
            before = _loaded(facts, totals, keys.target)
            totals[keys.target] = before._replace(paid=before.paid + bonus)
    lines = _order_lines(facts, parts, priced.take, new_id)
    if plan.parent_share:
        lines += _parent_lines(facts, lines, plan.parent_share, new_id)
    commissions = [booked.line for booked in lines]
    calculation = priced.calculation
    return Booking(
        lines=tuple(lines),
        totals=totals,
        items=calculation.items,
        paid_renewal=paid_renewal,
        event_id=event_id,
        postings=tuple(from_merchant(order.merchant_id, commissions)),
        rule=calculation.rule,
    )


def _refuse_negative(calculation: Calculation, parts: Sequence[_Part]) -> None:
    """An order earns nothing negative: only reversals take booked money back.

    The one exception is a retroactive ``trueup``: after refunds left the
    period below a band, the next order re-prices its earlier orders down.
    A plan that loads cannot price a line below zero; this refuses one that
    was built without validation.
    """
    for item in calculation.items:
        if item.amount.amount < 0:
            line = "the order" if item.sku is None else f"line {item.sku!r}"
            raise InvalidAmount(
                item.amount, f"{line} would earn a negative commission ({item.rule})"
            )
    for part in parts:
        if part.kind != "trueup" and part.amount.amount < 0:
            raise InvalidAmount(
                part.amount, f"an order cannot book a negative {part.kind} ({part.rule})"
            )


def _loaded(facts: PricingFacts, written: Mapping[str, Totals], key: str) -> Totals:
    """A period total as it stands: written by this booking, else loaded, else zero."""
    found = written.get(key)
    if found is None:
        found = facts.totals.get(key)
    return Totals() if found is None else found


def _price(facts: PricingFacts, keys: PeriodKeys, totals: dict[str, Totals]) -> _Priced:
    """Calculate the order with the primary's standing; advance tier, target and level volumes."""
    order, plan, at = facts.order, facts.plan.plan, facts.placed_at
    currency = order.total.currency
    tier_input = target_input = None
    standing = Totals()
    if plan.tiers is not None and keys.tier is not None:
        standing = _loaded(facts, totals, keys.tier)
        tier_input = TierInput(
            TierState(*standing[:4]), fx_rate(facts.fx, currency, plan.tiers.currency, at)
        )
    if plan.target is not None and keys.target is not None:
        fx = fx_rate(facts.fx, currency, plan.target.amount.currency, at)
        target_input = TargetInput(_loaded(facts, totals, keys.target).volume, fx)
    level = None
    if plan.levels is not None and keys.level is not None:
        level = plan.levels.level_at(_loaded(facts, totals, keys.level).volume)
    member = facts.affiliate
    context = OrderContext(
        affiliate_group=None if member is None else member.group,
        channel=None if member is None else member.channel,
        affiliate_rate=None if member is None else member.rate,
        affiliate_level=None if level is None else level.name,
    )
    calculation = calculate(plan, order, context, tier=tier_input, target=target_input)
    if keys.tier is not None and tier_input is not None and calculation.tier_state is not None:
        totals[keys.tier] = _tier_totals(plan, currency, standing, calculation)
    counts: dict[str, Decimal] = {}
    if keys.target is not None:
        counts[keys.target] = calculation.target_measure or _ZERO
    take, level_rule = facts.take, ""
    if plan.levels is not None and level is not None and keys.level is not None:
        take, level_rule = _ONE - level.share, f"; level {level.name}"
        fx = fx_rate(facts.fx, currency, plan.levels.currency, at)
        eligible = sum((item.eligible.amount for item in calculation.items), _ZERO)
        counts[keys.level] = eligible * fx
    for key, measure in counts.items():
        before = _loaded(facts, totals, key)
        totals[key] = before._replace(volume=before.volume + measure)
    return _Priced(calculation, tier_input, target_input, counts, take, level_rule)


def _tier_currency(plan: CommissionPlan, currency: str) -> str:
    """The currency tier volumes count in (the order's, for order-count tiers without one)."""
    return (plan.tiers.currency if plan.tiers is not None else None) or currency


def _tier_booked(plan: CommissionPlan, currency: str, exact: Decimal) -> Money:
    """An exact tier amount as booked: rounded once in the tiers' currency."""
    return Money(exact, _tier_currency(plan, currency)).round(COMMISSION_ROUNDING)


def _tier_paid(tier: TierInput, calculation: Calculation) -> Decimal:
    """The exact tier commission the order itself earned (its true-up apart)."""
    after = calculation.tier_state or tier.state
    return after.paid - tier.state.paid - calculation.true_up


def _tier_totals(
    plan: CommissionPlan, currency: str, before: Totals, calculation: Calculation
) -> Totals:
    """The tier totals after the order: the calculator's, with ``booked`` advanced."""
    after = calculation.tier_state or TierState()
    own = after.paid - before.paid - calculation.true_up
    booked = _tier_booked(plan, currency, own) + _tier_booked(plan, currency, calculation.true_up)
    return Totals(*after, booked=before.booked + booked.amount)


def _parts(facts: PricingFacts, keys: PeriodKeys, priced: _Priced) -> list[_Part]:
    """The amounts the order books: its commission, a tier true-up and an over-target bonus."""
    plan, currency = facts.plan.plan, facts.order.total.currency
    calculation, tier = priced.calculation, priced.tier
    fields: dict[str, object] = {"tier_key": keys.tier, "counts": dict(priced.counts)}
    measures = Measures(tier_key=keys.tier, counts=tuple(priced.counts.items()))
    if tier is not None and calculation.tier_state is not None:
        paid = _tier_paid(tier, calculation)
        base = calculation.tier_state.tier_base - tier.state.tier_base
        measure = calculation.tier_measure
        fields.update(tier_measure=measure, tier_base=base, tier_paid=paid, fx_rate=tier.fx_rate)
        measures = attrs.evolve(
            measures,
            tier_measure=measure,
            tier_base=base,
            tier_paid=paid,
            tier_booked=_tier_booked(plan, currency, paid),
            fx_rate=tier.fx_rate,
        )
    parts = [
        _Part(
            "commission",
            calculation.gross,
            effective_rate(calculation),
            sum_money((item.eligible for item in calculation.items), currency),
            calculation.rule + priced.level_rule,
            fields,
            measures,
        )
    ]
    state = calculation.tier_state
    if calculation.true_up and plan.tiers is not None and plan.tiers.currency and state:
        tier_currency = plan.tiers.currency
        parts.append(
            _Part(
                "trueup",
                Money(calculation.true_up, tier_currency).round(COMMISSION_ROUNDING),
                state.rate,
                Money(state.tier_base, tier_currency).round(COMMISSION_ROUNDING),
                "retroactive tier true-up",
                {"tier_key": keys.tier},
                Measures(tier_key=keys.tier),
            )
        )
    if calculation.bonus and plan.target is not None and priced.target is not None:
        target_currency = plan.target.amount.currency
        volume = priced.target.volume + (calculation.target_measure or _ZERO)
        parts.append(
            _Part(
                "bonus",
                Money(calculation.bonus, target_currency).round(COMMISSION_ROUNDING),
                plan.target.bonus_rate or _ZERO,
                Money(volume, target_currency).round(COMMISSION_ROUNDING),
                "over-target bonus",
            )
        )
    return parts


def _capped(
    facts: PricingFacts, parts: list[_Part], cap: PeriodCap, key: str, totals: dict[str, Totals]
) -> list[_Part]:
    """Trim the order's amounts, in order, so the period's total stays within the cap."""
    before = _loaded(facts, totals, key)
    rates = [
        fx_rate(facts.fx, part.amount.currency, cap.amount.currency, facts.placed_at)
        for part in parts
    ]
    allowed, paid = trim_to_cap([part.amount for part in parts], cap.amount, before.paid, rates)
    totals[key] = before._replace(paid=paid)
    return [
        part
        if kept is None
        else attrs.evolve(part, amount=kept, rule=f"{part.rule}; period cap {cap.amount}")
        for part, kept in zip(parts, allowed, strict=True)
    ]


def _common(facts: PricingFacts) -> dict[str, object]:
    """The fields every line of the order shares (the primary's campaign and click)."""
    primary, hold_days = facts.primary, facts.plan.plan.hold_days
    return {
        "merchant_id": facts.order.merchant_id,
        "order_id": facts.order.order_id,
        "campaign_id": primary.campaign_id,
        "affiliate_id": primary.affiliate_id,
        "click_id": primary.click_id,
        "status": "pending",
        "plan_version": facts.plan.version,
        "created_at": facts.now,
        "hold_until": facts.now + timedelta(days=hold_days),
    }


def _order_lines(
    facts: PricingFacts, parts: Sequence[_Part], take: Decimal, new_id: NewId
) -> list[BookedLine]:
    """Each part shared by the parties' weights, then split into affiliate and platform lines.

    True-ups and bonuses stay with the primary, who also carries the measures.
    """
    order, primary = facts.order, facts.primary
    common = _common(facts)
    event: tuple[str, ...] = ("order", order.merchant_id, order.order_id)
    lines: list[BookedLine] = []
    for part in parts:
        if part.kind != "commission" and not part.amount:
            continue
        shares: list[tuple[Party, Money, tuple[str, ...]]]
        if part.kind != "commission" or len(facts.parties) == 1:
            share_event = event if part.kind == "commission" else (*event, part.kind)
            shares = [(primary, part.amount, share_event)]
        else:
            pieces = part.amount.allocate([weight for _, weight in facts.parties])
            shares = [
                (party, piece, (*event, "credit", party.affiliate_id, party.campaign_id))
                for (party, _), piece in zip(facts.parties, pieces, strict=True)
            ]
        for party, piece, share_event in shares:
            own = party == primary
            made = split_lines(
                split_commission(piece, take),
                kind=part.kind,
                event=share_event,
                rate=part.rate,
                basis=part.basis,
                rule=part.rule,
                tier=part.fields if own else {},
                common={
                    **common,
                    "campaign_id": party.campaign_id,
                    "affiliate_id": party.affiliate_id,
                    "click_id": party.click_id,
                },
                new_id=new_id,
            )
            lines += [
                BookedLine(line, part.measures if own and line.account == "affiliate" else None)
                for line in made
            ]
    return lines


def _parent_lines(
    facts: PricingFacts, lines: list[BookedLine], share: Decimal, new_id: NewId
) -> list[BookedLine]:
    """Each party's recruiter earns ``share`` of the party's own lines, on top (two-tier)."""
    common = _common(facts)
    made = [booked.line for booked in lines]
    for party, _ in facts.parties:
        if party.affiliate_id == facts.primary.affiliate_id:
            member = facts.affiliate
        else:
            member = facts.others.get(party.affiliate_id)
        parent_id = None if member is None else member.parent_id
        if parent_id is None:
            continue
        for line in [x for x in made if (x.affiliate_id, x.campaign_id) == party[:2]]:
            if line.account != "affiliate":
                continue
            earned = parent_line(line, parent_id, share, entry_id=new_id(), common=common)
            if earned is not None:
                made.append(earned)
    return [BookedLine(line) for line in made[len(lines) :]]
