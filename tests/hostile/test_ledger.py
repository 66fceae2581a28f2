"""Hostile input to the ledger's calls: the review moves, payouts, period closes and
the reports.

``approve``/``freeze``/``release``/``reject``, ``approve_due``, ``pay_approved`` and
``close_period`` change the book or raise an ``AffiliateError`` and change nothing;
``reconcile``, ``statements`` and ``invoices`` read it, whatever their input.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import AffiliateError, Alliance, Commission, Money, PayoutBatch

from ._state import check, snapshot
from ._world import Seeded, alliance, seeded
from .strategies import (
    CURRENCIES,
    HOSTILE,
    SLOW,
    amounts,
    currencies,
    datetimes,
    identifiers,
    periods,
    strings,
    timedeltas,
)

Move = Literal["approve", "freeze", "release", "reject"]
_TARGET: dict[Move, str] = {
    "approve": "approved",
    "freeze": "frozen",
    "release": "pending",
    "reject": "rejected",
}

#: Entry ids: a seeded line (by status) or hostile text.
entry_ids = st.lists(
    st.one_of(st.sampled_from(["pending", "frozen", "approved"]), strings()), max_size=4
)


def _ids(book: Seeded, picks: list[str]) -> list[str]:
    named = {"pending": book.pending, "frozen": book.frozen, "approved": book.approved}
    return [named.get(pick, pick) for pick in picks]


@HOSTILE
@given(
    move=st.sampled_from(list(_TARGET)),
    picks=entry_ids,
    reason=st.one_of(st.just("checked by hand"), strings()),
    merchant_id=st.one_of(st.none(), identifiers("m1")),
)
def test_review_moves_change_lines_or_raise_typed_and_change_nothing(
    move: Move, picks: list[str], reason: str, merchant_id: str | None
) -> None:
    with alliance() as a:
        book = seeded(a)
        ids = _ids(book, picks)

        def call() -> list[Commission]:
            if move == "approve":
                return a.approve(ids, merchant_id=merchant_id)
            if move == "release":
                return a.release(ids, merchant_id=merchant_id)
            if move == "freeze":
                return a.freeze(ids, reason=reason, merchant_id=merchant_id)
            return a.reject(ids, reason=reason, merchant_id=merchant_id)

        moved = check(a, call)
        if not isinstance(moved, AffiliateError):
            assert [line.entry_id for line in moved] == list(dict.fromkeys(ids))
            assert all(line.status == _TARGET[move] for line in moved), moved


@HOSTILE
@given(now=st.one_of(st.none(), datetimes()), merchant_id=st.one_of(st.none(), identifiers("m1")))
def test_approve_due_approves_or_raises_typed_and_changes_nothing(
    now: datetime | None, merchant_id: str | None
) -> None:
    with alliance() as a:
        seeded(a)
        approved = check(a, lambda: a.approve_due(now, merchant_id=merchant_id))
        if not isinstance(approved, AffiliateError):
            assert all(line.status == "approved" for line in approved)


minimums = st.one_of(
    st.none(),
    st.dictionaries(st.one_of(st.sampled_from(CURRENCIES), currencies()), amounts(), max_size=2),
)


@SLOW
@given(
    run_id=identifiers("run-1"),
    now=st.one_of(st.none(), datetimes()),
    minimum=minimums,
    settle_after=timedeltas(),
    twice=st.booleans(),
)
def test_pay_approved_pays_positive_batches_or_raises_typed_and_changes_nothing(
    run_id: str,
    now: datetime | None,
    minimum: dict[str, Any] | None,
    settle_after: timedelta,
    twice: bool,
) -> None:
    with alliance() as a:
        seeded(a)

        def pay() -> list[PayoutBatch]:
            floors = None if minimum is None else {c: Money(*m) for c, m in minimum.items()}
            return a.pay_approved(run_id=run_id, now=now, minimum=floors, settle_after=settle_after)

        batches = check(a, pay)
        if isinstance(batches, AffiliateError):
            return
        assert all(batch.amount.amount > 0 for batch in batches), batches
        if twice:  # the same run id again pays nothing twice
            before = snapshot(a)
            assert check(a, pay) == batches
            assert snapshot(a) == before


@HOSTILE
@given(
    campaign_id=identifiers("c1"),
    period=periods(),
    merchant_id=st.one_of(st.none(), identifiers("m1")),
    refund_first=st.booleans(),
)
def test_close_period_settles_or_raises_typed_and_changes_nothing(
    campaign_id: str, period: str, merchant_id: str | None, refund_first: bool
) -> None:
    with alliance() as a:
        seeded(a)
        if refund_first:
            a.refund("m1", "o1", Money("20.00", "CNY"))
        check(a, lambda: a.close_period(campaign_id, period, merchant_id=merchant_id))


def _reads(a: Alliance, report: str, start: datetime, end: datetime, who: str | None) -> object:
    if report == "reconcile":
        return a.reconcile(start=start, end=end)
    if report == "invoices":
        return a.invoices(start=start, end=end)
    return a.statements(start=start, end=end, affiliate_id=who)


@HOSTILE
@given(
    report=st.sampled_from(["reconcile", "invoices", "statements"]),
    start=datetimes(),
    end=datetimes(),
    affiliate_id=st.one_of(st.none(), identifiers("a1")),
)
def test_reports_read_or_raise_typed_and_never_write(
    report: str, start: datetime, end: datetime, affiliate_id: str | None
) -> None:
    with alliance() as a:
        seeded(a)
        a.refund("m1", "o1", Money("20.00", "CNY"))
        before = snapshot(a)
        check(a, lambda: _reads(a, report, start, end, affiliate_id))
        assert snapshot(a) == before, f"{report} changed the book"
