"""The ledger as hosts read it, and the proof that it is what the journal wrote.

``LedgerService`` lists commission lines (each page proven against its
journal entries), builds statements, invoices and the reconciliation from
the journal window they cover, signs checkpoints, and verifies the whole
book: the chain, signed checkpoints, a head kept outside the database, that
every entry balances, and that every projection row equals a replay of the
journal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from affiliate_sdk._kernel.instants import to_ms
from affiliate_sdk._kernel.keys import SEPARATOR, unescape
from affiliate_sdk.commission.checkpoints import (
    Checkpoint,
    SignedStatement,
    sign_checkpoint,
    sign_statement,
)
from affiliate_sdk.commission.journal import (
    GENESIS_HASH,
    PROJECTION_FAMILIES,
    canonical,
    decode_entry,
    diagnose,
    postings_of,
    verify_chain,
)
from affiliate_sdk.commission.lifecycle import live_amounts
from affiliate_sdk.commission.settlement import build_statements
from affiliate_sdk.errors import LedgerImbalance, LedgerTampered
from affiliate_sdk.models import (
    Commission,
    Invoice,
    LedgerVerification,
    PayoutBatch,
    ReconciliationRow,
    Statement,
)
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import JournalRow, LineFilter, LineRow

from .context import ServiceContext
from .journal import JournalWriter
from .projections import Proof, line_doc, mark_doc, order_doc, payout_doc, period_doc

__all__ = ["LEDGER_PAGE", "LedgerService", "run_doc"]

#: Lines read per keyset page.
LEDGER_PAGE: Final = 1000
#: Statement figures, in the order ``Statement`` lists them.
_FIGURES: Final = ("opening", "earned", "reversed", "clawed_back", "paid")
#: Which statement figure a line of each kind adds to (and with which sign).
_FIGURE_OF_KIND: Final[Mapping[str, tuple[str, int]]] = {
    "commission": ("earned", 1),
    "trueup": ("earned", 1),
    "bonus": ("earned", 1),
    "reversal": ("reversed", -1),
    "clawback": ("clawed_back", -1),
}
_DIGEST_SIZE: Final = 16


def run_doc(payout_ids: Iterable[str]) -> dict[str, Any]:
    """A payout run as the journal keeps it (family ``runs``, keyed by run id)."""
    return {"payouts": sorted(payout_ids)}


def _digest(document: Any) -> bytes:
    """A short digest of a document's canonical bytes (what the replay keeps per row)."""
    return hashlib.blake2b(canonical(document), digest_size=_DIGEST_SIZE).digest()


class _Problem(NamedTuple):
    """The first disagreement: the family and key of a projection row (None: the chain)."""

    family: str | None
    key: str | None
    seq: int | None
    reason: str


