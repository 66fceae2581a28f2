"""``verify_ledger``: the chain, a head kept elsewhere, checkpoints, zero-sum, and the replay.

``Verifier`` checks, in order and inside the caller's unit of work:

1. the chain of tags, entry by entry (the bodies are streamed, never held);
2. ``expect_head``, a ``(seq, tag)`` the host kept outside the database, so a
   journal cut short before it fails;
3. with trusted keys, every stored checkpoint's signature and its place on
   the chain;
4. that every entry's postings sum to zero per currency;
5. that every entry's stored event id and instant (the columns it is looked
   up by, and report windows read) are its body's;
6. the replay: every projection row (ledger lines, orders' money, period
   totals, marks, payouts, payout runs) is the document the last entry
   writing it holds, under that entry's seq. Each family's rows are read in
   keyset pages and compared with the replay, so a row no entry wrote is
   named as well as a row edited, moved or missing; a row the store cannot
   read back is named too.

The replay keeps, per family and key, the seq of the last entry writing the
row and a 16-byte digest of its document: memory in the number of keys, not
in the size of the journal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from affiliate_sdk._kernel.instants import to_ms
from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.journal import (
    GENESIS_HASH,
    PROJECTION_FAMILIES,
    ChainKey,
    canonical,
    decode_entry,
    diagnose,
    verify_chain,
)
from affiliate_sdk.errors import AffiliateError, StorageError
from affiliate_sdk.models import LedgerVerification
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import JournalRow, LineFilter

from .projections import line_doc, mark_doc, order_doc, order_key, payout_doc, period_doc

__all__ = ["VERIFY_PAGE", "Problem", "Verifier", "run_doc"]

#: Projection rows read per keyset page while replaying.
VERIFY_PAGE: Final = 1000
_DIGEST_SIZE: Final = 16
_EVERY_LINE: Final = LineFilter()

_Row = TypeVar("_Row")
_Cursor = TypeVar("_Cursor")

#: A stored projection row as the replay compares it: ``(key, seq, document)``.
_Stored = tuple[str, int, Any]
#: Per projection family: key -> (seq of the last entry writing it, digest of its document).
_Index = dict[str, dict[str, tuple[int, bytes]]]


def run_doc(payout_ids: Iterable[str]) -> dict[str, Any]:
    """A payout run as the journal keeps it (family ``runs``, keyed by run id)."""
    return {"payouts": sorted(payout_ids)}


def _digest(document: Any) -> bytes:
    """A short digest of a document's canonical bytes (what the replay keeps per row)."""
    return hashlib.blake2b(canonical(document), digest_size=_DIGEST_SIZE).digest()


class Problem(NamedTuple):
    """The first disagreement: the family and key of a projection row (None: the chain)."""

    family: str | None
    key: str | None
    seq: int | None
    reason: str


class Verifier:
    """Verifies the book read through a unit of work; ``page`` rows are read at a time."""

    __slots__ = ("_chain", "_page")

    def __init__(self, chain: ChainKey, *, page: int = VERIFY_PAGE) -> None:
        self._chain = chain
        self._page = page

    def verify(
        self,
        tx: UnitOfWork,
        *,
        trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
        expect_head: tuple[int, bytes] | None = None,
    ) -> LedgerVerification:
        """Verify the book, and say where it first goes wrong (see the module's steps)."""
        replay = _Replay()
        checkpoints = tx.journal.checkpoints() if trusted_keys is not None else []
        wanted = {c.seq for c in checkpoints} | ({expect_head[0]} if expect_head else set())
        links = replay.recording(tx.journal.scan())
        checked, tags = verify_chain(links, self._chain, marks=wanted)
        links.close()
        problem = (
            _chain_problem(tx, checked)
            or _head_problem(expect_head, checked, tags)
            or _checkpoint_problem(checkpoints, trusted_keys or {}, checked, tags)
            or replay.unbalanced
            or replay.mislabelled
            or _Projections(tx, replay.rows, self._page).first_problem()
        )
        return LedgerVerification(
            ok=problem is None,
            entries=checked,
            first_bad_seq=None if problem is None else problem.seq,
            reason=None if problem is None else problem.reason,
            problem_family=None if problem is None else problem.family,
            problem_key=None if problem is None else problem.key,
        )


class _Replay:
    """What the verified journal says every projection row must be, and whether it balances."""

    __slots__ = ("mislabelled", "rows", "unbalanced")

    def __init__(self) -> None:
        self.rows: _Index = {family: {} for family in PROJECTION_FAMILIES}
        self.unbalanced: Problem | None = None
        self.mislabelled: Problem | None = None

    def recording(self, rows: Iterator[JournalRow]) -> Generator[tuple[bytes, bytes], None, None]:
        """``(body, tag)`` links; an entry is replayed once the chain asks for the next,
        that is, once its own tag verified."""
        for row in rows:
            yield row.body, row.hash
            self.add(row)

    def add(self, row: JournalRow) -> None:
        """Replay one verified entry: the rows it wrote, and whether its postings balance."""
        document = decode_entry(row.body)
        if self.mislabelled is None:
            self.mislabelled = _mislabelled(row, document)
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
                self.unbalanced = Problem(None, None, row.seq, reason)


