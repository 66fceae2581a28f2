"""``RiskRepo`` on SQLite: what the order-fraud signals remember between orders."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import zip_longest

from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.storage.rows import Standing, ValueStats

from ._connection import Db
from ._dialect import chunks, placeholders

__all__ = ["SqliteRisk"]


class SqliteRisk:
    """Histories, order shapes, value statistics and distinct sets."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def history(self, affiliate_id: str) -> History | None:
        """The affiliate's order history, if any."""
        found = self._db.row(
            "SELECT orders, refunds, flagged, timed, late FROM risk_histories "
            "WHERE affiliate_id = ?",
            (affiliate_id,),
        )
        return None if found is None else History(*(int(str(v)) for v in found))

    def put_history(self, affiliate_id: str, history: History) -> None:
        """Insert or replace the affiliate's history."""
        self._db.run(
            "INSERT INTO risk_histories (affiliate_id, orders, refunds, flagged, timed, late) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (affiliate_id) DO UPDATE SET "
            "orders = excluded.orders, refunds = excluded.refunds, "
            "flagged = excluded.flagged, timed = excluded.timed, late = excluded.late",
            (affiliate_id, *history),
        )

    def histories(
        self, *, affiliate_ids: Sequence[str] | None = None
    ) -> Iterator[tuple[str, History]]:
        """Every affiliate's history (of ``affiliate_ids`` alone, when given), by affiliate
        id."""
        select = "SELECT affiliate_id, orders, refunds, flagged, timed, late FROM risk_histories"
        if affiliate_ids is None:
            rows = self._db.rows(f"{select} ORDER BY affiliate_id")
        else:
            rows = []
            for chunk in chunks(list(dict.fromkeys(affiliate_ids))):
                rows += self._db.rows(
                    f"{select} WHERE affiliate_id IN ({placeholders(len(chunk))})", chunk
                )
            rows.sort(key=lambda values: str(values[0]))
        for affiliate_id, *counts in rows:
            yield str(affiliate_id), History(*(int(str(v)) for v in counts))

    def recent_shapes(self, key: str, *, since_ms: int) -> list[tuple[str, int]]:
        """``(total, at_ms)`` of the orders of this shape since ``since_ms``, oldest first."""
        rows = self._db.rows(
            "SELECT total, at_ms FROM order_shapes WHERE key = ? AND at_ms >= ? ORDER BY id",
            (key, since_ms),
        )
        return [(str(total), int(str(at_ms))) for total, at_ms in rows]

    def add_shape(self, key: str, total: str, at_ms: int, *, keep: int) -> None:
        """Remember an order of this shape, keeping the newest ``keep``."""
        self._db.run(
            "INSERT INTO order_shapes (key, total, at_ms) VALUES (?, ?, ?)", (key, total, at_ms)
        )
        self._db.run(
            "DELETE FROM order_shapes WHERE key = ? AND id NOT IN "
            "(SELECT id FROM order_shapes WHERE key = ? ORDER BY id DESC LIMIT ?)",
            (key, key, max(keep, 0)),
        )

    def value_stats(self, key: str) -> ValueStats | None:
        """The running statistics under ``key``, if any."""
        found = self._db.row("SELECT key, orders, mean, m2 FROM value_stats WHERE key = ?", (key,))
        if found is None:
            return None
        return ValueStats(
            str(found[0]), int(str(found[1])), float(str(found[2])), float(str(found[3]))
        )

    def put_value_stats(self, stats: ValueStats) -> None:
        """Insert or replace running statistics."""
        self._db.run(
            "INSERT INTO value_stats (key, orders, mean, m2) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET orders = excluded.orders, mean = excluded.mean, "
            "m2 = excluded.m2",
            stats,
        )

    def standing(
        self,
        affiliate_id: str,
        stats_key: str,
        tallies: Sequence[str] = (),
        *,
        reads: Sequence[str] = (),
    ) -> Standing:
        """The affiliate's history, the statistics under ``stats_key`` and the tallies, in
        one statement (a join per tally, each on its key)."""
        keys = [*tallies, *reads]
        joins = "".join(
            f"LEFT JOIN risk_tallies AS t{n} ON t{n}.key = ? " for n in range(len(keys))
        )
        counts = "".join(f", t{n}.counts" for n in range(len(keys)))
        found = self._db.row(
            "SELECT h.orders, h.refunds, h.flagged, h.timed, h.late, v.orders, v.mean, v.m2"
            f"{counts} FROM (SELECT 1) AS one "
            "LEFT JOIN risk_histories AS h ON h.affiliate_id = ? "
            f"LEFT JOIN value_stats AS v ON v.key = ? {joins}",
            (affiliate_id, stats_key, *keys),
        )
        if found is None:  # pragma: no cover - the one-row select always answers
            return Standing(None, None, tuple(() for _ in keys))
        history = None if found[0] is None else History(*(int(str(v)) for v in found[:5]))
        stats = None
        if found[5] is not None:
            stats = ValueStats(
                stats_key, int(str(found[5])), float(str(found[6])), float(str(found[7]))
            )
        kept = tuple(() if text is None else _counts(str(text)) for text in found[8:])
        return Standing(history, stats, kept)

    def record_standing(
        self,
        affiliate_id: str,
        history: History,
        stats: ValueStats,
        tallies: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        """Insert or replace the affiliate's history, the statistics and the tallies."""
        with self._db.atomic():
            self.put_history(affiliate_id, history)
            self.put_value_stats(stats)
            if tallies:
                self.put_tallies(tallies)

    def put_tallies(self, tallies: Mapping[str, Sequence[int]]) -> None:
        """Insert or replace the counts of each tally (one statement)."""
        if not tallies:
            return
        marks = ", ".join("(?, ?)" for _ in tallies)
        params = [part for key, counts in tallies.items() for part in (key, _text(counts))]
        self._db.run(
            f"INSERT INTO risk_tallies (key, counts) VALUES {marks} "
            "ON CONFLICT (key) DO UPDATE SET counts = excluded.counts",
            tuple(params),
        )

    def add_distinct(self, kind: str, key: str, member: str, *, keep: int) -> int:
        """Add ``member`` to the set ``(kind, key)`` (keeping the newest ``keep``); its size."""
        self._db.run(
            "INSERT INTO distinct_members (kind, key, member) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key, member) DO NOTHING",
            (kind, key, member),
        )
        self._db.run(
            "DELETE FROM distinct_members WHERE kind = ? AND key = ? AND id NOT IN "
            "(SELECT id FROM distinct_members WHERE kind = ? AND key = ? ORDER BY id DESC "
            "LIMIT ?)",
            (kind, key, kind, key, max(keep, 0)),
        )
        found = self._db.row(
            "SELECT count(*) FROM distinct_members WHERE kind = ? AND key = ?", (kind, key)
        )
        return 0 if found is None else int(str(found[0]))

    def tallies(self, keys: Sequence[str]) -> list[tuple[int, ...]]:
        """The counts under each of ``keys`` (``()`` for none), in one query."""
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        found = {
            str(key): _counts(str(counts))
            for key, counts in self._db.rows(
                f"SELECT key, counts FROM risk_tallies WHERE key IN ({marks})", tuple(keys)
            )
        }
        return [found.get(key, ()) for key in keys]

    def bump(self, key: str, deltas: Sequence[int]) -> tuple[int, ...]:
        """Add ``deltas`` to the counts under ``key``, place by place; the counts after."""
        (before,) = self.tallies([key])
        after = tuple(a + b for a, b in zip_longest(before, deltas, fillvalue=0))
        self.put_tallies({key: after})
        return after


def _text(counts: Sequence[int]) -> str:
    return ",".join(map(str, counts))


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",")) if text else ()
