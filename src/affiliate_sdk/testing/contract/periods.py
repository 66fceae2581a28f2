"""The ``PeriodRepo`` contract: totals by key, prefix scans in key order, marks."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.storage.rows import Mark, PeriodTotals

from ._support import _rolled_back

__all__ = ["PeriodContract"]


class PeriodContract:
    """``PeriodRepo``: totals by key, prefix scans in key order, idempotency marks."""

    KEYS: Final = (
        "b",
        "a/\uffff",
        "a0",
        "a",
        "a/%",
        "a/",
        "a\uffff",
        "a/x/y",
        "a_b",
        "abb",
        "a%",
        "a\U0001f600",
        "%x",
        "x%",
    )

    def test_put_get_and_replace(self, store: Store) -> None:
        first = PeriodTotals("t/m1", volume=Decimal("10.5"), seq=1)
        with store.transaction() as tx:
            tx.periods.put([first, PeriodTotals("t/m2", rate=Decimal("0.1"), seq=2)])
        with store.transaction() as tx:
            tx.periods.put([first._replace(volume=Decimal("20.25"), booked=Decimal(3), seq=4)])
        with store.reader() as tx:
            assert tx.periods.get_many(["t/m1", "t/m3", "t/m2"]) == {
                "t/m1": PeriodTotals("t/m1", volume=Decimal("20.25"), booked=Decimal(3), seq=4),
                "t/m2": PeriodTotals("t/m2", rate=Decimal("0.1"), seq=2),
            }
            assert tx.periods.get_many([]) == {}

    def test_decimals_keep_their_value(self, store: Store) -> None:
        totals = PeriodTotals(
            "k",
            volume=Decimal("12345678901234567890.123456789"),
            tier_base=Decimal("-0.000001"),
            rate=Decimal("0.125"),
            paid=Decimal("1E+3"),
            booked=Decimal("0.10"),
            seq=7,
        )
        with store.transaction() as tx:
            tx.periods.put([totals])
        with store.reader() as tx:
            found = tx.periods.get_many(["k"])["k"]
        assert found == totals
        assert found.volume == Decimal("12345678901234567890.123456789")

    def test_scan_by_prefix(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.periods.put([PeriodTotals(key, seq=n) for n, key in enumerate(self.KEYS)])
        with store.reader() as tx:

            def keys(prefix: str) -> list[str]:
                return [row.key for row in tx.periods.scan(prefix)]

            assert keys("a/") == ["a/", "a/%", "a/x/y", "a/\uffff"]
            assert keys("a") == [
                "a",
                "a%",
                "a/",
                "a/%",
                "a/x/y",
                "a/\uffff",
                "a0",
                "a_b",
                "abb",
                "a\uffff",
                "a\U0001f600",
            ]
            assert keys("a_") == ["a_b"]
            assert keys("a%") == ["a%"]
            assert keys("%") == ["%x"]
            assert keys("a\uffff") == ["a\uffff"]
            assert keys("\uffff") == []
            assert keys("c") == []
            assert len(keys("")) == len(self.KEYS)
            assert tx.periods.scan("a/x") == [PeriodTotals("a/x/y", seq=7)]

    def test_scan_pages(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.periods.put([PeriodTotals(key, seq=n) for n, key in enumerate(self.KEYS)])
        with store.reader() as tx:

            def keys(prefix: str, after: str | None, limit: int | None = 3) -> list[str]:
                return [row.key for row in tx.periods.scan(prefix, after=after, limit=limit)]

            assert keys("a", None) == ["a", "a%", "a/"]
            assert keys("a", "a/") == ["a/%", "a/x/y", "a/\uffff"]
            assert keys("a", "a/\uffff") == ["a0", "a_b", "abb"]
            assert keys("a", "abb") == ["a\uffff", "a\U0001f600"]
            assert keys("a", "a\U0001f600") == []
            assert keys("a", "a/y", limit=2) == ["a/\uffff", "a0"]  # a key not stored
            assert keys("a", "0", limit=2) == ["a", "a%"]  # before the prefix
            assert keys("a", "b") == []
            assert keys("a/", "a/%", limit=None) == ["a/x/y", "a/\uffff"]
            assert keys("a", None, limit=0) == []
            assert keys("", "a\U0001f600", limit=None) == ["b", "x%"]
            assert keys("", None, limit=None) == sorted(self.KEYS)
            assert tx.periods.scan("a/x", after="a/x") == [PeriodTotals("a/x/y", seq=7)]

    def test_marks_by_prefix(self, store: Store) -> None:
        with store.transaction() as tx:
            for n, key in enumerate(self.KEYS):
                assert tx.periods.put_mark(Mark(key, f"v{n}", n))
            tx.periods.put([PeriodTotals("a/zz")])
            assert not tx.periods.put_mark(Mark("a0", "kept?", 30))
            assert tx.periods.put_mark(Mark("a_b", "w", 20), replace=True)
        with store.reader() as tx:

            def keys(prefix: str, after: str | None = None, limit: int | None = None) -> list[str]:
                return [mark.key for mark in tx.periods.marks(prefix, after=after, limit=limit)]

            assert tx.periods.marks("a/") == [
                Mark("a/", "v5", 5),
                Mark("a/%", "v4", 4),
                Mark("a/x/y", "v7", 7),
                Mark("a/\uffff", "v1", 1),
            ]
            assert keys("a", after="a/\uffff", limit=2) == ["a0", "a_b"]
            assert keys("a", after="a_b", limit=2) == ["abb", "a\uffff"]
            assert keys("a", after="a\U0001f600") == []
            assert tx.periods.marks("a0") == [Mark("a0", "v2", 2)]
            assert tx.periods.marks("a_") == [Mark("a_b", "w", 20)]
            assert keys("%") == ["%x"]
            assert keys("\uffff") == []
            assert keys("a/z") == []  # a total, not a mark
            assert keys("a", limit=0) == []
            assert keys("", after="b") == ["x%"]
            assert len(keys("")) == len(self.KEYS)
            assert tx.periods.scan("a/z") == [PeriodTotals("a/zz")]

    def test_marks(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.periods.get_mark("close/m1") is None
            assert tx.periods.put_mark(Mark("close/m1", "2026-01", 3))
            assert not tx.periods.put_mark(Mark("close/m1", "2026-02", 4))
        with store.reader() as tx:
            assert tx.periods.get_mark("close/m1") == Mark("close/m1", "2026-01", 3)
        with store.transaction() as tx:
            assert tx.periods.put_mark(Mark("close/m1", "2026-02", 4), replace=True)
            assert tx.periods.put_mark(Mark("\uffff", "", 0))
        with store.reader() as tx:
            assert tx.periods.get_mark("close/m1") == Mark("close/m1", "2026-02", 4)
            assert tx.periods.get_mark("\uffff") == Mark("\uffff", "", 0)

    def test_rollback_leaves_nothing(self, store: Store) -> None:
        with store.transaction() as tx:
            tx.periods.put([PeriodTotals("t/1", volume=Decimal(1))])

        def write(tx: UnitOfWork) -> None:
            tx.periods.put([PeriodTotals("t/1", volume=Decimal(9)), PeriodTotals("t/2")])
            tx.periods.put_mark(Mark("m", "v"))

        _rolled_back(store, write)
        with store.reader() as tx:
            assert tx.periods.scan("t/") == [PeriodTotals("t/1", volume=Decimal(1))]
            assert tx.periods.scan("t/", after="t/1") == []
            assert tx.periods.get_many(["t/2"]) == {}
            assert tx.periods.get_mark("m") is None
            assert tx.periods.marks("") == []
