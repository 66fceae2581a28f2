"""Ledger lines in booking order, with ordered indexes for keyset pages, and payout runs.

Each line gets a booking number when appended; every index is a sorted list of
booking numbers under its key (merchant, affiliate, order, status), so a page
starts with a bisect after the ``after`` line and reads only what it returns
(and the lines of the chosen index that the other filters reject).

What ``due`` reads is kept apart: per status, and per status and merchant, a
sorted list of ``(due_us, booking number)``, where ``due_us`` is the end of the
hold in microseconds (the lowest value for a line not held). A page is a
bisect and a walk that stops at the first line still held: it costs the lines
it returns. Payout batches keep their payout order (a number each) under the
run, the affiliate and overall, so their pages start with a bisect too.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple, TypeVar

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.models import Commission
from affiliate_sdk.storage.rows import LineFilter, LineRow, PayoutRow

from ._undo import UndoLog

__all__ = ["MemoryLedger"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_US: Final = timedelta(microseconds=1)
#: The ``due_us`` of a line not held: below every instant, so it is due first.
_NOT_HELD: Final = -(2**63)

_T = TypeVar("_T", int, tuple[int, int])
#: An index: a key -> the booking numbers of its lines (or ``(due_us, no)``), ascending.
_Index = dict[object, list[_T]]


class _Slot(NamedTuple):
    """A stored line, its booking number, its creation in milliseconds and when it is due
    (the end of its hold in microseconds; ``_NOT_HELD`` when not held)."""

    no: int
    row: LineRow
    created_ms: int
    due_us: int

    @property
    def due_key(self) -> tuple[int, int]:
        """Its place in the due indexes."""
        return (self.due_us, self.no)


class _Batch(NamedTuple):
    """A stored payout batch and its payout number (its place in payout order)."""

    no: int
    row: PayoutRow


class _Run(NamedTuple):
    """A recorded payout run: its number, the journal entry that wrote it, its batches."""

    no: int
    seq: int
    batches: list[_Batch]


class _Keys(NamedTuple):
    """The index keys of a line."""

    merchant: str
    affiliate: str
    order: tuple[str, str]
    order_id: str
    status: str


class MemoryLedger:
    """``LedgerRepo`` over lines in booking order and sorted per-key indexes."""

    __slots__ = (
        "_all",
        "_by_affiliate",
        "_by_merchant",
        "_by_no",
        "_by_order",
        "_by_order_id",
        "_by_status",
        "_due",
        "_due_by_merchant",
        "_events",
        "_log",
        "_next_no",
        "_payout_nos",
        "_payouts",
        "_payouts_by_affiliate",
        "_run_order",
        "_runs",
        "_slots",
    )

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._next_no = 1
        self._slots: dict[str, _Slot] = {}
        self._by_no: dict[int, _Slot] = {}
        self._events: dict[str, str] = {}
        self._all: list[int] = []
        self._by_merchant: _Index[int] = {}
        self._by_affiliate: _Index[int] = {}
        self._by_order: _Index[int] = {}
        self._by_order_id: _Index[int] = {}
        self._by_status: _Index[int] = {}
        self._due: _Index[tuple[int, int]] = {}  # status -> (due_us, no)
        self._due_by_merchant: _Index[tuple[int, int]] = {}  # (status, merchant) -> ...
        self._runs: dict[str, _Run] = {}
        self._run_order: list[str] = []
        self._payouts: list[_Batch] = []
        self._payout_nos: dict[str, int] = {}
        self._payouts_by_affiliate: dict[str, list[_Batch]] = {}

    # -- lines ------------------------------------------------------------------------
    def append(self, lines: Sequence[LineRow]) -> None:
        """Add lines (``DuplicateEntry`` when an ``entry_id`` or ``event_id`` exists)."""
        entry_ids: set[str] = set()
        event_ids: set[str] = set()
        for row in lines:
            line = row.line
            if line.entry_id in self._slots or line.entry_id in entry_ids:
                raise DuplicateEntry("ledger line", line.entry_id)
            if line.event_id in self._events or line.event_id in event_ids:
                raise DuplicateEntry("ledger event", line.event_id)
            entry_ids.add(line.entry_id)
            event_ids.add(line.event_id)
        for row in lines:
            self._append(row)

    def _append(self, row: LineRow) -> None:
        line = row.line
        no = self._next_no
        self._next_no = no + 1
        slot = _Slot(no, row, _ms(line.created_at), _due_us(line.hold_until))
        self._slots[line.entry_id] = slot
        self._by_no[no] = slot
        self._events[line.event_id] = line.entry_id
        keys = _keys(line)
        self._all.append(no)
        for index, key in self._indexed(keys):
            _add(index, key, no)
        self._add_due(slot)
        if self._log.active:
            self._log.record(lambda: self._unappend(slot, keys))

    def _unappend(self, slot: _Slot, keys: _Keys) -> None:
        line = slot.row.line
        del self._slots[line.entry_id]
        del self._by_no[slot.no]
        del self._events[line.event_id]
        self._all.pop()
        for index, key in self._indexed(keys):
            _discard(index, key, slot.no)
        self._discard_due(slot)

    def update(self, lines: Sequence[LineRow]) -> None:
        """Replace lines by ``entry_id`` with new versions; they keep their place
        (``StorageError`` for a line not stored; its ``event_id`` does not change)."""
        for row in lines:
            if row.line.entry_id not in self._slots:
                raise StorageError(f"no ledger line {row.line.entry_id!r} to update")
        for row in lines:
            self._replace(self._slots[row.line.entry_id], row)

    def _replace(self, old: _Slot, row: LineRow) -> None:
        line = row.line
        new = _Slot(old.no, row, _ms(line.created_at), _due_us(line.hold_until))
        self._slots[line.entry_id] = new
        self._by_no[old.no] = new
        old_keys, new_keys = _keys(old.row.line), _keys(line)
        if old_keys != new_keys:
            self._move(old.no, old_keys, new_keys)
        self._move_due(old, new)
        if self._log.active:
            self._log.record(lambda: self._restore(old, new))

    def _restore(self, old: _Slot, new: _Slot) -> None:
        self._slots[old.row.line.entry_id] = old
        self._by_no[old.no] = old
        old_keys, new_keys = _keys(old.row.line), _keys(new.row.line)
        if old_keys != new_keys:
            self._move(old.no, new_keys, old_keys)
        self._move_due(new, old)

    def _move(self, no: int, old: _Keys, new: _Keys) -> None:
        for (index, old_key), (_, new_key) in zip(
            self._indexed(old), self._indexed(new), strict=True
        ):
            if old_key != new_key:
                _discard(index, old_key, no)
                _add(index, new_key, no)

    def _indexed(self, keys: _Keys) -> Iterable[tuple[_Index[int], object]]:
        indexes = (
            self._by_merchant,
            self._by_affiliate,
            self._by_order,
            self._by_order_id,
            self._by_status,
        )
        return zip(indexes, keys, strict=True)

    def _add_due(self, slot: _Slot) -> None:
        line = slot.row.line
        _add(self._due, line.status, slot.due_key)
        _add(self._due_by_merchant, (line.status, line.merchant_id), slot.due_key)

    def _discard_due(self, slot: _Slot) -> None:
        line = slot.row.line
        _discard(self._due, line.status, slot.due_key)
        _discard(self._due_by_merchant, (line.status, line.merchant_id), slot.due_key)

    def _move_due(self, old: _Slot, new: _Slot) -> None:
        """Follow a line from one version to the next in the due indexes."""
        was, now = old.row.line, new.row.line
        if (was.status, was.merchant_id, old.due_us) != (now.status, now.merchant_id, new.due_us):
            self._discard_due(old)
            self._add_due(new)

    def get_many(self, entry_ids: Sequence[str]) -> list[LineRow]:
        """The lines with these ids that exist, in booking order."""
        slots = self._slots
        found = {slots[e].no: slots[e] for e in entry_ids if e in slots}
        return [found[no].row for no in sorted(found)]

    def by_order(self, merchant_id: str, order_id: str) -> list[LineRow]:
        """An order's lines, in booking order."""
        by_no = self._by_no
        return [by_no[no].row for no in self._by_order.get((merchant_id, order_id), ())]

    def by_orders(self, orders: Sequence[tuple[str, str]]) -> list[LineRow]:
        """The lines of these ``(merchant_id, order_id)`` orders, in booking order."""
        nos: list[int] = []
        for merchant_id, order_id in dict.fromkeys(orders):
            nos += self._by_order.get((merchant_id, order_id), ())
        nos.sort()
        by_no = self._by_no
        return [by_no[no].row for no in nos]

    def query(
        self, where: LineFilter, *, after: str | None = None, limit: int = 1000
    ) -> list[LineRow]:
        """Up to ``limit`` lines matching every field of ``where``, in booking order,
        after the line ``after`` (``StorageError`` when no such line is stored)."""
        if where.merchant_id is not None and where.order_id is not None:
            nos = self._by_order.get((where.merchant_id, where.order_id), [])
        elif where.order_id is not None:
            nos = self._by_order_id.get(where.order_id, [])
        elif where.affiliate_id is not None:
            nos = self._by_affiliate.get(where.affiliate_id, [])
        elif where.status is not None:
            nos = self._by_status.get(where.status, [])
        elif where.merchant_id is not None:
            nos = self._by_merchant.get(where.merchant_id, [])
        else:
            nos = self._all
        found: list[LineRow] = []
        if limit <= 0:
            return found
        by_no = self._by_no
        for at in range(self._start(nos, after), len(nos)):
            slot = by_no[nos[at]]
            if _matches(slot, where):
                found.append(slot.row)
                if len(found) >= limit:
                    break
        return found

    def due(
        self,
        *,
        status: str,
        until_ms: int,
        after: str | None,
        limit: int,
        merchant_id: str | None = None,
    ) -> list[LineRow]:
        """Up to ``limit`` lines of ``status`` (of one merchant or all) not held past
        ``until_ms``: lines not held first, then by the end of their hold, ties in booking
        order, after the line ``after`` (``StorageError`` when no such line is stored)."""
        if limit <= 0:
            return []
        if merchant_id is None:
            keys = self._due.get(status, [])
        else:
            keys = self._due_by_merchant.get((status, merchant_id), [])
        start = 0
        if after is not None:
            cursor = self._slots.get(after)
            if cursor is None:
                raise StorageError(f"no ledger line {after!r} to page after")
            start = bisect_right(keys, cursor.due_key)
        until_us = until_ms * 1000
        by_no = self._by_no
        found: list[LineRow] = []
        for due_us, no in keys[start : start + limit]:
            if due_us > until_us:
                break
            found.append(by_no[no].row)
        return found

    def _start(self, nos: list[int], after: str | None) -> int:
        if after is None:
            return 0
        slot = self._slots.get(after)
        if slot is None:
            raise StorageError(f"no ledger line {after!r} to page after")
        return bisect_right(nos, slot.no)

    # -- payouts -----------------------------------------------------------------------
    def insert_payouts(self, run_id: str, payouts: Sequence[PayoutRow], *, seq: int) -> None:
        """Record a payout run, written by journal entry ``seq``, and its batches
        (``DuplicateEntry`` when the run or a payout id exists; ``StorageError`` for a
        batch of another run)."""
        if run_id in self._runs:
            raise DuplicateEntry("payout run", run_id)
        seen: set[str] = set()
        for row in payouts:
            payout_id = row.batch.payout_id
            if row.run_id != run_id:
                raise StorageError(f"payout {payout_id} is not of run {run_id}")
            if payout_id in self._payout_nos or payout_id in seen:
                raise DuplicateEntry("payout", payout_id)
            seen.add(payout_id)
        first = len(self._payouts)
        batches = [_Batch(first + n, row) for n, row in enumerate(payouts)]
        self._runs[run_id] = _Run(len(self._run_order), seq, batches)
        self._run_order.append(run_id)
        self._payouts.extend(batches)
        for batch in batches:
            self._payout_nos[batch.row.batch.payout_id] = batch.no
            self._payouts_by_affiliate.setdefault(batch.row.batch.affiliate_id, []).append(batch)
        if self._log.active:
            self._log.record(lambda: self._unpay(run_id, batches))

    def _unpay(self, run_id: str, batches: list[_Batch]) -> None:
        del self._runs[run_id]
        self._run_order.pop()
        del self._payouts[len(self._payouts) - len(batches) :]
        for batch in reversed(batches):
            del self._payout_nos[batch.row.batch.payout_id]
            mine = self._payouts_by_affiliate[batch.row.batch.affiliate_id]
            mine.pop()
            if not mine:
                del self._payouts_by_affiliate[batch.row.batch.affiliate_id]

    def payouts(
        self,
        *,
        run_id: str | None = None,
        affiliate_id: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[PayoutRow]:
        """Payout batches matching the filters in payout order (oldest run first), after the
        batch ``after`` (``StorageError`` when no such batch is stored); no ``limit``: all."""
        if run_id is not None:
            run = self._runs.get(run_id)
            batches = [] if run is None else run.batches
        elif affiliate_id is not None:
            batches = self._payouts_by_affiliate.get(affiliate_id, [])
        else:
            batches = self._payouts
        start = 0
        if after is not None:
            no = self._payout_nos.get(after)
            if no is None:
                raise StorageError(f"no payout {after!r} to page after")
            start = bisect_right(batches, no, key=_payout_no)
        wanted = len(batches) if limit is None else limit
        found: list[PayoutRow] = []
        for at in range(start, len(batches)):
            if len(found) >= wanted:
                break
            row = batches[at].row
            if affiliate_id is None or row.batch.affiliate_id == affiliate_id:
                found.append(row)
        return found

    def runs(self, *, after: str | None = None, limit: int = 1000) -> list[tuple[str, int]]:
        """``(run_id, seq)`` of up to ``limit`` runs in the order they were recorded, after
        the run ``after`` (``StorageError`` when no such run is recorded)."""
        start = 0
        if after is not None:
            run = self._runs.get(after)
            if run is None:
                raise StorageError(f"no payout run {after!r} to page after")
            start = run.no + 1
        order = self._run_order[start : start + max(limit, 0)]
        return [(run_id, self._runs[run_id].seq) for run_id in order]

    def has_run(self, run_id: str) -> bool:
        """Whether the payout run is recorded."""
        return run_id in self._runs

    def prove_run(self, run_id: str, seq: int) -> None:
        """Give a run and its batches ``seq``."""
        run = self._runs.get(run_id)
        if run is None:
            raise StorageError(f"no payout run {run_id}")
        batches = [batch._replace(row=batch.row._replace(seq=seq)) for batch in run.batches]
        self._set_run(run_id, run._replace(seq=seq, batches=batches))
        if self._log.active:
            self._log.record(lambda: self._set_run(run_id, run))

    def _set_run(self, run_id: str, run: _Run) -> None:
        self._runs[run_id] = run
        for batch in run.batches:
            self._payouts[batch.no] = batch
            mine = self._payouts_by_affiliate[batch.row.batch.affiliate_id]
            for index, kept in enumerate(mine):
                if kept.no == batch.no:
                    mine[index] = batch


def _keys(line: Commission) -> _Keys:
    return _Keys(
        line.merchant_id,
        line.affiliate_id,
        (line.merchant_id, line.order_id),
        line.order_id,
        line.status,
    )


def _add(index: _Index[_T], key: object, item: _T) -> None:
    items = index.get(key)
    if items is None:
        index[key] = [item]
    elif items[-1] < item:
        items.append(item)
    else:
        insort(items, item)


def _discard(index: _Index[_T], key: object, item: _T) -> None:
    items = index[key]
    if items[-1] == item:
        items.pop()
    else:
        del items[bisect_left(items, item)]
    if not items:
        del index[key]


def _payout_no(batch: _Batch) -> int:
    return batch.no


def _matches(slot: _Slot, where: LineFilter) -> bool:
    line = slot.row.line
    return (
        (where.merchant_id is None or line.merchant_id == where.merchant_id)
        and (where.affiliate_id is None or line.affiliate_id == where.affiliate_id)
        and (where.order_id is None or line.order_id == where.order_id)
        and (where.status is None or line.status == where.status)
        and (where.account is None or line.account == where.account)
        and (where.created_since_ms is None or slot.created_ms >= where.created_since_ms)
        and (where.created_before_ms is None or slot.created_ms < where.created_before_ms)
    )


def _ms(instant: datetime) -> int:
    return (instant - _EPOCH) // _MS


def _due_us(hold_until: datetime | None) -> int:
    """When a line is due, in microseconds (``_NOT_HELD`` when it is not held)."""
    return _NOT_HELD if hold_until is None else (hold_until - _EPOCH) // _US
