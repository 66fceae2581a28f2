"""``verify_ledger``: the chain, a head kept elsewhere, checkpoints, zero-sum, and the replay.

``Verifier`` checks, in order and inside the caller's unit of work:

1. the chain of tags, entry by entry (the bodies are streamed, never held),
   each chain of the journal on its own;
2. ``expect_head``, a ``(seq, tag)`` of chain 0 or a checkpoint the host kept
   outside the database, so a journal cut short before it (or a chain of it
   removed) fails;
3. with trusted keys, every stored checkpoint's signature and that every head
   it names is still on its chain;
4. that every entry's postings sum to zero per currency;
5. that every entry's stored seq, chain, place, event id and instant (the
   columns it is looked up by, and report windows read) are its body's;
6. the replay: every projection row (ledger lines, orders' money, period
   totals, marks, payouts, payout runs) is the document the last entry
   writing it holds, under that entry's seq. Each family's rows are read in
   keyset pages and compared with the replay, so a row no entry wrote is
   named as well as a row edited, moved or missing; a row the store cannot
   read back is named too.

The replay keeps, per family and key, the seq of the last entry writing the
row (the highest: writers of one row draw their seqs in the order they
commit, whatever their chains) and a 16-byte digest of its document: memory
in the number of keys, not in the size of the journal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from affiliate_sdk._kernel.instants import to_ms
from affiliate_sdk.commission.checkpoints import ChainHead, Checkpoint
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
        expect_head: tuple[int, bytes] | Checkpoint | None = None,
    ) -> LedgerVerification:
        """Verify the book, and say where it first goes wrong (see the module's steps)."""
        replay = _Replay()
        checkpoints = tx.journal.checkpoints() if trusted_keys is not None else []
        expected = _expected(expect_head)
        wanted: dict[int, set[int]] = {}
        for head in (*expected, *(h for c in checkpoints for h in c.named)):
            wanted.setdefault(head.chain, set()).add(head.seq)
        places = _Places(tx)
        problem: Problem | None = None
        for chain in sorted({0, *places.chains, *wanted}):
            links = replay.recording(tx.journal.scan(chain=chain))
            places.checked[chain], found = verify_chain(
                links, self._chain, marks=wanted.get(chain, ())
            )
            links.close()
            places.tags.update(((chain, pos), tag) for pos, tag in found.items())
            problem = problem or places.chain_problem(chain)
        problem = (
            problem
            or places.head_problem(expected)
            or places.checkpoint_problem(checkpoints, trusted_keys or {})
            or replay.unbalanced
            or replay.mislabelled
            or _Projections(tx, replay.rows, self._page).first_problem()
        )
        return LedgerVerification(
            ok=problem is None,
            entries=sum(places.checked.values()),
            first_bad_seq=None if problem is None else problem.seq,
            reason=None if problem is None else problem.reason,
            problem_family=None if problem is None else problem.family,
            problem_key=None if problem is None else problem.key,
        )


def _expected(expect_head: tuple[int, bytes] | Checkpoint | None) -> tuple[ChainHead, ...]:
    """The heads a host kept: a ``(seq, tag)`` of chain 0, or every head a checkpoint names."""
    if expect_head is None:
        return ()
    if isinstance(expect_head, Checkpoint):
        return expect_head.named
    seq, tag = expect_head
    return (ChainHead(chain=0, seq=seq, hash=tag.hex()),)


class _Places:
    """Per chain: how many entries verified, the tags at the places asked for, and what
    an entry at a place of a chain is called (its seq)."""

    __slots__ = ("_one_chain", "_tx", "chains", "checked", "tags")

    def __init__(self, tx: UnitOfWork) -> None:
        self._tx = tx
        self.chains = set(tx.journal.heads())
        self._one_chain = self.chains <= {0}
        self.checked: dict[int, int] = {}
        self.tags: dict[tuple[int, int], bytes] = {}

    def seq_at(self, chain: int, pos: int) -> int | None:
        """The seq of the entry at place ``pos`` of ``chain``; in a one-chain journal, where
        places are seqs, the place itself even when the entry is gone."""
        row = next(iter(self._tx.journal.scan(chain=chain, after=pos - 1, until=pos)), None)
        if row is not None:
            return row.seq
        return pos if self._one_chain and chain == 0 else None

    def chain_problem(self, chain: int) -> Problem | None:
        """Why ``chain`` stopped verifying, if entries follow the last one that verified."""
        checked = self.checked[chain]
        following = next(iter(self._tx.journal.scan(chain=chain, after=checked)), None)
        if following is None:
            head = self._tx.journal.head(chain)
            if head is None or head.pos <= checked:
                return None
        place, reason = diagnose(checked + 1, None if following is None else following.pos)
        seq = self.seq_at(chain, place) if following is None else following.seq
        return Problem(None, None, seq, _in_chain(reason, chain))

    def head_problem(self, expected: Sequence[ChainHead]) -> Problem | None:
        """Whether each verified chain reaches the head the host kept, with its tag."""
        for head in expected:
            checked = self.checked.get(head.chain, 0)
            if head.seq > checked:
                reason = f"the journal ends at entry {checked}, before the expected head {head.seq}"
                return Problem(None, None, checked + 1, _in_chain(reason, head.chain))
            if self.tags.get((head.chain, head.seq), GENESIS_HASH).hex() != head.hash:
                reason = _in_chain("the entry there is not the expected head", head.chain)
                return Problem(None, None, self.seq_at(head.chain, head.seq), reason)
        return None

    def checkpoint_problem(
        self, checkpoints: Sequence[Checkpoint], trusted_keys: Mapping[str, Ed25519PublicKey]
    ) -> Problem | None:
        """The first checkpoint not signed by a trusted key, or naming a head no longer on
        its chain (entries cut off, rewritten, or a whole chain gone)."""
        for checkpoint in checkpoints:
            key = trusted_keys.get(checkpoint.key_id)
            if key is None or not checkpoint.verify(key):
                where = self.seq_at(checkpoint.chain, checkpoint.seq)
                return Problem(None, None, where, "a checkpoint's signature is not valid")
            for head in checkpoint.named:
                checked = self.checked.get(head.chain, 0)
                if head.seq > checked:
                    reason = _in_chain("entries signed in a checkpoint are missing", head.chain)
                    return Problem(None, None, self.seq_at(head.chain, checked + 1), reason)
                if head.seq and self.tags.get((head.chain, head.seq), b"").hex() != head.hash:
                    reason = _in_chain(
                        "the journal no longer matches a signed checkpoint", head.chain
                    )
                    return Problem(None, None, self.seq_at(head.chain, head.seq), reason)
        return None


def _in_chain(reason: str, chain: int) -> str:
    """``reason``, naming the chain when it is not chain 0 (place numbers are per chain)."""
    return reason if chain == 0 else f"{reason} (chain {chain}; places counted in that chain)"


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
                known = table.get(key)
                if known is None or known[0] < row.seq:  # chains replay in any order
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
    """Whether the columns an entry is looked up by (its seq, chain and place, its event id,
    and its instant, which report windows read) are what its verified body says."""
    seq = document.get("seq", row.seq)
    place = (seq, document.get("chain", 0), document.get("pos", seq))
    if place != (row.seq, row.chain, row.pos):
        reason = (
            f"its seq, chain and place columns {(row.seq, row.chain, row.pos)} are not the"
            f" entry's own {place}"
        )
        return Problem(None, None, row.seq, reason)
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
