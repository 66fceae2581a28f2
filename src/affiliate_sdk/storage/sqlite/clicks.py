"""``ClickRepo`` on SQLite: clicks, impressions, and the visitors a customer ordered from.

With ``background`` set, a recorded click is held by the unit of work and
handed to the background writer when it ends well (dropped if it rolls back);
every read here also looks at those clicks and at the writer's queue, so the
process sees its clicks at once. Without it, clicks are written in the unit
of work like any other row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from affiliate_sdk.errors import StorageError
from affiliate_sdk.storage.held import (
    AFFILIATE,
    AT,
    CAMPAIGN,
    CLICK_ID,
    DECISION,
    MERCHANT,
    VISITOR,
    HeldClick,
)
from affiliate_sdk.storage.rows import ClickRow, ImpressionRow

from ._click_writer import REGISTER_WRITER, ClickWriter
from ._connection import Db
from ._dialect import chunks, placeholders
from ._recent import link_visit

__all__ = ["INSERT_CLICK", "INSERT_CLICKS", "SqliteClicks"]

_COLUMNS: Final = ", ".join(ClickRow._fields)
#: Writes clicks: ``INSERT_CLICKS[0] VALUES (...), ... INSERT_CLICKS[1]`` (a click id already
#: written is left as it is).
INSERT_CLICKS: Final = (f"INSERT INTO clicks ({_COLUMNS})", "ON CONFLICT (click_id) DO NOTHING")
#: Writes one click.
INSERT_CLICK: Final = (
    f"{INSERT_CLICKS[0]} VALUES ({placeholders(len(ClickRow._fields))}) {INSERT_CLICKS[1]}"
)
_SELECT: Final = f"SELECT {_COLUMNS} FROM clicks"
_DEDUPE: Final = (
    f"{_SELECT} WHERE merchant_id = ? AND visitor_id = ? AND clicked_at_ms >= ? AND link_id = ? "
    "ORDER BY clicked_at_ms DESC LIMIT 1"
)


def _click(values: tuple[object, ...]) -> ClickRow:
    return ClickRow._make(values)


class SqliteClicks:
    """Clicks (with the background writer's queue), impressions and customer visitors."""

    def __init__(
        self,
        db: Db,
        writer: Callable[[], ClickWriter | None],
        *,
        background: bool,
        token: str | None,
    ):
        self._db = db
        self._writer = writer
        self._background = background
        self._token = token  # this store's row in click_writers (None: no such table)
        self._gate = threading.Lock()

    def _unwritten(self) -> Sequence[ClickRow | HeldClick]:
        """Clicks this process holds that may not be in the database yet, oldest first.

        Read before the database: a click leaves the writer's queue only once
        committed, and this unit of work either holds the write lock or (a
        reader) took its snapshot right after copying the queue.
        """
        session = self._db.session
        if session.queued is not None:
            return session.queued
        writer = self._writer()
        if writer is None:
            return list(session.clicks)
        with writer.lock:
            queued = writer.queued()
        return [*queued, *session.clicks]

    def record(self, click: ClickRow, *, dedupe_since_ms: int | None) -> tuple[ClickRow, bool]:
        """Store ``click``, or return the visitor's latest click on the same link."""
        session = self._db.session
        if not session.writable:
            raise StorageError("clicks cannot be recorded in a read-only unit of work")
        if self._background and session.gate is None and session.depth:
            # Until this unit of work hands its clicks over, no other thread may check
            # for a duplicate of them: the check and the hand-over are one step.
            session.gate = self._gate
            session.gate.acquire()
        if dedupe_since_ms is not None:
            earlier = self._earlier(click, dedupe_since_ms)
            if earlier is not None:
                return earlier, False
        if self._background:
            if not session.depth:
                raise StorageError("a repository was used outside its unit of work")
            session.clicks.append(click)
        else:
            self._db.run(INSERT_CLICK, click)
            if self._token is not None:
                self._db.run(REGISTER_WRITER, (self._token, click.clicked_at_ms))
        return click, True

    def _earlier(self, click: ClickRow, since_ms: int) -> ClickRow | None:
        """The visitor's latest click on the link since ``since_ms``: held by this unit of
        work, known to the writer (its queue, or ``_recent``) or stored, whichever is
        latest; the file is read only when another writer could hold it."""
        params = (click.merchant_id, click.visitor_id, since_ms, click.link_id)
        if not self._background:
            row = self._db.row(_DEDUPE, params)
            return None if row is None else _click(row)
        found, answerable = self._held_latest(click, since_ms)
        if found is not None and found.clicked_at_ms < since_ms:
            found = None
        if answerable:
            return found
        row = self._db.peek(_DEDUPE, params)
        stored = None if row is None else _click(row)
        if stored is not None and (found is None or stored.clicked_at_ms > found.clicked_at_ms):
            return stored
        return found

    def _held_latest(self, click: ClickRow, since_ms: int) -> tuple[ClickRow | None, bool]:
        """The latest click of ``click``'s visitor on its link that this process holds (in
        this unit of work, the writer's queue or its recent clicks), and whether that is
        the answer (``RecentClicks.lookup``) or the file must be asked too."""
        key = link_visit(click)
        found: ClickRow | None = None
        answerable = False
        writer = self._writer()
        if writer is not None:
            with writer.lock:
                answerable, found = writer.recent.lookup(click, since_ms, time.monotonic(), key)
        for held in self._db.session.clicks:  # this unit of work's own: few, and the newest
            if link_visit(held) == key and (
                found is None or held.clicked_at_ms >= found.clicked_at_ms
            ):
                found = held
        return found, answerable

    def get(self, click_id: str) -> ClickRow | None:
        """The click with this id, written or queued."""
        self._db.connection()
        for held in self._unwritten():
            if held[CLICK_ID] == click_id:
                return ClickRow._make(held)
        found = self._db.row(f"{_SELECT} WHERE click_id = ?", (click_id,))
        return None if found is None else _click(found)

    def by_visitor(
        self, merchant_id: str, visitor_id: str, *, since_ms: int, until_ms: int
    ) -> list[ClickRow]:
        """The visitor's clicks on the merchant's campaigns, ``since_ms <= t <= until_ms``,
        oldest first."""
        self._db.connection()
        held = [
            ClickRow._make(c)
            for c in self._unwritten()
            if c[MERCHANT] == merchant_id
            and c[VISITOR] == visitor_id
            and since_ms <= c[AT] <= until_ms
        ]
        rows = self._db.rows(
            f"{_SELECT} WHERE merchant_id = ? AND visitor_id = ? "
            "AND clicked_at_ms >= ? AND clicked_at_ms <= ?",
            (merchant_id, visitor_id, since_ms, until_ms),
        )
        found = {c.click_id: c for c in map(_click, rows)}
        for click in held:
            found.setdefault(click.click_id, click)
        return sorted(found.values(), key=lambda c: (c.clicked_at_ms, c.click_id))

    def count_unblocked(
        self, merchant_id: str, campaign_id: str, *, since_ms: int, until_ms: int
    ) -> dict[str, int]:
        """Affiliate id -> clicks not blocked in the campaign, ``since_ms <= t < until_ms``."""
        self._db.connection()
        held = {
            c[CLICK_ID]: c[AFFILIATE]
            for c in self._unwritten()
            if c[MERCHANT] == merchant_id
            and c[CAMPAIGN] == campaign_id
            and since_ms <= c[AT] < until_ms
            and c[DECISION] != "block"
        }
        rows = self._db.rows(
            "SELECT affiliate_id, count(*) FROM clicks WHERE merchant_id = ? AND campaign_id = ? "
            "AND clicked_at_ms >= ? AND clicked_at_ms < ? AND decision <> 'block' "
            "GROUP BY affiliate_id",
            (merchant_id, campaign_id, since_ms, until_ms),
        )
        counts = {str(affiliate): int(str(n)) for affiliate, n in rows}
        for click_id in self._written(list(held)):  # committed since the queue was read
            del held[click_id]
        for affiliate_id in held.values():
            counts[affiliate_id] = counts.get(affiliate_id, 0) + 1
        return dict(sorted(counts.items()))

    def _written(self, click_ids: list[str]) -> Iterable[str]:
        for chunk in chunks(click_ids):
            for (click_id,) in self._db.rows(
                f"SELECT click_id FROM clicks WHERE click_id IN ({placeholders(len(chunk))})",
                chunk,
            ):
                yield str(click_id)

    def add_impression(self, impression: ImpressionRow) -> None:
        """Record an impression."""
        i = impression
        self._db.run(
            "INSERT INTO impressions (merchant_id, visitor_id, at_ms, impression_id, "
            "affiliate_id, campaign_id, earns) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*i[1:3], i.at_ms, i.impression_id, i.affiliate_id, i.campaign_id, int(i.earns)),
            what="impression",
            key=i.impression_id,
        )

    def impressions(
        self, merchant_id: str, visitor_id: str, *, since_ms: int, until_ms: int
    ) -> list[ImpressionRow]:
        """The visitor's impressions of the merchant's campaigns, ``since_ms <= t <=
        until_ms``, oldest first."""
        rows = self._db.rows(
            "SELECT impression_id, merchant_id, visitor_id, affiliate_id, campaign_id, at_ms, "
            "earns FROM impressions WHERE merchant_id = ? AND visitor_id = ? AND at_ms >= ? "
            "AND at_ms <= ? ORDER BY at_ms, impression_id",
            (merchant_id, visitor_id, since_ms, until_ms),
        )
        return [
            ImpressionRow(str(i), str(m), str(v), str(a), str(c), int(str(at)), bool(earns))
            for i, m, v, a, c, at, earns in rows
        ]

    def link_visitor(
        self, merchant_id: str, customer_id: str, visitor_id: str, *, at_ms: int
    ) -> None:
        """Remember that the customer ordered from this visitor id (the first time is kept)."""
        self._db.run(
            "INSERT INTO customer_visitors (merchant_id, customer_id, visitor_id, at_ms) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (merchant_id, customer_id, visitor_id) DO NOTHING",
            (merchant_id, customer_id, visitor_id, at_ms),
        )

    def visitors_of(self, merchant_id: str, customer_id: str, *, limit: int) -> list[str]:
        """The customer's ``limit`` most recently linked visitor ids, oldest first."""
        rows = self._db.rows(
            "SELECT visitor_id, at_ms FROM customer_visitors "
            "WHERE merchant_id = ? AND customer_id = ? "
            "ORDER BY at_ms DESC, visitor_id DESC LIMIT ?",
            (merchant_id, customer_id, max(limit, 0)),
        )
        return [str(row[0]) for row in reversed(rows)]
