"""The ``CounterRepo`` contract: bucketed sums, writers, prunes, outside transactions."""

from __future__ import annotations

from affiliate_sdk.storage.contract import CounterRepo, Store

from ._support import _rolled_back

__all__ = ["CounterContract"]


class CounterContract:
    """``CounterRepo``: bucketed sums, writers, prunes by namespace, outside transactions."""

    def test_shared_is_declared(self, store: Store) -> None:
        assert isinstance(store.counters.shared, bool)

    def test_exchange_adds_then_sums(self, store: Store) -> None:
        counters = store.counters
        _another(counters)
        assert _sums(counters, [], ["t/k1"], since=0) == [(0, 0)]
        rows = [("t/k1", 10, 1), ("t/k1", 11, 2), ("t/k2", 11, 5), ("t/k1", 11, 3)]
        assert _sums(counters, rows, ["t/k1", "t/k2"], since=10) == [(6, 5), (5, 5)]
        assert _sums(counters, [("t/k1", 12, 4), ("t/\uffff", 1, 7)], [], since=0) == []
        assert _sums(counters, [], ["t/k1", "t/k2", "t/k3", "t/k1"], since=0) == [
            (10, 10),
            (5, 5),
            (0, 0),
            (10, 10),
        ]
        assert _sums(counters, [], ["t/k1"], since=11) == [(9, 4)]
        assert _sums(counters, [], ["t/k1"], since=12) == [(4, 0)]
        assert _sums(counters, [], ["t/k1", "t/\uffff"], since=13) == [(0, 0), (0, 0)]
        assert _sums(counters, [], ["t/\uffff"], since=1) == [(7, 0)]
        assert _sums(counters, [("t/k1", 9, -1)], ["t/k1"], since=9) == [(9, 10)]

    def test_no_sums_when_no_other_writer_counted_since(self, store: Store) -> None:
        counters = store.counters
        assert counters.exchange("t", "me", [("t/k", 5, 2)], ["t/k"], since_bucket=0) is None
        counters.exchange("u", "other", [("u/k", 5, 1)], [], since_bucket=0)  # elsewhere
        assert counters.exchange("t", "me", [], ["t/k"], since_bucket=0) is None
        counters.exchange("t", "other", [("t/k", 3, 1)], [], since_bucket=0)
        assert counters.exchange("t", "me", [], ["t/k"], since_bucket=3) == [(3, 2)]
        assert counters.exchange("t", "me", [], ["t/k"], since_bucket=4) is None  # before
        assert counters.exchange("t", "other", [], ["t/k"], since_bucket=0) == [(3, 3)]

    def test_prune_forgets_a_namespaces_old_buckets_and_writers(self, store: Store) -> None:
        counters = store.counters
        rows = [("ip/1", 1, 1), ("ip/1", 5, 2), ("ip/2", 2, 3), ("ip/\uffff", 1, 8)]
        rows += [("ip/\U0010ffff", 1, 9)]
        counters.exchange("ip", "w1", rows, [], since_bucket=0)
        counters.exchange("ip", "w2", [("ip/3", 6, 1)], [], since_bucket=0)
        # namespaces whose names a prefix match could confuse with "ip/"
        others = ["ip%", "ip_", "ipx", "ip0", "i"]
        for n, namespace in enumerate(others):
            counters.exchange(namespace, "w1", [(f"{namespace}/1", 1, 4 + n)], [], since_bucket=0)
        counters.prune("ip", before_bucket=5)
        keys = ["ip/1", "ip/2", "ip/3", "ip/\uffff", "ip/\U0010ffff"]
        sums = counters.exchange("ip", "w3", [], keys, since_bucket=0)
        assert sums is not None
        assert [total for total, _ in sums] == [2, 0, 1, 0, 0]
        for n, namespace in enumerate(others):  # untouched
            found = counters.exchange(namespace, "w3", [], [f"{namespace}/1"], since_bucket=0)
            assert found == [(4 + n, 4 + n)]
        counters.prune("ip", before_bucket=7)  # w1 and w2 added to no bucket since
        assert counters.exchange("ip", "w3", [], keys, since_bucket=0) is None
        # a pruned key counts again
        assert _sums(counters, [("ip/2", 8, 1)], ["ip/2"], since=0, namespace="ip") == [(1, 1)]

    def test_not_undone_by_a_rollback(self, store: Store) -> None:
        _rolled_back(store, lambda tx: _sums(store.counters, [("t/k", 1, 1)], [], since=0))
        assert _sums(store.counters, [], ["t/k"], since=0) == [(1, 1)]

    def test_a_unit_of_work_sees_the_counts_it_holds_back(self, store: Store) -> None:
        _another(store.counters)
        with store.transaction():
            inside = _sums(store.counters, [("t/k", 1, 2)], ["t/k"], since=1)
            again = _sums(store.counters, [("t/k", 2, 3)], ["t/k"], since=1)
        assert (inside, again) == ([(2, 0)], [(5, 3)])
        assert _sums(store.counters, [], ["t/k"], since=0) == [(5, 5)]


def _another(counters: CounterRepo, namespace: str = "t") -> None:
    """A count by another writer, in a bucket later than every other in these tests."""
    counters.exchange(namespace, "another", [(f"{namespace}/x", 100, 1)], [], since_bucket=0)


def _sums(
    counters: CounterRepo,
    rows: list[tuple[str, int, int]],
    keys: list[str],
    *,
    since: int,
    namespace: str = "t",
) -> list[tuple[int, int]]:
    """``exchange`` as "me", with another writer present (so the sums are read)."""
    _another(counters, namespace)
    sums = counters.exchange(namespace, "me", rows, keys, since_bucket=since)
    assert sums is not None
    return sums
