"""``PeriodRepo`` on SQLite: period totals and idempotency marks."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from affiliate_sdk.storage.rows import Mark, PeriodTotals

from ._connection import Db
from ._dialect import chunks, placeholders, prefix_bounds

__all__ = ["SqlitePeriods"]

_COLUMNS: Final = "key, volume, tier_base, rate, paid, booked, seq"


def _totals(values: tuple[object, ...]) -> PeriodTotals:
    key, volume, tier_base, rate, paid, booked, seq = values
    return PeriodTotals(
        str(key),
        Decimal(str(volume)),
        Decimal(str(tier_base)),
        Decimal(str(rate)),
        Decimal(str(paid)),
        Decimal(str(booked)),
        int(str(seq)),
    )


class SqlitePeriods:
    """Period totals by key and marks, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def get_many(self, keys: Sequence[str]) -> dict[str, PeriodTotals]:
        """The totals kept under these keys (absent keys are left out)."""
        found: dict[str, PeriodTotals] = {}
        for chunk in chunks(list(dict.fromkeys(keys))):
            for values in self._db.rows(
                f"SELECT {_COLUMNS} FROM period_totals WHERE key IN ({placeholders(len(chunk))})",
                chunk,
            ):
                totals = _totals(values)
                found[totals.key] = totals
        return {key: found[key] for key in keys if key in found}

    def put(self, totals: Sequence[PeriodTotals]) -> None:
        """Insert or replace totals by key."""
        self._db.many(
            f"INSERT INTO period_totals ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET volume = excluded.volume, "
            "tier_base = excluded.tier_base, rate = excluded.rate, paid = excluded.paid, "
            "booked = excluded.booked, seq = excluded.seq",
            [
                (
                    t.key,
                    str(t.volume),
                    str(t.tier_base),
                    str(t.rate),
                    str(t.paid),
                    str(t.booked),
                    t.seq,
                )
                for t in totals
            ],
        )

    def scan(
        self, prefix: str, *, after: str | None = None, limit: int | None = None
    ) -> list[PeriodTotals]:
        """Totals whose key starts with ``prefix``, by key, after the key ``after``; no
        ``limit``: all of them."""
        rows = self._prefixed("period_totals", _COLUMNS, prefix, after, limit)
        return [_totals(values) for values in rows]

    def marks(
        self, prefix: str, *, after: str | None = None, limit: int | None = None
    ) -> list[Mark]:
        """Marks whose key starts with ``prefix``, by key, after the key ``after``; no
        ``limit``: all of them."""
        rows = self._prefixed("marks", "key, value, seq", prefix, after, limit)
        return [Mark(str(key), str(value), int(str(seq))) for key, value, seq in rows]

    def _prefixed(
        self, table: str, columns: str, prefix: str, after: str | None, limit: int | None
    ) -> list[tuple[object, ...]]:
        """Rows of ``table`` whose key starts with ``prefix`` (a range of its primary key),
        by key, after ``after``, at most ``limit``."""
        if limit is not None and limit <= 0:
            return []
        low, high = prefix_bounds(prefix)
        clauses, params = ["key >= ?"], [low]
        if high is not None:
            clauses.append("key < ?")
            params.append(high)
        if after is not None:
            clauses.append("key > ?")
            params.append(after)
        sql = f"SELECT {columns} FROM {table} WHERE {' AND '.join(clauses)} ORDER BY key"
        if limit is not None:
            return self._db.rows(f"{sql} LIMIT ?", (*params, limit))
        return self._db.rows(sql, params)

    def get_mark(self, key: str) -> Mark | None:
        """The mark under ``key``, if set."""
        found = self._db.row("SELECT key, value, seq FROM marks WHERE key = ?", (key,))
        return None if found is None else Mark(str(found[0]), str(found[1]), int(str(found[2])))

    def put_mark(self, mark: Mark, *, replace: bool = False) -> bool:
        """Set a mark; without ``replace`` an existing one is kept. Whether it was written."""
        action = (
            "DO UPDATE SET value = excluded.value, seq = excluded.seq" if replace else "DO NOTHING"
        )
        changed = self._db.run(
            f"INSERT INTO marks (key, value, seq) VALUES (?, ?, ?) ON CONFLICT (key) {action}",
            mark,
        )
        return changed > 0
