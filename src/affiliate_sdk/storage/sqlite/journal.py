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

__all__ = ["SCAN_BATCH", "SqliteJournal", "check_places"]

#: Entries read per statement while scanning.
SCAN_BATCH: Final = 4096
_COLUMNS: Final = "seq, event_id, at_ms, body, hash, chain, pos"
#: Each chain's last entry, found chain by chain on the (chain, pos) index (a skip scan:
#: the cost grows with the chains, not with the entries).
_HEADS: Final = (
    "WITH RECURSIVE c(n) AS (SELECT min(chain) FROM journal UNION ALL "
    "SELECT (SELECT min(chain) FROM journal WHERE chain > c.n) FROM c WHERE c.n IS NOT NULL) "
    f"SELECT {', '.join('j.' + name for name in _COLUMNS.split(', '))} FROM c "
    "JOIN journal AS j ON j.chain = c.n "
    "AND j.pos = (SELECT max(pos) FROM journal WHERE chain = c.n) ORDER BY j.chain"
)


def _row(values: tuple[object, ...]) -> JournalRow:
    seq, event_id, at_ms, body, hash_, chain, pos = values
    return JournalRow(
        int(str(seq)),
        str(event_id),
        int(str(at_ms)),
        bytes(cast(bytes, body)),
        bytes(cast(bytes, hash_)),
        int(str(chain)),
        int(str(pos)),
    )


class SqliteJournal:
    """The journal, appended at its chains' right edges, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def head(self, chain: int = 0) -> JournalRow | None:
        """The chain's last entry, or None when it has none."""
        found = self._db.row(
            f"SELECT {_COLUMNS} FROM journal WHERE chain = ? ORDER BY pos DESC LIMIT 1", (chain,)
        )
        return None if found is None else _row(found)

    def heads(self) -> dict[int, JournalRow]:
        """Every chain's last entry."""
        rows = self._db.rows(_HEADS)
        return {row.chain: row for row in map(_row, rows)}

    def next_seq(self) -> int:
        """One past the highest seq (one writer at a time holds the file)."""
        found = self._db.row("SELECT max(seq) FROM journal")
        return 1 if found is None or found[0] is None else int(str(found[0])) + 1

    def append(self, rows: Sequence[JournalRow], *, previous: bytes | None = None) -> None:
        """Append entries continuing their chain (``DuplicateEntry`` for a seq, place or event
        id already present; ``StorageError`` for a gap, rows of several chains or a head
        that is not ``previous``)."""
        if not rows:
            return
        chain = rows[0].chain
        found = self._db.row(
            "SELECT pos, hash FROM journal WHERE chain = ? ORDER BY pos DESC LIMIT 1", (chain,)
        )
        head = 0 if found is None else int(str(found[0]))
        if previous is not None:
            tag = GENESIS_HASH if found is None else bytes(cast(bytes, found[1]))
            if tag != previous:
                raise StorageError("the journal's head moved")
        check_places(rows, chain, head)
        with self._db.atomic():
            for row in rows:
                self._db.run(
                    f"INSERT INTO journal ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    row,
                    what="journal event",
                    key=row.event_id,
                )

    def get_many(self, seqs: Sequence[int]) -> dict[int, JournalRow]:
        """The entries with these seqs that exist."""
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

    def scan(
        self, *, chain: int = 0, after: int = 0, until: int | None = None
    ) -> Iterator[JournalRow]:
        """The chain's entries with ``after < pos <= until``, in order, read in batches."""
        last = after
        bound = "" if until is None else " AND pos <= ?"
        sql = (
            f"SELECT {_COLUMNS} FROM journal WHERE chain = ? AND pos > ?{bound} "
            "ORDER BY pos LIMIT ?"
        )
        while True:
            values = (
                (chain, last, SCAN_BATCH) if until is None else (chain, last, until, SCAN_BATCH)
            )
            rows = [_row(found) for found in self._db.rows(sql, values)]
            yield from rows
            if len(rows) < SCAN_BATCH:
                return
            last = rows[-1].pos

    def first_at(self, at_ms: int, *, chain: int = 0) -> int | None:
        """The place of the chain's first entry at or after ``at_ms``, if any."""
        found = self._db.row(
            "SELECT pos FROM journal WHERE chain = ? AND at_ms >= ? ORDER BY at_ms, pos LIMIT 1",
            (chain, at_ms),
        )
        return None if found is None else int(str(found[0]))

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint."""
        self._db.run("INSERT INTO checkpoints (data) VALUES (?)", (checkpoint.model_dump_json(),))

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first."""
        rows = self._db.rows("SELECT data FROM checkpoints ORDER BY id")
        return [Checkpoint.model_validate_json(str(row[0])) for row in rows]


def check_places(rows: Sequence[JournalRow], chain: int, head: int) -> None:
    """Whether ``rows`` are of ``chain`` and follow its place ``head`` without gaps."""
    if any(row.chain != chain for row in rows):
        raise StorageError("journal entries appended together must be of one chain")
    if rows[0].pos <= head:
        raise DuplicateEntry("journal entry", f"{chain}/{rows[0].pos}")
    if [row.pos for row in rows] != list(range(head + 1, head + 1 + len(rows))):
        raise StorageError(
            f"journal entries must follow the head (place {head}) of chain {chain} without gaps"
        )
    if any(row.seq < 1 for row in rows):
        raise StorageError("journal seqs start at 1")