class LedgerService:
    """Reads of the ledger, its reports, checkpoints and ``verify_ledger``.

    ``writer`` is the journal writer the other services append through; the
    ledger shares its chain key (``ctx.chain``) to check what was written.
    """

    __slots__ = ("_ctx", "_writer")

    def __init__(self, ctx: ServiceContext, writer: JournalWriter) -> None:
        self._ctx = ctx
        self._writer = writer

    # -- lines -------------------------------------------------------------------------------
    def proof(self, tx: UnitOfWork) -> Proof:
        """The check of projection rows against the journal of ``tx``."""
        return Proof(tx.journal, self._ctx.chain)

    def lines(
        self, tx: UnitOfWork, where: LineFilter, *, page: int = LEDGER_PAGE
    ) -> Iterator[LineRow]:
        """Every line matching ``where``, in booking order, read and proven page by page."""
        proof = self.proof(tx)
        after: str | None = None
        while True:
            rows = tx.ledger.query(where, after=after, limit=page)
            proof.lines(rows)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].line.entry_id

    def live(self, tx: UnitOfWork, rows: Sequence[LineRow]) -> dict[str, Money]:
        """Earning line id -> its amount net of reversals, for the orders of ``rows``.

        Reads the lines of just those orders (``by_order``) and proves them,
        with ``rows`` themselves, before any amount is trusted.
        """
        orders = sorted({(r.line.merchant_id, r.line.order_id) for r in rows})
        siblings = [row for m, o in orders for row in tx.ledger.by_order(m, o)]
        self.proof(tx).lines([*rows, *siblings])
        return live_amounts(row.line for row in siblings)

    def commissions(
        self,
        *,
        merchant_id: str | None = None,
        affiliate_id: str | None = None,
        order_id: str | None = None,
    ) -> list[Commission]:
        """Ledger lines matching every given filter, in booking order (signed amounts)."""
        where = LineFilter(merchant_id=merchant_id, affiliate_id=affiliate_id, order_id=order_id)
        with self._ctx.store.reader() as tx:
            return [row.line for row in self.lines(tx, where)]

    # -- reports -----------------------------------------------------------------------------
    def statements(
        self, *, start: datetime, end: datetime, affiliate_id: str | None = None
    ) -> list[Statement]:
        """Each affiliate's statement for ``start <= t < end``, per currency.

        For one affiliate the figures come from its own (proven) lines and
        payouts; for every affiliate from one pass over the journal up to ``end``.
        """
        with self._ctx.store.reader() as tx:
            return self._statements(tx, start, end, affiliate_id)

    def _statements(
        self, tx: UnitOfWork, start: datetime, end: datetime, affiliate_id: str | None
    ) -> list[Statement]:
        if affiliate_id is None:
            documents = (doc for _, doc in self._entries(tx, None, to_ms(end)))
            return build_statements(documents, start=start, end=end)
        lines = (row.line for row in self.lines(tx, LineFilter(affiliate_id=affiliate_id)))
        payouts = tx.ledger.payouts(affiliate_id=affiliate_id)
        self.proof(tx).payouts(payouts)
        batches = [row.batch for row in payouts]
        return _affiliate_statements(affiliate_id, lines, batches, start=start, end=end)

    def invoices(self, *, start: datetime, end: datetime) -> list[Invoice]:
        """What each merchant owes for commission booked in ``start <= t < end``."""
        totals: dict[tuple[str, str], dict[str, Money]] = {}
        with self._ctx.store.reader() as tx:
            for line in _window_lines(self._entries(tx, to_ms(start), to_ms(end)), start, end):
                currency = line["currency"]
                zero = Money.zero(currency)
                row = totals.setdefault(
                    (line["merchant_id"], currency), {"commission": zero, "platform_take": zero}
                )
                field = "platform_take" if line["account"] == "platform" else "commission"
                row[field] += Money(line["amount"], currency)
        return [
            Invoice(
                merchant_id=merchant_id,
                currency=currency,
                start=start,
                end=end,
                commission=row["commission"],
                platform_take=row["platform_take"],
                total=row["commission"] + row["platform_take"],
            )
            for (merchant_id, currency), row in sorted(totals.items())
        ]

    def reconcile(self, *, start: datetime, end: datetime) -> list[ReconciliationRow]:
        """Prove merchant cost = affiliate earnings + platform take, per merchant and currency.

        The cost is what merchants' payable accounts gave up in the entries of
        ``start <= at < end``; the earnings are the lines booked in that window.
        Raises ``LedgerImbalance`` naming every row that is off by even a cent.
        """
        cost: dict[tuple[str, str], Money] = {}
        earned: dict[tuple[str, str, str], Money] = {}
        with self._ctx.store.reader() as tx:
            window = self._entries(tx, to_ms(start), to_ms(end))
            for line in _window_lines(window, start, end, cost=cost):
                key = (line["merchant_id"], line["currency"], line["account"])
                earned[key] = earned.get(key, Money.zero(key[1])) + Money(line["amount"], key[1])
        rows = _reconciliation(cost, earned)
        off = [row for row in rows if not row.balanced]
        if off:
            raise LedgerImbalance(off)
        return rows

    def _entries(
        self, tx: UnitOfWork, since_ms: int | None, until_ms: int | None
    ) -> Iterator[tuple[JournalRow, dict[str, Any]]]:
        """Entries with ``since_ms <= at_ms <= until_ms`` (None: unbounded), tags checked.

        The window is found with ``first_at`` and streamed; each entry's tag is
        checked against its predecessor's, so a report never reads an entry
        that was edited (``LedgerTampered``).
        """
        journal = tx.journal
        after = 0
        if since_ms is not None:
            first = journal.first_at(since_ms)
            if first is None:
                return
            after = first - 1
        until = None
        if until_ms is not None and (bound := journal.first_at(until_ms + 1)) is not None:
            until = bound - 1
        previous = GENESIS_HASH
        if after:
            prior = journal.get_many([after]).get(after)
            if prior is None:
                raise LedgerTampered("journal entry", str(after), after, "it is missing")
            previous = prior.hash
        expected = after + 1
        for row in journal.scan(after_seq=after, until_seq=until):
            if row.seq != expected or self._ctx.chain.link(previous, row.body) != row.hash:
                raise LedgerTampered("journal entry", str(row.seq), row.seq, "it does not verify")
            previous, expected = row.hash, expected + 1
            yield row, decode_entry(row.body)

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint(self, signing_key: Ed25519PrivateKey, *, key_id: str) -> Checkpoint:
        """Sign the journal's current head and keep the checkpoint with the ledger."""
        with self._ctx.store.transaction() as tx:
            return self._checkpoint(tx, signing_key, key_id)

    def _checkpoint(
        self, tx: UnitOfWork, signing_key: Ed25519PrivateKey, key_id: str
    ) -> Checkpoint:
        head = tx.journal.head()
        seq, tag = (0, GENESIS_HASH) if head is None else (head.seq, head.hash)
        checkpoint = sign_checkpoint(
            signing_key, key_id=key_id, seq=seq, hash_=tag, at=self._ctx.clock.now()
        )
        tx.journal.add_checkpoint(checkpoint)
        return checkpoint

    def signed_statements(
        self,
        *,
        start: datetime,
        end: datetime,
        signing_key: Ed25519PrivateKey,
        key_id: str,
        affiliate_id: str | None = None,
    ) -> list[SignedStatement]:
        """Statements an affiliate can verify with the public key alone, signed together
        with a checkpoint of the journal they were computed from."""
        with self._ctx.store.transaction() as tx:
            checkpoint = self._checkpoint(tx, signing_key, key_id)
            statements = self._statements(tx, start, end, affiliate_id)
        return [sign_statement(signing_key, s, checkpoint) for s in statements]

    # -- verification ------------------------------------------------------------------------
    def verify_ledger(
        self,
        *,
        trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
        expect_head: tuple[int, bytes] | None = None,
    ) -> LedgerVerification:
        """Verify the book, and say where it first goes wrong.

        In order: the chain of tags; ``expect_head`` (a ``(seq, tag)`` kept
        outside the database: a journal cut short before it fails); with
        ``trusted_keys`` (key id -> Ed25519 public key) every stored checkpoint's
        signature and its place in the chain; that every entry's postings sum
        to zero per currency; and that every projection row (ledger lines,
        orders' money, period totals, marks, payouts, payout runs) is the
        document the last entry writing it holds, under that entry's seq.
        """
        with self._ctx.store.reader() as tx:
            replay = _Replay()
            checkpoints = tx.journal.checkpoints() if trusted_keys is not None else []
            wanted = {c.seq for c in checkpoints} | ({expect_head[0]} if expect_head else set())
            links = replay.recording(tx.journal.scan())
            checked, tags = verify_chain(links, self._ctx.chain, marks=wanted)
            links.close()
            problem = (
                _chain_problem(tx, checked)
                or _head_problem(expect_head, checked, tags)
                or _checkpoint_problem(checkpoints, trusted_keys or {}, checked, tags)
                or replay.unbalanced
                or _Projections(tx, replay.rows).first_problem()
            )
        return LedgerVerification(
            ok=problem is None,
            entries=checked,
            first_bad_seq=None if problem is None else problem.seq,
            reason=None if problem is None else problem.reason,
            problem_family=None if problem is None else problem.family,
            problem_key=None if problem is None else problem.key,
        )


