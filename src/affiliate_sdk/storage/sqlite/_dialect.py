"""What differs between SQL engines, kept in one place.

Repository SQL is portable: ``?`` parameters (a driver for ``%s`` translates
them with ``placeholders``), ``INSERT ... ON CONFLICT ... DO UPDATE/NOTHING``,
``RETURNING``, integer milliseconds and exact decimals as text, binary
ordering of text keys, row values in ``VALUES`` lists. What the engine does differently (how a write
transaction starts, how its errors read) is named here.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Final, TypeVar

__all__ = [
    "BEGIN_READ",
    "BEGIN_WRITE",
    "LOWEST_INTEGER",
    "MAX_PARAMETERS",
    "chunks",
    "insert_rows",
    "is_busy",
    "is_unique_violation",
    "placeholders",
    "prefix_bounds",
]

#: Starts a write transaction that takes the write lock at once.
BEGIN_WRITE: Final = "BEGIN IMMEDIATE"
#: Starts a read transaction (its snapshot is taken at the first read).
BEGIN_READ: Final = "BEGIN DEFERRED"
#: Parameters bound in one ``IN (...)`` list, well below every engine's limit.
MAX_PARAMETERS: Final = 500
#: Parameters bound in one multi-row ``INSERT``: within every engine's limit (SQLite's
#: default is 32,766), and few statements per batch.
MAX_INSERT_PARAMETERS: Final = 16_384
#: The lowest value of a 64-bit integer column (below every instant stored).
LOWEST_INTEGER: Final = -(2**63)
_MAX_CODE_POINT: Final = 0x10FFFF

_T = TypeVar("_T")


def placeholders(count: int) -> str:
    """``?, ?, ...`` for ``count`` parameters."""
    return ", ".join("?" * count)


def chunks(values: Sequence[_T], *, per_value: int = 1) -> Iterator[Sequence[_T]]:
    """``values`` in slices small enough to bind in one statement, each value taking
    ``per_value`` parameters."""
    size = max(MAX_PARAMETERS // per_value, 1)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_rows(
    conn: sqlite3.Connection,
    head: str,
    rows: Sequence[Sequence[object]],
    tail: str = "",
) -> None:
    """``{head} VALUES (...), (...) {tail}`` for every row, as few statements as the
    parameter limit allows (rows of equal length).

    One statement per several hundred rows, rather than ``executemany``'s one step per
    row: a background thread gives up the interpreter lock for each step into SQLite and
    must win it back from busy threads after each, so its batch costs them a hand-over a
    row; here it costs one a statement. Binding runs in C.
    """
    if not rows:
        return
    width = len(rows[0])
    per = max(MAX_INSERT_PARAMETERS // width, 1)
    row = f"({placeholders(width)})"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        sql = f"{head} VALUES {', '.join(itertools.repeat(row, len(chunk)))} {tail}"
        conn.execute(sql, list(itertools.chain.from_iterable(chunk)))


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """``(low, high)`` with ``low <= key < high`` exactly when ``key`` starts with ``prefix``.

    Text compares by code point (SQLite's BINARY collation of UTF-8, a C
    collation elsewhere); ``high`` is the prefix's successor, None when every
    key qualifies. No sentinel character, so keys beyond U+FFFF are found too.
    """
    stem = prefix
    while stem and ord(stem[-1]) == _MAX_CODE_POINT:
        stem = stem[:-1]
    if not stem:
        return prefix, None
    following = ord(stem[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not stored: skip past them
        following = 0xE000
    return prefix, stem[:-1] + chr(following)


def is_unique_violation(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says a unique key (or primary key) is already taken."""
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection held a lock past the busy timeout."""
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and (
        "database is locked" in text or "database is busy" in text
    )
