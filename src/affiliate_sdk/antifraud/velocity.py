"""Velocity windows: sliding-window event counts per key, in one process or shared.

The fraud checks count clicks per network, visitor, device and affiliate per
minute, and per visitor and affiliate, and an affiliate's clicks and orders,
per day. Both kinds of window are pure: the caller passes the time.

``LocalCounts`` keeps the counts in this process. A window is cut into equal
buckets; a key keeps one count per bucket, so adding an event and reading the
window's total are O(buckets) and a key's memory is fixed. At most
``max_keys`` keys are kept; past that, the key counted least recently is
forgotten first, so busy keys (an affiliate, a network) outlive a stream of
one-off visitors.

``SharedCounts`` adds up across every process that uses one counter
repository (``CounterBuckets``: a store's ``counters``). Writing every click's
counts to it would double the click path's cost, so each process counts its
own events in memory, exactly (a ``LocalCounts``), and, about every
``sync_ms``, exchanges: in one call it adds what it counted since to the shared
buckets and reads back the totals of the keys it counted (with and without the
window's oldest bucket), or learns that no other writer counted in the window
(then it reads nothing, and its own counts are the totals). The other
processes' part of a key's total is what was read less this process's own
events at the exchange; a key's total is its own events plus that part, so
other processes' events show within ``sync_ms``. Buckets are numbered by
absolute time (``now_ms // width``), so processes agree on them without
talking; old buckets are pruned once a bucket's width. The other processes'
part of a key is trusted for a bucket's width, then counts as unknown (zero
for ``add``, read by ``total``) until the next exchange refreshes it. At most
``max_keys`` keys are kept, the least recently counted forgotten first.

Who exchanges is chosen at construction. By default ``add`` and ``total``
do, inside the call that finds ``sync_ms`` of the caller's time gone since
the last exchange: deterministic, but that call waits for the repository.
With ``background=True`` they only touch memory under a lock and never wait
for the repository for a known key; the owner calls ``exchange`` from a
thread of its own (the service layer runs one per alliance), about every
``sync_ms`` and whenever the ``wake`` callback is called, by the first call
that finds an exchange due. ``exchange`` holds the lock only to swap the
pending counts out and to merge the read-back totals in, a few thousand keys
at a time.

``window_for`` picks the kind a counter repository calls for: shared when it
is shared between processes, local otherwise. Nothing here starts a thread or
reads a clock.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol, runtime_checkable

from affiliate_sdk.errors import InvalidInput

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_LOCAL_MAX_KEYS",
    "DEFAULT_MAX_KEYS",
    "DEFAULT_SYNC_MS",
    "MERGE_STEP",
    "CounterBuckets",
    "Counts",
    "ExactCounters",
    "LocalCounts",
    "SharedCounts",
    "window_for",
]

#: How often (of the caller's time) a process exchanges its counts with the shared buckets.
DEFAULT_SYNC_MS: Final = 1_000
#: The most keys a shared window (or ``window_for``'s) keeps unless told otherwise.
DEFAULT_MAX_KEYS: Final = 100_000
#: The most keys a ``LocalCounts`` keeps unless told otherwise.
DEFAULT_LOCAL_MAX_KEYS: Final = 200_000
#: Buckets per window unless told otherwise.
DEFAULT_BUCKETS: Final = 6
#: Read-back totals merged per hold of a shared window's lock (bounds a click's wait on it).
MERGE_STEP: Final = 2_000


class Counts(Protocol):
    """What the click and order paths need of a velocity window."""

    def add(self, key: str, now_ms: int, count: int = 1) -> int:
        """Count ``count`` events for ``key`` at ``now_ms``; the window's total after them."""
        ...

    def total(self, key: str, now_ms: int) -> int:
        """The window's total for ``key`` at ``now_ms`` without counting anything."""
        ...

    def flush(self, now_ms: int) -> None:
        """Write whatever is not yet shared (nothing for a window of one process)."""
        ...