# -- statements and windows (pure) ---------------------------------------------------------
def _affiliate_statements(
    affiliate_id: str,
    lines: Iterable[Commission],
    batches: Iterable[PayoutBatch],
    *,
    start: datetime,
    end: datetime,
) -> list[Statement]:
    """An affiliate's statements from its lines and payouts (the journal's figures).

    A line is booked (or, for reversals and clawbacks, taken back) by the entry
    that created it, at its ``created_at``; a payout takes the batch amount out
    of the unpaid balance at the batch's ``created_at``. Moves between unpaid
    states (approve, freeze, release) change no figure.
    """
    figures: dict[str, dict[str, Money]] = {}

    def row(currency: str) -> dict[str, Money]:
        return figures.setdefault(currency, dict.fromkeys(_FIGURES, Money.zero(currency)))

    for line in lines:
        if line.account == "platform" or line.created_at >= end:
            continue
        figure, sign = _FIGURE_OF_KIND[line.kind]
        current = row(line.amount.currency)
        if line.created_at < start:
            current["opening"] += line.amount
        else:
            current[figure] += line.amount * sign
    for batch in batches:
        if batch.created_at >= end:
            continue
        current = row(batch.amount.currency)
        if batch.created_at < start:
            current["opening"] -= batch.amount
        else:
            current["paid"] += batch.amount
    return [
        Statement(
            affiliate_id=affiliate_id,
            currency=currency,
            start=start,
            end=end,
            closing=f["opening"] + f["earned"] - f["reversed"] - f["clawed_back"] - f["paid"],
            **f,
        )
        for currency, f in sorted(figures.items())
    ]


