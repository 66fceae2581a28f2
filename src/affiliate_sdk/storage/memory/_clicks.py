"""Clicks, impressions and customers' visitor ids, indexed by what they are looked up by."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any, Final, TypeVar

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.storage.held import (
    AFFILIATE,
    AT,
    CAMPAIGN,
    CLICK_ID,
    DECISION,
    LINK,
    MERCHANT,
    VISITOR,
    HeldClick,
    held,
    named,
)
from affiliate_sdk.storage.rows import ClickRow, ImpressionRow

from ._undo import UndoLog

__all__ = ["MemoryClicks"]

_T = TypeVar("_T")
_K = TypeVar("_K")
#: What a lookup in a merchant missing from an index reads.
_NONE: Final[dict[Any, Any]] = {}


class MemoryClicks:
    """``ClickRepo`` over indexes nested by merchant, so that recording a click allocates
    nothing the collector has to follow but the click itself (a plain tuple, which it
    stops following at its first collection: ``storage.held``) and, from a visitor's second
    click on, the list of their clicks: each visitor's clicks in time order (a lone click
    held as it is), each visitor's latest click per link, each campaign's clicks in time
    order."""

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
        self._clicks: dict[str, HeldClick] = {}
        # merchant -> visitor -> their only click, or their clicks in time order
        self._by_visitor: dict[str, dict[str, HeldClick | list[HeldClick]]] = {}
        # merchant -> link -> visitor -> the visitor's latest click on the link (a repeat's match)
        self._by_link: dict[str, dict[str, dict[str, HeldClick]]] = {}
        # merchant -> campaign -> its clicks in time order
        self._by_campaign: dict[str, dict[str, list[HeldClick]]] = {}
        self._impressions: dict[tuple[str, str], list[ImpressionRow]] = {}
        # (merchant, customer) -> (first linked at, visitor id), in time order
        self._visitors: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self._linked: dict[tuple[str, str], set[str]] = {}

    def record(self, click: ClickRow, *, dedupe_since_ms: int | None) -> tuple[ClickRow, bool]:
        """Store ``click``, or return the visitor's latest click on the same link since
        ``dedupe_since_ms`` (``DuplicateEntry`` for a click id already stored)."""
        merchant, visitor = click.merchant_id, click.visitor_id
        on_link = self._by_link.get(merchant, _NONE).get(click.link_id)
        latest = None if on_link is None else on_link.get(visitor)
        if dedupe_since_ms is not None and latest is not None and latest[AT] >= dedupe_since_ms:
            return named(latest), False
        clicks = self._clicks
        if click.click_id in clicks:
            raise DuplicateEntry("click", click.click_id)
        kept = held(click)
        at_ms = click.clicked_at_ms
        if latest is None or latest[AT] <= at_ms:
            if on_link is None:
                on_link = _inner(self._by_link, merchant)[click.link_id] = {}
            on_link[visitor] = kept
        try:
            visitors = self._by_visitor[merchant]
        except KeyError:
            visitors = self._by_visitor[merchant] = {}
        before = visitors.get(visitor)
        if before is None:
            visitors[visitor] = kept
        elif isinstance(before, list):
            _insert_click(before, kept)
        else:
            visitors[visitor] = [before, kept] if before[AT] <= at_ms else [kept, before]
        try:
            in_campaign = self._by_campaign[merchant][click.campaign_id]
        except KeyError:
            _inner(self._by_campaign, merchant)[click.campaign_id] = [kept]
        else:
            _insert_click(in_campaign, kept)
        clicks[click.click_id] = kept
        steps = self._log.steps
        if steps is not None:  # one undo step takes the click out of everything
            steps.append(lambda: self._take_out(kept, latest))
        return click, True

    def _take_out(self, click: HeldClick, latest_before: HeldClick | None) -> None:
        """Undo a recorded click: out of the table and of every index (what it leaves
        empty goes too, a visitor left with one click holds it alone again), so a
        rollback leaves the indexes as they were."""
        del self._clicks[click[CLICK_ID]]
        merchant, visitor = click[MERCHANT], click[VISITOR]
        links = self._by_link[merchant]
        if latest_before is None:
            _drop(links, click[LINK], visitor)
            _drop(self._by_link, merchant)
        else:
            links[click[LINK]][visitor] = latest_before
        visitors = self._by_visitor[merchant]
        kept = visitors[visitor]
        if isinstance(kept, list):
            _remove_click(kept, click)
            if len(kept) == 1:
                visitors[visitor] = kept[0]
        else:
            del visitors[visitor]
            _drop(self._by_visitor, merchant)
        campaigns = self._by_campaign[merchant]
        in_campaign = campaigns[click[CAMPAIGN]]
        _remove_click(in_campaign, click)
        if not in_campaign:
            del campaigns[click[CAMPAIGN]]
            _drop(self._by_campaign, merchant)

    def get(self, click_id: str) -> ClickRow | None:
        """The click, if stored."""
        kept = self._clicks.get(click_id)
        return None if kept is None else named(kept)

    def by_visitor(
        self, merchant_id: str, visitor_id: str, *, since_ms: int, until_ms: int
    ) -> list[ClickRow]:
        """The visitor's clicks on the merchant's campaigns, ``since_ms <= t <= until_ms``."""
        kept = self._by_visitor.get(merchant_id, _NONE).get(visitor_id)
        if kept is None:
            return []
        if not isinstance(kept, list):
            return [named(kept)] if since_ms <= kept[AT] <= until_ms else []
        start = bisect_left(kept, since_ms, key=_clicked_at)
        end = bisect_right(kept, until_ms, key=_clicked_at)
        return [named(click) for click in kept[start:end]]

    def count_unblocked(
        self, merchant_id: str, campaign_id: str, *, since_ms: int, until_ms: int
    ) -> dict[str, int]:
        """Affiliate id -> clicks not blocked in the campaign, ``since_ms <= t < until_ms``."""
        clicks = self._by_campaign.get(merchant_id, _NONE).get(campaign_id)
        counts: dict[str, int] = {}
        if not clicks:
            return counts
        start = bisect_left(clicks, since_ms, key=_clicked_at)
        end = bisect_left(clicks, until_ms, key=_clicked_at)
        for at in range(start, end):
            click = clicks[at]
            if click[DECISION] != "block":
                affiliate = click[AFFILIATE]
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


def _insert_click(rows: list[HeldClick], click: HeldClick) -> None:
    """Put ``click`` after every click of ``rows`` at or before its time (usually last)."""
    if rows[-1][AT] <= click[AT]:
        rows.append(click)
    else:
        rows.insert(bisect_right(rows, click[AT], key=_clicked_at), click)


def _remove_click(rows: list[HeldClick], click: HeldClick) -> None:
    """Take ``click`` out of ``rows`` (usually their last)."""
    if rows[-1] is click:
        rows.pop()
    else:
        del rows[next(at for at in range(len(rows) - 1, -1, -1) if rows[at] is click)]


def _clicked_at(click: HeldClick) -> int:
    return click[AT]


def _seen_at(impression: ImpressionRow) -> int:
    return impression.at_ms


def _linked_at(link: tuple[int, str]) -> int:
    return link[0]
