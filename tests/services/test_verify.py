"""``verify_ledger``: the chain, the head kept elsewhere, and every projection replayed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk.commission.journal import canonical
from affiliate_sdk.models import LedgerVerification
from affiliate_sdk.money import Money
from affiliate_sdk.storage.memory._ledger import _keys
from affiliate_sdk.storage.rows import JournalRow

from .books import START, Books, CampaignShelf, line
from .test_traffic import campaign

DAY = timedelta(days=1)
MARK = "impressions-batch/m1/c1/b1"
TOTALS = "impressions/m1/c1/a1"


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
    del books.store._uow.ledger._runs["r1"]  # type: ignore[attr-defined]
    assert "missing" in _failed(books.ledger.verify_ledger(), "runs", "r1")


def test_an_edited_journal_body(books: Books) -> None:
    _everything(books)
    journal = books.store._uow.journal
    row: JournalRow = journal._rows[2]  # type: ignore[attr-defined]
    forged = row.body.replace(b'"10"', b'"99"').replace(b'"10.00"', b'"99.00"')
    assert forged != row.body
    journal._rows[2] = row._replace(body=forged)  # type: ignore[attr-defined]
    result = books.ledger.verify_ledger()
    _failed(result, None, None)
    assert (result.entries, result.first_bad_seq) == (2, 3)


def test_a_journal_cut_short_fails_against_the_head_kept_elsewhere(books: Books) -> None:
    _everything(books)
    head = books.head()
    assert head is not None
    books.store._uow.journal._truncate(head.seq - 1)  # type: ignore[attr-defined]
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
    row = JournalRow(head.seq + 1, "x", 0, body, books.ctx.chain.tag(head.hash, body))
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
    ledger._runs[run] = []  # type: ignore[attr-defined]
    result = books.ledger.verify_ledger()
    if run == "r2":  # an empty run stays empty
        assert result.ok
    else:
        assert "payouts differ" in _failed(result, "runs", "r1")
