"""Payout runs: one batch per affiliate and currency, idempotent, proven before paying."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from affiliate_sdk.errors import LedgerTampered
from affiliate_sdk.money import Money

from .books import START, Books, line

DAY = timedelta(days=1)


def _approved(books: Books, *lines: object) -> None:
    books.review.approve([x.entry_id for x in books.book(*lines)])  # type: ignore[arg-type]


def test_pays_each_affiliate_and_currency_once_per_run(books: Books) -> None:
    _approved(
        books,
        line("10.00"),
        line("5.00", order_id="o2"),
        line("1.00", account="platform"),
        line("3.00", affiliate_id="a2", order_id="o3"),
        line("2.50", currency="USD", order_id="o4"),
    )
    batches = books.payouts.pay_approved(run_id="r1", now=START + DAY)
    assert [(b.affiliate_id, b.amount, len(b.entry_ids)) for b in batches] == [
        ("a1", Money("15.00", "CNY"), 2),
        ("a1", Money("2.50", "USD"), 1),
        ("a2", Money("3.00", "CNY"), 1),
    ]
    assert batches[0].payout_id == "payout/r1/a1/CNY"
    lines = books.ledger.commissions(merchant_id="m1")
    assert [x.status for x in lines] == ["paid", "paid", "approved", "paid", "paid"]
    assert {x.payout_id for x in lines if x.account == "affiliate"} == {
        "payout/r1/a1/CNY",
        "payout/r1/a1/USD",
        "payout/r1/a2/CNY",
    }
    (entry, *_) = books.entries("payout")
    assert entry["postings"] == [
        ["affiliate/a1/approved", "-15.00", "CNY"],
        ["affiliate/a1/paid", "15.00", "CNY"],
    ]
    with books.store.reader() as tx:
        events = [row.type for row in tx.outbox.after(0, limit=100)]
    assert events.count("payout.batch_created") == 3
    head = books.head()
    assert books.payouts.pay_approved(run_id="r1", now=START + 9 * DAY) == batches
    assert books.head() == head
    assert books.payouts.payouts(affiliate_id="a2") == batches[2:]


def test_lines_are_payable_a_settling_period_after_approval(books: Books) -> None:
    _approved(books, line("10.00"))
    assert books.payouts.pay_approved(run_id="early", now=START + timedelta(hours=23)) == []
    assert books.payouts.pay_approved(run_id="early", now=START + 5 * DAY) == []
    (batch,) = books.payouts.pay_approved(run_id="late", now=START + DAY)
    assert batch.amount == Money("10.00", "CNY")
    assert len(books.entries("payout.run")) == 2


def test_below_the_minimum_the_balance_carries_forward(books: Books) -> None:
    _approved(books, line("10.00"), line("3.00", affiliate_id="a2", order_id="o2"))
    floor = {"CNY": Money("5.00", "CNY")}
    first = books.payouts.pay_approved(run_id="r1", now=START + DAY, minimum=floor)
    assert [b.affiliate_id for b in first] == ["a1"]
    _approved(books, line("2.00", affiliate_id="a2", order_id="o3"))
    second = books.payouts.pay_approved(run_id="r2", now=START + DAY, minimum=floor)
    assert [(b.affiliate_id, b.amount) for b in second] == [("a2", Money("5.00", "CNY"))]


def test_pays_what_lines_hold_net_of_reversals_and_clawbacks(books: Books) -> None:
    a = books.book(line("10.00"))[0]
    books.refund(a, "4.00", at=START)
    books.review.approve([a.entry_id])
    (first,) = books.payouts.pay_approved(run_id="r1", now=START + DAY)
    assert first.amount == Money("6.00", "CNY")
    clawback = books.refund(books.row(a.entry_id).line, "5.00", at=START + DAY)
    _approved(books, line("3.00", order_id="o2"))
    assert books.payouts.pay_approved(run_id="r2", now=START + 2 * DAY) == []
    _approved(books, line("4.00", order_id="o3"))
    (third,) = books.payouts.pay_approved(run_id="r3", now=START + 2 * DAY)
    assert third.amount == Money("2.00", "CNY")
    assert clawback.entry_id in third.entry_ids


def test_a_forged_line_stops_the_run_before_anything_is_paid(books: Books) -> None:
    _approved(books, line("10.00"), line("3.00", affiliate_id="a2", order_id="o2"))
    victim = books.ledger.commissions(affiliate_id="a2")[0]
    row = books.row(victim.entry_id)
    books.forge(row._replace(line=row.line.model_copy(update={"amount": Money("300.00", "CNY")})))
    head = books.head()
    with pytest.raises(LedgerTampered) as caught:
        books.payouts.pay_approved(run_id="r1", now=START + DAY)
    assert (caught.value.what, caught.value.key) == ("lines", victim.entry_id)
    assert victim.entry_id in str(caught.value)
    assert books.head() == head
    assert books.payouts.payouts() == []
    with books.store.reader() as tx:
        assert not tx.ledger.has_run("r1")
    assert {x.status for x in books.ledger.commissions(affiliate_id="a1")} == {"approved"}


def test_exports(books: Books) -> None:
    _approved(books, line("10.00"))
    books.payouts.pay_approved(run_id="r1", now=START + DAY)
    csv = books.payouts.payouts_csv(run_id="r1").splitlines()
    assert csv[1].split(",")[:5] == ["payout/r1/a1/CNY", "a1", "CNY", "10.00", "1"]
    (batch,) = json.loads(books.payouts.payouts_json())
    assert batch["affiliate_id"] == "a1"
