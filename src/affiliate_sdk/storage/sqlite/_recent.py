"""What a background click writer knows without reading the file: its own recent clicks by
link visit, and how recent the clicks of every other writer on the file are.

A returning visitor's click needs "the visitor's latest click on this link since T". Read
from SQLite that is an indexed query, but one the click path pays dearly for: the page cache
of a connection is dropped whenever another connection has committed, and the query gives
up the interpreter lock to the threads of the process. Most of the time the answer is
already known here:

* every click this store handed to its writer is held by link visit (the latest one per
  visit, as the row it is, so a repeat is answered without a read; at most ``max_clicks``
  of them, the oldest let go first);
* the link visits let go of are remembered as fingerprints (a few bits each in a Bloom
  filter, ``FINGERPRINTS`` to a generation, ``GENERATIONS`` generations): a visitor who
  comes back after hundreds of thousands of other clicks, on a link they never clicked, is
  still answered here; a fingerprint that matches (the visit, or rarely another one) sends
  the question to the file. Once the oldest generation is dropped, ``horizon_ms`` says from
  when on nothing has been forgotten;
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
    "FINGERPRINTS",
    "GENERATIONS",
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
#: Link visits let go of per generation of fingerprints, and the generations kept: about
#: two million visits in 16 MiB (2 MiB of bits a generation).
FINGERPRINTS: Final = 262_144
GENERATIONS: Final = 8
#: Bits per fingerprint set (64 per visit) and the three bit positions of a visit, cut from
#: its 64-bit hash: a visit never let go of matches a generation 0.01% of the time.
_BITS_LOG2: Final = 24
_MASK: Final = (1 << _BITS_LOG2) - 1
_HASH_BITS: Final = (1 << 64) - 1
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


class _Fingerprints:
    """A Bloom filter of link visits let go of, and the latest click time among them."""

    __slots__ = ("bits", "count", "newest_ms")

    def __init__(self) -> None:
        self.bits = bytearray(1 << (_BITS_LOG2 - 3))
        self.count = 0
        self.newest_ms = _NEVER

    def add(self, digest: int, at_ms: int) -> None:
        bits = self.bits
        i, j, k = digest & _MASK, digest >> 20 & _MASK, digest >> 40 & _MASK
        bits[i >> 3] |= 1 << (i & 7)
        bits[j >> 3] |= 1 << (j & 7)
        bits[k >> 3] |= 1 << (k & 7)
        self.count += 1
        self.newest_ms = max(self.newest_ms, at_ms)

    def __contains__(self, digest: int) -> bool:
        bits = self.bits
        i, j, k = digest & _MASK, digest >> 20 & _MASK, digest >> 40 & _MASK
        return bool(
            bits[i >> 3] >> (i & 7) & 1
            and bits[j >> 3] >> (j & 7) & 1
            and bits[k >> 3] >> (k & 7) & 1
        )


class RecentClicks:
    """This store's recent clicks by link visit, and the other writers' latest click time."""

    __slots__ = (
        "_generations",
        "_latest",
        "_learned_at",
        "_let_go_ms",
        "_max",
        "_max_generations",
        "_others_ms",
        "_per_generation",
        "horizon_ms",
    )

    def __init__(
        self,
        max_clicks: int = MAX_RECENT_CLICKS,
        *,
        fingerprints: int = FINGERPRINTS,
        generations: int = GENERATIONS,
    ) -> None:
        self._max = max_clicks
        self._per_generation = fingerprints
        self._max_generations = generations
        # link visit -> its latest click; least recently added first
        self._latest: OrderedDict[LinkVisit, HeldClick] = OrderedDict()
        # the visits let go of, newest generation last
        self._generations: list[_Fingerprints] = []
        self._let_go_ms = _NEVER  # the latest click time among them
        #: Every click of this store clicked at or after this time is held, or remembered.
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
        else:
            if click[AT] < self._let_go_ms:
                # Older than a click let go of, which may be a later click of this visit:
                # held, this one would pass for the visit's latest.
                self._remember(key, click[AT])
                return
            if len(self._latest) >= self._max:
                let_go, dropped = self._latest.popitem(last=False)
                self._remember(let_go, dropped[AT])
        self._latest[key] = click

    def _remember(self, key: LinkVisit, at_ms: int) -> None:
        """Keep a fingerprint of a visit let go of (the oldest generation goes when full)."""
        generations = self._generations
        if not generations or generations[-1].count >= self._per_generation:
            if len(generations) >= self._max_generations:
                forgotten = generations.pop(0)
                self.horizon_ms = max(self.horizon_ms, forgotten.newest_ms + 1)
            generations.append(_Fingerprints())
        generations[-1].add(hash(key) & _HASH_BITS, at_ms)
        self._let_go_ms = max(self._let_go_ms, at_ms)

    def _maybe_let_go(self, key: LinkVisit, start_ms: int) -> bool:
        """Whether a click of ``key`` at or after ``start_ms`` may have been let go of."""
        digest = -1
        for generation in self._generations:
            if generation.newest_ms >= start_ms:
                if digest < 0:
                    digest = hash(key) & _HASH_BITS
                if digest in generation:
                    return True
        return False

    def latest(self, key: LinkVisit) -> ClickRow | None:
        """The latest click held of a link visit."""
        return named(self._latest.get(key))

    def learn(self, others_latest_ms: int | None, at: float) -> None:
        """What the file says at monotonic time ``at``: the latest click time of any other
        writer (None: there is none)."""
        self._others_ms = _NEVER if others_latest_ms is None else others_latest_ms
        self._learned_at = at

    def lookup(
        self, click: ClickRow, since_ms: int, now: float, key: LinkVisit | None = None
    ) -> tuple[bool, ClickRow | None]:
        """``(answerable, latest)``: whether this store alone can say which click ``click``
        repeats, and the visitor's latest click on the same link since ``since_ms`` that is
        held here (None: none is). ``now`` is monotonic time; ``key`` is ``click``'s link
        visit, if the caller has it."""
        if key is None:
            key = link_visit(click)
        held = self._latest.get(key)
        holds = held is not None  # the visit's latest click: whatever was let go of is older
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
        if others >= start:
            return False, named(held)
        if holds:
            return True, named(held)
        return not (start < self.horizon_ms or self._maybe_let_go(key, start)), None
