"""``OutboxRepo`` on SQLite: events written with the state change that causes them.

``seq`` is assigned here from a high-water mark kept in ``meta``, so a seq
handed out is never handed out again, even after its event is pruned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from affiliate_sdk.storage.rows import OutboxRow

from ._connection import Db

__all__ = ["OUTBOX_MARK", "SqliteOutbox"]

#: The ``meta`` row holding the highest seq ever handed out.
OUTBOX_MARK: Final = "outbox_seq"
_COLUMNS: Final = "seq, event_id, type, created_at_ms, data"


def _row(values: tuple[object, ...]) -> OutboxRow:
    seq, event_id, type_, created_at_ms, data = values
    return OutboxRow(int(str(seq)), str(event_id), str(type_), int(str(created_at_ms)), str(data))


class SqliteOutbox:
    """The outbox, appended at its right edge, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def add(self, rows: Sequence[OutboxRow]) -> None:
        """Append events, numbering them after the high-water mark (``DuplicateEntry`` when an
        event id exists)."""
        if not rows:
            return
        with self._db.atomic():
            seq = self.last_seq()
            for row in rows:
                seq += 1
                self._db.run(
                    f"INSERT INTO outbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                    (seq, row.event_id, row.type, row.created_at_ms, row.data),
                    what="outbox event",
                    key=row.event_id,
                )
            self._db.run(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (OUTBOX_MARK, str(seq)),
            )

    def after(self, seq: int, *, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` events with a ``seq`` above ``seq``, in order."""
        rows = self._db.rows(
            f"SELECT {_COLUMNS} FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, max(limit, 0)),
        )
        return [_row(values) for values in rows]

    def get(self, event_id: str) -> OutboxRow | None:
        """The event with this id, if it is still kept."""
        found = self._db.row(f"SELECT {_COLUMNS} FROM outbox WHERE event_id = ?", (event_id,))
        return None if found is None else _row(found)

    def first_since(self, created_at_ms: int) -> int | None:
        """The ``seq`` of the first event created at or after ``created_at_ms``, if any."""
        found = self._db.row(
            "SELECT min(seq) FROM outbox WHERE created_at_ms >= ?", (created_at_ms,)
        )
        return None if found is None or found[0] is None else int(str(found[0]))

    def last_seq(self) -> int:
        """The ``seq`` of the newest event ever written (0 when there is none)."""
        found = self._db.row("SELECT value FROM meta WHERE name = ?", (OUTBOX_MARK,))
        return 0 if found is None else int(str(found[0]))

    def prune(self, *, through_seq: int, before_ms: int) -> int:
        """Delete events with ``seq <= through_seq`` created before ``before_ms``; how many."""
        return self._db.run(
            "DELETE FROM outbox WHERE seq <= ? AND created_at_ms < ?", (through_seq, before_ms)
        )