class CounterBuckets(Protocol):
    """Time-bucketed counts that processes may share (what a store's ``counters`` offer)."""

    #: Whether other processes see these counts (False: this process alone).
    shared: bool

    def exchange(
        self,
        namespace: str,
        writer: str,
        rows: Sequence[tuple[str, int, int]],
        keys: Sequence[str],
        *,
        since_bucket: int,
    ) -> list[tuple[int, int]] | None:
        """Add each ``(key, bucket, count)``'s count to that bucket of that key, as
        ``writer``'s counts in ``namespace`` (whose keys start with ``namespace/``); then, per
        key of ``keys`` in order, the sums of its buckets numbered ``since_bucket`` or more
        and ``since_bucket + 1`` or more, the rows just added included.

        None instead of the sums when no other writer has added to a bucket of
        ``namespace`` numbered ``since_bucket`` or more: every sum would then be the
        caller's own. Atomic: either every row is added and the answer given, or the
        call raises and nothing is added.
        """
        ...

    def prune(self, namespace: str, *, before_bucket: int) -> None:
        """Forget the buckets of ``namespace`` numbered below ``before_bucket``, and its
        writers that added to none since."""
        ...


@runtime_checkable
class ExactCounters(Protocol):
    """A counter repository that counts every event on a server all processes share (Redis):
    its windows need no exchange, and the counts of one call can go in one round trip."""

    def window(self, namespace: str, window_ms: int, *, buckets: int) -> Counts:
        """A window of ``window_ms`` in ``buckets`` buckets, its keys ``namespace/key``."""
        ...

    def count_many(self, items: Sequence[tuple[Any, str, int]], now_ms: int) -> list[int]:
        """Count each ``(window, key, count)`` (windows of this repository) at ``now_ms``;
        each key's total after its count, in order."""
        ...


def _bucket_width(window_ms: int, buckets: int, max_keys: int) -> int:
    """The width of one bucket; ``InvalidInput`` for a shape that cannot be cut evenly."""
    for name, value in (("window_ms", window_ms), ("buckets", buckets), ("max_keys", max_keys)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(f"{name} must be an int, not {type(value).__name__}")
    if window_ms <= 0 or buckets <= 0 or window_ms % buckets:
        raise InvalidInput(
            f"the window must be a positive multiple of the bucket count "
            f"(window_ms={window_ms}, buckets={buckets})"
        )
    if max_keys <= 0:
        raise InvalidInput(f"max_keys must be positive, not {max_keys}")
    return window_ms // buckets


class LocalCounts:
    """Events per key over the last ``window_ms`` (to a bucket's width), in this process."""

    __slots__ = ("_blank", "_buckets", "_cells", "_keys", "_lock", "_max_keys", "_stride", "_width")

    def __init__(
        self,
        window_ms: int,
        *,
        buckets: int = DEFAULT_BUCKETS,
        max_keys: int = DEFAULT_LOCAL_MAX_KEYS,
    ) -> None:
        self._width = _bucket_width(window_ms, buckets, max_keys)
        self._buckets = buckets
        self._max_keys = max_keys
        # Every key's counts are ``stride`` cells of one list: [last bucket index, the
        # window's total, count per bucket...]; ``_keys`` maps a key to where its cells
        # begin, ordered so the key counted least recently leaves in O(1) (its cells go to
        # the next new key). Nothing here is an object per key that the garbage collector
        # would follow: a list per key, or a tuple, made every click add to the young
        # generation, and every collection walk them.
        self._stride = buckets + 2
        self._blank = (0,) * self._stride  # a key's cells before its first count
        self._cells: list[int] = []
        self._keys: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, now_ms: int, count: int = 1) -> int:
        """Count ``count`` events for ``key`` at ``now_ms``; the window's total after them."""
        return self.add_many((key,), now_ms, count)[0]

    def add_many(self, keys: Sequence[str], now_ms: int, count: int = 1) -> list[int]:
        """``add`` of ``count`` for each of ``keys`` in turn, under one hold of the lock: the
        window's totals after them, in order (what a click counts in one window)."""
        index = now_ms // self._width
        lock = self._lock
        lock.acquire()  # (not ``with``: on every click, and this costs it a third as much)
        try:
            return self._add(keys, index, count)
        finally:
            lock.release()

    def _add(self, keys: Sequence[str], index: int, count: int) -> list[int]:
        """``add_many`` in bucket ``index``, the lock held (one loop: this runs several
        times on every click)."""
        size, stride, cells, known = self._buckets, self._stride, self._cells, self._keys
        totals = []
        for key in keys:
            at = known.get(key)
            if at is None:
                if len(known) >= self._max_keys:
                    _, at = known.popitem(last=False)
                    cells[at : at + stride] = self._blank
                else:
                    at = len(cells)
                    cells.extend(self._blank)
                known[key] = at
                cells[at] = index
            else:
                known.move_to_end(key)
                last = cells[at]
                if index > last:
                    if index - last >= size:
                        cells[at + 1 : at + stride] = self._blank[1:]
                    else:  # the buckets that fell out of the window leave the total
                        for step in range(last + 1, index + 1):
                            bucket = at + 2 + step % size
                            cells[at + 1] -= cells[bucket]
                            cells[bucket] = 0
                    cells[at] = index
                elif index <= last - size:  # a late event older than the window: ignored
                    totals.append(cells[at + 1])
                    continue
            cells[at + 2 + index % size] += count
            total = cells[at + 1] = cells[at + 1] + count
            totals.append(total)
        return totals

    def _split(self, key: str, index: int) -> tuple[int, int]:
        """The window's total for ``key`` in bucket ``index``, and the same without the
        window's oldest bucket (the lock held; nothing is kept for an unknown key)."""
        at = self._keys.get(key)
        if at is None:
            return 0, 0
        total = self._add((key,), index, 0)[0]
        return total, total - self._cells[at + 2 + (index + 1) % self._buckets]

    def total(self, key: str, now_ms: int) -> int:
        """The window's total for ``key`` at ``now_ms`` without counting anything."""
        if key not in self._keys:
            return 0
        return self.add(key, now_ms, 0)

    def flush(self, now_ms: int) -> None:
        """Nothing to write: the counts live in this process only."""

    def __len__(self) -> int:
        """The number of keys kept."""
        return len(self._keys)


