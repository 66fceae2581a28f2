"""``LedgerRepo`` on SQLite: typed ledger lines (with their measures) and payout runs."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

from affiliate_sdk.errors import StorageError
from affiliate_sdk.models import Commission, PayoutBatch
from affiliate_sdk.money import Money
from affiliate_sdk.storage.rows import LineFilter, LineMeasures, LineRow, PayoutRow

from ._connection import Db
from ._dialect import chunks, placeholders
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
    return one._replace(counts=()) == other._replace(counts=()) and dict(one.counts) == dict(
        other.counts
    )


def line_params(row: LineRow) -> tuple[object, ...]:
    """The values of ``LINE_COLUMNS`` for a line."""
    line = row.line
    measures, tier_fields = _kept(row)
    m = measures or LineMeasures()
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


def _line_from(values: tuple[object, ...], counts: tuple[tuple[str, Decimal], ...]) -> LineRow:
    v = dict(zip(LINE_COLUMNS, values, strict=True))
    measures = LineMeasures(
        tier_key=v["tier_key"],  # type: ignore[arg-type]
        tier_measure=_decimal(v["tier_measure"]),
        tier_base=_decimal(v["tier_base"]),
        tier_paid=_decimal(v["tier_paid"]),
        fx_rate=_decimal(v["fx_rate"]),
        counts=counts,
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

    def due(self, *, status: str, until_ms: int, after: str | None, limit: int) -> list[LineRow]:
        """Up to ``limit`` lines of ``status`` held until ``until_ms`` or earlier (or not
        held), in booking order after ``after``."""
        clauses = ["status = ?", "(hold_until_us IS NULL OR hold_until_us <= ?)"]
        return self._page(clauses, [status, until_ms * 1000], after, limit)

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

    def insert_payouts(self, run_id: str, payouts: Sequence[PayoutRow]) -> None:
        """Record a payout run and its batches (``DuplicateEntry`` when the run exists)."""
        with self._db.atomic():
            self._insert_payouts(run_id, payouts)

    def _insert_payouts(self, run_id: str, payouts: Sequence[PayoutRow]) -> None:
        self._db.run(
            "INSERT INTO payout_runs (run_id) VALUES (?)", (run_id,), what="payout run", key=run_id
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
        self, *, run_id: str | None = None, affiliate_id: str | None = None
    ) -> list[PayoutRow]:
        """Payout batches matching the filters, oldest run first."""
        clauses: list[str] = []
        params: list[object] = []
        if run_id is not None:
            clauses.append("run_id = ?")
            params.append(run_id)
        if affiliate_id is not None:
            clauses.append("affiliate_id = ?")
            params.append(affiliate_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.rows(f"SELECT run_id, data, seq FROM payouts{where} ORDER BY pos", params)
        return [
            PayoutRow(str(run), PayoutBatch.model_validate_json(str(data)), int(str(seq)))
            for run, data, seq in rows
        ]

    def has_run(self, run_id: str) -> bool:
        """Whether the run was recorded."""
        return self._db.row("SELECT 1 FROM payout_runs WHERE run_id = ?", (run_id,)) is not None
