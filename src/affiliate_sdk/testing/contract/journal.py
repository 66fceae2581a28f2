"""The ``JournalRepo`` contract: the chain in seq order, by event id and time, checkpoints."""

from __future__ import annotations

import pytest

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage.contract import Store, UnitOfWork

from ._support import _checkpoint, _entry, _rolled_back

__all__ = ["JournalContract"]


class JournalContract:
    """``JournalRepo``: the chain in seq order, by event id and time, and checkpoints."""

    def test_append_head_get_and_by_event(self, store: Store) -> None:
        rows = [_entry(1, 100), _entry(2, 200), _entry(3, 200)]
        with store.transaction() as tx:
            assert tx.journal.head() is None
            tx.journal.append(rows[:1])
            tx.journal.append(rows[1:])
        with store.reader() as tx:
            assert tx.journal.head() == rows[2]
            assert tx.journal.get_many([3, 1, 7, 0]) == {1: rows[0], 3: rows[2]}
            assert tx.journal.by_event("j2") == rows[1]
            assert tx.journal.by_event("j9") is None

    def test_refuses_what_does_not_continue_the_chain(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.journal.append([_entry(1, 100), _entry(2, 200)])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.journal.append([_entry(2, 300, "fresh")])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.journal.append([_entry(3, 300, "j1")])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.journal.append([_entry(3, 300, "same"), _entry(4, 300, "same")])
        with pytest.raises(StorageError), store.transaction() as tx:
            tx.journal.append([_entry(4, 300)])
        with store.reader() as tx:
            assert tx.journal.head() == _entry(2, 200)
            assert tx.journal.by_event("fresh") is None
            assert tx.journal.by_event("same") is None

    def test_scan(self, store: Store) -> None:
        rows = [_entry(seq, seq * 10, f"j/{seq}") for seq in range(1, 2_502)]
        with store.transaction() as tx:
            assert list(tx.journal.scan()) == []
            tx.journal.append(rows)
        with store.reader() as tx:
            assert list(tx.journal.scan()) == rows
            assert list(tx.journal.scan(after_seq=2_498)) == rows[2_498:]
            assert list(tx.journal.scan(after_seq=10, until_seq=13)) == rows[10:13]
            assert list(tx.journal.scan(until_seq=1)) == rows[:1]
            assert list(tx.journal.scan(after_seq=2_501)) == []
            assert list(tx.journal.scan(after_seq=5, until_seq=5)) == []
            assert list(tx.journal.scan(after_seq=999, until_seq=2_001)) == rows[999:2_001]

    def test_first_at(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.journal.first_at(0) is None
            tx.journal.append(
                [_entry(1, 100), _entry(2, 200), _entry(3, 200), _entry(4, 200), _entry(5, 300)]
            )
        with store.reader() as tx:
            assert tx.journal.first_at(0) == 1
            assert tx.journal.first_at(100) == 1
            assert tx.journal.first_at(101) == 2
            assert tx.journal.first_at(200) == 2
            assert tx.journal.first_at(201) == 5
            assert tx.journal.first_at(300) == 5
            assert tx.journal.first_at(301) is None

    def test_checkpoints(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.journal.checkpoints() == []
            tx.journal.add_checkpoint(_checkpoint(5))
            tx.journal.add_checkpoint(_checkpoint(2))
        with store.reader() as tx:
            assert tx.journal.checkpoints() == [_checkpoint(5), _checkpoint(2)]

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.journal.append([_entry(1, 100)])

        def write(tx: UnitOfWork) -> None:
            tx.journal.append([_entry(2, 200), _entry(3, 300)])
            tx.journal.add_checkpoint(_checkpoint(3))

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert tx.journal.head() == _entry(1, 100)
            assert tx.journal.get_many([2, 3]) == {}
            assert tx.journal.by_event("j2") is None
            assert list(tx.journal.scan()) == [_entry(1, 100)]
            assert tx.journal.first_at(150) is None
            assert tx.journal.checkpoints() == []
            tx.journal.append([_entry(2, 200)])  # the refused seq and event id are free again
