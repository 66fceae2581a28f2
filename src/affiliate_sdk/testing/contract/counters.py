"""The ``CounterRepo`` contract: bucketed sums, prunes by prefix, outside transactions."""

from __future__ import annotations

from affiliate_sdk.storage.contract import Store

from ._support import _rolled_back

__all__ = ["CounterContract"]


class CounterContract:
    """``CounterRepo``: bucketed sums, prunes by prefix, outside transactions."""

    def test_shared_is_declared(self, store: Store) -> None:
        assert isinstance(store.counters.shared, bool)

    def test_add_and_sum(self, store: Store) -> None:
        counters = store.counters
        assert counters.sum(["k1"], since_bucket=0) == [0]
        counters.add([("k1", 10, 1), ("k1", 11, 2), ("k2", 11, 5), ("k1", 11, 3)])
        counters.add([("k1", 12, 4), ("\uffff", 1, 7)])
        assert counters.sum(["k1", "k2", "k3", "k1"], since_bucket=0) == [10, 5, 0, 10]
        assert counters.sum(["k1"], since_bucket=11) == [9]
        assert counters.sum(["k1"], since_bucket=12) == [4]
        assert counters.sum(["k1", "\uffff"], since_bucket=13) == [0, 0]
        assert counters.sum(["\uffff"], since_bucket=1) == [7]
        assert counters.sum([], since_bucket=0) == []

    def test_prune_by_prefix(self, store: Store) -> None:
        counters = store.counters
        counters.add(
            [
                ("ip/1", 1, 1),
                ("ip/1", 5, 2),
                ("ip/2", 2, 3),
                ("ip%", 1, 4),
                ("ip_", 1, 5),
                ("ipx", 1, 6),
                ("visitor/1", 1, 7),
                ("ip/\uffff", 1, 8),
            ]
        )
        counters.prune("ip/", before_bucket=5)
        keys = ["ip/1", "ip/2", "ip%", "ip_", "ipx", "visitor/1", "ip/\uffff"]
        assert counters.sum(keys, since_bucket=0) == [2, 0, 4, 5, 6, 7, 0]
        counters.prune("ip%", before_bucket=9)
        counters.prune("ip_", before_bucket=9)
        assert counters.sum(keys, since_bucket=0) == [2, 0, 0, 0, 6, 7, 0]
        counters.add([("ip/2", 6, 1)])  # a pruned key counts again
        assert counters.sum(["ip/2"], since_bucket=0) == [1]

    def test_not_undone_by_a_rollback(self, store: Store) -> None:
        _rolled_back(store, lambda tx: store.counters.add([("k", 1, 1)]))
        assert store.counters.sum(["k"], since_bucket=0) == [1]
