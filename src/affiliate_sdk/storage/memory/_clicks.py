"""Clicks, impressions and customers' visitor ids, indexed by what they are looked up by."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import TypeVar

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.storage.rows import ClickRow, ImpressionRow

from ._undo import UndoLog

__all__ = ["MemoryClicks"]

_T = TypeVar("_T")
_K = TypeVar("_K")


class MemoryClicks:
    """``ClickRepo`` over per-visitor and per-campaign lists kept in time order, and each
    visitor's latest click per link."""

    __slots__ = (
        "_by_campaign",
        "_by_link",
        "_by_visitor",
        "_clicks",
        "_impressions",
        "_linked",
        "_log",
        "_visitors",
    )

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._clicks: dict[str, ClickRow] = {}
        self._by_visitor: dict[tuple[str, str], list[ClickRow]] = {}
        # (merchant, visitor, link) -> the click on the link clicked last (a repeat's match)
        self._by_link: dict[tuple[str, str, str], ClickRow] = {}
        self._by_campaign: dict[tuple[str, str], list[ClickRow]] = {}
        self._impressions: dict[tuple[str, str], list[ImpressionRow]] = {}
        # (merchant, customer) -> (first linked at, visitor id), in time order
        self._visitors: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self._linked: dict[tuple[str, str], set[str]] = {}

    def record(self, click: ClickRow, *, dedupe_since_ms: int | None) -> tuple[ClickRow, bool]:
        """Store ``click``, or return the visitor's latest click on the same link since
        ``dedupe_since_ms`` (``DuplicateEntry`` for a click id already stored)."""
        link_key = (click.merchant_id, click.visitor_id, click.link_id)
        latest = self._by_link.get(link_key)
        if (
            dedupe_since_ms is not None
            and latest is not None
            and latest.clicked_at_ms >= dedupe_since_ms
        ):
            return latest, False
        clicks = self._clicks
        if click.click_id in clicks:
            raise DuplicateEntry("click", click.click_id)
        at_ms = click.clicked_at_ms
        if latest is None or latest.clicked_at_ms <= at_ms:
            self._by_link[link_key] = click
        visitor_key = (click.merchant_id, click.visitor_id)
        campaign_key = (click.merchant_id, click.campaign_id)
        by_visitor = self._by_visitor.get(visitor_key)
        by_campaign = self._by_campaign.get(campaign_key)
        if (not by_visitor or by_visitor[-1].clicked_at_ms <= at_ms) and (
            not by_campaign or by_campaign[-1].clicked_at_ms <= at_ms
        ):  # the usual case, a click no older than any before it: appended
            if by_visitor is None:
                self._by_visitor[visitor_key] = [click]
            else:
                by_visitor.append(click)
            if by_campaign is None:
                self._by_campaign[campaign_key] = [click]
            else:
                by_campaign.append(click)
        else:
            _insert_click(self._by_visitor, visitor_key, click)
            _insert_click(self._by_campaign, campaign_key, click)
        clicks[click.click_id] = click
        if self._log.active:  # one undo step takes the click out of everything
            self._log.record(lambda: self._take_out(click, latest))
        return click, True

    def _take_out(self, click: ClickRow, latest_before: ClickRow | None) -> None:
        """Undo a recorded click: out of the table and of every index (a list it leaves
        empty goes too), so a rollback leaves the indexes as they were."""
        del self._clicks[click.click_id]
        link_key = (click.merchant_id, click.visitor_id, click.link_id)
        if latest_before is None:
            del self._by_link[link_key]
        else:
            self._by_link[link_key] = latest_before
        _remove_click(self._by_visitor, (click.merchant_id, click.visitor_id), click)
        _remove_click(self._by_campaign, (click.merchant_id, click.campaign_id), click)

    def get(self, click_id: str) -> ClickRow | None:
        """The click, if stored."""
        return self._clicks.get(click_id)

    def by_visitor(
        self, merchant_id: str, visitor_id: str, *, since_ms: int, until_ms: int
    ) -> list[ClickRow]:
        """The visitor's clicks on the merchant's campaigns, ``since_ms <= t <= until_ms``."""
        clicks = self._by_visitor.get((merchant_id, visitor_id))
        if not clicks:
            return []
        start = bisect_left(clicks, since_ms, key=_clicked_at)
        end = bisect_right(clicks, until_ms, key=_clicked_at)
        return clicks[start:end]

    def count_unblocked(
        self, merchant_id: str, campaign_id: str, *, since_ms: int, until_ms: int
    ) -> dict[str, int]:
        """Affiliate id -> clicks not blocked in the campaign, ``since_ms <= t < until_ms``."""
        clicks = self._by_campaign.get((merchant_id, campaign_id))
        counts: dict[str, int] = {}
        if not clicks:
            return counts
        start = bisect_left(clicks, since_ms, key=_clicked_at)
        end = bisect_left(clicks, until_ms, key=_clicked_at)
        for at in range(start, end):
            click = clicks[at]
            if click.decision != "block":
                counts[click.affiliate_id] = counts.get(click.affiliate_id, 0) + 1
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


def _insert_click(index: dict[_K, list[ClickRow]], key: _K, click: ClickRow) -> None:
    """Insert ``click`` into ``index[key]`` after every click at or before its time."""
    rows = index.get(key)
    if rows is None:
        index[key] = [click]
    else:
        rows.insert(bisect_right(rows, click.clicked_at_ms, key=_clicked_at), click)


def _remove_click(index: dict[_K, list[ClickRow]], key: _K, click: ClickRow) -> None:
    """Take ``click`` out of ``index[key]`` (usually its last), dropping the list if empty."""
    rows = index[key]
    if rows[-1] is click:
        rows.pop()
    else:
        del rows[next(at for at in range(len(rows) - 1, -1, -1) if rows[at] is click)]
    if not rows:
        del index[key]


def _clicked_at(click: ClickRow) -> int:
    return click.clicked_at_ms


def _seen_at(impression: ImpressionRow) -> int:
    return impression.at_ms


def _linked_at(link: tuple[int, str]) -> int:
    return link[0]
