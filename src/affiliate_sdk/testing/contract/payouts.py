"""The ``LedgerRepo`` contract for payout runs: batches by run and affiliate, pages, proving.

``LedgerContract`` includes these tests; ``PayoutContract`` alone is for a
backend checked one topic at a time.
"""

from __future__ import annotations

import pytest

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import PayoutRow

from ._support import _payout, _rolled_back

__all__ = ["PayoutContract"]


class PayoutContract:
    """``LedgerRepo``'s payout runs: unique runs and batches, filtered pages, run seqs."""

    def test_payout_runs(self, store: Store) -> None:
        first = [PayoutRow("r1", _payout("p1", "a1"), 4), PayoutRow("r1", _payout("p2", "a2"), 5)]
        second = [PayoutRow("r2", _payout("p3", "a1", "3.00"), 6)]
        with store.transaction() as tx:
            assert not tx.ledger.has_run("r1")
            assert tx.ledger.runs() == []
            tx.ledger.insert_payouts("r1", first, seq=7)
            tx.ledger.insert_payouts("r2", second, seq=8)
            tx.ledger.insert_payouts("r3", [], seq=9)
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.ledger.insert_payouts("r1", [PayoutRow("r1", _payout("p9", "a9"), 9)], seq=10)
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.ledger.insert_payouts("r3", [], seq=11)
        with pytest.raises(DuplicateEntry), store.transaction() as tx:  # a payout id taken
            tx.ledger.insert_payouts("r4", [PayoutRow("r4", _payout("p2", "a2"), 12)], seq=12)
        with pytest.raises(StorageError), store.transaction() as tx:  # a batch of another run
            tx.ledger.insert_payouts("r5", [PayoutRow("r1", _payout("p5", "a1"), 13)], seq=13)
        with store.reader() as tx:
            assert tx.ledger.runs() == [("r1", 7), ("r2", 8), ("r3", 9)]
            assert not tx.ledger.has_run("r4")
            assert not tx.ledger.has_run("r5")
            assert tx.ledger.has_run("r1")
            assert tx.ledger.has_run("r3")
            assert not tx.ledger.has_run("r4")
            assert tx.ledger.payouts() == [*first, *second]
            assert tx.ledger.payouts(run_id="r1") == first
            assert tx.ledger.payouts(run_id="r3") == []
            assert tx.ledger.payouts(affiliate_id="a1") == [first[0], second[0]]
            assert tx.ledger.payouts(run_id="r2", affiliate_id="a1") == second
            assert tx.ledger.payouts(run_id="r2", affiliate_id="a2") == []

    def test_payout_pages(self, store: Store) -> None:
        rows = {
            name: PayoutRow(run, _payout(name, affiliate), n)
            for n, (name, run, affiliate) in enumerate(
                [
                    ("p1", "r1", "a1"),
                    ("p2", "r1", "a2"),
                    ("p3", "r1", "a1"),
                    ("p4", "r2", "a2"),
                    ("p5", "r2", "a1"),
                    ("p6", "r4", "a1"),
                ]
            )
        }
        p1, p2, p3, p4, p5, p6 = rows.values()
        with store.transaction() as tx:
            tx.ledger.insert_payouts("r1", [p1, p2, p3], seq=3)
            tx.ledger.insert_payouts("r2", [p4, p5], seq=5)
            tx.ledger.insert_payouts("r3", [], seq=6)
            tx.ledger.insert_payouts("r4", [p6], seq=8)
        with store.reader() as tx:
            ledger = tx.ledger
            assert ledger.payouts(limit=2) == [p1, p2]
            assert ledger.payouts(after="p2", limit=2) == [p3, p4]
            assert ledger.payouts(after="p4", limit=2) == [p5, p6]
            assert ledger.payouts(after="p6", limit=2) == []
            assert ledger.payouts(after="p3") == [p4, p5, p6]
            assert ledger.payouts(limit=0) == []
            assert ledger.payouts(affiliate_id="a1", limit=2) == [p1, p3]
            assert ledger.payouts(affiliate_id="a1", after="p3", limit=2) == [p5, p6]
            assert ledger.payouts(affiliate_id="a1", after="p4") == [p5, p6]  # a2's batch
            assert ledger.payouts(affiliate_id="a2", after="p2") == [p4]
            assert ledger.payouts(run_id="r1", after="p1") == [p2, p3]
            assert ledger.payouts(run_id="r1", affiliate_id="a1", after="p1") == [p3]
            assert ledger.payouts(run_id="r1", affiliate_id="a1", limit=1) == [p1]
            assert ledger.payouts(run_id="r1", after="p4") == []
            assert ledger.payouts(run_id="r2", after="p1", limit=1) == [p4]
            assert ledger.payouts(run_id="r3", limit=5) == []
        with pytest.raises(StorageError), store.reader() as tx:
            tx.ledger.payouts(after="p9")

    def test_run_pages(self, store: Store) -> None:
        with store.transaction() as tx:
            for n, run_id in enumerate(["r/1", "r%", "\uffff", "r0", "r1"]):
                tx.ledger.insert_payouts(run_id, [], seq=10 * n)
        with store.reader() as tx:
            assert tx.ledger.runs(limit=2) == [("r/1", 0), ("r%", 10)]  # oldest first
            assert tx.ledger.runs(after="r%", limit=2) == [("\uffff", 20), ("r0", 30)]
            assert tx.ledger.runs(after="r0") == [("r1", 40)]
            assert tx.ledger.runs(after="r1") == []
            assert tx.ledger.runs(limit=0) == []
        with pytest.raises(StorageError), store.reader() as tx:
            tx.ledger.runs(after="r9")

    def test_proving_a_run_gives_it_and_its_batches_a_seq(self, store: Store) -> None:
        rows = [PayoutRow("r1", _payout("p1", "a1"), 0), PayoutRow("r1", _payout("p2", "a2"), 0)]
        with store.transaction() as tx:
            tx.ledger.insert_payouts("r1", rows, seq=0)
            tx.ledger.insert_payouts("r2", [PayoutRow("r2", _payout("p3", "a1"), 7)], seq=8)
        with store.transaction() as tx:
            tx.ledger.prove_run("r1", 42)

        def rolled_back(tx: UnitOfWork) -> None:
            tx.ledger.prove_run("r2", 99)

        _rolled_back(store, rolled_back)
        with store.reader() as tx:
            assert tx.ledger.runs() == [("r1", 42), ("r2", 8)]
            assert [(r.batch.payout_id, r.seq) for r in tx.ledger.payouts()] == [
                ("p1", 42),
                ("p2", 42),
                ("p3", 7),
            ]
            assert [r.seq for r in tx.ledger.payouts(affiliate_id="a2")] == [42]
        with pytest.raises(StorageError), store.transaction() as tx:
            tx.ledger.prove_run("r9", 1)
