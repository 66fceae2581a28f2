"""The ledger as hosts read it, and the proof that it is what the journal wrote.

``LedgerService`` lists commission lines (each page proven against its
journal entries), builds statements, invoices and the reconciliation from
the journal window they cover (the figures are ``commission.reports``'s),
signs checkpoints, and verifies the whole book through its ``Verifier``
(``verification``): the chain, signed checkpoints, a head kept outside the
database, that every entry balances, and that every projection row equals a
replay of the journal.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from affiliate_sdk._kernel.fields import check_texts
from affiliate_sdk._kernel.instants import check_aware, to_ms
from affiliate_sdk.commission.checkpoints import (
    Checkpoint,
    SignedStatement,
    sign_checkpoint,
    sign_statement,
)
from affiliate_sdk.commission.journal import GENESIS_HASH, decode_entry
from affiliate_sdk.commission.lifecycle import live_amounts
from affiliate_sdk.commission.reports import (
    affiliate_statements,
    build_statements,
    invoices_from_lines,
    reconcile_window,
    window_lines,
)
from affiliate_sdk.errors import InvalidInput, LedgerImbalance, LedgerTampered
from affiliate_sdk.models import (
    Commission,
    Invoice,
    LedgerVerification,
    ReconciliationRow,
    Statement,
)
from affiliate_sdk.money import Money
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import JournalRow, LineFilter, LineRow

from .context import ServiceContext
from .journal import JournalWriter
from .projections import Proof
from .verification import Verifier, run_doc

__all__ = ["LEDGER_PAGE", "LedgerService", "run_doc"]

#: Lines read per keyset page.
LEDGER_PAGE: Final = 1000


class LedgerService:
    """Reads of the ledger, its reports, checkpoints and ``verify_ledger``.

    ``writer`` is the journal writer the other services append through; the
    ledger shares its chain key (``ctx.chain``) to check what was written.
    ``verifier`` does ``verify_ledger`` (by default one over ``ctx.chain``).
    """

    __slots__ = ("_ctx", "_verifier", "_writer")

    def __init__(
        self, ctx: ServiceContext, writer: JournalWriter, verifier: Verifier | None = None
    ) -> None:
        self._ctx = ctx
        self._writer = writer
        self._verifier = verifier or Verifier(ctx.chain)

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

        Reads the lines of just those orders (one ``by_orders`` query) and
        proves them, with ``rows`` themselves, before any amount is trusted.
        """
        if not rows:
            return {}
        orders = sorted({(r.line.merchant_id, r.line.order_id) for r in rows})
        siblings = tx.ledger.by_orders(orders)
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
        check_texts(merchant_id=merchant_id, affiliate_id=affiliate_id, order_id=order_id)
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
        _check_window(start, end)
        check_texts(affiliate_id=affiliate_id)
        with self._ctx.store.reader() as tx:
            return self._statements(tx, start, end, affiliate_id)

    def _statements(
        self, tx: UnitOfWork, start: datetime, end: datetime, affiliate_id: str | None
    ) -> list[Statement]:
        """The statements inside the caller's unit of work (``statements`` explains them)."""
        if affiliate_id is None:
            return build_statements(self._entries(tx, None, to_ms(end)), start=start, end=end)
        lines = (row.line for row in self.lines(tx, LineFilter(affiliate_id=affiliate_id)))
        payouts = tx.ledger.payouts(affiliate_id=affiliate_id)
        self.proof(tx).payouts(payouts)
        batches = [row.batch for row in payouts]
        return affiliate_statements(affiliate_id, lines, batches, start=start, end=end)

    def invoices(self, *, start: datetime, end: datetime) -> list[Invoice]:
        """What each merchant owes for commission booked in ``start <= t < end``."""
        _check_window(start, end)
        with self._ctx.store.reader() as tx:
            window = self._entries(tx, to_ms(start), to_ms(end))
            return invoices_from_lines(window_lines(window, start, end), start=start, end=end)

    def reconcile(self, *, start: datetime, end: datetime) -> list[ReconciliationRow]:
        """Prove merchant cost = affiliate earnings + platform take, per merchant and currency.

        The cost is what merchants' payable accounts gave up in the entries of
        ``start <= at < end``; the earnings are the lines booked in that window.
        Raises ``LedgerImbalance`` naming every row that is off by even a cent.
        """
        _check_window(start, end)
        with self._ctx.store.reader() as tx:
            window = self._entries(tx, to_ms(start), to_ms(end))
            rows = reconcile_window(window, start=start, end=end)
        off = [row for row in rows if not row.balanced]
        if off:
            raise LedgerImbalance(off)
        return rows

    def _entries(
        self, tx: UnitOfWork, since_ms: int | None, until_ms: int | None
    ) -> Iterator[dict[str, Any]]:
        """Decoded entries with ``since_ms <= at_ms <= until_ms`` (None: unbounded), tags
        checked.

        The window is found with ``first_at`` and streamed; each entry's tag is
        checked against its predecessor's, so a report never reads an entry
        that was edited (``LedgerTampered``).
        """
        chains = sorted(tx.journal.heads())
        streams = [self._window(tx, chain, since_ms, until_ms) for chain in chains]
        for row in heapq.merge(*streams, key=attrgetter("seq")):
            yield decode_entry(row.body)

    def _window(
        self, tx: UnitOfWork, chain: int, since_ms: int | None, until_ms: int | None
    ) -> Iterator[JournalRow]:
        """One chain's entries in the window, each tag checked against its predecessor's."""
        journal = tx.journal
        after = 0
        if since_ms is not None:
            first = journal.first_at(since_ms, chain=chain)
            if first is None:
                return
            after = first - 1
        until = None
        if until_ms is not None and (bound := journal.first_at(until_ms + 1, chain=chain)):
            until = bound - 1
        previous = GENESIS_HASH
        if after:
            prior = next(iter(journal.scan(chain=chain, after=after - 1, until=after)), None)
            if prior is None:
                where = str(after) if chain == 0 else f"{chain}/{after}"
                raise LedgerTampered("journal entry", where, None, "it is missing")
            previous = prior.hash
        expected = after + 1
        for row in journal.scan(chain=chain, after=after, until=until):
            if row.pos != expected or self._ctx.chain.link(previous, row.body) != row.hash:
                raise LedgerTampered("journal entry", str(row.seq), row.seq, "it does not verify")
            previous, expected = row.hash, expected + 1
            yield row

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint(self, signing_key: Ed25519PrivateKey, *, key_id: str) -> Checkpoint:
        """Sign the journal's current head and keep the checkpoint with the ledger."""
        with self._ctx.store.transaction() as tx:
            return self._checkpoint(tx, signing_key, key_id)

    def _checkpoint(
        self, tx: UnitOfWork, signing_key: Ed25519PrivateKey, key_id: str
    ) -> Checkpoint:
        """Sign every chain's head inside the caller's unit of work and keep the checkpoint
        (chain 0's head is the checkpoint's own, the others are its ``heads``)."""
        heads = {chain: (row.pos, row.hash) for chain, row in tx.journal.heads().items()}
        seq, tag = heads.get(0, (0, GENESIS_HASH))
        checkpoint = sign_checkpoint(
            signing_key,
            key_id=key_id,
            seq=seq,
            hash_=tag,
            at=self._ctx.clock.now(),
            heads=heads,
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
        _check_window(start, end)
        check_texts(affiliate_id=affiliate_id)
        with self._ctx.store.transaction() as tx:
            checkpoint = self._checkpoint(tx, signing_key, key_id)
            statements = self._statements(tx, start, end, affiliate_id)
        return [sign_statement(signing_key, s, checkpoint) for s in statements]

    # -- verification ------------------------------------------------------------------------
    def verify_ledger(
        self,
        *,
        trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
        expect_head: tuple[int, bytes] | Checkpoint | None = None,
    ) -> LedgerVerification:
        """Verify the book, and say where it first goes wrong.

        In order: the chain of tags, chain by chain; ``expect_head`` (a
        ``(seq, tag)`` of a one-chain journal, or a checkpoint, kept outside the
        database: a journal cut short before it, or a chain of it removed, fails;
        ``InvalidInput`` for a tuple when the journal has several chains); with
        ``trusted_keys`` (key id -> Ed25519 public key) every stored checkpoint's
        signature and its place in the chain; that every entry's postings sum
        to zero per currency; and that every projection row (ledger lines,
        orders' money, period totals, marks, payouts, payout runs) is the
        document the last entry writing it holds, under that entry's seq, and
        that no row is there that no entry wrote.
        """
        if isinstance(expect_head, tuple) and self._ctx.store.chains > 1:
            raise InvalidInput(
                "expect_head: a (seq, tag) is a one-chain journal's head; this journal has "
                f"{self._ctx.store.chains} chains: keep a Checkpoint of all their heads"
            )
        with self._ctx.store.reader() as tx:
            return self._verifier.verify(tx, trusted_keys=trusted_keys, expect_head=expect_head)


def _check_window(start: datetime, end: datetime) -> None:
    """A report's window must be timezone-aware at both ends (``InvalidInput`` naming it)."""
    check_aware("start", start)
    check_aware("end", end)
