"""What a failed call must leave as it found it, read in one comparable value.

``snapshot(alliance)`` reads the money and the fraud memory of an alliance: the
commission lines (``alliance.commissions()``), every order's money, the journal's
head and ``verify_ledger()``, period totals and marks, payouts, the outbox, the
affiliates' risk histories, the blacklist, both velocity windows of the fraud
service and the store's ``counters`` repository. Two snapshots compare equal when
nothing of that changed.

``attempt(call)`` runs a call and returns its result or the ``AffiliateError`` it
raised (and counts it in ``TALLY``); any other exception propagates (that is the
first property: hostile input gets a typed error). ``check(alliance, call)`` adds the
second: after a failure the snapshot is unchanged, and in every case the ledger still
verifies.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, fields
from typing import TypeVar

from affiliate_sdk import AffiliateError, Alliance, Commission, LedgerVerification
from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.antifraud.velocity import Counts, LocalCounts, SharedCounts
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.storage.rows import Mark, OrderRow, PayoutRow, PeriodTotals
from affiliate_sdk.storage.sqlite import SQLiteStore

__all__ = ["TALLY", "Snapshot", "assert_unchanged", "attempt", "check", "snapshot"]

T = TypeVar("T")

#: One velocity window as compared: per key, ``(bucket, count)`` of its live buckets.
Window = tuple[tuple[str, tuple[tuple[int, int], ...]], ...]


@dataclass(frozen=True)
class Snapshot:
    """The state a failed call must not change."""

    commissions: tuple[Commission, ...]
    orders: tuple[OrderRow, ...]
    head: tuple[int, bytes] | None
    ledger: LedgerVerification
    periods: tuple[PeriodTotals, ...]
    marks: tuple[Mark, ...]
    payouts: tuple[PayoutRow, ...]
    outbox_seq: int
    risk: tuple[tuple[str, History], ...]
    blacklist: tuple[tuple[str, str], ...]
    velocity: tuple[tuple[str, Window], ...]
    counters: tuple[tuple[str, int, int], ...]

    def differences(self, other: Snapshot) -> list[str]:
        """The names of the parts that differ from ``other``'s."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def _live(step: int, index: int, buckets: int) -> bool:
    """Whether bucket ``step`` is still inside a window of ``buckets`` ending at ``index``."""
    return index - buckets < step <= index


def _window(counts: Counts, now_ms: int) -> Window:
    """A velocity window's counts by key, as ``(bucket, count)`` of the buckets still in
    the window at ``now_ms`` (a bucket that has left it counts for nothing, whether or
    not it was cleared yet). A shared window is flushed first: a neutral exchange, its
    totals the same before and after, so what it counted is in the store's counters."""
    if isinstance(counts, LocalCounts):
        width, size = counts._width, counts._buckets
        found = []
        for key, at in counts._keys.items():
            slots = counts._cells[at : at + counts._stride]
            last = slots[0]
            end = max(last, now_ms // width)
            live = tuple(
                (step, slots[2 + step % size])
                for step in range(last - size + 1, last + 1)
                if _live(step, end, size) and slots[2 + step % size]
            )
            if live:
                found.append((key, live))
        return tuple(sorted(found))
    if isinstance(counts, SharedCounts):
        counts.flush(now_ms)  # nothing pending after it: its own counts are all shared
        assert not counts._pending
        return _window(counts._own, now_ms)
    raise TypeError(f"no snapshot for a {type(counts).__name__} window")


def _counter_rows(alliance: Alliance, now_ms: int) -> tuple[tuple[str, int, int], ...]:
    """Every ``(key, bucket, count)`` in the store's counters repository (of a velocity
    window's keys, the buckets still inside the window)."""
    store = alliance.store
    if isinstance(store, MemoryStore):
        counts = store.counters._counts
        rows = [(k, b, n) for k, buckets in counts.items() for b, n in buckets.items()]
    elif isinstance(store, SQLiteStore):
        with closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)) as conn:
            found = conn.execute("SELECT key, bucket, count FROM counters").fetchall()
        rows = [(str(k), int(b), int(n)) for k, b, n in found]
    else:
        raise TypeError(f"no snapshot for a {type(store).__name__}")
    windows = [
        w
        for w in (alliance.fraud.per_minute, alliance.fraud.per_day)
        if isinstance(w, SharedCounts)
    ]

    def kept(row: tuple[str, int, int]) -> bool:
        for w in windows:
            if row[0].startswith(w._prefix):
                return bool(row[2]) and _live(row[1], now_ms // w._width, w._buckets)
        return True

    return tuple(sorted(row for row in rows if kept(row)))


def snapshot(alliance: Alliance) -> Snapshot:
    """Read everything a failed call must leave alone (see the module docstring)."""
    now_ms = int(alliance.clock.timestamp() * 1000)
    fraud = alliance.fraud
    velocity = (
        ("per_minute", _window(fraud.per_minute, now_ms)),
        ("per_day", _window(fraud.per_day, now_ms)),
    )
    commissions = tuple(alliance.commissions())
    ledger = alliance.verify_ledger()
    with alliance.store.reader() as tx:
        orders: list[OrderRow] = []
        after: tuple[str, str] | None = None
        while page := tx.orders.scan(after=after, limit=500):
            orders += page
            after = (page[-1].merchant_id, page[-1].order_id)
        head_row = tx.journal.head()
        head = None if head_row is None else (head_row.seq, head_row.hash)
        periods = tuple(tx.periods.scan(""))
        marks = tuple(tx.periods.marks(""))
        payouts = tuple(tx.ledger.payouts())
        outbox_seq = tx.outbox.last_seq()
        risk = tuple(tx.risk.histories())
        blacklist = tuple(sorted(tx.sanctions.blacklist().items()))
    return Snapshot(
        commissions=commissions,
        orders=tuple(orders),
        head=head,
        ledger=ledger,
        periods=periods,
        marks=marks,
        payouts=payouts,
        outbox_seq=outbox_seq,
        risk=risk,
        blacklist=blacklist,
        velocity=velocity,
        counters=_counter_rows(alliance, now_ms),
    )


#: Hostile calls made in this process: ``tried``, ``typed`` (an ``AffiliateError``) and
#: ``outside`` (anything else, which also fails the test); ``conftest.py`` prints them.
TALLY: Counter[str] = Counter()


def attempt(call: Callable[[], T]) -> T | AffiliateError:
    """The call's result, or the ``AffiliateError`` it raised (anything else escapes)."""
    TALLY["tried"] += 1
    try:
        return call()
    except AffiliateError as exc:
        TALLY["typed"] += 1
        return exc
    except BaseException:
        TALLY["outside"] += 1
        raise


def assert_unchanged(alliance: Alliance, before: Snapshot, error: AffiliateError) -> None:
    """After ``error``, the alliance is as ``before`` and its ledger verifies."""
    after = snapshot(alliance)
    assert after.ledger.ok, f"the ledger no longer verifies after {error!r}: {after.ledger}"
    changed = before.differences(after)
    assert not changed, f"{type(error).__name__} ({error}) left changes behind in: {changed}"


def check(alliance: Alliance, call: Callable[[], T]) -> T | AffiliateError:
    """Run ``call`` against ``alliance``: a typed error leaves nothing changed, and the
    ledger verifies whatever happened. Returns what ``attempt`` returns."""
    before = snapshot(alliance)
    result = attempt(call)
    if isinstance(result, AffiliateError):
        assert_unchanged(alliance, before, result)
    else:
        verification = alliance.verify_ledger()
        assert verification.ok, f"the ledger no longer verifies: {verification}"
    return result
