"""The ``RiskRepo`` contract: histories, order shapes, value statistics, distinct sets."""

from __future__ import annotations

from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import ValueStats

from ._support import _rolled_back

__all__ = ["RiskContract"]


class RiskContract:
    """``RiskRepo``: histories, order shapes, value statistics, bounded distinct sets."""

    def test_standing_reads_and_writes_history_and_statistics_together(self, store: Store) -> None:
        with store.reader() as tx:
            assert tx.risk.standing("a1", "m1/CNY") == (None, None, ())
        with store.transaction() as tx:
            tx.risk.record_standing(
                "a1", History(3, 1, 0, 2, 1), ValueStats("m1/CNY", 3, 4.5, 0.25)
            )
            tx.risk.put_value_stats(ValueStats("m2/CNY", 1, 2.0, 0.0))
        with store.reader() as tx:
            assert tx.risk.standing("a1", "m1/CNY") == (
                History(3, 1, 0, 2, 1),
                ValueStats("m1/CNY", 3, 4.5, 0.25),
                (),
            )
            assert tx.risk.standing("a2", "m2/CNY") == (None, ValueStats("m2/CNY", 1, 2.0, 0.0), ())
            assert tx.risk.standing("a1", "m9/CNY") == (History(3, 1, 0, 2, 1), None, ())
            assert tx.risk.history("a1") == History(3, 1, 0, 2, 1)

    def test_histories(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.history("a1") is None
            tx.risk.put_history("a2", History(orders=2))
            tx.risk.put_history("a1", History(orders=5, refunds=1))
            tx.risk.put_history("a10", History(flagged=1))
        with store.transaction() as tx:
            tx.risk.put_history("a1", History(orders=6, refunds=1, timed=2, late=1))
        with store.reader() as tx:
            assert tx.risk.history("a1") == History(6, 1, 0, 2, 1)
            assert list(tx.risk.histories()) == [
                ("a1", History(6, 1, 0, 2, 1)),
                ("a10", History(0, 0, 1, 0, 0)),
                ("a2", History(2, 0, 0, 0, 0)),
            ]
            # of some affiliates alone: those with a history, by id, each once
            of_some = tx.risk.histories(affiliate_ids=["a2", "nobody", "a1", "a2"])
            assert list(of_some) == [("a1", History(6, 1, 0, 2, 1)), ("a2", History(2, 0, 0, 0, 0))]
            assert list(tx.risk.histories(affiliate_ids=[])) == []
            assert list(tx.risk.histories(affiliate_ids=["nobody"])) == []

    def test_histories_of_many_affiliates(self, store: Store) -> None:
        wanted = [f"a{n:04d}" for n in range(1_200)]  # more than one statement's parameters
        with store.transaction() as tx:
            for n, affiliate_id in enumerate(wanted):
                if n % 3:
                    tx.risk.put_history(affiliate_id, History(orders=n))
        with store.reader() as tx:
            found = list(tx.risk.histories(affiliate_ids=list(reversed(wanted))))
        assert found == [(f"a{n:04d}", History(orders=n)) for n in range(1_200) if n % 3]

    def test_shapes_keep_the_newest(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.recent_shapes("s1", since_ms=0) == []
            for n, at_ms in enumerate([1_000, 2_000, 3_000, 4_000]):
                tx.risk.add_shape("s1", f"{n}.00 CNY", at_ms, keep=3)
            tx.risk.add_shape("s2", "9.00 CNY", 2_500, keep=3)
        with store.reader() as tx:
            assert tx.risk.recent_shapes("s1", since_ms=0) == [
                ("1.00 CNY", 2_000),
                ("2.00 CNY", 3_000),
                ("3.00 CNY", 4_000),
            ]
            assert tx.risk.recent_shapes("s1", since_ms=3_000) == [
                ("2.00 CNY", 3_000),
                ("3.00 CNY", 4_000),
            ]
            assert tx.risk.recent_shapes("s1", since_ms=4_001) == []
            assert tx.risk.recent_shapes("s2", since_ms=0) == [("9.00 CNY", 2_500)]

    def test_value_stats(self, store: Store) -> None:
        stats = ValueStats("m1/CNY", orders=3, mean=4.5, m2=0.25)
        with store.transaction() as tx:
            assert tx.risk.value_stats("m1/CNY") is None
            tx.risk.put_value_stats(ValueStats("m1/CNY", orders=1, mean=1.0))
            tx.risk.put_value_stats(stats)
        with store.reader() as tx:
            assert tx.risk.value_stats("m1/CNY") == stats

    def test_distinct_sets(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.add_distinct("payer", "p1", "u1", keep=3) == 1
            assert tx.risk.add_distinct("payer", "p1", "u1", keep=3) == 1
            assert tx.risk.add_distinct("payer", "p1", "u2", keep=3) == 2
            assert tx.risk.add_distinct("payer", "p2", "u1", keep=3) == 1
            assert tx.risk.add_distinct("network", "p1", "u9", keep=3) == 1
            assert tx.risk.add_distinct("payer", "p1", "u3", keep=3) == 3
            assert tx.risk.add_distinct("payer", "p1", "u4", keep=3) == 3
            assert tx.risk.add_distinct("payer", "p1", "u4", keep=3) == 3
        with store.transaction() as tx:
            assert tx.risk.add_distinct("payer", "p1", "\uffff", keep=3) == 3
            assert tx.risk.add_distinct("payer", "p1", "u1", keep=1) == 1

    def test_distinct_members_keep_their_place(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.add_distinct("payer", "p1", "a", keep=2) == 1
            assert tx.risk.add_distinct("payer", "p1", "b", keep=2) == 2
            assert tx.risk.add_distinct("payer", "p1", "a", keep=2) == 2  # still the oldest
            assert tx.risk.add_distinct("payer", "p1", "c", keep=2) == 2  # "a" leaves
        with store.transaction() as tx:
            assert tx.risk.add_distinct("payer", "p1", "b", keep=3) == 2  # kept
            assert tx.risk.add_distinct("payer", "p1", "a", keep=3) == 3  # back as new

    def test_standing_reads_and_writes_tallies_with_the_history(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.risk.bump("t/a", [1, 1])
            tx.risk.record_standing(
                "a1", History(1), ValueStats("m1/CNY", 1), {"t/a": (2, 3), "t/b": (5,)}
            )
        with store.reader() as tx:
            found = tx.risk.standing("a1", "m1/CNY", ["t/b", "t/none", "t/a"])
            assert found.history == History(1)
            assert found.tallies == ((5,), (), (2, 3))  # replaced, not added
            assert tx.risk.tallies(["t/a"]) == [(2, 3)]

    def test_tallies_add_place_by_place(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.risk.tallies(["a", "b"]) == [(), ()]
            assert tx.risk.bump("a", [1, 2]) == (1, 2)
            assert tx.risk.bump("a", [0, 1, 5]) == (1, 3, 5)  # a longer delta adds places
            assert tx.risk.bump("a", [-1]) == (0, 3, 5)
            assert tx.risk.bump("b/\uffff", [7]) == (7,)
        with store.reader() as tx:
            assert tx.risk.tallies(["b/\uffff", "nope", "a"]) == [(7,), (), (0, 3, 5)]
            assert tx.risk.tallies([]) == []

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        def write(tx: UnitOfWork) -> None:
            tx.risk.put_history("a1", History(orders=1))
            tx.risk.add_shape("s1", "1.00 CNY", 1_000, keep=3)
            tx.risk.put_value_stats(ValueStats("k", 1, 1.0, 0.0))
            tx.risk.add_distinct("payer", "p1", "u1", keep=3)
            tx.risk.bump("t1", [1])

        _rolled_back(store, write)
        with store.transaction() as tx:
            assert tx.risk.history("a1") is None
            assert list(tx.risk.histories()) == []
            assert tx.risk.recent_shapes("s1", since_ms=0) == []
            assert tx.risk.value_stats("k") is None
            assert tx.risk.add_distinct("payer", "p1", "u2", keep=3) == 1
            assert tx.risk.tallies(["t1"]) == [()]
