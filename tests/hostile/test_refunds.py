"""Hostile input to ``refund``.

A refund is booked or refused with an ``AffiliateError``; a refused one leaves the
order's money, its commission lines and the journal as they were. A booked refund
never refunds more than the order, books reversals only (no line grows), and never
takes an order's commission below zero; its ``refund_id`` again books nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import AffiliateError, Alliance, Money, RefundOutcome

from ._state import check, snapshot
from ._world import alliance, clicked, ordered
from .strategies import HOSTILE, amounts, identifiers, texts

Amount = tuple[Decimal | int | str, str] | None

refund_amounts = st.one_of(
    st.none(),
    amounts(),
    st.sampled_from(["0.01", "199.00", "199.01", "100.005", "-1.00", "0"]).map(
        lambda a: (a, "CNY")
    ),
)


def _refund(
    a: Alliance, merchant_id: str, order_id: str, amount: Amount, refund_id: str | None
) -> RefundOutcome | AffiliateError:
    return check(
        a,
        lambda: a.refund(
            merchant_id,
            order_id,
            None if amount is None else Money(*amount),
            refund_id=refund_id,
        ),
    )


def assert_reverses_within_the_order(a: Alliance, outcome: RefundOutcome) -> None:
    assert Money.zero(outcome.amount.currency) < outcome.amount <= outcome.refunded_total
    assert outcome.remaining.amount >= 0, f"refunded more than the order: {outcome}"
    for line in outcome.reversals:
        assert line.kind in ("reversal", "clawback"), line
        assert line.amount.amount <= 0, f"a refund booked a positive line: {line.amount}"
    net: dict[str, Decimal] = defaultdict(Decimal)
    for line in a.commissions(merchant_id=outcome.merchant_id, order_id=outcome.order_id):
        net[line.reverses or line.entry_id] += line.amount.amount
    assert all(amount >= 0 for amount in net.values()), f"commission below zero: {dict(net)}"


@HOSTILE
@given(
    merchant_id=identifiers("m1"),
    order_id=texts("o1"),
    amount=refund_amounts,
    refund_id=st.one_of(st.none(), identifiers("r1")),
    partial_first=st.booleans(),
)
def test_refund_books_reversals_or_raises_typed_and_a_refusal_changes_nothing(
    merchant_id: str, order_id: str, amount: Amount, refund_id: str | None, partial_first: bool
) -> None:
    with alliance() as a:
        visitor = clicked(a).visitor_id
        ordered(a, "o1", visitor)
        if partial_first:
            a.refund("m1", "o1", Money("50.00", "CNY"), refund_id="r0")
        outcome = _refund(a, merchant_id, order_id, amount, refund_id)
        if isinstance(outcome, RefundOutcome):
            assert_reverses_within_the_order(a, outcome)


@HOSTILE
@given(amount=refund_amounts, again=refund_amounts)
def test_a_refund_id_again_books_nothing_more(amount: Amount, again: Amount) -> None:
    with alliance() as a:
        visitor = clicked(a).visitor_id
        ordered(a, "o1", visitor)
        first = _refund(a, "m1", "o1", amount, "r1")
        before = snapshot(a)
        replay = _refund(a, "m1", "o1", again, "r1")
        if isinstance(first, RefundOutcome):
            assert snapshot(a) == before, "the same refund id booked again"
            if isinstance(replay, RefundOutcome):
                assert replay == first
