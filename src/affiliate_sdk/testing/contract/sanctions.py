"""The ``SanctionRepo`` contract: the blacklist, complaints by time, enforcements."""

from __future__ import annotations

from affiliate_sdk.storage.contract import Store, UnitOfWork

from ._support import _enforcement, _rolled_back

__all__ = ["SanctionContract"]


class SanctionContract:
    """``SanctionRepo``: the blacklist, complaints counted by time, enforcement steps."""

    def test_blacklist(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.sanctions.blacklist() == {}
            tx.sanctions.put_blacklisted("ip:203.0.113.7", "abuse")
            tx.sanctions.put_blacklisted("affiliate:a1", "fraud")
            tx.sanctions.put_blacklisted("affiliate:a1", "fraud, again")
            tx.sanctions.put_blacklisted("\uffff", "")
            tx.sanctions.put_blacklisted("ip:203.0.113.7", None)
            tx.sanctions.put_blacklisted("never-listed", None)
        with store.reader() as tx:
            assert tx.sanctions.blacklist() == {"affiliate:a1": "fraud, again", "\uffff": ""}

    def test_complaints_since(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.sanctions.add_complaint("campaign:m1/c1", "q1", "spam", at_ms=1_000)
            tx.sanctions.add_complaint("campaign:m1/c1", "q2", "spam", at_ms=2_000)
            tx.sanctions.add_complaint("campaign:m1/c1", "q3", "spam", at_ms=3_000)
            tx.sanctions.add_complaint("campaign:m1/c10", "q4", "spam", at_ms=3_000)
        with store.reader() as tx:
            assert tx.sanctions.complaints_since("campaign:m1/c1", since_ms=0) == 3
            assert tx.sanctions.complaints_since("campaign:m1/c1", since_ms=1_000) == 2
            assert tx.sanctions.complaints_since("campaign:m1/c1", since_ms=2_999) == 1
            assert tx.sanctions.complaints_since("campaign:m1/c1", since_ms=3_000) == 0
            assert tx.sanctions.complaints_since("campaign:m1/c10", since_ms=0) == 1
            assert tx.sanctions.complaints_since("campaign:m1/c2", since_ms=0) == 0

    def test_enforcements(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.sanctions.enforcements("a1") == []
            tx.sanctions.add_enforcement(_enforcement("a1", 1))
            tx.sanctions.add_enforcement(_enforcement("a2", 1))
            tx.sanctions.add_enforcement(_enforcement("a1", 2, "freeze"))
        with store.reader() as tx:
            assert tx.sanctions.enforcements("a1") == [
                _enforcement("a1", 1),
                _enforcement("a1", 2, "freeze"),
            ]
            assert tx.sanctions.enforcements("a2") == [_enforcement("a2", 1)]

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.sanctions.put_blacklisted("k1", "kept")

        def write(tx: UnitOfWork) -> None:
            tx.sanctions.put_blacklisted("k1", None)
            tx.sanctions.put_blacklisted("k2", "new")
            tx.sanctions.add_complaint("t", "q1", "spam", at_ms=1_000)
            tx.sanctions.add_enforcement(_enforcement("a1", 1))

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.sanctions.blacklist() == {"k1": "kept"}
            assert tx.sanctions.complaints_since("t", since_ms=0) == 0
            assert tx.sanctions.enforcements("a1") == []

    def test_every_blacklist_change_moves_its_revision(self, store: Store) -> None:
        changes = [
            ("affiliate:a1", "fraud"),
            ("affiliate:a1", "fraud, again"),
            ("affiliate:a1", None),
        ]
        with store.reader() as tx:
            seen = [tx.sanctions.blacklist_revision()]
        for key, reason in changes:
            with store.transaction() as tx:
                tx.sanctions.put_blacklisted(key, reason)
            with store.reader() as tx:
                tx.sanctions.blacklist()
                seen.append(tx.sanctions.blacklist_revision())
        assert len(set(seen)) == len(seen), seen