def _window_lines(
    entries: Iterable[tuple[JournalRow, Mapping[str, Any]]],
    start: datetime,
    end: datetime,
    *,
    cost: dict[tuple[str, str], Money] | None = None,
) -> Iterator[Mapping[str, Any]]:
    """The documents of the lines created in ``start <= t < end``.

    A line is created by the first entry that writes it, at that entry's
    instant; later entries (approval, payout) write it again and are skipped.
    With ``cost``, the merchants' cost of the window's entries is added to it.
    """
    start_ms = to_ms(start)
    seen: set[str] = set()
    for _, document in entries:
        at = datetime.fromisoformat(document["at"])
        inside = start <= at < end
        if inside and cost is not None:
            for posting in postings_of(document):
                parts = posting.account.split("/")
                if parts[0] == "merchant":
                    key = (parts[1], posting.amount.currency)
                    cost[key] = cost.get(key, Money.zero(key[1])) - posting.amount
        for entry_id, line in document.get("rows", {}).get("lines", {}).items():
            if entry_id in seen or (line["created_at"] or 0) < start_ms:
                continue
            seen.add(entry_id)
            if inside:
                yield line


def _reconciliation(
    cost: Mapping[tuple[str, str], Money], earned: Mapping[tuple[str, str, str], Money]
) -> list[ReconciliationRow]:
    rows = []
    for merchant_id, currency in sorted(set(cost) | {(m, c) for m, c, _ in earned}):
        zero = Money.zero(currency)
        affiliate = earned.get((merchant_id, currency, "affiliate"), zero)
        parent = earned.get((merchant_id, currency, "parent"), zero)
        platform = earned.get((merchant_id, currency, "platform"), zero)
        merchant_cost = cost.get((merchant_id, currency), zero)
        difference = merchant_cost - affiliate - parent - platform
        rows.append(
            ReconciliationRow(
                merchant_id=merchant_id,
                currency=currency,
                merchant_cost=merchant_cost,
                affiliate_earnings=affiliate,
                parent_earnings=parent,
                platform_take=platform,
                difference=difference,
                balanced=not difference,
            )
        )
    return rows


