"""What a background click writer knows without reading the file: its own recent clicks by
link visit, and how recent the clicks of every other writer on the file are.

A returning visitor's click needs "the visitor's latest click on this link since T". Read
from SQLite that is an indexed query, but one the click path pays dearly for: the page cache
of a connection is dropped whenever another connection has committed, and the query gives
up the interpreter lock to the threads of the process. Most of the time the answer is
already known here:

* every click this store handed to its writer is held by link visit (the latest one per
  visit, as the row it is, so a repeat is answered without a read; at most ``max_clicks``
  of them, the oldest let go first, and ``horizon_ms`` says from when on nothing has been
  let go);
* every writer on the file records, in the transaction of its clicks, the time of the
  latest click it wrote (table ``click_writers``, one row per store instance, version 6),
  and this writer reads the others' latest time after each batch it commits.

A query is answerable here when no other writer has written a click inside the span that
matters (from T, or from the visitor id's birth when it is one of this SDK's ids and not
from the future) and none of this store's clicks in that span has been let go. What another
writer committed after this writer last looked is not seen: the knowledge counts only while
fresh (``STALE_S``), so a click a second process wrote is missed by a repeat arriving here
only within that lag.

The writer holds each click as a plain tuple of the row's values (``HeldClick``, see
``storage.held``): nothing the garbage collector walks again.

Call every method with the writer's lock held.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from affiliate_sdk.ids import id_timestamp_ms, is_valid_id
from affiliate_sdk.storage.held import AT, LINK, MERCHANT, VISITOR, HeldClick
from affiliate_sdk.storage.held import named as as_row
from affiliate_sdk.storage.rows import ClickRow

__all__ = [
    "MAX_RECENT_CLICKS",
    "STALE_S",
    "LinkVisit",
    "RecentClicks",
    "link_visit",
]

#: What a repeat click is matched on: the merchant id, visitor id and link id in one string
#: (a string, unlike a tuple, is nothing the garbage collector tracks).
LinkVisit = str
#: Link visits held (a click row each: about 1 KB with its strings, so some 32 MB at most).
MAX_RECENT_CLICKS: Final = 32_768
#: How old (seconds, monotonic) what is known of the other writers may be and still count.
STALE_S: Final = 0.25
_NEVER: Final = -(2**63)


def link_visit(click: ClickRow | HeldClick) -> LinkVisit:
    """The merchant, visitor and link a repeat of ``click`` would share with it; the first two
    are prefixed with their lengths, so no two triples give the same string."""
    merchant, visitor = click[MERCHANT], click[VISITOR]
    return f"{len(merchant)}:{merchant}{len(visitor)}:{visitor}{click[LINK]}"


def named(held: HeldClick | None) -> ClickRow | None:
    """A held click as a ``ClickRow`` (None stays None)."""
    return None if held is None else as_row(held)


class RecentClicks:
    """This store's recent clicks by link visit, and the other writers' latest click time."""

    __slots__ = ("_latest", "_learned_at", "_max", "_others_ms", "horizon_ms")

    def __init__(self, max_clicks: int = MAX_RECENT_CLICKS) -> None:
        self._max = max_clicks
        # link visit -> its latest click; least recently added first
        self._latest: OrderedDict[LinkVisit, HeldClick] = OrderedDict()
        #: Every click of this store clicked at or after this time is held.
        self.horizon_ms = _NEVER
        self._others_ms: int | None = None  # None: not known yet
        self._learned_at = 0.0

    def add(self, click: HeldClick) -> None:
        """Hold a click handed to the writer (it replaces an older one of the same visit)."""
        key = link_visit(click)
        held = self._latest.get(key)
        if held is not None:
            if held[AT] > click[AT]:
                return
            self._latest.move_to_end(key)
        elif len(self._latest) >= self._max:
            _, dropped = self._latest.popitem(last=False)
            self.horizon_ms = max(self.horizon_ms, dropped[AT] + 1)
        self._latest[key] = click

    def latest(self, key: LinkVisit) -> ClickRow | None:
        """The latest click held of a link visit."""
        return named(self._latest.get(key))

    def learn(self, others_latest_ms: int | None, at: float) -> None:
        """What the file says at monotonic time ``at``: the latest click time of any other
        writer (None: there is none)."""
        self._others_ms = _NEVER if others_latest_ms is None else others_latest_ms
        self._learned_at = at

    def lookup(self, click: ClickRow, since_ms: int, now: float) -> tuple[bool, ClickRow | None]:
        """``(answerable, latest)``: whether this store alone can say which click ``click``
        repeats, and the visitor's latest click on the same link since ``since_ms`` that is
        held here (None: none is). ``now`` is monotonic time."""
        held = self._latest.get(link_visit(click))
        if held is not None and held[AT] < since_ms:
            held = None
        others = self._others_ms
        if others is None or now - self._learned_at > STALE_S:
            return False, named(held)
        start = since_ms
        visitor = click.visitor_id
        if is_valid_id(visitor):
            born = id_timestamp_ms(visitor)
            if start < born <= click.clicked_at_ms:  # no click of this visitor is older
                start = born
        return not (others >= start or start < self.horizon_ms), named(held)
