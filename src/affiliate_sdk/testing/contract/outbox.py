"""The ``OutboxRepo`` contract: seqs in order and never reused, paging, prune."""

from __future__ import annotations

import pytest

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import OutboxRow

from ._support import _event, _rolled_back

__all__ = ["OutboxContract"]


class OutboxContract:
    """``OutboxRepo``: seqs given in order and never reused, paging, time lookups, prune."""

    def test_add_assigns_seqs(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.outbox.last_seq() == 0
            tx.outbox.add([_event("ev1", 1_000), _event("ev2", 2_000)])
            tx.outbox.add([_event("ev3", 3_000)])
        with store.reader() as tx:
            assert tx.outbox.last_seq() == 3
            assert tx.outbox.get("ev2") == OutboxRow(
                2, "ev2", "commission.created", 2_000, '{"id":"ev2"}'
            )
            assert tx.outbox.get("ev9") is None
            assert [row.seq for row in tx.outbox.after(0, limit=10)] == [1, 2, 3]
            assert [row.event_id for row in tx.outbox.after(1, limit=1)] == ["ev2"]
            assert tx.outbox.after(3, limit=10) == []

    def test_unique_event_ids(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.outbox.add([_event("ev1", 1_000)])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.outbox.add([_event("ev1", 2_000)])
        with pytest.raises(DuplicateEntry), store.transaction() as tx:
            tx.outbox.add([_event("ev2", 2_000), _event("ev2", 2_000)])
        with store.reader() as tx:
            assert [row.event_id for row in tx.outbox.after(0, limit=10)] == ["ev1"]
            assert tx.outbox.get("ev2") is None

    def test_first_since(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.outbox.first_since(0) is None
            tx.outbox.add(
                [_event("a", 1_000), _event("b", 2_000), _event("c", 2_000), _event("d", 3_000)]
            )
        with store.reader() as tx:
            assert tx.outbox.first_since(0) == 1
            assert tx.outbox.first_since(1_001) == 2
            assert tx.outbox.first_since(2_000) == 2
            assert tx.outbox.first_since(3_000) == 4
            assert tx.outbox.first_since(3_001) is None

    def test_prune(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.outbox.add([_event(f"ev{n}", n * 1_000) for n in range(1, 6)])
        with store.transaction() as tx:
            assert tx.outbox.prune(through_seq=4, before_ms=3_000) == 2  # ev1, ev2
            assert tx.outbox.prune(through_seq=4, before_ms=3_000) == 0
        with store.reader() as tx:
            assert [row.seq for row in tx.outbox.after(0, limit=10)] == [3, 4, 5]
            assert tx.outbox.get("ev1") is None
            assert tx.outbox.first_since(0) == 3
            assert tx.outbox.last_seq() == 5
        with store.transaction() as tx:
            assert tx.outbox.prune(through_seq=3, before_ms=99_000) == 1  # ev3
            assert tx.outbox.prune(through_seq=99, before_ms=99_000) == 2  # ev4, ev5
        with store.reader() as tx:
            assert tx.outbox.after(0, limit=10) == []
            assert tx.outbox.last_seq() == 5
            assert tx.outbox.first_since(0) is None
        with store.transaction() as tx:  # seqs are never reused, even after a prune
            tx.outbox.add([_event("ev6", 6_000), _event("ev1", 7_000)])
        with store.reader() as tx:
            assert [(r.seq, r.event_id) for r in tx.outbox.after(0, limit=10)] == [
                (6, "ev6"),
                (7, "ev1"),
            ]
            assert tx.outbox.last_seq() == 7

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.outbox.add([_event("ev1", 1_000), _event("ev2", 2_000)])

        def write(tx: UnitOfWork) -> None:
            tx.outbox.add([_event("ev3", 3_000)])
            tx.outbox.prune(through_seq=3, before_ms=9_000)

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert [row.event_id for row in tx.outbox.after(0, limit=10)] == ["ev1", "ev2"]
            assert tx.outbox.get("ev3") is None
            assert tx.outbox.get("ev1") is not None
            tx.outbox.add([_event("ev3", 3_000)])  # the refused id is free again
            row = tx.outbox.get("ev3")
            assert row is not None
            assert row.seq > 2
            assert tx.outbox.last_seq() == row.seq
