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

    def scan(self, prefix: str) -> list[PeriodTotals]:
        """Every total whose key starts with ``prefix``, by key."""
        low, high = prefix_bounds(prefix)
        if high is None:
            rows = self._db.rows(
                f"SELECT {_COLUMNS} FROM period_totals WHERE key >= ? ORDER BY key", (low,)
            )
        else:
            rows = self._db.rows(
                f"SELECT {_COLUMNS} FROM period_totals WHERE key >= ? AND key < ? ORDER BY key",
                (low, high),
            )
        return [_totals(values) for values in rows]

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
