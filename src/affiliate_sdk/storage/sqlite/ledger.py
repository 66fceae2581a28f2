"""``LedgerRepo`` on SQLite: typed ledger lines (with their measures) and payout runs.

``due`` reads the index ``(status[, merchant_id], due_us, pos)``: from the line it
pages after, first the rest of its ``due_us`` by ``pos``, then the later ones up to
the instant asked for, so a page reads the lines it returns and no others.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

from affiliate_sdk.errors import StorageError
from affiliate_sdk.models import Commission, PayoutBatch
from affiliate_sdk.money import Money
from affiliate_sdk.storage.rows import LineFilter, LineMeasures, LineRow, PayoutRow

from ._connection import Db
from ._dialect import LOWEST_INTEGER, chunks, placeholders
from ._values import from_us, text_or_none, to_us

__all__ = ["LINE_COLUMNS", "SqliteLedger", "line_params"]

#: The columns of ``lines`` a line is written to, in order.
LINE_COLUMNS: Final = (
    "entry_id",
    "event_id",
    "merchant_id",
    "order_id",
    "campaign_id",
    "affiliate_id",
    "click_id",
    "account",
    "kind",
    "amount",
    "currency",
    "status",
    "rate",
    "basis",
    "basis_currency",
    "rule",
    "plan_version",
    "refund_id",
    "reverses",
    "reason",
    "created_at_us",
    "hold_until_us",
    "approved_at_us",
    "paid_at_us",
    "payout_id",
    "seq",
    "measured",
    "tier_fields",
    "tier_key",
    "tier_measure",
    "tier_base",
    "tier_paid",
    "fx_rate",
    "counts",
    "tier_booked",
    "tier_booked_currency",
    "due_us",
)
_SELECT: Final = f"SELECT {', '.join(LINE_COLUMNS)} FROM lines"
_INSERT: Final = (
    f"INSERT INTO lines ({', '.join(LINE_COLUMNS)}) VALUES ({placeholders(len(LINE_COLUMNS))})"
)
_UPDATE: Final = (
    f"UPDATE lines SET {', '.join(f'{c} = ?' for c in LINE_COLUMNS[1:])} WHERE entry_id = ?"
)
_FILTERS: Final = (
    ("merchant_id", "merchant_id = ?"),
    ("affiliate_id", "affiliate_id = ?"),
    ("order_id", "order_id = ?"),
    ("status", "status = ?"),
    ("account", "account = ?"),
)


#: The measure fields a ``Commission`` still carries itself (none once it has lost them).
_OWN_FIELDS: Final = tuple(name for name in LineMeasures._fields if name in Commission.model_fields)


def _commission_measures(line: Commission) -> LineMeasures | None:
    """The tier fields a Commission itself carries, as measures (None when it has none)."""
    own = {name: getattr(line, name) for name in _OWN_FIELDS}
    counts = own.pop("counts", None) or {}
    if all(value is None for value in own.values()) and not counts:
        return None
    return LineMeasures(**own, counts=tuple(counts.items()))


def _kept(row: LineRow) -> tuple[LineMeasures | None, int]:
    """The measures written to the columns, and whether the Commission carries them."""
    own = _commission_measures(row.line)
    if own is None:
        return row.measures, 0
    if row.measures is None or _same(own, row.measures):
        return own if row.measures is None else row.measures, 1
    raise StorageError(
        f"line {row.line.entry_id}: its Commission's tier fields differ from its measures"
    )


def _same(one: LineMeasures, other: LineMeasures) -> bool:
    """Whether the fields a Commission carries agree (``counts`` in any order)."""
    return all(
        getattr(one, name) == getattr(other, name) for name in _OWN_FIELDS if name != "counts"
    ) and dict(one.counts) == dict(other.counts)


def line_params(row: LineRow) -> tuple[object, ...]:
    """The values of ``LINE_COLUMNS`` for a line."""
    line = row.line
    measures, tier_fields = _kept(row)
    m = measures or LineMeasures()
    booked = m.tier_booked
    hold_us = to_us(line.hold_until)
    return (
        line.entry_id,
        line.event_id,
        line.merchant_id,
        line.order_id,
        line.campaign_id,
        line.affiliate_id,
        line.click_id,
        line.account,
        line.kind,
        str(line.amount.amount),
        line.amount.currency,
        line.status,
        str(line.rate),
        str(line.basis.amount),
        line.basis.currency,
        line.rule,
        line.plan_version,
        line.refund_id,
        line.reverses,
        line.reason,
        to_us(line.created_at),
        to_us(line.hold_until),
        to_us(line.approved_at),
        to_us(line.paid_at),
        line.payout_id,
        row.seq,
        int(row.measures is not None),
        tier_fields,
        m.tier_key,
        text_or_none(m.tier_measure),
        text_or_none(m.tier_base),
        text_or_none(m.tier_paid),
        text_or_none(m.fx_rate),
        len(m.counts),
        None if booked is None else str(booked.amount),
        None if booked is None else booked.currency,
        LOWEST_INTEGER if hold_us is None else hold_us,
    )


def count_params(row: LineRow) -> list[tuple[object, ...]]:
    """The ``line_counts`` rows of a line."""
    measures, _ = _kept(row)
    if measures is None:
        return []
    return [
        (row.line.entry_id, position, key, str(amount))
        for position, (key, amount) in enumerate(measures.counts)
    ]


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _money(amount: object, currency: object) -> Money | None:
    return None if amount is None else Money(str(amount), str(currency))


def _line_from(values: tuple[object, ...], counts: tuple[tuple[str, Decimal], ...]) -> LineRow:
    v = dict(zip(LINE_COLUMNS, values, strict=True))
    measures = LineMeasures(
        tier_key=v["tier_key"],  # type: ignore[arg-type]
        tier_measure=_decimal(v["tier_measure"]),
        tier_base=_decimal(v["tier_base"]),
        tier_paid=_decimal(v["tier_paid"]),
        fx_rate=_decimal(v["fx_rate"]),
        counts=counts,
        tier_booked=_money(v["tier_booked"], v["tier_booked_currency"]),
    )
    own = measures if v["tier_fields"] else LineMeasures()
    fields: dict[str, Any] = {name: v[name] for name in _PLAIN}
    line = Commission.model_construct(
        **fields,
        amount=Money(str(v["amount"]), str(v["currency"])),
        rate=Decimal(str(v["rate"])),
        basis=Money(str(v["basis"]), str(v["basis_currency"])),
        **_own_fields(own),
        created_at=from_us(int(str(v["created_at_us"]))),
        hold_until=from_us(v["hold_until_us"]),
        approved_at=from_us(v["approved_at_us"]),
        paid_at=from_us(v["paid_at_us"]),
    )
    return LineRow(line, measures if v["measured"] else None, int(str(v["seq"])))


def _own_fields(own: LineMeasures) -> dict[str, Any]:
    return {
        name: dict(own.counts) if name == "counts" else getattr(own, name) for name in _OWN_FIELDS
    }


_PLAIN: Final = (
    "entry_id",
    "event_id",
    "merchant_id",
    "order_id",
    "campaign_id",
    "affiliate_id",
    "click_id",
    "account",
    "kind",
    "status",
    "rule",
    "plan_version",
    "refund_id",
    "reverses",
    "reason",
    "payout_id",
)


class SqliteLedger:
    """Ledger lines in booking order and payout runs, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def append(self, lines: Sequence[LineRow]) -> None:
        """Add lines (``DuplicateEntry`` when an ``entry_id`` or ``event_id`` exists)."""
        with self._db.atomic():
            self._append(lines)

    def _append(self, lines: Sequence[LineRow]) -> None:
        for row in lines:
            self._db.run(_INSERT, line_params(row), what="ledger line", key=row.line.entry_id)
            counts = count_params(row)
            if counts:
                self._db.many("INSERT INTO line_counts VALUES (?, ?, ?, ?)", counts)

    def update(self, lines: Sequence[LineRow]) -> None:
        """Replace lines by ``entry_id`` with new versions; they keep their place."""
        with self._db.atomic():
            self._update(lines)

    def _update(self, lines: Sequence[LineRow]) -> None:
        for row in lines:
            params = line_params(row)
            changed = self._db.run(
                _UPDATE, (*params[1:], params[0]), what="ledger line", key=row.line.entry_id
            )
            if changed != 1:
                raise StorageError(f"no ledger line {row.line.entry_id!r} to update")
            self._db.run("DELETE FROM line_counts WHERE entry_id = ?", (row.line.entry_id,))
            counts = count_params(row)
            if counts:
                self._db.many("INSERT INTO line_counts VALUES (?, ?, ?, ?)", counts)

    def get_many(self, entry_ids: Sequence[str]) -> list[LineRow]:
        """The lines with these ids that exist, in booking order."""
        found: list[tuple[object, ...]] = []
        for chunk in chunks(list(dict.fromkeys(entry_ids))):
            found += self._db.rows(
                f"SELECT pos, {', '.join(LINE_COLUMNS)} FROM lines "
                f"WHERE entry_id IN ({placeholders(len(chunk))})",
                chunk,
            )
        found.sort(key=lambda values: int(str(values[0])))
        return self._hydrate([values[1:] for values in found])

    def by_order(self, merchant_id: str, order_id: str) -> list[LineRow]:
        """An order's lines, in booking order."""
        return self._hydrate(
            self._db.rows(
                f"{_SELECT} WHERE merchant_id = ? AND order_id = ? ORDER BY pos",
                (merchant_id, order_id),
            )
        )

    def by_orders(self, orders: Sequence[tuple[str, str]]) -> list[LineRow]:
        """The lines of these ``(merchant_id, order_id)`` orders, in booking order: one
        statement (a ``VALUES`` list joined to the lines) per slice of orders that fits."""
        wanted = list(dict.fromkeys((merchant_id, order_id) for merchant_id, order_id in orders))
        found: list[tuple[object, ...]] = []
        for chunk in chunks(wanted, per_value=2):
            values = ", ".join("(?, ?)" for _ in chunk)
            found += self._db.rows(
                f"WITH wanted (merchant_id, order_id) AS (VALUES {values}) "
                f"SELECT l.pos, {', '.join(f'l.{c}' for c in LINE_COLUMNS)} "
                "FROM wanted w JOIN lines l "
                "ON l.merchant_id = w.merchant_id AND l.order_id = w.order_id",
                [part for pair in chunk for part in pair],
            )
        found.sort(key=lambda values: int(str(values[0])))
        return self._hydrate([values[1:] for values in found])

    def query(
        self, where: LineFilter, *, after: str | None = None, limit: int = 1000
    ) -> list[LineRow]:
        """Up to ``limit`` lines matching every field of ``where``, in booking order, after
        the line ``after``."""
        clauses: list[str] = []
        params: list[object] = []
        for field, clause in _FILTERS:
            value = getattr(where, field)
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if where.created_since_ms is not None:
            clauses.append("created_at_us >= ?")
            params.append(where.created_since_ms * 1000)
        if where.created_before_ms is not None:
            clauses.append("created_at_us < ?")
            params.append(where.created_before_ms * 1000)
        return self._page(clauses, params, after, limit)

    def due(
        self,
        *,
        status: str,
        until_ms: int,
        after: str | None,
        limit: int,
        merchant_id: str | None = None,
    ) -> list[LineRow]:
        """Up to ``limit`` lines of ``status`` (of one merchant or all) held until
        ``until_ms`` or earlier: lines not held first, then by the end of their hold, ties
        in booking order, after the line ``after`` (``StorageError`` when it is not
        stored)."""
        if limit <= 0:
            return []
        scope, params = ["status = ?"], [status]
        if merchant_id is not None:
            scope.append("merchant_id = ?")
            params.append(merchant_id)
        until_us = until_ms * 1000
        found: list[tuple[object, ...]] = []
        later = ["due_us <= ?"]
        bounds: list[object] = [until_us]
        if after is not None:
            cursor = self._db.row("SELECT due_us, pos FROM lines WHERE entry_id = ?", (after,))
            if cursor is None:
                raise StorageError(f"no ledger line {after!r} to page after")
            due_us, pos = int(str(cursor[0])), int(str(cursor[1]))
            if due_us > until_us:
                return []
            found = self._due_rows(
                [*scope, "due_us = ?", "pos > ?"], [*params, due_us, pos], "pos", limit
            )
            later, bounds = ["due_us > ?", "due_us <= ?"], [due_us, until_us]
        if len(found) < limit:
            found += self._due_rows(
                [*scope, *later], [*params, *bounds], "due_us, pos", limit - len(found)
            )
        return self._hydrate(found)

    def _due_rows(
        self, clauses: list[str], params: list[object], order: str, limit: int
    ) -> list[tuple[object, ...]]:
        """One range of the due index, in index order."""
        return self._db.rows(
            f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT ?",
            (*params, limit),
        )

    def _page(
        self, clauses: list[str], params: list[object], after: str | None, limit: int
    ) -> list[LineRow]:
        if after is not None:
            clauses = [*clauses, "pos > coalesce((SELECT pos FROM lines WHERE entry_id = ?), 0)"]
            params = [*params, after]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._hydrate(
            self._db.rows(f"{_SELECT}{where} ORDER BY pos LIMIT ?", (*params, max(limit, 0)))
        )

    def _hydrate(self, found: Sequence[tuple[object, ...]]) -> list[LineRow]:
        counts_at = LINE_COLUMNS.index("counts")
        wanted = [str(values[0]) for values in found if values[counts_at]]
        counts: dict[str, list[tuple[str, Decimal]]] = {}
        for chunk in chunks(wanted):
            for entry_id, key, amount in self._db.rows(
                "SELECT entry_id, key, amount FROM line_counts "
                f"WHERE entry_id IN ({placeholders(len(chunk))}) ORDER BY entry_id, position",
                chunk,
            ):
                counts.setdefault(str(entry_id), []).append((str(key), Decimal(str(amount))))
        return [_line_from(values, tuple(counts.get(str(values[0]), ()))) for values in found]

    def insert_payouts(self, run_id: str, payouts: Sequence[PayoutRow], *, seq: int) -> None:
        """Record a payout run, written by journal entry ``seq``, and its batches
        (``DuplicateEntry`` when the run or a payout id exists)."""
        with self._db.atomic():
            self._insert_payouts(run_id, payouts, seq)

    def _insert_payouts(self, run_id: str, payouts: Sequence[PayoutRow], seq: int) -> None:
        self._db.run(
            "INSERT INTO payout_runs (run_id, seq) VALUES (?, ?)",
            (run_id, seq),
            what="payout run",
            key=run_id,
        )
        for row in payouts:
            if row.run_id != run_id:
                raise StorageError(f"payout {row.batch.payout_id} is not of run {run_id}")
            self._db.run(
                "INSERT INTO payouts (payout_id, run_id, affiliate_id, data, seq) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    row.batch.payout_id,
                    run_id,
                    row.batch.affiliate_id,
                    row.batch.model_dump_json(),
                    row.seq,
                ),
                what="payout",
                key=row.batch.payout_id,
            )

    def payouts(
        self,
        *,
        run_id: str | None = None,
        affiliate_id: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[PayoutRow]:
        """Payout batches matching the filters in payout order (oldest run first), after the
        batch ``after`` (``StorageError`` when it is not stored); no ``limit``: all."""
        if limit is not None and limit <= 0:
            return []
        clauses: list[str] = []
        params: list[object] = []
        if run_id is not None:
            clauses.append("run_id = ?")
            params.append(run_id)
        if affiliate_id is not None:
            clauses.append("affiliate_id = ?")
            params.append(affiliate_id)
        if after is not None:
            clauses.append("pos > ?")
            params.append(self._pos("payouts", "payout_id", after, "payout"))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        bound = ""
        if limit is not None:
            bound = " LIMIT ?"
            params.append(limit)
        rows = self._db.rows(
            f"SELECT run_id, data, seq FROM payouts{where} ORDER BY pos{bound}", params
        )
        return [
            PayoutRow(str(run), PayoutBatch.model_validate_json(str(data)), int(str(seq)))
            for run, data, seq in rows
        ]

    def runs(self, *, after: str | None = None, limit: int = 1000) -> list[tuple[str, int]]:
        """``(run_id, seq)`` of up to ``limit`` runs in the order they were recorded, after
        the run ``after`` (``StorageError`` when it is not recorded)."""
        if limit <= 0:
            return []
        start = 0 if after is None else self._pos("payout_runs", "run_id", after, "payout run")
        rows = self._db.rows(
            "SELECT run_id, seq FROM payout_runs WHERE pos > ? ORDER BY pos LIMIT ?",
            (start, limit),
        )
        return [(str(run_id), int(str(seq))) for run_id, seq in rows]

    def _pos(self, table: str, column: str, key: str, what: str) -> int:
        """The ``pos`` of the row a page starts after (``StorageError`` when it is absent)."""
        found = self._db.row(f"SELECT pos FROM {table} WHERE {column} = ?", (key,))
        if found is None:
            raise StorageError(f"no {what} {key!r} to page after")
        return int(str(found[0]))

    def has_run(self, run_id: str) -> bool:
        """Whether the run was recorded."""
        return self._db.row("SELECT 1 FROM payout_runs WHERE run_id = ?", (run_id,)) is not None

    def prove_run(self, run_id: str, seq: int) -> None:
        """Give a run and its batches ``seq``."""
        if not self.has_run(run_id):
            raise StorageError(f"no payout run {run_id}")
        with self._db.atomic():
            self._db.run("UPDATE payout_runs SET seq = ? WHERE run_id = ?", (seq, run_id))
            self._db.run("UPDATE payouts SET seq = ? WHERE run_id = ?", (seq, run_id))