# -- verification --------------------------------------------------------------------------
#: Per projection family: key -> (seq of the last entry writing it, digest of its document).
_Index = dict[str, dict[str, tuple[int, bytes]]]


class _Replay:
    """What the verified journal says every projection row must be, and whether it balances."""

    __slots__ = ("rows", "unbalanced")

    def __init__(self) -> None:
        self.rows: _Index = {family: {} for family in PROJECTION_FAMILIES}
        self.unbalanced: _Problem | None = None

    def recording(self, rows: Iterator[JournalRow]) -> Generator[tuple[bytes, bytes], None, None]:
        """``(body, tag)`` links; an entry is replayed once the chain asks for the next,
        that is, once its own tag verified."""
        for row in rows:
            yield row.body, row.hash
            self.add(row)

    def add(self, row: JournalRow) -> None:
        document = decode_entry(row.body)
        for family, documents in document.get("rows", {}).items():
            table = self.rows.setdefault(family, {})
            for key, value in documents.items():
                table[key] = (row.seq, _digest(value))
        if self.unbalanced is None:
            sums: dict[str, Decimal] = {}
            for _, amount, currency in document.get("postings", ()):
                sums[currency] = sums.get(currency, Decimal(0)) + Decimal(amount)
            off = sorted(currency for currency, total in sums.items() if total)
            if off:
                reason = f"its postings do not sum to zero in {', '.join(off)}"
                self.unbalanced = _Problem(None, None, row.seq, reason)


def _chain_problem(tx: UnitOfWork, checked: int) -> _Problem | None:
    """Why the chain stopped verifying after ``checked`` entries, if entries follow."""
    following = next(tx.journal.scan(after_seq=checked), None)
    head = tx.journal.head()
    if following is None and (head is None or head.seq <= checked):
        return None
    seq, reason = diagnose(checked + 1, None if following is None else following.seq)
    return _Problem(None, None, seq, reason)


def _head_problem(
    expect_head: tuple[int, bytes] | None, checked: int, tags: Mapping[int, bytes]
) -> _Problem | None:
    """Whether the verified chain reaches the head the host kept, with its tag."""
    if expect_head is None:
        return None
    seq, tag = expect_head
    if seq > checked:
        reason = f"the journal ends at entry {checked}, before the expected head {seq}"
        return _Problem(None, None, checked + 1, reason)
    if tags.get(seq, GENESIS_HASH) != tag:
        return _Problem(None, None, seq, "the entry there is not the expected head")
    return None


def _checkpoint_problem(
    checkpoints: Sequence[Checkpoint],
    trusted_keys: Mapping[str, Ed25519PublicKey],
    checked: int,
    tags: Mapping[int, bytes],
) -> _Problem | None:
    """The first checkpoint not signed by a trusted key or no longer on the chain."""
    for checkpoint in checkpoints:
        key = trusted_keys.get(checkpoint.key_id)
        if key is None or not checkpoint.verify(key):
            return _Problem(None, None, checkpoint.seq, "a checkpoint's signature is not valid")
        if checkpoint.seq > checked:
            return _Problem(None, None, checked + 1, "entries signed in a checkpoint are missing")
        if checkpoint.seq and tags.get(checkpoint.seq, b"").hex() != checkpoint.hash:
            reason = "the journal no longer matches a signed checkpoint"
            return _Problem(None, None, checkpoint.seq, reason)
    return None


