"""``JournalRepo`` on SQLite: the hash-chained journal and its signed checkpoints."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final, cast

from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.journal import GENESIS_HASH
from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.storage.rows import JournalRow

from ._connection import Db
from ._dialect import chunks, placeholders

__all__ = ["SCAN_BATCH", "SqliteJournal"]

#: Entries read per statement while scanning.
SCAN_BATCH: Final = 4096
_COLUMNS: Final = "seq, event_id, at_ms, body, hash"


def _row(values: tuple[object, ...]) -> JournalRow:
    seq, event_id, at_ms, body, hash_ = values
    return JournalRow(
        int(str(seq)),
        str(event_id),
        int(str(at_ms)),
        bytes(cast(bytes, body)),
        bytes(cast(bytes, hash_)),
    )


class SqliteJournal:
    """The journal, appended at its right edge, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def head(self) -> JournalRow | None:
        """The last entry, or None when the journal is empty."""
        found = self._db.row(f"SELECT {_COLUMNS} FROM journal ORDER BY seq DESC LIMIT 1")
        return None if found is None else _row(found)

    def append(self, rows: Sequence[JournalRow], *, previous: bytes | None = None) -> None:
        """Append entries continuing the chain (``DuplicateEntry`` for a seq or event id
        already present; ``StorageError`` for a gap or a head that is not ``previous``)."""
        if not rows:
            return
        found = self._db.row("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
        head = 0 if found is None else int(str(found[0]))
        if previous is not None:
            tag = GENESIS_HASH if found is None else bytes(cast(bytes, found[1]))
            if tag != previous:
                raise StorageError("the journal's head moved")
        if rows[0].seq <= head:
            raise DuplicateEntry("journal entry", str(rows[0].seq))
        if [row.seq for row in rows] != list(range(head + 1, head + 1 + len(rows))):
            raise StorageError(f"journal entries must follow the head (seq {head}) without gaps")
        with self._db.atomic():
            for row in rows:
                self._db.run(
                    f"INSERT INTO journal ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                    row,
                    what="journal event",
                    key=row.event_id,
                )

    def get_many(self, seqs: Sequence[int]) -> dict[int, JournalRow]:
        """The entries at these sequence numbers that exist."""
        found: dict[int, JournalRow] = {}
        for chunk in chunks(list(dict.fromkeys(seqs))):
            for values in self._db.rows(
                f"SELECT {_COLUMNS} FROM journal WHERE seq IN ({placeholders(len(chunk))})",
                chunk,
            ):
                row = _row(values)
                found[row.seq] = row
        return found

    def by_event(self, event_id: str) -> JournalRow | None:
        """The entry with this event id, if any."""
        found = self._db.row(f"SELECT {_COLUMNS} FROM journal WHERE event_id = ?", (event_id,))
        return None if found is None else _row(found)

    def scan(self, *, after_seq: int = 0, until_seq: int | None = None) -> Iterator[JournalRow]:
        """Entries with ``after_seq < seq <= until_seq``, in order, read in batches."""
        last = after_seq
        while True:
            if until_seq is None:
                batch = self._db.rows(
                    f"SELECT {_COLUMNS} FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                    (last, SCAN_BATCH),
                )
            else:
                batch = self._db.rows(
                    f"SELECT {_COLUMNS} FROM journal WHERE seq > ? AND seq <= ? "
                    "ORDER BY seq LIMIT ?",
                    (last, until_seq, SCAN_BATCH),
                )
            rows = [_row(values) for values in batch]
            yield from rows
            if len(rows) < SCAN_BATCH:
                return
            last = rows[-1].seq

    def first_at(self, at_ms: int) -> int | None:
        """The seq of the first entry at or after ``at_ms``, if any."""
        found = self._db.row(
            "SELECT seq FROM journal WHERE at_ms >= ? ORDER BY at_ms, seq LIMIT 1", (at_ms,)
        )
        return None if found is None else int(str(found[0]))

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint."""
        self._db.run("INSERT INTO checkpoints (data) VALUES (?)", (checkpoint.model_dump_json(),))

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first."""
        rows = self._db.rows("SELECT data FROM checkpoints ORDER BY id")
        return [Checkpoint.model_validate_json(str(row[0])) for row in rows]
