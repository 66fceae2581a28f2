"""Clicks, impressions and customers' visitor ids, indexed by what they are looked up by."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any, Final, TypeVar

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.storage.held import AFFILIATE, AT, DECISION
from affiliate_sdk.storage.rows import ClickRow, ImpressionRow

from ._undo import UndoLog

__all__ = ["MemoryClicks"]

_T = TypeVar("_T")
_K = TypeVar("_K")
#: Cells per click (a ``ClickRow``'s fields).
_FIELDS: Final = len(ClickRow._fields)
#: What a lookup in a merchant missing from an index reads.
_NONE: Final[dict[Any, Any]] = {}


class MemoryClicks:
    """``ClickRepo`` over indexes nested by merchant: each visitor's clicks in time order (a
    lone click held as it is), each visitor's latest click per link, each campaign's clicks in
    time order.

    Every click's sixteen values are cells of one list (``_cells``), and the indexes hold
    where a click's cells begin, a plain int: recording a click makes no object the garbage
    collector follows (but, from a visitor's second click on, the tuple of their clicks). A
    ``ClickRow`` per click, or a tuple, made every click add to the young generation, so that
    the collector ran every few hundred clicks, inside whichever click came next; a named
    tuple stayed tracked for good, so every older collection walked all the clicks.
    """

    __slots__ = (
        "_by_campaign",
        "_by_link",
        "_by_visitor",
        "_cells",
        "_clicks",
        "_impressions",
        "_linked",
        "_log",
        "_visitors",
    )

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._cells: list[Any] = []  # _FIELDS values per click, one click after the other
        self._clicks: dict[str, int] = {}  # click id -> where its cells begin
        # merchant -> visitor -> their only click, or their clicks in time order
        self._by_visitor: dict[str, dict[str, int | tuple[int, ...]]] = {}
        # merchant -> link -> visitor -> the visitor's latest click on the link (a repeat's match)
        self._by_link: dict[str, dict[str, dict[str, int]]] = {}
        # merchant -> campaign -> its clicks in time order
        self._by_campaign: dict[str, dict[str, list[int]]] = {}
        self._impressions: dict[tuple[str, str], list[ImpressionRow]] = {}
        # (merchant, customer) -> (first linked at, visitor id), in time order
        self._visitors: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self._linked: dict[tuple[str, str], set[str]] = {}

    def _row(self, at: int) -> ClickRow:
        return ClickRow._make(self._cells[at : at + _FIELDS])

    def _clicked_at(self, at: int) -> int:
        return int(self._cells[at + AT])

    def record(self, click: ClickRow, *, dedupe_since_ms: int | None) -> tuple[ClickRow, bool]:
        """Store ``click``, or return the visitor's latest click on the same link since
        ``dedupe_since_ms`` (``DuplicateEntry`` for a click id already stored)."""
        cells = self._cells
        merchant, visitor = click.merchant_id, click.visitor_id
        on_link = self._by_link.get(merchant, _NONE).get(click.link_id)
        latest = None if on_link is None else on_link.get(visitor)
        if (
            dedupe_since_ms is not None
            and latest is not None
            and cells[latest + AT] >= dedupe_since_ms
        ):
            return self._row(latest), False
        clicks = self._clicks
        if click.click_id in clicks:
            raise DuplicateEntry("click", click.click_id)
        at = len(cells)
        cells.extend(click)
        at_ms = click.clicked_at_ms
        if latest is None or cells[latest + AT] <= at_ms:
            if on_link is None:
                on_link = _inner(self._by_link, merchant)[click.link_id] = {}
            on_link[visitor] = at
        try:
            visitors = self._by_visitor[merchant]
        except KeyError:
            visitors = self._by_visitor[merchant] = {}
        before = visitors.get(visitor)
        if before is None:
            visitors[visitor] = at
        else:
            earlier = (before,) if isinstance(before, int) else before
            visitors[visitor] = tuple(self._in_time(list(earlier), at))
        try:
            in_campaign = self._by_campaign[merchant][click.campaign_id]
        except KeyError:
            _inner(self._by_campaign, merchant)[click.campaign_id] = [at]
        else:
            self._in_time(in_campaign, at)
        clicks[click.click_id] = at
        steps = self._log.steps
        if steps is not None:  # one undo step takes the click out of everything
            steps.append(lambda: self._take_out(at, latest))
        return click, True

    def _in_time(self, clicks: list[int], at: int) -> list[int]:
        """``clicks`` with the click at ``at`` after every one clicked at or before it."""
        at_ms = self._clicked_at(at)
        if self._clicked_at(clicks[-1]) <= at_ms:
            clicks.append(at)
        else:
            clicks.insert(bisect_right(clicks, at_ms, key=self._clicked_at), at)
        return clicks

    def _take_out(self, at: int, latest_before: int | None) -> None:
        """Undo a recorded click: out of the table and of every index (what it leaves
        empty goes too, a visitor left with one click holds it alone again), so a
        rollback leaves the indexes as they were."""
        click = self._row(at)
        del self._clicks[click.click_id]
        merchant, visitor = click.merchant_id, click.visitor_id
        links = self._by_link[merchant]
        if latest_before is None:
            _drop(links, click.link_id, visitor)
            _drop(self._by_link, merchant)
        else:
            links[click.link_id][visitor] = latest_before
        visitors = self._by_visitor[merchant]
        kept = visitors[visitor]
        if isinstance(kept, int):
            del visitors[visitor]
            _drop(self._by_visitor, merchant)
        else:
            rest = tuple(n for n in kept if n != at)
            visitors[visitor] = rest[0] if len(rest) == 1 else rest
        campaigns = self._by_campaign[merchant]
        in_campaign = campaigns[click.campaign_id]
        if in_campaign[-1] == at:
            in_campaign.pop()
        else:
            in_campaign.remove(at)
        if not in_campaign:
            del campaigns[click.campaign_id]
            _drop(self._by_campaign, merchant)
        if at + _FIELDS == len(self._cells):  # the latest click (undone first): its cells go
            del self._cells[at:]

    def get(self, click_id: str) -> ClickRow | None:
        """The click, if stored."""
        at = self._clicks.get(click_id)
        return None if at is None else self._row(at)

    def by_visitor(
        self, merchant_id: str, visitor_id: str, *, since_ms: int, until_ms: int
    ) -> list[ClickRow]:
        """The visitor's clicks on the merchant's campaigns, ``since_ms <= t <= until_ms``."""
        kept = self._by_visitor.get(merchant_id, _NONE).get(visitor_id)
        if kept is None:
            return []
        if isinstance(kept, int):
            return [self._row(kept)] if since_ms <= self._clicked_at(kept) <= until_ms else []
        start = bisect_left(kept, since_ms, key=self._clicked_at)
        end = bisect_right(kept, until_ms, key=self._clicked_at)
        return [self._row(at) for at in kept[start:end]]

    def count_unblocked(
        self, merchant_id: str, campaign_id: str, *, since_ms: int, until_ms: int
    ) -> dict[str, int]:
        """Affiliate id -> clicks not blocked in the campaign, ``since_ms <= t < until_ms``."""
        clicks = self._by_campaign.get(merchant_id, _NONE).get(campaign_id)
        counts: dict[str, int] = {}
        if not clicks:
            return counts
        cells = self._cells
        start = bisect_left(clicks, since_ms, key=self._clicked_at)
        end = bisect_left(clicks, until_ms, key=self._clicked_at)
        for at in clicks[start:end]:
            if cells[at + DECISION] != "block":
                affiliate = cells[at + AFFILIATE]
                counts[affiliate] = counts.get(affiliate, 0) + 1
        return counts

    def add_impression(self, impression: ImpressionRow) -> None:
        """Store an impression."""
        seen = self._impressions.setdefault((impression.merchant_id, impression.visitor_id), [])
        _insert_in_time(self._log, seen, impression, impression.at_ms, _seen_at)

    def impressions(
        self, merchant_id: str, visitor_id: str, *, since_ms: int, until_ms: int
    ) -> list[ImpressionRow]:
        """The visitor's impressions of the merchant's campaigns, ``since_ms <= t <= until_ms``."""
        seen = self._impressions.get((merchant_id, visitor_id))
        if not seen:
            return []
        start = bisect_left(seen, since_ms, key=_seen_at)
        end = bisect_right(seen, until_ms, key=_seen_at)
        return seen[start:end]

    def link_visitor(
        self, merchant_id: str, customer_id: str, visitor_id: str, *, at_ms: int
    ) -> None:
        """Remember that the customer ordered from this visitor id (the first time is kept)."""
        key = (merchant_id, customer_id)
        linked = self._linked.get(key)
        if linked is None:
            linked = self._linked[key] = set()
        if visitor_id in linked:
            return
        linked.add(visitor_id)
        if self._log.active:
            self._log.record(lambda: linked.discard(visitor_id))
        visitors = self._visitors.setdefault(key, [])
        _insert_in_time(self._log, visitors, (at_ms, visitor_id), at_ms, _linked_at)

    def visitors_of(self, merchant_id: str, customer_id: str, *, limit: int) -> list[str]:
        """The customer's ``limit`` most recently linked visitor ids, oldest first."""
        if limit <= 0:
            return []
        return [
            visitor for _, visitor in self._visitors.get((merchant_id, customer_id), [])[-limit:]
        ]


def _insert_in_time(
    log: UndoLog, rows: list[_T], row: _T, at_ms: int, key: Callable[[_T], int]
) -> None:
    """Insert ``row`` after every row at or before ``at_ms`` (undone by removing it)."""
    if not rows or key(rows[-1]) <= at_ms:
        rows.append(row)
        if log.active:
            log.record(rows.pop)
        return
    at = bisect_right(rows, at_ms, key=key)
    rows.insert(at, row)
    if log.active:
        log.record(lambda: rows.pop(at))


def _inner(index: dict[str, dict[_K, _T]], merchant_id: str) -> dict[_K, _T]:
    """``index[merchant_id]``, made empty if missing."""
    inner = index.get(merchant_id)
    if inner is None:
        inner = index[merchant_id] = {}
    return inner


def _drop(index: dict[str, Any], key: str, inner_key: str | None = None) -> None:
    """Delete ``index[key][inner_key]`` (or, without it, ``index[key]`` if it is empty);
    an inner dictionary left empty goes too."""
    if inner_key is not None:
        inner = index[key]
        del inner[inner_key]
        if inner:
            return
    elif index[key]:
        return
    del index[key]


def _seen_at(impression: ImpressionRow) -> int:
    return impression.at_ms


def _linked_at(link: tuple[int, str]) -> int:
    return link[0]