def _match(
    family: str, key: str, recorded: tuple[int, bytes] | None, seq: int, doc: Any
) -> _Problem | None:
    """Whether a stored row is what its journal entry wrote."""
    label = f"{family} {key!r}"
    if recorded is None:
        return _Problem(family, key, seq or None, f"{label}: no journal entry wrote it")
    written, digest = recorded
    if seq != written:
        reason = f"{label}: it names journal entry {seq}, but entry {written} last wrote it"
        return _Problem(family, key, written, reason)
    if _digest(doc) != digest:
        reason = f"{label}: it differs from what journal entry {written} wrote"
        return _Problem(family, key, written, reason)
    return None


def _missing(family: str, key: str, seq: int) -> _Problem:
    return _Problem(
        family, key, seq, f"{family} {key!r}: journal entry {seq} wrote it; it is missing"
    )


def _first_missing(family: str, table: Mapping[str, tuple[int, bytes]]) -> _Problem | None:
    if not table:
        return None
    key, (seq, _) = min(table.items(), key=lambda item: item[1][0])
    return _missing(family, key, seq)


class _Projections:
    """Compares each projection with the replay, family by family."""

    __slots__ = ("_index", "_tx")

    def __init__(self, tx: UnitOfWork, index: _Index) -> None:
        self._tx = tx
        self._index = index

    def first_problem(self) -> _Problem | None:
        """The first row that disagrees, family by family, in the order of the journal's."""
        checks = (self._lines, self._orders, self._periods, self._marks, self._payouts, self._runs)
        for check in checks:
            problem = check()
            if problem is not None:
                return problem
        return None

    def _lines(self) -> _Problem | None:
        table = dict(self._index["lines"])
        after: str | None = None
        while True:
            rows = self._tx.ledger.query(LineFilter(), after=after, limit=LEDGER_PAGE)
            for row in rows:
                key = row.line.entry_id
                problem = _match("lines", key, table.pop(key, None), row.seq, line_doc(row))
                if problem is not None:
                    return problem
            if len(rows) < LEDGER_PAGE:
                return _first_missing("lines", table)
            after = rows[-1].line.entry_id

    def _orders(self) -> _Problem | None:
        for key, recorded in sorted(self._index["orders"].items(), key=lambda i: i[1][0]):
            parts = [unescape(part) for part in key.split(SEPARATOR)]
            row = self._tx.orders.get(*parts) if len(parts) == 2 else None
            if row is None:
                return _missing("orders", key, recorded[0])
            problem = _match("orders", key, recorded, row.seq or 0, order_doc(row))
            if problem is not None:
                return problem
        return None

    def _periods(self) -> _Problem | None:
        table = dict(self._index["periods"])
        for row in self._tx.periods.scan(""):
            problem = _match("periods", row.key, table.pop(row.key, None), row.seq, period_doc(row))
            if problem is not None:
                return problem
        return _first_missing("periods", table)

    def _marks(self) -> _Problem | None:
        for key, recorded in sorted(self._index["marks"].items(), key=lambda i: i[1][0]):
            mark = self._tx.periods.get_mark(key)
            if mark is None:
                return _missing("marks", key, recorded[0])
            problem = _match("marks", key, recorded, mark.seq, mark_doc(mark))
            if problem is not None:
                return problem
        return None

    def _payouts(self) -> _Problem | None:
        table = dict(self._index["payouts"])
        for row in self._tx.ledger.payouts():
            key = row.batch.payout_id
            problem = _match("payouts", key, table.pop(key, None), row.seq, payout_doc(row))
            if problem is not None:
                return problem
        return _first_missing("payouts", table)

    def _runs(self) -> _Problem | None:
        for run_id, (seq, digest) in sorted(self._index["runs"].items(), key=lambda i: i[1][0]):
            if not self._tx.ledger.has_run(run_id):
                return _missing("runs", run_id, seq)
            batches = self._tx.ledger.payouts(run_id=run_id)
            if _digest(run_doc(row.batch.payout_id for row in batches)) != digest:
                reason = f"runs {run_id!r}: its payouts differ from what journal entry {seq} wrote"
                return _Problem("runs", run_id, seq, reason)
        return None