def _mislabelled(row: JournalRow, document: Mapping[str, Any]) -> Problem | None:
    """Whether the columns an entry is looked up by (its event id, and its instant, which
    report windows read) are what its verified body says."""
    if document.get("event") != row.event_id:
        reason = f"its event id column {row.event_id!r} is not the entry's own"
        return Problem(None, None, row.seq, reason)
    try:
        at = datetime.fromisoformat(str(document.get("at")))
        instants = {to_ms(at), int(at.timestamp() * 1000)}
    except (AffiliateError, ValueError):
        return Problem(None, None, row.seq, "its body holds no valid instant")
    if row.at_ms not in instants:
        reason = f"its instant column ({row.at_ms} ms) is not the entry's own ({document['at']})"
        return Problem(None, None, row.seq, reason)
    return None


def _chain_problem(tx: UnitOfWork, checked: int) -> Problem | None:
    """Why the chain stopped verifying after ``checked`` entries, if entries follow."""
    following = next(iter(tx.journal.scan(after_seq=checked)), None)
    head = tx.journal.head()
    if following is None and (head is None or head.seq <= checked):
        return None
    seq, reason = diagnose(checked + 1, None if following is None else following.seq)
    return Problem(None, None, seq, reason)


def _head_problem(
    expect_head: tuple[int, bytes] | None, checked: int, tags: Mapping[int, bytes]
) -> Problem | None:
    """Whether the verified chain reaches the head the host kept, with its tag."""
    if expect_head is None:
        return None
    seq, tag = expect_head
    if seq > checked:
        reason = f"the journal ends at entry {checked}, before the expected head {seq}"
        return Problem(None, None, checked + 1, reason)
    if tags.get(seq, GENESIS_HASH) != tag:
        return Problem(None, None, seq, "the entry there is not the expected head")
    return None


def _checkpoint_problem(
    checkpoints: Sequence[Checkpoint],
    trusted_keys: Mapping[str, Ed25519PublicKey],
    checked: int,
    tags: Mapping[int, bytes],
) -> Problem | None:
    """The first checkpoint not signed by a trusted key or no longer on the chain."""
    for checkpoint in checkpoints:
        key = trusted_keys.get(checkpoint.key_id)
        if key is None or not checkpoint.verify(key):
            return Problem(None, None, checkpoint.seq, "a checkpoint's signature is not valid")
        if checkpoint.seq > checked:
            return Problem(None, None, checked + 1, "entries signed in a checkpoint are missing")
        if checkpoint.seq and tags.get(checkpoint.seq, b"").hex() != checkpoint.hash:
            reason = "the journal no longer matches a signed checkpoint"
            return Problem(None, None, checkpoint.seq, reason)
    return None


def _match(
    family: str,
    key: str,
    recorded: tuple[int, bytes] | None,
    stored: tuple[int, Any],
    *,
    what: str = "it",
) -> Problem | None:
    """Whether a stored row (its seq and document) is what its journal entry wrote."""
    label = f"{family} {key!r}"
    seq, document = stored
    if recorded is None:
        return Problem(family, key, seq or None, f"{label}: no journal entry wrote it")
    written, digest = recorded
    if seq != written:
        reason = f"{label}: it names journal entry {seq}, but entry {written} last wrote it"
        return Problem(family, key, written, reason)
    if _digest(document) != digest:
        reason = f"{label}: {what} differs from what journal entry {written} wrote"
        return Problem(family, key, written, reason)
    return None


def _first_missing(family: str, table: Mapping[str, tuple[int, bytes]]) -> Problem | None:
    """The row the earliest entry wrote among those the store no longer has."""
    if not table:
        return None
    key, (seq, _) = min(table.items(), key=lambda item: item[1][0])
    reason = f"{family} {key!r}: journal entry {seq} wrote it; it is missing"
    return Problem(family, key, seq, reason)


def _unreadable(family: str, previous: str | None, exc: Exception) -> Problem:
    """A stored row of ``family`` that cannot be read back (after the row ``previous``)."""
    where = "the first row" if previous is None else f"the row after {previous!r}"
    reason = f"{family}: {where} cannot be read ({type(exc).__name__}: {exc})"
    return Problem(family, None, None, reason)


