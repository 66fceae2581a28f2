"""``verify_ledger``: the chain, the head kept elsewhere, and every projection replayed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Final

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk._services.projections import order_doc, order_key
from affiliate_sdk._services.verification import VERIFY_PAGE, Verifier
from affiliate_sdk.commission.journal import canonical
from affiliate_sdk.models import LedgerVerification
from affiliate_sdk.money import Money
from affiliate_sdk.storage.memory._ledger import _keys
from affiliate_sdk.storage.rows import JournalRow, Mark, OrderRow, PeriodTotals

from .books import START, Books, CampaignShelf, line
from .test_traffic import campaign

DAY = timedelta(days=1)
MARK = "impressions-batch/m1/c1/b1"
TOTALS = "impressions/m1/c1/a1"
#: Page sizes the replay is run with: one row per page, and the default.
PAGES: Final = (1, VERIFY_PAGE)


def _everything(books: Books) -> list[str]:
    """Lines booked, approved and paid in run r1, impressions counted (totals and a mark)."""
    from affiliate_sdk._services.traffic import TrafficService

    booked = books.book(line("10.00"), line("4.00", affiliate_id="a2", order_id="o2"))
    books.review.approve([x.entry_id for x in booked])
    books.payouts.pay_approved(run_id="r1", now=START + DAY)
    shelf = CampaignShelf(campaign(per_mille=Money("2.00", "CNY")))
    counter = TrafficService(books.ctx, books.writer, shelf)
    counter.count_impressions("c1", affiliate_id="a1", count=400, batch_id="b1")
    last = books.book(line("1.00", order_id="o3"))
    return [x.entry_id for x in [*booked, *last]]


def _failed(result: LedgerVerification, family: str | None, key: str | None) -> str:
    assert not result.ok
    assert (result.problem_family, result.problem_key) == (family, key)
    assert result.reason is not None
    if key is not None:
        assert repr(key) in result.reason and family in result.reason  # type: ignore[operator]
    return result.reason


def test_a_clean_ledger_verifies(books: Books) -> None:
    _everything(books)
    head = books.head()
    assert head is not None
    result = books.ledger.verify_ledger(expect_head=(head.seq, head.hash))
    assert result == LedgerVerification(ok=True, entries=head.seq)


def test_an_edited_line(books: Books) -> None:
    entry_ids = _everything(books)
    row = books.row(entry_ids[1])
    books.forge(row._replace(line=row.line.model_copy(update={"amount": Money("40.00", "CNY")})))
    reason = _failed(books.ledger.verify_ledger(), "lines", entry_ids[1])
    assert "differs" in reason


def test_a_deleted_line(books: Books) -> None:
    entry_ids = _everything(books)
    ledger = books.store._uow.ledger
    slot = ledger._slots[entry_ids[-1]]  # type: ignore[attr-defined]
    ledger._unappend(slot, _keys(slot.row.line))  # type: ignore[attr-defined]
    result = books.ledger.verify_ledger()
    assert "missing" in _failed(result, "lines", entry_ids[-1])
    assert result.first_bad_seq == books.head().seq  # type: ignore[union-attr]


def test_a_line_moved_to_another_entry(books: Books) -> None:
    entry_ids = _everything(books)
    row = books.row(entry_ids[0])
    books.forge(row._replace(seq=1))
    reason = _failed(books.ledger.verify_ledger(), "lines", entry_ids[0])
    assert f"but entry {row.seq} last wrote it" in reason


def test_an_edited_period_total(books: Books) -> None:
    _everything(books)
    with books.store.transaction() as tx:
        (totals,) = tx.periods.get_many([TOTALS]).values()
        tx.periods.put([totals._replace(volume=Decimal(1400))])
    _failed(books.ledger.verify_ledger(), "periods", TOTALS)


def test_an_edited_mark(books: Books) -> None:
    _everything(books)
    with books.store.transaction() as tx:
        mark = tx.periods.get_mark(MARK)
        assert mark is not None
        tx.periods.put_mark(mark._replace(value="0"), replace=True)
    _failed(books.ledger.verify_ledger(), "marks", MARK)


def test_a_deleted_payout_run(books: Books) -> None:
    _everything(books)
    ledger = books.store._uow.ledger
    del ledger._runs["r1"]  # type: ignore[attr-defined]
    ledger._run_order.remove("r1")  # type: ignore[attr-defined]
    assert "missing" in _failed(books.ledger.verify_ledger(), "runs", "r1")


def test_an_edited_journal_body(books: Books) -> None:
    _everything(books)
    journal = books.store._uow.journal
    rows: list[JournalRow] = journal._chains[0].rows  # type: ignore[attr-defined]
    forged = rows[2].body.replace(b'"10"', b'"99"').replace(b'"10.00"', b'"99.00"')
    assert forged != rows[2].body
    rows[2] = rows[2]._replace(body=forged)
    result = books.ledger.verify_ledger()
    _failed(result, None, None)
    assert (result.entries, result.first_bad_seq) == (2, 3)


def test_a_journal_cut_short_fails_against_the_head_kept_elsewhere(books: Books) -> None:
    _everything(books)
    head = books.head()
    assert head is not None
    books.store._uow.journal._truncate(0, head.seq - 1, head.seq - 1)  # type: ignore[attr-defined]
    # the line of the last entry is gone from the journal: the replay notices too
    assert books.ledger.verify_ledger().problem_family == "lines"
    result = books.ledger.verify_ledger(expect_head=(head.seq, head.hash))
    reason = _failed(result, None, None)
    assert f"before the expected head {head.seq}" in reason
    assert (result.entries, result.first_bad_seq) == (head.seq - 1, head.seq)


def test_an_unbalanced_entry_written_with_the_key(books: Books) -> None:
    _everything(books)
    head = books.head()
    assert head is not None
    body = canonical(
        {
            "v": 2, "seq": head.seq + 1, "prev": head.hash.hex(), "event": "x", "kind": "forged",
            "at": START.isoformat(), "postings": [["platform/paid", "1.00", "CNY"]], "refs": {},
        }
    )  # fmt: skip
    row = JournalRow(
        head.seq + 1, "x", 0, body, books.ctx.chain.tag(head.hash, body), 0, head.pos + 1
    )
    with books.store.transaction() as tx:
        tx.journal.append([row])
    result = books.ledger.verify_ledger()
    assert "do not sum to zero in CNY" in _failed(result, None, None)
    assert result.first_bad_seq == head.seq + 1


def test_checkpoints_against_trusted_keys(books: Books) -> None:
    _everything(books)
    key = Ed25519PrivateKey.generate()
    books.ledger.checkpoint(key, key_id="k1")
    assert books.ledger.verify_ledger(trusted_keys={"k1": key.public_key()}).ok
    stranger = {"k1": Ed25519PrivateKey.generate().public_key()}
    assert "signature" in _failed(books.ledger.verify_ledger(trusted_keys=stranger), None, None)


@pytest.mark.parametrize("run", ["r1", "r2"])
def test_runs_record_their_payouts(books: Books, run: str) -> None:
    _everything(books)
    books.payouts.pay_approved(run_id="r2", now=START + DAY)
    ledger = books.store._uow.ledger
    ledger._runs[run] = ledger._runs[run]._replace(batches=[])  # type: ignore[attr-defined]
    result = books.ledger.verify_ledger()
    if run == "r2":  # an empty run stays empty
        assert result.ok
    else:
        assert "payouts differ" in _failed(result, "runs", "r1")


# -- rows no journal entry wrote, and orders' money ----------------------------------------
def _order(merchant_id: str, order_id: str, *, seq: int | None) -> OrderRow:
    return OrderRow(
        merchant_id, order_id, "f" * 64, "CNY", 19900, 0, 0, 0, None, None, "{}", seq=seq
    )


def _verify(books: Books, page: int) -> LedgerVerification:
    with books.store.reader() as tx:
        return Verifier(books.ctx.chain, page=page).verify(tx)


def _record_order(books: Books, merchant_id: str, order_id: str, *, stored: bool = True) -> str:
    """An order's money written the way the SDK writes it: a journal entry, then the row
    (unless not ``stored``: then the row is lost, as if deleted behind the SDK's back)."""
    row = _order(merchant_id, order_id, seq=None)
    key = order_key(merchant_id, order_id)
    entry = books.write("order.recorded", [], [], at=START, extra={"orders": {key: order_doc(row)}})
    if stored:
        with books.store.transaction() as tx:
            tx.orders.insert(row._replace(seq=entry.seq))
    return key


def _extra_order(books: Books, seq: int) -> tuple[str, str]:
    with books.store.transaction() as tx:
        tx.orders.insert(_order("m9", "o/9", seq=seq))
    return "orders", order_key("m9", "o/9")


def _extra_mark(books: Books, seq: int) -> tuple[str, str]:
    with books.store.transaction() as tx:
        assert tx.periods.put_mark(Mark("impressions-batch/m1/c1/b2", "400", seq))
    return "marks", "impressions-batch/m1/c1/b2"


def _extra_totals(books: Books, seq: int) -> tuple[str, str]:
    with books.store.transaction() as tx:
        tx.periods.put([PeriodTotals("impressions/m1/c1/a9", volume=Decimal(400), seq=seq)])
    return "periods", "impressions/m1/c1/a9"


def _extra_run(books: Books, seq: int) -> tuple[str, str]:
    with books.store.transaction() as tx:
        tx.ledger.insert_payouts("r0", [], seq=seq)
    return "runs", "r0"


@pytest.mark.parametrize("page", PAGES)
def test_a_clean_ledger_verifies_page_by_page(books: Books, page: int) -> None:
    _everything(books)
    _record_order(books, "m1", "o1")
    _record_order(books, "m2", "o1")
    head = books.head()
    assert head is not None
    assert _verify(books, page) == LedgerVerification(ok=True, entries=head.seq)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("add", [_extra_order, _extra_mark, _extra_totals, _extra_run])
def test_a_row_no_journal_entry_wrote(
    books: Books, add: Callable[[Books, int], tuple[str, str]], page: int
) -> None:
    _everything(books)
    _record_order(books, "m1", "o1")
    head = books.head()
    assert head is not None
    family, key = add(books, head.seq)  # it even names a real entry
    for result in (_verify(books, page), books.ledger.verify_ledger()):
        assert "no journal entry wrote it" in _failed(result, family, key)
        assert result.first_bad_seq == head.seq
        assert result.entries == head.seq


def test_an_extra_row_without_a_seq_names_no_entry(books: Books) -> None:
    _everything(books)
    _extra_order(books, 0)
    result = books.ledger.verify_ledger()
    _failed(result, "orders", order_key("m9", "o/9"))
    assert result.first_bad_seq is None


def test_an_edited_order(books: Books) -> None:
    _everything(books)
    key = _record_order(books, "m1", "o1")
    head = books.head()
    assert head is not None
    with books.store.transaction() as tx:
        tx.orders.set_refunded("m1", "o1", 100, head.seq)  # a refund no entry booked
    assert "differs" in _failed(books.ledger.verify_ledger(), "orders", key)


def test_a_deleted_order(books: Books) -> None:
    _everything(books)
    _record_order(books, "m1", "o1")
    key = _record_order(books, "m2", "o2", stored=False)
    result = books.ledger.verify_ledger()
    assert "missing" in _failed(result, "orders", key)
    assert result.first_bad_seq == books.head().seq  # type: ignore[union-attr]
