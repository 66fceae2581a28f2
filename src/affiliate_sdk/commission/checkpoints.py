"""Signed checkpoints of the journal, and statements signed against them. Pure.

A checkpoint states "entry ``seq`` of the journal's chain ``chain`` has hash
``hash``" (and, for a journal of several chains, the head every other chain had
then: ``heads``) under an Ed25519 signature. Whoever holds the public key can
then check that every chain still runs through those points (nothing before
them was rewritten or cut off, no chain was removed) and that a statement was
issued by the key holder against that state of the ledger, without trusting
the database it came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from affiliate_sdk._base import AffiliateModel
from affiliate_sdk.models import Statement

__all__ = ["ChainHead", "Checkpoint", "SignedStatement", "sign_checkpoint", "sign_statement"]


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class ChainHead(AffiliateModel):
    """Entry ``seq`` (its place in the chain) of chain ``chain`` has tag ``hash``."""

    chain: int = Field(ge=0)
    seq: int = Field(ge=0)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class Checkpoint(AffiliateModel):
    """Entry ``seq`` of chain ``chain`` has ``hash``, and each other chain's head was as
    ``heads`` says, as signed by key ``key_id`` at ``at``."""

    seq: int = Field(ge=0)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: datetime
    key_id: str = Field(min_length=1, max_length=64)
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")
    chain: int = Field(default=0, ge=0)
    heads: tuple[ChainHead, ...] = ()

    @property
    def named(self) -> tuple[ChainHead, ...]:
        """Every head the checkpoint names: its own chain's first, then the others'."""
        return (ChainHead(chain=self.chain, seq=self.seq, hash=self.hash), *self.heads)

    def signed_bytes(self) -> bytes:
        document: dict[str, Any] = {
            "kind": "affiliate_sdk.checkpoint",
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.isoformat(),
            "key_id": self.key_id,
        }
        if self.chain:  # a one-chain checkpoint signs what it always signed
            document["chain"] = self.chain
        if self.heads:
            document["heads"] = [[h.chain, h.seq, h.hash] for h in self.heads]
        return _canonical(document)

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """True when the signature is this key's over this checkpoint."""
        try:
            public_key.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except CryptoInvalidSignature:
            return False
        return True


def sign_checkpoint(
    private_key: Ed25519PrivateKey,
    *,
    key_id: str,
    seq: int,
    hash_: bytes,
    at: datetime,
    chain: int = 0,
    heads: Mapping[int, tuple[int, bytes]] | None = None,
) -> Checkpoint:
    """A checkpoint of chain ``chain``'s head ``(seq, hash_)``, with the other chains' heads
    (``heads``: chain -> (seq, tag); the checkpoint's own chain is left out of it)."""
    others = tuple(
        ChainHead(chain=c, seq=s, hash=h.hex())
        for c, (s, h) in sorted((heads or {}).items())
        if c != chain
    )
    unsigned = Checkpoint(
        seq=seq,
        hash=hash_.hex(),
        at=at,
        key_id=key_id,
        signature="0" * 128,
        chain=chain,
        heads=others,
    )
    signature = private_key.sign(unsigned.signed_bytes()).hex()
    return unsigned.model_copy(update={"signature": signature})


class SignedStatement(AffiliateModel):
    """A statement signed together with the checkpoint of the ledger it was computed from."""

    statement: Statement
    checkpoint: Checkpoint
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")

    def signed_bytes(self) -> bytes:
        return _canonical(
            {
                "kind": "affiliate_sdk.statement",
                "statement": self.statement.model_dump(mode="json"),
                "checkpoint": self.checkpoint.model_dump(mode="json"),
            }
        )

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """True when both the statement and its checkpoint are signed by this key."""
        if not self.checkpoint.verify(public_key):
            return False
        try:
            public_key.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except CryptoInvalidSignature:
            return False
        return True


def sign_statement(
    private_key: Ed25519PrivateKey, statement: Statement, checkpoint: Checkpoint
) -> SignedStatement:
    """``statement`` signed with the checkpoint it was computed at."""
    unsigned = SignedStatement(statement=statement, checkpoint=checkpoint, signature="0" * 128)
    return unsigned.model_copy(
        update={"signature": private_key.sign(unsigned.signed_bytes()).hex()}
    )
