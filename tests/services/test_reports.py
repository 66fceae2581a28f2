"""Statements, invoices and the reconciliation over a journal window, by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk.commission.journal import Posting
from affiliate_sdk.errors import LedgerImbalance
from affiliate_sdk.models import Statement
from affiliate_sdk.money import Money
from affiliate_sdk.storage.rows import LineRow

from .books import START, Books, line

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def cny(amount: str) -> Money:
    return Money(amount, "CNY")


def _history(books: Books) -> None:
    """Day 0: a1 earns 10.00 (platform 1.00), a2 4.00; a1's is refunded 2.00 after an hour.
    Day 1: both are paid. Day 2: a1 earns 5.00, and 3.00 of its paid line is clawed back."""
    a1, _, a2 = books.book(
        line("10.00"), line("1.00", account="platform"), line("4.00", affiliate_id="a2")
    )
    books.refund(a1, "2.00", at=START + HOUR)
    books.clock.set(START + HOUR)
    books.review.approve([a1.entry_id, a2.entry_id])
    books.payouts.pay_approved(run_id="r1", now=START + DAY, settle_after=timedelta(0))
    books.book(line("5.00", order_id="o3", created_at=START + 2 * DAY))
    books.refund(books.row(a1.entry_id).line, "3.00", at=START + 2 * DAY)


def _figures(statement: Statement) -> tuple[Money, ...]:
    return tuple(
        getattr(statement, name)
        for name in ("opening", "earned", "reversed", "clawed_back", "paid", "closing")
    )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (
            START,
            START + DAY,
            {
                "a1": ("0", "10.00", "2.00", "0", "0", "8.00"),
                "a2": ("0", "4.00", "0", "0", "0", "4.00"),
            },
        ),
        (
            START + DAY,
            START + 3 * DAY,
            {
                "a1": ("8.00", "5.00", "0", "3.00", "8.00", "2.00"),
                "a2": ("4.00", "0", "0", "0", "4.00", "0.00"),
            },
        ),
    ],
)
def test_statements_for_all_and_for_one_affiliate(
    books: Books, start: datetime, end: datetime, expected: dict[str, tuple[str, ...]]
) -> None:
    _history(books)
    every = books.ledger.statements(start=start, end=end)
    assert {s.affiliate_id: _figures(s) for s in every} == {
        k: tuple(cny(v) for v in figures) for k, figures in expected.items()
    }
    for statement in every:
        (own,) = books.ledger.statements(start=start, end=end, affiliate_id=statement.affiliate_id)
        assert own == statement
    assert books.ledger.statements(start=start, end=end, affiliate_id="a9") == []


def test_invoices_per_window(books: Books) -> None:
    _history(books)
    (first,) = books.ledger.invoices(start=START, end=START + DAY)
    assert (first.commission, first.platform_take, first.total) == (
        cny("12.00"),
        cny("1.00"),
        cny("13.00"),
    )
    (second,) = books.ledger.invoices(start=START + DAY, end=START + 3 * DAY)
    assert (second.commission, second.platform_take, second.total) == (
        cny("2.00"),
        cny("0"),
        cny("2.00"),
    )
    assert books.ledger.invoices(start=START + 3 * DAY, end=START + 4 * DAY) == []


def test_reconcile_balances_to_the_cent(books: Books) -> None:
    _history(books)
    (row,) = books.ledger.reconcile(start=START, end=START + DAY)
    assert (row.merchant_cost, row.affiliate_earnings, row.platform_take) == (
        cny("13.00"),
        cny("12.00"),
        cny("1.00"),
    )
    assert row.balanced
    (later,) = books.ledger.reconcile(start=START + DAY, end=START + 3 * DAY)
    assert (later.merchant_cost, later.affiliate_earnings, later.difference) == (
        cny("2.00"),
        cny("2.00"),
        cny("0"),
    )


def test_reconcile_names_a_merchant_charged_more_than_its_lines(books: Books) -> None:
    booked = line("10.00")
    postings = [
        Posting("affiliate/a1/pending", cny("10.00")),
        Posting("platform/pending", cny("1.00")),
        Posting("merchant/m1/payable", cny("-11.00")),
    ]
    books.write("commission.booked", postings, [LineRow(booked, None, 0)], at=START)
    with pytest.raises(LedgerImbalance) as caught:
        books.ledger.reconcile(start=START, end=START + DAY)
    (row,) = caught.value.rows
    assert (row.merchant_id, row.difference) == ("m1", cny("1.00"))


def test_signed_statements_carry_a_checkpoint_of_the_head(books: Books) -> None:
    _history(books)
    key = Ed25519PrivateKey.generate()
    signed = books.ledger.signed_statements(
        start=START, end=START + DAY, signing_key=key, key_id="k1", affiliate_id="a1"
    )
    (one,) = signed
    head = books.head()
    assert head is not None
    assert (one.checkpoint.seq, one.checkpoint.hash) == (head.seq, head.hash.hex())
    assert one.verify(key.public_key())
    assert not one.verify(Ed25519PrivateKey.generate().public_key())
