"""Writing the journal: entries chained to the head, their events, and checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk.commission.checkpoints import sign_checkpoint
from affiliate_sdk.commission.journal import GENESIS_HASH, ChainKey, JournalDraft, encode_entry
from affiliate_sdk.models import Commission
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import JournalRow
from affiliate_sdk.webhooks.events import commission_events

__all__ = ["JournalWriter"]

#: Journal entry kinds whose lines are announced as ``commission.*`` events.
_ANNOUNCED: Final = "commission."


class JournalWriter:
    """Appends entries to the chain inside the caller's unit of work.

    Each entry gets the next sequence number and is tagged under the journal
    key; the lines it changed are announced through the outbox in the same
    transaction; with a checkpoint key, every ``checkpoint_every``-th entry's
    tag is signed and kept as a checkpoint.
    """

    __slots__ = ("_chain", "_checkpoint_every", "_checkpoint_key")

    def __init__(
        self,
        chain: ChainKey,
        *,
        checkpoint_key: tuple[str, Ed25519PrivateKey] | None,
        checkpoint_every: int,
    ) -> None:
        self._chain = chain
        self._checkpoint_key = checkpoint_key
        self._checkpoint_every = checkpoint_every

    def append(
        self, tx: UnitOfWork, draft: JournalDraft, lines: Sequence[Commission] = ()
    ) -> JournalRow:
        """Append ``draft`` after the head; ``lines`` are announced as its events."""
        head = tx.journal.head()
        seq, previous = (1, GENESIS_HASH) if head is None else (head.seq + 1, head.hash)
        body, tag = encode_entry(seq, previous, draft, self._chain)
        row = JournalRow(seq, draft.event_id, int(draft.at.timestamp() * 1000), body, tag)
        tx.journal.append([row])
        if lines and (draft.kind.startswith(_ANNOUNCED) or draft.kind == "payout"):
            events = commission_events(draft.kind, draft.event_id, lines, draft.at)
            if events:
                tx.outbox.add(events)
        if self._checkpoint_key is not None and seq % self._checkpoint_every == 0:
            key_id, signing_key = self._checkpoint_key
            checkpoint = sign_checkpoint(
                signing_key, key_id=key_id, seq=seq, hash_=tag, at=draft.at
            )
            tx.journal.add_checkpoint(checkpoint)
        return row
