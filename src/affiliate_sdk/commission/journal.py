"""The journal: the one book. Append-only, keyed-hash-chained, double-entry. Pure.

Each entry is one event (a commission booked, reversed, approved, paid, a
period closed...) with

* ``postings`` that move money between accounts and sum to zero in every
  currency (checked here, before anything is written);
* ``rows``: the new state of every projection row the event wrote, by family
  (``lines``, ``orders``, ``periods``, ``marks``, ``payouts``, ``runs``) and
  key. The tables the SDK reads money from are projections of these: each row
  names the entry that last wrote it (its ``seq``), and before money moves the
  row is compared with the entry's copy. ``verify_ledger`` replays the whole
  journal against every projection.

Accounts are paths: ``merchant/{merchant_id}/payable`` (what the merchant owes;
it goes negative), ``affiliate/{affiliate_id}/{state}`` and ``platform/{state}``
(``pending``, ``frozen``, ``approved``, ``paid``).

An entry is stored as canonical bytes (sorted-key, compact UTF-8 JSON holding
its sequence number and the previous entry's tag) and a tag chaining it to its
predecessor: ``HMAC-SHA256(key, previous tag || bytes)`` under a secret that is
not kept in the database in clear (version 2). Without the key, an entry
cannot be edited, inserted, removed or re-chained without the tags failing.
Entries written before the chain was keyed (version 1) carry
``SHA-256(previous || bytes)``; the first keyed entry after them binds them.
A journal cut short at its end is only noticed against a head kept elsewhere
(``verify_ledger(expect_head=...)``, checkpoints published as events).

The journal may be split into several chains (``chain_of``: a merchant's entries
go to one), so that writers of different merchants never follow the same head.
Every entry still has a ``seq`` unique in the whole journal, which projection
rows name; within its chain it has a place ``pos`` (1, 2, ...), and its tag
chains it to the entry before it in that chain. The writers of one projection
row are ordered by their seqs (a store gives out seqs in the order such writers
commit), so the replay takes the highest seq writing a row as its last.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

from affiliate_sdk.commission.ledger import (
    GENESIS_HASH,
    Posting,
    affiliate_account,
    decode_entry,
    merchant_account,
    platform_account,
    postings_of,
)
from affiliate_sdk.errors import InvalidInput

__all__ = [
    "GENESIS_HASH",
    "JOURNAL_VERSION",
    "PROJECTION_FAMILIES",
    "ChainKey",
    "ChainProblem",
    "JournalDraft",
    "Posting",
    "affiliate_account",
    "canonical",
    "chain_of",
    "decode_entry",
    "diagnose",
    "encode_entry",
    "merchant_account",
    "platform_account",
    "postings_of",
    "verify_chain",
]

#: Entries are written in this version; version 1 (unkeyed SHA-256) is still read.
JOURNAL_VERSION: Final = 2
#: The projection families an entry's ``rows`` may hold.
PROJECTION_FAMILIES: Final = ("lines", "orders", "periods", "marks", "payouts", "runs")

_V1_SUFFIX: Final = b'"v":1}'  # "v" sorts last: a version 1 body ends so


class JournalDraft(NamedTuple):
    """An entry before the journal gives it its place (sequence number and tag).

    ``rows`` maps a projection family to ``{key: document}``: the state each
    row has after this entry (documents are plain JSON values).
    """

    event_id: str
    kind: str
    at: datetime
    postings: Sequence[Posting]
    refs: Mapping[str, Any]
    rows: Mapping[str, Mapping[str, Any]] = {}


class ChainProblem(NamedTuple):
    """Where and why the chain first fails to verify."""

    seq: int
    reason: str


class ChainKey:
    """The secret that tags journal entries (HMAC-SHA256), with its key schedule hashed once."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise InvalidInput("the journal key must be at least 32 bytes")
        padded = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded)).copy
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded)).copy

    def tag(self, previous: bytes, body: bytes) -> bytes:
        """``HMAC-SHA256(secret, previous || body)``."""
        inner = self._inner()
        inner.update(previous)
        inner.update(body)
        outer = self._outer()
        outer.update(inner.digest())
        return outer.digest()

    def link(self, previous: bytes, body: bytes) -> bytes:
        """The tag an entry with these bytes must carry (version 1 bodies: plain SHA-256)."""
        if body.endswith(_V1_SUFFIX):
            return hashlib.sha256(previous + body).digest()
        return self.tag(previous, body)

    def __repr__(self) -> str:
        return "ChainKey(...)"


