"""Writing the journal: entries chained to the head, their events, and checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk.commission.checkpoints import sign_checkpoint
from affiliate_sdk.commission.journal import GENESIS_HASH, ChainKey, JournalDraft, encode_entry
from affiliate_sdk.errors import StorageError
from affiliate_sdk.models import Commission
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import JournalRow, OutboxRow
from affiliate_sdk.webhooks.events import checkpoint_event, commission_events

__all__ = ["JournalWriter"]

#: Journal entry kinds whose lines are announced as ``commission.*`` events.
_ANNOUNCED: Final = "commission."


class JournalWriter:
    """Appends entries to a chain of the journal inside the caller's unit of work.

    Each entry gets the next place in its chain and the store's next seq (in a
    journal of one chain, its place: entries are numbered as they always were), and
    is tagged under the journal key after the chain's head; the lines it
    changed are announced through the outbox in the same transaction; with a
    checkpoint key, every ``checkpoint_every``-th entry of a chain has its tag
    signed, together with every other chain's head, kept, and published as a
    ``ledger.checkpoint`` event, so a host that keeps the latest one can tell a
    journal cut short.

    The head this writer last wrote on each chain is remembered: the next entry
    is chained to it without reading the head first, and the store appends it
    only if the chain's head is still that entry. When another writer (another
    process, or a transaction that rolled back) has moved the head since, the
    append is refused and retried once from the head as stored.
    """

    __slots__ = ("_chain", "_chains", "_checkpoint_every", "_checkpoint_key", "_heads")

    def __init__(
        self,
        chain: ChainKey,
        *,
        checkpoint_key: tuple[str, Ed25519PrivateKey] | None,
        checkpoint_every: int,
        chains: int = 1,
    ) -> None:
        self._chain = chain
        self._chains = chains
        self._checkpoint_key = checkpoint_key
        self._checkpoint_every = checkpoint_every
        self._heads: dict[int, tuple[int, bytes]] = {}

    def append(
        self,
        tx: UnitOfWork,
        draft: JournalDraft,
        lines: Sequence[Commission] = (),
        *,
        events: list[OutboxRow] | None = None,
        chain: int = 0,
    ) -> JournalRow:
        """Append ``draft`` after the head of ``chain``; ``lines`` are announced as its events.

        With ``events``, the entry's events are added to that list for the
        caller to write with its own (one outbox call per unit of work).
        """
        row = self._chained(tx, draft, chain)
        made: list[OutboxRow] = []
        if lines and (draft.kind.startswith(_ANNOUNCED) or draft.kind == "payout"):
            made += commission_events(draft.kind, draft.event_id, lines, draft.at)
        if self._checkpoint_key is not None and row.pos % self._checkpoint_every == 0:
            key_id, signing_key = self._checkpoint_key
            checkpoint = sign_checkpoint(
                signing_key,
                key_id=key_id,
                seq=row.pos,
                hash_=row.hash,
                at=draft.at,
                chain=chain,
                heads=_other_heads(tx, chain),
            )
            tx.journal.add_checkpoint(checkpoint)
            made.append(checkpoint_event(checkpoint))
        if events is not None:
            events += made
        elif made:
            tx.outbox.add(made)
        return row

    def _chained(self, tx: UnitOfWork, draft: JournalDraft, chain: int) -> JournalRow:
        at_ms = int(draft.at.timestamp() * 1000)
        head = self._heads.get(chain)
        for attempt in range(2):
            if head is None or attempt:
                stored = tx.journal.head(chain)
                head = (0, GENESIS_HASH) if stored is None else (stored.pos, stored.hash)
            pos = head[0] + 1
            seq = pos if self._chains == 1 else tx.journal.next_seq()
            body, tag = encode_entry(seq, head[1], draft, self._chain, chain=chain, pos=pos)
            row = JournalRow(seq, draft.event_id, at_ms, body, tag, chain, pos)
            try:
                tx.journal.append([row], previous=head[1])
            except StorageError:  # the head moved (or the event exists: raised again below)
                self._heads.pop(chain, None)
                if attempt:
                    raise
                continue
            self._heads[chain] = (row.pos, row.hash)
            return row
        raise AssertionError("unreachable")  # pragma: no cover


def _other_heads(tx: UnitOfWork, chain: int) -> dict[int, tuple[int, bytes]]:
    """Every other chain's head ``(place, tag)``, for a checkpoint over all of them."""
    return {c: (row.pos, row.hash) for c, row in tx.journal.heads().items() if c != chain}
