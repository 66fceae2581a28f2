"""The ``JournalRepo`` contract: chains in place order, by seq, event id and time, checkpoints."""

from __future__ import annotations

import pytest

from affiliate_sdk.commission.journal import GENESIS_HASH
from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage.contract import Store, UnitOfWork

from ._support import _checkpoint, _entry, _rolled_back

__all__ = ["JournalContract"]


class JournalContract:
    """``JournalRepo``: chains in place order, by seq, event id and time, and checkpoints."""

    def test_chains_are_apart(self, store: Store) -> None:
        a = [_entry(1, 100, chain=3, pos=1), _entry(3, 300, chain=3, pos=2)]
        b = [_entry(2, 200, chain=5, pos=1)]
        with store.transaction() as tx:
            assert tx.journal.heads() == {}
            tx.journal.append(a[:1], previous=GENESIS_HASH)
            tx.journal.append(b, previous=GENESIS_HASH)
            tx.journal.append(a[1:], previous=a[0].hash)
        with store.reader() as tx:
            assert tx.journal.heads() == {3: a[1], 5: b[0]}
            assert (tx.journal.head(3), tx.journal.head(5), tx.journal.head()) == (a[1], b[0], None)
            assert list(tx.journal.scan(chain=3)) == a
            assert list(tx.journal.scan(chain=3, after=1)) == a[1:]
            assert list(tx.journal.scan(chain=5)) == b
            assert list(tx.journal.scan()) == []
            assert tx.journal.get_many([3, 2, 1]) == {1: a[0], 2: b[0], 3: a[1]}
            assert tx.journal.by_event("j2") == b[0]
            assert (tx.journal.first_at(150, chain=3), tx.journal.first_at(150, chain=5)) == (2, 1)
            assert tx.journal.first_at(150) is None

    def test_next_seq_is_above_every_seq_it_handed_out(self, store: Store) -> None:
        drawn: list[int] = []
        for pos in (1, 2, 3):
            with store.transaction() as tx:
                drawn.append(tx.journal.next_seq())
                tx.journal.append([_entry(drawn[-1], pos * 100, chain=pos % 2, pos=(pos + 1) // 2)])
        assert drawn == sorted(set(drawn))
        assert drawn[0] >= 1
        with store.transaction() as tx:
            assert tx.journal.next_seq() > drawn[-1]

    def test_chains_refuse_what_does_not_continue_them(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.journal.append([_entry(1, 100, chain=3, pos=1), _entry(2, 200, chain=3, pos=2)])
            tx.journal.append([_entry(3, 300, chain=5, pos=1)])
        refused = [
            (DuplicateEntry, [_entry(4, 400, chain=3, pos=2)], None),  # the place is taken
            (DuplicateEntry, [_entry(3, 400, "other", chain=3, pos=3)], None),  # the seq
            (StorageError, [_entry(4, 400, chain=3, pos=4)], None),  # a gap
            (StorageError, [_entry(4, 400, chain=3, pos=3), _entry(5, 400, chain=5, pos=2)], None),
            (StorageError, [_entry(4, 400, chain=5, pos=2)], _entry(2, 200).hash),  # not its head
        ]
        for error, rows, previous in refused:
            with pytest.raises(error), store.transaction() as tx:
                tx.journal.append(rows, previous=previous)
        with store.reader() as tx:
            assert {c: row.seq for c, row in tx.journal.heads().items()} == {3: 2, 5: 3}
            assert tx.journal.by_event("other") is None

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
            assert list(tx.journal.scan(after=2_498)) == rows[2_498:]
            assert list(tx.journal.scan(after=10, until=13)) == rows[10:13]
            assert list(tx.journal.scan(until=1)) == rows[:1]
            assert list(tx.journal.scan(after=2_501)) == []
            assert list(tx.journal.scan(after=5, until=5)) == []
            assert list(tx.journal.scan(after=999, until=2_001)) == rows[999:2_001]

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
