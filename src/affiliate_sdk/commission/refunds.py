"""Refunds: reversing an order's commission and unwinding its period totals. Pure.

``reverse(lines, refund, new_id=...)`` takes an order's ledger lines and the
facts of one refund and returns what to apply:

* **reversals**: each open ``commission`` line is reversed in proportion to
  the refund, cumulatively (``calculator.reversal_for_refund``), so refunds
  that add up to the order total reverse exactly what was booked. Before
  payment the reversal (kind ``reversal``) takes the money back where it sits
  and a line left with nothing is marked ``reversed``; after payment the
  refund becomes an approved ``clawback`` that nets against the next payout.
  True-ups and bonuses are not reversed by a refund: the period settles them.
* **period totals**: the refunded share of what the order added to its tier,
  target and level totals is taken back out. ``booked`` falls by what the
  ledger gives back: the reversals themselves when the order's commission was
  all tier commission, else the refunded share of the tier commission as
  booked (rounded cumulatively, like a reversal).
* **refunds after a close**: a period is settled once, when it is closed
  (``periods.settle_period``). A refund that lands after the tier (or target)
  period of its order was closed settles that period again at once: it books
  the correction (kind ``trueup`` for tiers, ``bonus`` for targets), dated
  now, i.e. in the period where the refund lands, so the closed period nets to
  what its final volume earns. Example: 90,000 and 20,000 in Q2 under
  retroactive 15%/20% tiers book 13,500, 4,000 and a 4,500 true-up; Q2 is
  closed in July; refunding the 20,000 order in August reverses 4,000 and
  books a -4,500 true-up in August: Q2 nets to 13,500 = 90,000 x 15%.

The refund-rate bookkeeping input is ``refund_counted``: on an order's first
refund, the affiliates credited with its commission.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from affiliate_sdk.commission.calculator import (
    COMMISSION_ROUNDING,
    fraction,
    reversal_for_refund,
)
from affiliate_sdk.commission.ledger import Posting
from affiliate_sdk.commission.lifecycle import (
    OPEN_STATUSES,
    from_merchant,
    live_amounts,
    to_merchant,
)
from affiliate_sdk.commission.periods import ScopeKind, Totals, join_id, settle_period
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.commission.pricing import Measures
from affiliate_sdk.commission.traffic import TrafficHome, home_lines
from affiliate_sdk.models import Commission
from affiliate_sdk.money import Money, sum_money

__all__ = [
    "CORRECTION_KIND",
    "JOURNAL_KIND",
    "ClosedPeriod",
    "JournalGroup",
    "RefundFacts",
    "Reversal",
    "refund_keys",
    "reverse",
]

#: The journal kind (``commission.<kind>``) of each kind of line a refund books.
JOURNAL_KIND: Final = {"reversal": "reversed", "clawback": "clawed_back"}
#: The journal kind of the corrections a refund after a close books.
CORRECTION_KIND: Final = "booked"

NewId = Callable[[], str]


@attrs.frozen(kw_only=True, slots=True)
class ClosedPeriod:
    """A period total whose period was closed, and how to settle it again.

    ``what`` says how it settles (``tier`` or ``target``); ``period`` is its
    key (``2026-Q2``); ``plan`` the plan the close settled with (the one in
    force at the period's end, ``periods.settling_instant``); ``home`` where a
    correction is booked (the scope's campaign and affiliate, the plan version
    in force now, its hold days and take). The service knows a period is
    closed from the mark ``periods.closed_key(campaign, period)``.
    """

    what: ScopeKind
    period: str
    plan: CommissionPlan
    home: TrafficHome


@attrs.frozen(kw_only=True, slots=True)
class RefundFacts:
    """One refund of an order, and what it is settled against.

    ``total`` is the order's total, ``before`` what earlier refunds took,
    ``amount`` this refund (positive, rounded). ``measures`` are the order's
    lines' measures by entry id; ``totals`` the period totals they name
    (``refund_keys``); ``closed`` those of them whose period is closed.
    """

    merchant_id: str
    order_id: str
    refund_id: str
    total: Money
    before: Money
    amount: Money
    now: datetime
    measures: Mapping[str, Measures] = attrs.field(factory=dict)
    totals: Mapping[str, Totals] = attrs.field(factory=dict)
    closed: Mapping[str, ClosedPeriod] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class JournalGroup:
    """One journal entry to append: ``kind`` is ``commission.reversed``, ``...clawed_back``..."""

    event_id: str
    kind: str
    postings: tuple[Posting, ...]
    lines: tuple[Commission, ...]


@attrs.frozen(slots=True)
class Reversal:
    """What a refund books.

    ``lines`` are the new lines (reversals and clawbacks, then corrections);
    ``emptied`` the lines now wholly reversed (status ``reversed``);
    ``postings`` by journal kind (``reversed``, ``clawed_back``, ``booked``)
    and ``journal`` the entries they make; ``totals`` the full new value of
    every period total changed; ``refund_counted`` the affiliates whose
    refund count grows (the order's first refund only).
    """

    lines: tuple[Commission, ...]
    emptied: tuple[Commission, ...]
    postings: Mapping[str, tuple[Posting, ...]]
    journal: tuple[JournalGroup, ...]
    totals: Mapping[str, Totals]
    corrections: tuple[Commission, ...] = ()
    refund_counted: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class _Reversed:
    lines: list[Commission]
    emptied: list[Commission]
    parts: dict[str, dict[str, list[tuple[Commission, str, Money]]]]


def _counts_towards_totals(line: Commission) -> bool:
    """Only the order's own commission line for its affiliate carries its measures."""
    return line.kind == "commission" and line.account == "affiliate"


def refund_keys(lines: Sequence[Commission], measures: Mapping[str, Measures]) -> tuple[str, ...]:
    """The period totals a refund of these lines reads: load them into ``RefundFacts.totals``."""
    keys: dict[str, None] = {}
    for line in lines:
        found = measures.get(line.entry_id)
        if found is None or not _counts_towards_totals(line):
            continue
        keys.update(dict.fromkeys(key for key, _ in found.counts))
        if found.tier_key is not None:
            keys[found.tier_key] = None
    return tuple(keys)


def reverse(lines: Sequence[Commission], refund: RefundFacts, *, new_id: NewId) -> Reversal:
    """Reverse ``lines`` (an order's) for ``refund``; see the module docstring."""
    done = _reversals(lines, refund, new_id)
    totals = _unwind(lines, refund, done.lines)
    corrections = _corrections(refund, totals, new_id)
    postings = {kind: tuple(to_merchant(p)) for kind, p in sorted(done.parts.items())}
    journal = [
        JournalGroup(
            join_id("refund", refund.merchant_id, refund.order_id, refund.refund_id, kind),
            f"commission.{kind}",
            kind_postings,
            tuple(x for x in done.lines if JOURNAL_KIND[x.kind] == kind),
        )
        for kind, kind_postings in postings.items()
    ]
    if corrections:
        booked = tuple(from_merchant(refund.merchant_id, corrections))
        postings[CORRECTION_KIND] = booked
        event = join_id(
            "refund", refund.merchant_id, refund.order_id, refund.refund_id, "corrected"
        )
        journal.append(
            JournalGroup(event, f"commission.{CORRECTION_KIND}", booked, tuple(corrections))
        )
    counted: tuple[str, ...] = ()
    if not refund.before:
        counted = tuple(sorted({x.affiliate_id for x in lines if _counts_towards_totals(x)}))
    return Reversal(
        lines=(*done.lines, *corrections),
        emptied=tuple(done.emptied),
        postings=postings,
        journal=tuple(journal),
        totals=totals,
        corrections=tuple(corrections),
        refund_counted=counted,
    )


def _reversals(lines: Sequence[Commission], refund: RefundFacts, new_id: NewId) -> _Reversed:
    """Reversal and clawback lines, the lines emptied, and what leaves each state account."""
    now = refund.now
    live = live_amounts(lines)
    done = _Reversed([], [], {})
    for line in lines:
        if line.kind != "commission" or line.status not in OPEN_STATUSES:
            continue
        amount = reversal_for_refund(line.amount, refund.total, refund.before, refund.amount)
        if not amount:
            continue
        paid = line.status == "paid"
        event_id = join_id(
            "refund", line.merchant_id, line.order_id, refund.refund_id, line.entry_id
        )
        update = {
            "entry_id": new_id(),
            "event_id": event_id,
            "kind": "clawback" if paid else "reversal",
            "amount": amount,
            "status": "approved" if paid else "reversed",
            "refund_id": refund.refund_id,
            "reverses": line.entry_id,
            "reason": "refund",
            "created_at": now,
            "hold_until": None,
            "approved_at": now if paid else None,
            "paid_at": None,
            "payout_id": None,
        }
        done.lines.append(line.model_copy(update=update))
        kind = "clawed_back" if paid else "reversed"
        state = "approved" if paid else line.status
        by_merchant = done.parts.setdefault(kind, {})
        by_merchant.setdefault(line.merchant_id, []).append((line, state, -amount))
        if not paid and not live[line.entry_id] + amount:
            done.emptied.append(line.model_copy(update={"status": "reversed"}))
    return done


def _unwind(
    lines: Sequence[Commission], refund: RefundFacts, reversals: Sequence[Commission]
) -> dict[str, Totals]:
    """Take the refunded share of each line's measures back out of its period totals."""
    share = fraction(refund.amount, refund.total)
    totals: dict[str, Totals] = {}

    def current(key: str) -> Totals | None:
        found = totals.get(key)
        return refund.totals.get(key) if found is None else found

    for line in lines:
        found = refund.measures.get(line.entry_id)
        if found is None or not _counts_towards_totals(line):
            continue
        for key, measure in found.counts:
            before = current(key)
            if before is not None:
                totals[key] = before._replace(volume=before.volume - measure * share)
        state = None if found.tier_key is None else current(found.tier_key)
        if found.tier_key is None or found.tier_measure is None or state is None:
            continue
        totals[found.tier_key] = Totals(
            state.volume - found.tier_measure * share,
            state.tier_base - (found.tier_base or 0) * share,
            state.rate,
            state.paid - (found.tier_paid or 0) * share,
            state.booked - _booked_back(lines, refund, found, reversals),
        )
    return totals


def _booked_back(
    lines: Sequence[Commission],
    refund: RefundFacts,
    measures: Measures,
    reversals: Sequence[Commission],
) -> Decimal:
    """How much of the tier commission the ledger holds for the period this refund gives back."""
    currency = refund.total.currency
    booked = measures.tier_booked
    if booked is None:
        booked = Money(measures.tier_paid or 0, currency).round(COMMISSION_ROUNDING)
    own = [x for x in lines if x.kind == "commission" and x.account != "parent"]
    if booked.currency == currency and booked == sum_money((x.amount for x in own), currency):
        ids = {x.entry_id for x in own}
        back = sum_money((x.amount for x in reversals if x.reverses in ids), currency)
        return -back.amount
    back = reversal_for_refund(booked, refund.total, refund.before, refund.amount)
    return -back.amount


def _corrections(refund: RefundFacts, totals: dict[str, Totals], new_id: NewId) -> list[Commission]:
    """Settle again each closed period the refund changed; book what it now owes (or got over)."""
    booked: list[Commission] = []
    for key in list(totals):
        closed = refund.closed.get(key)
        if closed is None:
            continue
        settled = settle_period(closed.plan, closed.what, totals[key])
        if settled is None:
            continue
        totals[key] = settled.totals
        if not settled.amount:
            continue
        booked += home_lines(
            closed.home,
            settled.amount,
            kind="trueup" if closed.what == "tier" else "bonus",
            order_id=refund.order_id,
            event=(
                "refund",
                refund.merchant_id,
                refund.order_id,
                refund.refund_id,
                f"{closed.what}-correction",
            ),
            rule=f"{settled.rule}; period {closed.period} closed; refund {refund.refund_id}",
            now=refund.now,
            new_id=new_id,
        )
    return booked