def canonical(document: Any) -> bytes:
    """The canonical bytes of a JSON document: sorted keys, compact, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_balanced(draft: JournalDraft) -> None:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for posting in draft.postings:
        sums[posting.amount.currency] += posting.amount.amount
    unbalanced = {currency: total for currency, total in sums.items() if total}
    if unbalanced:
        raise InvalidInput(f"journal entry {draft.event_id!r} does not balance: {unbalanced}")
    unknown = set(draft.rows) - set(PROJECTION_FAMILIES)
    if unknown:
        raise InvalidInput(f"journal entry {draft.event_id!r}: unknown row families {unknown}")


def chain_of(merchant_id: str, chains: int) -> int:
    """The chain a merchant's entries go to in a journal of ``chains`` chains (stable: a
    hash of the id, not Python's salted ``hash``)."""
    if chains <= 1:
        return 0
    digest = hashlib.blake2b(merchant_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % chains


def encode_entry(
    seq: int,
    previous: bytes,
    draft: JournalDraft,
    key: ChainKey,
    *,
    chain: int = 0,
    pos: int | None = None,
) -> tuple[bytes, bytes]:
    """The canonical bytes and chained tag of ``draft`` as entry ``seq``, at place ``pos``
    (``seq`` when None) of chain ``chain``, after the entry tagged ``previous``.

    An entry of chain 0 at the place its seq names is encoded as a one-chain journal's
    always was; any other holds its chain and place too, so it cannot be moved."""
    _check_balanced(draft)
    document: dict[str, Any] = {
        "v": JOURNAL_VERSION,
        "seq": seq,
        "prev": previous.hex(),
        "event": draft.event_id,
        "kind": draft.kind,
        "at": draft.at.isoformat(),
        "postings": [[p.account, str(p.amount.amount), p.amount.currency] for p in draft.postings],
        "refs": draft.refs,
    }
    if draft.rows:
        document["rows"] = {family: dict(rows) for family, rows in draft.rows.items() if rows}
    if chain or (pos is not None and pos != seq):
        document["chain"] = chain
        document["pos"] = seq if pos is None else pos
    body = canonical(document)
    return body, key.tag(previous, body)


def verify_chain(
    links: Iterable[tuple[bytes, bytes]],
    key: ChainKey,
    *,
    marks: Collection[int] = (),
    start: bytes = GENESIS_HASH,
) -> tuple[int, dict[int, bytes]]:
    """Check every link of the chain.

    ``links`` are the ``(body, tag)`` of each entry in sequence order. Each
    stored tag must equal the chained tag of its body; since a body holds its
    own sequence number and its predecessor's tag, an edited, deleted,
    inserted or reordered entry breaks the chain right there. Unkeyed
    (version 1) entries count only once a keyed entry after them binds them:
    a journal rewritten without the key (every entry unkeyed and re-hashed)
    verifies nothing, and an unkeyed entry after a keyed one is a break.
    Returns how many entries verified before the first broken or unbound
    link and the tags at the positions in ``marks``. ``diagnose`` says why a
    link broke.
    """
    sha256 = hashlib.sha256
    tag = key.tag
    wanted = set(marks)
    found: dict[int, bytes] = {}
    previous = start
    checked = 0  # entries verified and bound by a keyed entry at or after them
    keyed = False
    for position, (body, digest) in enumerate(links, start=1):
        if body.endswith(_V1_SUFFIX):
            if keyed or sha256(previous + body).digest() != digest:
                break
        elif tag(previous, body) != digest:
            break
        else:
            keyed = True
        previous = digest
        if keyed:
            checked = position
        if wanted and position in wanted:
            found[position] = previous
    return checked, found


def diagnose(position: int, seq: int | None) -> ChainProblem:
    """Why the chain broke at ``position`` (1-based), given the seq stored there (if any)."""
    if seq is None:
        return ChainProblem(position, "an entry is missing")
    if seq > position:
        return ChainProblem(seq, "an entry is missing before it")
    if seq < position:
        return ChainProblem(seq, "out of order")
    return ChainProblem(seq, "its content, its tag or its place was changed")
