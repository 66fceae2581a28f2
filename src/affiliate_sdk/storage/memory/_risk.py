"""What the order-fraud signals remember: histories, order shapes, value stats, distinct sets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import zip_longest

from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.storage.rows import Standing, ValueStats

from ._undo import UndoLog, set_item

__all__ = ["MemoryRisk"]


class MemoryRisk:
    """``RiskRepo`` over dictionaries; shapes and distinct sets are bounded by ``keep``."""

    __slots__ = ("_distinct", "_histories", "_log", "_shapes", "_stats", "_tallies")

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._histories: dict[str, History] = {}
        self._shapes: dict[str, tuple[tuple[str, int], ...]] = {}
        self._stats: dict[str, ValueStats] = {}
        # (kind, key) -> members, oldest first (a dict keeps insertion order)
        self._distinct: dict[tuple[str, str], dict[str, None]] = {}
        self._tallies: dict[str, tuple[int, ...]] = {}

    def history(self, affiliate_id: str) -> History | None:
        """The affiliate's history, if any."""
        return self._histories.get(affiliate_id)

    def put_history(self, affiliate_id: str, history: History) -> None:
        """Insert or replace the affiliate's history."""
        set_item(self._log, self._histories, affiliate_id, history)

    def histories(
        self, *, affiliate_ids: Sequence[str] | None = None
    ) -> Iterator[tuple[str, History]]:
        """Every affiliate's history (of ``affiliate_ids`` alone, when given), by affiliate
        id."""
        histories = self._histories
        keys = histories if affiliate_ids is None else set(affiliate_ids) & histories.keys()
        return iter([(key, histories[key]) for key in sorted(keys)])

    def recent_shapes(self, key: str, *, since_ms: int) -> list[tuple[str, int]]:
        """``(total, at_ms)`` of the orders kept for this shape key with ``at_ms >= since_ms``,
        oldest first."""
        return [shape for shape in self._shapes.get(key, ()) if shape[1] >= since_ms]

    def add_shape(self, key: str, total: str, at_ms: int, *, keep: int) -> None:
        """Remember an order of this shape, keeping the newest ``keep``."""
        shapes = (*self._shapes.get(key, ()), (total, at_ms))
        set_item(self._log, self._shapes, key, shapes[-keep:] if keep > 0 else ())

    def value_stats(self, key: str) -> ValueStats | None:
        """The running statistics under ``key``, if any."""
        return self._stats.get(key)

    def put_value_stats(self, stats: ValueStats) -> None:
        """Insert or replace statistics by key."""
        set_item(self._log, self._stats, stats.key, stats)

    def standing(
        self,
        affiliate_id: str,
        stats_key: str,
        tallies: Sequence[str] = (),
        *,
        reads: Sequence[str] = (),
    ) -> Standing:
        """The affiliate's history, the statistics under ``stats_key`` and the tallies."""
        found = tuple(self.tallies([*tallies, *reads]))
        return Standing(self._histories.get(affiliate_id), self._stats.get(stats_key), found)

    def record_standing(
        self,
        affiliate_id: str,
        history: History,
        stats: ValueStats,
        tallies: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        """Insert or replace the affiliate's history, the statistics and the tallies."""
        self.put_history(affiliate_id, history)
        self.put_value_stats(stats)
        for key, counts in (tallies or {}).items():
            set_item(self._log, self._tallies, key, tuple(counts))

    def add_distinct(self, kind: str, key: str, member: str, *, keep: int) -> int:
        """Add ``member`` to the set ``(kind, key)`` unless it is there, keeping the newest
        ``keep`` members (a member already there keeps its place); the set's size."""
        members = self._distinct.get((kind, key))
        if members is None:
            members = self._distinct[(kind, key)] = {}
        if member in members:
            return len(members)
        members[member] = None
        evicted: list[str] = []
        while len(members) > max(keep, 0):
            oldest = next(iter(members))
            del members[oldest]
            evicted.append(oldest)
        if self._log.active:
            self._log.record(lambda: _unadd(members, member, evicted))
        return len(members)

    def tallies(self, keys: Sequence[str]) -> list[tuple[int, ...]]:
        """The counts under each of ``keys`` (``()`` for none)."""
        return [self._tallies.get(key, ()) for key in keys]

    def bump(self, key: str, deltas: Sequence[int]) -> tuple[int, ...]:
        """Add ``deltas`` to the counts under ``key``, place by place; the counts after."""
        after = tuple(
            a + b for a, b in zip_longest(self._tallies.get(key, ()), deltas, fillvalue=0)
        )
        set_item(self._log, self._tallies, key, after)
        return after


def _unadd(members: dict[str, None], member: str, evicted: list[str]) -> None:
    members.pop(member, None)
    if evicted:
        rest = list(members)
        members.clear()
        members.update(dict.fromkeys([*evicted, *rest]))