class SharedCounts:
    """Events per key over the last ``window_ms``, counted by every process on ``counters``.

    ``namespace`` prefixes the keys in the shared buckets (``namespace/key``),
    so windows of different lengths can share one repository. ``writer`` names
    this window's counts among those of other processes (random unless given;
    a forked child takes a new one). With ``background`` the window never
    exchanges by itself: whoever owns it calls ``exchange`` about every
    ``sync_ms`` (see the module's docstring).
    """

    __slots__ = (
        "_alone_ms",
        "_background",
        "_buckets",
        "_counters",
        "_io",
        "_latest",
        "_lock",
        "_max_keys",
        "_namespace",
        "_others",
        "_own",
        "_pending",
        "_prefix",
        "_pruned_ms",
        "_sync_ms",
        "_synced_ms",
        "_unread",
        "_wake",
        "_width",
        "_woken",
        "_writer",
    )

    def __init__(
        self,
        counters: CounterBuckets,
        namespace: str,
        window_ms: int,
        *,
        buckets: int = DEFAULT_BUCKETS,
        max_keys: int = DEFAULT_MAX_KEYS,
        sync_ms: int = DEFAULT_SYNC_MS,
        background: bool = False,
        wake: Callable[[], None] | None = None,
        writer: str | None = None,
    ) -> None:
        self._width = _bucket_width(window_ms, buckets, max_keys)
        if not isinstance(sync_ms, int) or isinstance(sync_ms, bool) or sync_ms <= 0:
            raise InvalidInput(f"sync_ms must be a positive int, not {sync_ms!r}")
        if not isinstance(namespace, str) or not namespace:
            raise InvalidInput("the namespace must be a non-empty string")
        if writer is not None and (not isinstance(writer, str) or not writer):
            raise InvalidInput("the writer must be a non-empty string")
        self._counters = counters
        self._namespace = namespace
        self._prefix = f"{namespace}/"
        self._writer = writer or secrets.token_hex(8)
        self._buckets = buckets
        self._max_keys = max_keys
        self._sync_ms = sync_ms
        self._background = bool(background)
        self._wake = wake if background else None
        self._woken = False  # whether ``wake`` was called since the last exchange
        self._synced_ms: int | None = None
        self._pruned_ms = 0
        #: This process's own events, exactly (``LocalCounts``, used under ``_lock``).
        self._own = LocalCounts(window_ms, buckets=buckets, max_keys=max_keys)
        # bucket -> key -> count not yet handed over (nested, so that counting allocates no
        # key tuple that would live until the exchange)
        self._pending: dict[int, dict[str, int]] = {}
        # key -> (the other processes' total when read, the same from the next bucket on,
        # read at): trusted for a bucket's width; once the bucket it was read in is over,
        # the window's oldest bucket has left it, and the second total is the one
        self._others: OrderedDict[str, tuple[int, int, int]] = OrderedDict()
        # when the repository last said no other writer counted in this window (None: it
        # did not); until a bucket's width later, a key's unknown others' total is zero
        self._alone_ms: int | None = None
        self._latest = -(2**62)  # the latest bucket counted in
        self._unread: set[str] = set()  # keys asked for during an exchange: read at the next
        self._lock = threading.Lock()  # the in-memory state; never held over I/O
        self._io = threading.Lock()  # one exchange (or read of an unknown key) at a time

    @property
    def background(self) -> bool:
        """Whether the owner exchanges (True) or ``add`` and ``total`` do, when due (False)."""
        return self._background

    @property
    def sync_ms(self) -> int:
        """How often, of the caller's time, the counts are to be exchanged."""
        return self._sync_ms

    @property
    def writer(self) -> str:
        """This window's name among the writers of its namespace."""
        return self._writer

    def add(self, key: str, now_ms: int, count: int = 1) -> int:
        """Count ``count`` events for ``key`` at ``now_ms``; the window's total after them."""
        return self.add_many((key,), now_ms, count)[0]

    def add_many(self, keys: Sequence[str], now_ms: int, count: int = 1) -> list[int]:
        """``add`` of ``count`` for each of ``keys`` in turn, under one hold of the lock: the
        window's totals after them, in order."""
        synced = self._synced_ms
        if (synced is None or now_ms - synced >= self._sync_ms) and not self._woken:
            self._due(now_ms)
        width = self._width
        bucket = now_ms // width
        lock = self._lock
        lock.acquire()  # (not ``with``, as in ``LocalCounts.add_many``)
        try:
            pending = self._pending.get(bucket)
            if pending is None:
                pending = self._pending[bucket] = {}
                self._latest = max(self._latest, bucket)
            totals = self._own._add(keys, bucket, count)
            for key in keys:
                pending[key] = pending.get(key, 0) + count
            if self._others:  # (none while this process counts alone)
                known = self._others.get
                for at, key in enumerate(keys):
                    others = known(key)
                    if others is not None and now_ms - others[2] < width:
                        totals[at] += others[0] if bucket <= others[2] // width else others[1]
            return totals
        finally:
            lock.release()

    def total(self, key: str, now_ms: int) -> int:
        """The window's total for ``key`` at ``now_ms``, read from the shared buckets if the
        other processes' part is not known."""
        synced = self._synced_ms
        if (synced is None or now_ms - synced >= self._sync_ms) and not self._woken:
            self._due(now_ms)
        with self._lock:
            known = self._known(key, now_ms)
            if known is not None:
                return known
        # Not waited for: an exchange in flight may wait for the write lock this caller
        # holds. Meanwhile the key counts its own events, and the exchange after reads it.
        if not self._io.acquire(blocking=False):
            with self._lock:
                self._unread.add(key)
                return self._own_total(key, now_ms // self._width)
        try:  # no exchange in flight: the buckets hold all but the pending counts
            with self._lock:
                now_ms = max(now_ms, self._latest * self._width)  # as an exchange would
                known = self._known(key, now_ms)
                if known is not None:
                    return known
            first = self._first_bucket(now_ms)
            found = self._counters.exchange(
                self._namespace, self._writer, (), [self._prefix + key], since_bucket=first
            )
            with self._lock:
                index = now_ms // self._width
                self._merge_locked([key], found, now_ms)
                known = self._known(key, now_ms)
                return self._own_total(key, index) if known is None else known
        finally:
            self._io.release()

    def exchange(self, now_ms: int) -> None:
        """Hand the pending counts to the shared buckets and read back the totals of the keys
        counted since the last exchange, in one call (and prune old buckets once a bucket's
        width). The other processes' part of a key's total is what was read back less this
        process's own events (``LocalCounts``, exact) as they were handed over.

        The in-memory state is swapped out under the lock and merged back in short steps,
        and the repository is called outside it, so counting goes on meanwhile. Should
        the call fail, nothing was shared: the counts stay pending.
        """
        with self._io:
            with self._lock:
                # A caller's clock read before the lock may be behind a bucket already
                # counted in: the window is the latest one either has seen.
                now_ms = max(now_ms, self._latest * self._width)
                self._synced_ms = now_ms
                self._woken = False
                sent, self._pending = self._pending, {}
                unread, self._unread = self._unread, set()
            prefix = self._prefix
            names: dict[str, str] = {}  # key -> its name in the shared buckets
            for counts in sent.values():
                names.update(zip(counts, map(prefix.__add__, counts), strict=True))
            names.update(zip(unread, map(prefix.__add__, unread), strict=True))
            if not names:
                return
            keys = list(names)
            first = self._first_bucket(now_ms)
            rows = [(names[key], b, n) for b, counts in sent.items() for key, n in counts.items()]
            try:
                found = self._counters.exchange(
                    self._namespace, self._writer, rows, list(names.values()), since_bucket=first
                )
            except BaseException:
                self._restore(sent, keys)
                raise
            self._merge(keys, found, now_ms)
            if now_ms - self._pruned_ms >= self._width:  # old buckets go once a bucket
                self._pruned_ms = now_ms
                self._counters.prune(self._namespace, before_bucket=first)

    def flush(self, now_ms: int) -> None:
        """Add this process's unshared counts to the shared buckets (say, before it stops)."""
        self.exchange(now_ms)

    def before_fork(self) -> None:
        """Before this process forks: wait for an exchange under way and hold off the next,
        so no thread is inside the repository (and its driver's locks) at the fork."""
        self._io.acquire()

    def after_fork_in_parent(self) -> None:
        """After the fork, in the parent: exchanges may go on."""
        self._io.release()

    def after_fork_in_child(self) -> None:
        """In a forked child: forget the counts not yet shared (the parent shares them; the
        child sharing them too would count them twice), take a writer name of its own and
        fresh locks. What it counted of its own is the parent's too: the child's totals
        start from the parent's."""
        self._lock = threading.Lock()
        self._io = threading.Lock()
        self._pending = {}
        self._unread = set()
        self._writer = secrets.token_hex(8)
        self._alone_ms = None

    def __len__(self) -> int:
        """The number of keys whose other processes' total is kept."""
        return len(self._others)

    def _due(self, now_ms: int) -> None:
        """An exchange is due at ``now_ms``: made here, or asked of the owner (once)."""
        if not self._background:
            self.exchange(now_ms)
        elif self._wake is not None:
            self._woken = True
            self._wake()

    def _known(self, key: str, now_ms: int) -> int | None:
        """The key's total at ``now_ms`` if the other processes' part of it is known (lock
        held); None if it must be read."""
        width = self._width
        others = self._others.get(key)
        if others is not None and now_ms - others[2] < width:
            part = others[0] if now_ms // width <= others[2] // width else others[1]
        elif self._alone_ms is not None and now_ms - self._alone_ms < self._sync_ms:
            part = 0  # no other writer a moment ago: none since, or within an exchange's lag
        else:
            return None
        return self._own_total(key, now_ms // width) + part

    def _own_total(self, key: str, index: int) -> int:
        """This process's own events of ``key`` in the window at bucket ``index``, keeping
        nothing for a key not counted here (lock held)."""
        own = self._own
        return own._add((key,), index, 0)[0] if key in own._keys else 0

    def _first_bucket(self, now_ms: int) -> int:
        return now_ms // self._width - self._buckets + 1

    def _restore(self, sent: dict[int, dict[str, int]], keys: list[str]) -> None:
        """Put counts that were not handed over back with those counted since (and the keys
        to read with them)."""
        with self._lock:
            self._unread.update(keys)
            for b, counts in sent.items():
                pending = self._pending.setdefault(b, {})
                for key, n in counts.items():
                    pending[key] = pending.get(key, 0) + n

    def _merge(self, keys: list[str], found: list[tuple[int, int]] | None, now_ms: int) -> None:
        """Take the read-back totals in, ``MERGE_STEP`` keys per hold of the lock."""
        step = MERGE_STEP
        for at in range(0, max(len(keys), 1), step):
            with self._lock:
                chunk = None if found is None else found[at : at + step]
                self._merge_locked(keys[at : at + step], chunk, now_ms)

    def _merge_locked(
        self, keys: list[str], found: list[tuple[int, int]] | None, now_ms: int
    ) -> None:
        """The other processes' totals, read at ``now_ms``: what was read less this process's
        own as handed over (lock held). None read: no other writer counted in the window,
        and nothing is known of others (nor is anything of this process's worked out)."""
        others = self._others
        if found is None:
            others.clear()
            self._alone_ms = now_ms
            return
        self._alone_ms = None
        mine = self._handed_over(keys, now_ms)
        for key, (total, rest), handed in zip(keys, found, mine, strict=True):
            if handed is None:  # counted in a later bucket meanwhile: read it again
                others.pop(key, None)
                self._unread.add(key)
                continue
            others[key] = (max(total - handed[0], 0), max(rest - handed[1], 0), now_ms)
            others.move_to_end(key)
        for _ in range(len(others) - self._max_keys):
            others.popitem(last=False)

    def _handed_over(self, keys: list[str], now_ms: int) -> list[tuple[int, int] | None]:
        """This process's own totals of ``keys`` in the window at ``now_ms``, and the same
        without its oldest bucket, less what is still pending (counted since they were
        handed over; lock held). A key forgotten here has none of its own; one counted in
        a bucket after ``now_ms``'s since has no such totals left (None)."""
        index, first = now_ms // self._width, self._first_bucket(now_ms)
        own, pending = self._own, self._pending
        split = own._split
        handed: list[tuple[int, int] | None] = []
        for key in keys:
            at = own._keys.get(key)
            if at is not None and own._cells[at] > index:
                handed.append(None)
                continue
            total, rest = split(key, index)
            for bucket, counts in pending.items():  # not in the shared buckets
                count = counts.get(key, 0)
                total -= count if bucket >= first else 0
                rest -= count if bucket > first else 0
            handed.append((max(total, 0), max(rest, 0)))
        return handed


def window_for(
    counters: CounterBuckets,
    namespace: str,
    window_ms: int,
    *,
    buckets: int = DEFAULT_BUCKETS,
    max_keys: int = DEFAULT_MAX_KEYS,
    background: bool = False,
    wake: Callable[[], None] | None = None,
) -> Counts:
    """The velocity window ``counters`` call for: their own when they count on a shared
    server (``ExactCounters``), ``SharedCounts`` over them when other processes see them,
    else ``LocalCounts`` (which is cheaper and exact).

    ``background`` and ``wake`` are passed on to a shared window: its owner then calls
    ``exchange``, about every ``sync_ms`` and when ``wake`` is called (by a call that finds
    an exchange due).
    """
    if isinstance(counters, ExactCounters):
        _bucket_width(window_ms, buckets, max_keys)
        return counters.window(namespace, window_ms, buckets=buckets)
    if counters.shared:
        return SharedCounts(
            counters,
            namespace,
            window_ms,
            buckets=buckets,
            max_keys=max_keys,
            background=background,
            wake=wake,
        )
    return LocalCounts(window_ms, buckets=buckets, max_keys=max_keys)