def _paged(
    fetch: Callable[[_Cursor | None], Sequence[_Row]],
    cursor: Callable[[_Row], _Cursor],
    page: int,
) -> Iterator[_Row]:
    """Every row of a keyset-paged read: ``fetch(after)`` until a page comes back short."""
    after: _Cursor | None = None
    while True:
        rows = fetch(after)
        yield from rows
        if len(rows) < page:
            return
        after = cursor(rows[-1])


class _Projections:
    """Compares each projection family, streamed in keyset pages, with the replay.

    The replay's table of a family is consumed as its stored rows go by: a
    row it does not hold was written by no entry; what is left once the
    stored rows end is missing from the store.
    """

    __slots__ = ("_index", "_page", "_tx")

    def __init__(self, tx: UnitOfWork, index: _Index, page: int) -> None:
        self._tx = tx
        self._index = index
        self._page = page

    def first_problem(self) -> Problem | None:
        """The first row that disagrees, family by family, in the order of the journal's."""
        families: tuple[tuple[str, Callable[[], Iterator[_Stored]], str], ...] = (
            ("lines", self._lines, "it"),
            ("orders", self._orders, "it"),
            ("periods", self._periods, "it"),
            ("marks", self._marks, "it"),
            ("payouts", self._payouts, "it"),
            ("runs", self._runs, "its payouts"),
        )
        for family, stored, what in families:
            problem = self._compare(family, stored(), what)
            if problem is not None:
                return problem
        return None

    def _compare(self, family: str, stored: Iterable[_Stored], what: str) -> Problem | None:
        """Match a family's stored rows with the replay's table, then name what is missing.

        A stored row the store cannot turn back into its values (an edited currency, a
        measure without its currency, text where a number belongs) is a problem of its own,
        named after the last row that could be read.
        """
        table = self._index.get(family, {})
        rows = iter(stored)
        previous: str | None = None
        while True:
            try:
                found = next(rows, None)
            except StorageError:
                raise
            except (AffiliateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
                return _unreadable(family, previous, exc)
            if found is None:
                return _first_missing(family, table)
            key, seq, document = found
            problem = _match(family, key, table.pop(key, None), (seq, document), what=what)
            if problem is not None:
                return problem
            previous = key

    def _lines(self) -> Iterator[_Stored]:
        """Every ledger line, in booking order."""
        ledger, page = self._tx.ledger, self._page
        rows = _paged(
            lambda after: ledger.query(_EVERY_LINE, after=after, limit=page),
            lambda row: row.line.entry_id,
            page,
        )
        return ((row.line.entry_id, row.seq, line_doc(row)) for row in rows)

    def _orders(self) -> Iterator[_Stored]:
        """Every order's money, by ``(merchant_id, order_id)``; no seq reads as 0."""
        orders, page = self._tx.orders, self._page
        rows = _paged(
            lambda after: orders.scan(after=after, limit=page),
            lambda row: (row.merchant_id, row.order_id),
            page,
        )
        return (
            (order_key(row.merchant_id, row.order_id), row.seq or 0, order_doc(row)) for row in rows
        )

    def _periods(self) -> Iterator[_Stored]:
        """Every period total, by key."""
        periods, page = self._tx.periods, self._page
        rows = _paged(
            lambda after: periods.scan("", after=after, limit=page), lambda row: row.key, page
        )
        return ((row.key, row.seq, period_doc(row)) for row in rows)

    def _marks(self) -> Iterator[_Stored]:
        """Every mark, by key."""
        periods, page = self._tx.periods, self._page
        rows = _paged(
            lambda after: periods.marks("", after=after, limit=page), lambda row: row.key, page
        )
        return ((row.key, row.seq, mark_doc(row)) for row in rows)

    def _payouts(self) -> Iterator[_Stored]:
        """Every payout batch, oldest run first."""
        ledger, page = self._tx.ledger, self._page
        rows = _paged(
            lambda after: ledger.payouts(after=after, limit=page),
            lambda row: row.batch.payout_id,
            page,
        )
        return ((row.batch.payout_id, row.seq, payout_doc(row)) for row in rows)

    def _runs(self) -> Iterator[_Stored]:
        """Each run with its seq, and as document the batches a read of the run returns."""
        ledger, page = self._tx.ledger, self._page
        runs = _paged(lambda after: ledger.runs(after=after, limit=page), lambda run: run[0], page)
        for run_id, seq in runs:
            yield run_id, seq, run_doc(self._run_payouts(run_id))

    def _run_payouts(self, run_id: str) -> Iterator[str]:
        """The ids of the batches a read of run ``run_id`` returns (what pays it again)."""
        ledger, page = self._tx.ledger, self._page
        batches = _paged(
            lambda after: ledger.payouts(run_id=run_id, after=after, limit=page),
            lambda row: row.batch.payout_id,
            page,
        )
        return (row.batch.payout_id for row in batches)
