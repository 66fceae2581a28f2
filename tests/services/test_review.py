"""Approving, freezing, releasing and rejecting lines through the journal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from affiliate_sdk._services.review import APPROVE_PAGE
from affiliate_sdk.errors import CommissionStateError, LedgerTampered, UnknownCommission
from affiliate_sdk.money import Money
from affiliate_sdk.storage.rows import LineRow

from .books import HOLD, START, Books, line


def test_approve_due_pages_the_due_lines_one_entry_per_page(books: Books) -> None:
    booked = books.book(*(line("1.00", order_id=f"o{i}") for i in range(1201)))
    approved = books.review.approve_due(START + HOLD)
    assert [x.entry_id for x in approved] == [x.entry_id for x in booked]
    entries = books.entries("commission.approved")
    assert [len(e["rows"]["lines"]) for e in entries] == [APPROVE_PAGE, APPROVE_PAGE, 201]
    assert {books.row(x.entry_id).line.status for x in booked} == {"approved"}
    assert books.review.approve_due(START + HOLD) == []
    assert len(books.entries("commission.approved")) == 3


def test_approve_due_leaves_held_and_other_merchants_lines(books: Books) -> None:
    early = books.book(line("1.00", hold=timedelta(days=1)))[0]
    late = books.book(line("2.00", order_id="o2", hold=timedelta(days=30)))[0]
    other = books.book(line("3.00", merchant_id="m2", hold=None))[0]
    approved = books.review.approve_due(START + timedelta(days=2), merchant_id="m1")
    assert [x.entry_id for x in approved] == [early.entry_id]
    assert approved[0].approved_at == START + timedelta(days=2)
    assert books.row(late.entry_id).line.status == "pending"
    assert books.row(other.entry_id).line.status == "pending"


def test_approve_moves_pending_and_frozen_in_one_entry_per_source(books: Books) -> None:
    a, b = books.book(line("1.00"), line("2.00"))
    books.review.freeze([b.entry_id], reason="look")
    done = books.review.approve([b.entry_id, a.entry_id])
    assert [x.entry_id for x in done] == [b.entry_id, a.entry_id]
    assert {x.status for x in done} == {"approved"}
    entries = books.entries("commission.approved")
    assert [list(e["rows"]["lines"]) for e in entries] == [[a.entry_id], [b.entry_id]]
    assert entries[1]["postings"] == [
        ["affiliate/a1/frozen", "-2.00", "CNY"],
        ["affiliate/a1/approved", "2.00", "CNY"],
    ]


@pytest.mark.parametrize(
    ("action", "status"),
    [("release", "pending"), ("reject", "pending"), ("freeze", "approved")],
)
def test_state_errors_change_nothing(books: Books, action: str, status: str) -> None:
    fine, wrong = books.book(line("1.00"), line("2.00"))
    if action == "freeze":
        books.review.approve([wrong.entry_id])
    else:
        books.review.freeze([fine.entry_id], reason="look")
    head = books.head()
    call = getattr(books.review, action)
    kwargs = {} if action == "release" else {"reason": "r"}
    with pytest.raises(CommissionStateError) as caught:
        call([fine.entry_id, wrong.entry_id], **kwargs)
    assert (caught.value.entry_id, caught.value.status) == (wrong.entry_id, status)
    assert books.head() == head
    assert books.row(fine.entry_id).line.status == ("pending" if action == "freeze" else "frozen")


def test_unknown_and_other_merchants_lines_are_refused(books: Books) -> None:
    mine = books.book(line("1.00"))[0]
    theirs = books.book(line("2.00", merchant_id="m2"))[0]
    with pytest.raises(UnknownCommission) as caught:
        books.review.freeze([mine.entry_id, "nope"], reason="r")
    assert caught.value.entry_id == "nope"
    with pytest.raises(UnknownCommission) as caught:
        books.review.approve([mine.entry_id, theirs.entry_id], merchant_id="m1")
    assert caught.value.entry_id == theirs.entry_id
    assert books.row(mine.entry_id).line.status == "pending"
    assert books.review.approve([theirs.entry_id], merchant_id="m2")[0].status == "approved"


def test_freeze_release_reject_and_the_review_queue(books: Books) -> None:
    a, b = books.book(line("10.00"), line("4.00", merchant_id="m1", order_id="o2"))
    books.clock.advance(timedelta(hours=1))
    frozen = books.review.freeze([a.entry_id, b.entry_id], reason="fraud review")
    assert [x.reason for x in frozen] == ["fraud review"] * 2
    assert [x.entry_id for x in books.review.review_queue(merchant_id="m1")] == [
        a.entry_id,
        b.entry_id,
    ]
    assert books.review.review_queue(merchant_id="m2") == []
    released = books.review.release([b.entry_id])
    assert released[0].status == "pending"
    books.refund(books.row(a.entry_id).line, "3.00", at=books.clock.now())
    rejected = books.review.reject([a.entry_id], reason="fake order")
    assert rejected[0].status == "rejected"
    (entry,) = books.entries("commission.rejected")
    assert entry["postings"] == [
        ["affiliate/a1/frozen", "-7.00", "CNY"],
        ["merchant/m1/payable", "7.00", "CNY"],
    ]
    reversal = [
        x for x in books.ledger.commissions(order_id="o1") if x.event_id.startswith("reject/")
    ]
    assert [(x.kind, x.amount, x.status, x.reverses) for x in reversal] == [
        ("reversal", Money("-7.00", "CNY"), "reversed", a.entry_id)
    ]
    assert books.review.review_queue() == []


def test_reject_of_a_fully_reversed_line_books_no_reversal(books: Books) -> None:
    a = books.book(line("5.00"))[0]
    books.review.freeze([a.entry_id], reason="r")
    books.refund(books.row(a.entry_id).line, "5.00", at=START)
    books.review.reject([a.entry_id], reason="r")
    (entry,) = books.entries("commission.rejected")
    assert entry["postings"] == []
    assert len(books.ledger.commissions(order_id="o1")) == 2


def test_transition_joins_the_callers_unit_of_work(books: Books) -> None:
    a = books.book(line("1.00"))[0]
    with books.store.transaction() as tx:
        (row,) = tx.ledger.by_order("m1", "o1")
        (moved,) = books.review.transition(
            tx, [row], "pending", "frozen", at=START, kind="commission.frozen", reason="review"
        )
        assert moved.seq == tx.journal.head().seq  # type: ignore[union-attr]
    assert books.row(a.entry_id) == moved


def test_a_forged_line_is_not_approved(books: Books) -> None:
    a, b = books.book(line("1.00"), line("2.00"))
    forged = books.row(b.entry_id)
    books.forge(
        forged._replace(line=forged.line.model_copy(update={"amount": Money("9.00", "CNY")}))
    )
    head = books.head()
    with pytest.raises(LedgerTampered) as caught:
        books.review.approve([a.entry_id, b.entry_id])
    assert (caught.value.what, caught.value.key) == ("lines", b.entry_id)
    assert books.head() == head
    with pytest.raises(LedgerTampered):
        books.review.approve_due(START + HOLD)
    assert books.row(a.entry_id).line.status == "pending"


def test_approve_due_of_one_merchant_asks_the_store_for_its_lines_alone(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    books.book(*(line("1.00", merchant_id="m2", order_id=f"o{i}") for i in range(APPROVE_PAGE)))
    mine = books.book(line("2.00", order_id="o1"))[0]
    repo = type(books.store._uow.ledger)
    due = repo.due
    asked: list[str | None] = []

    def spy(self: Any, **kwargs: Any) -> list[LineRow]:
        asked.append(kwargs.get("merchant_id"))
        rows: list[LineRow] = due(self, **kwargs)
        return rows

    monkeypatch.setattr(repo, "due", spy)
    approved = books.review.approve_due(START + HOLD, merchant_id="m1")
    assert [x.entry_id for x in approved] == [mine.entry_id]
    assert asked == ["m1"]  # one short page: the other merchant's lines are never read
    assert len(books.entries("commission.approved")) == 1


def test_live_amounts_are_read_with_one_query_per_page(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    booked = books.book(*(line("1.00", order_id=f"o{i}") for i in range(3)))
    books.refund(booked[1], "0.40", at=START)
    repo = type(books.store._uow.ledger)
    by_orders = repo.by_orders
    asked: list[list[tuple[str, str]]] = []

    def spy(self: Any, orders: Sequence[tuple[str, str]]) -> list[LineRow]:
        asked.append(list(orders))
        rows: list[LineRow] = by_orders(self, orders)
        return rows

    def refused(self: Any, merchant_id: str, order_id: str) -> list[LineRow]:
        raise AssertionError("an order's lines were read one order at a time")

    monkeypatch.setattr(repo, "by_orders", spy)
    monkeypatch.setattr(repo, "by_order", refused)
    books.review.approve([x.entry_id for x in booked])
    assert asked == [[("m1", "o0"), ("m1", "o1"), ("m1", "o2")]]
    (entry,) = books.entries("commission.approved")
    moved = [amount for account, amount, _ in entry["postings"] if account.endswith("/approved")]
    assert moved == ["1.00", "0.60", "1.00"]
