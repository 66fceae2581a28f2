"""The ``KeyRepo`` contract: sealed values by name, the first one kept unless replaced."""

from __future__ import annotations

from affiliate_sdk.storage.contract import Store, UnitOfWork

from ._support import _rolled_back

__all__ = ["KeyContract"]


class KeyContract:
    """``KeyRepo``: sealed values by name, the first one kept unless replaced."""

    def test_put_sealed(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.keys.get_sealed("pseudonym") is None
            assert tx.keys.put_sealed("pseudonym", "v1") == "v1"
            assert tx.keys.put_sealed("pseudonym", "v2") == "v1"
            assert tx.keys.put_sealed("\uffff/%", "x") == "x"
        with store.reader() as tx:
            assert tx.keys.get_sealed("pseudonym") == "v1"
        with store.transaction() as tx:
            assert tx.keys.put_sealed("pseudonym", "v3", replace=True) == "v3"
        with store.reader() as tx:
            assert tx.keys.get_sealed("pseudonym") == "v3"
            assert tx.keys.get_sealed("\uffff/%") == "x"

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.keys.put_sealed("a", "1")

        def write(tx: UnitOfWork) -> None:
            tx.keys.put_sealed("a", "2", replace=True)
            tx.keys.put_sealed("b", "3")

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.keys.get_sealed("a") == "1"
            assert tx.keys.get_sealed("b") is None
