"""Ledger lines in booking order, with ordered indexes for keyset pages, and payout runs.

Each line gets a booking number when appended; every index is a sorted list of
booking numbers under its key (merchant, affiliate, order, status), so a page
starts with a bisect after the ``after`` line and reads only what it returns
(and the lines of the chosen index that the other filters reject).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from affiliate_sdk.errors import DuplicateEntry, StorageError
from affiliate_sdk.models import Commission
from affiliate_sdk.storage.rows import LineFilter, LineRow, PayoutRow

from ._undo import UndoLog

__all__ = ["MemoryLedger"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)

#: An index: a key -> the booking numbers of its lines, ascending.
_Index = dict[object, list[int]]


class _Slot(NamedTuple):
    """A stored line, its booking number and its instants in milliseconds."""

    no: int
    row: LineRow
    created_ms: int
    hold_ms: int | None


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
        "_events",
        "_log",
        "_next_no",
        "_payouts",
        "_payouts_by_affiliate",
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
        self._by_merchant: _Index = {}
        self._by_affiliate: _Index = {}
        self._by_order: _Index = {}
        self._by_order_id: _Index = {}
        self._by_status: _Index = {}
        self._runs: dict[str, list[PayoutRow]] = {}
        self._payouts: list[PayoutRow] = []
        self._payouts_by_affiliate: dict[str, list[PayoutRow]] = {}

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
        slot = _Slot(no, row, _ms(line.created_at), _ms_or_none(line.hold_until))
        self._slots[line.entry_id] = slot
        self._by_no[no] = slot
        self._events[line.event_id] = line.entry_id
        keys = _keys(line)
        self._all.append(no)
        for index, key in self._indexed(keys):
            _add(index, key, no)
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
        new = _Slot(old.no, row, _ms(line.created_at), _ms_or_none(line.hold_until))
        self._slots[line.entry_id] = new
        self._by_no[old.no] = new
        old_keys, new_keys = _keys(old.row.line), _keys(line)
        if old_keys != new_keys:
            self._move(old.no, old_keys, new_keys)
        if self._log.active:
            self._log.record(lambda: self._restore(old, new_keys))

    def _restore(self, old: _Slot, keys: _Keys) -> None:
        self._slots[old.row.line.entry_id] = old
        self._by_no[old.no] = old
        old_keys = _keys(old.row.line)
        if old_keys != keys:
            self._move(old.no, keys, old_keys)

    def _move(self, no: int, old: _Keys, new: _Keys) -> None:
        for (index, old_key), (_, new_key) in zip(
            self._indexed(old), self._indexed(new), strict=True
        ):
            if old_key != new_key:
                _discard(index, old_key, no)
                _add(index, new_key, no)

    def _indexed(self, keys: _Keys) -> Iterable[tuple[_Index, object]]:
        indexes = (
            self._by_merchant,
            self._by_affiliate,
            self._by_order,
            self._by_order_id,
            self._by_status,
        )
        return zip(indexes, keys, strict=True)

    def get_many(self, entry_ids: Sequence[str]) -> list[LineRow]:
        """The lines with these ids that exist, in booking order."""
        slots = self._slots
        found = {slots[e].no: slots[e] for e in entry_ids if e in slots}
        return [found[no].row for no in sorted(found)]

    def by_order(self, merchant_id: str, order_id: str) -> list[LineRow]:
        """An order's lines, in booking order."""
        by_no = self._by_no
        return [by_no[no].row for no in self._by_order.get((merchant_id, order_id), ())]

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

    def due(self, *, status: str, until_ms: int, after: str | None, limit: int) -> list[LineRow]:
        """Up to ``limit`` lines of ``status`` not held past ``until_ms``, in booking order
        after ``after``."""
        nos = self._by_status.get(status, [])
        found: list[LineRow] = []
        if limit <= 0:
            return found
        by_no = self._by_no
        for at in range(self._start(nos, after), len(nos)):
            slot = by_no[nos[at]]
            if slot.hold_ms is None or slot.hold_ms <= until_ms:
                found.append(slot.row)
                if len(found) >= limit:
                    break
        return found

    def _start(self, nos: list[int], after: str | None) -> int:
        if after is None:
            return 0
        slot = self._slots.get(after)
        if slot is None:
            raise StorageError(f"no ledger line {after!r} to page after")
        return bisect_right(nos, slot.no)

    # -- payouts -----------------------------------------------------------------------
    def insert_payouts(self, run_id: str, payouts: Sequence[PayoutRow]) -> None:
        """Record a payout run and its batches (``DuplicateEntry`` when the run exists)."""
        if run_id in self._runs:
            raise DuplicateEntry("payout run", run_id)
        rows = list(payouts)
        self._runs[run_id] = rows
        self._payouts.extend(rows)
        for row in rows:
            self._payouts_by_affiliate.setdefault(row.batch.affiliate_id, []).append(row)
        if self._log.active:
            self._log.record(lambda: self._unpay(run_id, rows))

    def _unpay(self, run_id: str, rows: list[PayoutRow]) -> None:
        del self._runs[run_id]
        del self._payouts[len(self._payouts) - len(rows) :]
        for row in reversed(rows):
            self._payouts_by_affiliate[row.batch.affiliate_id].pop()

    def payouts(
        self, *, run_id: str | None = None, affiliate_id: str | None = None
    ) -> list[PayoutRow]:
        """Payout batches matching the filters, oldest run first."""
        if run_id is not None:
            rows = self._runs.get(run_id, [])
            if affiliate_id is None:
                return list(rows)
            return [row for row in rows if row.batch.affiliate_id == affiliate_id]
        if affiliate_id is not None:
            return list(self._payouts_by_affiliate.get(affiliate_id, ()))
        return list(self._payouts)

    def has_run(self, run_id: str) -> bool:
        """Whether the payout run is recorded."""
        return run_id in self._runs


def _keys(line: Commission) -> _Keys:
    return _Keys(
        line.merchant_id,
        line.affiliate_id,
        (line.merchant_id, line.order_id),
        line.order_id,
        line.status,
    )


def _add(index: _Index, key: object, no: int) -> None:
    nos = index.get(key)
    if nos is None:
        index[key] = [no]
    elif nos[-1] < no:
        nos.append(no)
    else:
        insort(nos, no)


def _discard(index: _Index, key: object, no: int) -> None:
    nos = index[key]
    if nos[-1] == no:
        nos.pop()
    else:
        del nos[bisect_left(nos, no)]
    if not nos:
        del index[key]


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


def _ms_or_none(instant: datetime | None) -> int | None:
    return None if instant is None else (instant - _EPOCH) // _MS
