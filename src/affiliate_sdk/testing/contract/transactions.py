"""The unit of work's contract: atomic, nested units join the outer one, readers."""

from __future__ import annotations

from affiliate_sdk.storage.contract import Store, UnitOfWork

from ._support import _rolled_back

__all__ = ["TransactionContract"]


class TransactionContract:
    """A unit of work: atomic, nested calls join the outer one, reads in ``reader()``."""

    def test_is_a_store(self, store: Store) -> None:
        assert isinstance(store, Store)
        assert isinstance(store.scheme, str)
        assert store.scheme

    def test_commit_is_visible_to_readers(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.keys.put_sealed("k", "v1")
        with store.reader() as tx:
            assert tx.keys.get_sealed("k") == "v1"

    def test_exception_rolls_back_and_propagates(self, store: Store) -> None:
        _rolled_back(store, lambda tx: tx.keys.put_sealed("k", "v1"))
        with store.reader() as tx:
            assert tx.keys.get_sealed("k") is None

    def test_nested_transaction_joins_the_outer_one(self, store: Store) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.keys.put_sealed("outer", "1")
            with store.transaction() as inner:
                inner.keys.put_sealed("inner", "2")
                assert inner.keys.get_sealed("outer") == "1"
            assert tx.keys.get_sealed("inner") == "2"

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.keys.get_sealed("outer") is None
            assert tx.keys.get_sealed("inner") is None

    def test_nested_commit_waits_for_the_outer_one(self, store: Store) -> None:
        with store.transaction() as tx:
            with store.transaction() as inner:
                inner.keys.put_sealed("inner", "2")
            tx.keys.put_sealed("outer", "1")
        with store.reader() as tx:
            assert (tx.keys.get_sealed("inner"), tx.keys.get_sealed("outer")) == ("2", "1")

    def test_a_later_unit_of_work_starts_clean(self, store: Store) -> None:
        _rolled_back(store, lambda tx: tx.keys.put_sealed("a", "1"))
        with store.transaction() as tx:
            tx.keys.put_sealed("b", "2")
        with store.reader() as tx:
            assert tx.keys.get_sealed("a") is None
            assert tx.keys.get_sealed("b") == "2"
