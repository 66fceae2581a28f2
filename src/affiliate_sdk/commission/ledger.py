"""The journal: an append-only, hash-chained, double-entry record of every booking.

Each journal entry is one event (a commission booked, reversed, approved,
paid...) with postings that move money between accounts and sum to zero in
every currency. Accounts are paths:

* ``merchant/{merchant_id}/payable``: what the merchant owes (it goes negative);
* ``affiliate/{affiliate_id}/{state}``: the affiliate's earnings by state
  (``pending``, ``frozen``, ``approved``, ``paid``);
* ``platform/{state}``: the platform's take, by the same states.

An entry is stored as its canonical bytes (sorted-key, compact UTF-8 JSON that
includes its sequence number and the previous entry's hash) and its hash,
``sha256(previous hash || canonical bytes)``. Editing, deleting, inserting or
reordering any entry breaks the chain at that entry, and ``verify_chain``
names it. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.money import Money

__all__ = [
    "GENESIS_HASH",
    "JOURNAL_VERSION",
    "ChainProblem",
    "JournalDraft",
    "JournalRow",
    "Posting",
    "affiliate_account",
    "decode_entry",
    "diagnose",
    "encode_entry",
    "merchant_account",
    "platform_account",
    "postings_of",
    "verify_chain",
]

#: The "previous hash" of the first entry.
GENESIS_HASH: Final = b"\0" * 32
JOURNAL_VERSION: Final = 1


class Posting(NamedTuple):
    """Money moved into (positive) or out of (negative) one account."""

    account: str
    amount: Money


class JournalDraft(NamedTuple):
    """An entry before the journal gives it its place (sequence number and hash)."""

    event_id: str
    kind: str
    at: datetime
    postings: Sequence[Posting]
    refs: Mapping[str, Any]


class JournalRow(NamedTuple):
    """An entry as stored: its place, canonical bytes and chained hash."""

    seq: int
    event_id: str
    body: bytes
    hash: bytes


class ChainProblem(NamedTuple):
    """Where and why the chain first fails to verify."""

    seq: int
    reason: str


def merchant_account(merchant_id: str) -> str:
    return f"merchant/{merchant_id}/payable"


def affiliate_account(affiliate_id: str, state: str) -> str:
    return f"affiliate/{affiliate_id}/{state}"


def platform_account(state: str) -> str:
    return f"platform/{state}"


def _check_balanced(draft: JournalDraft) -> None:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for posting in draft.postings:
        sums[posting.amount.currency] += posting.amount.amount
    unbalanced = {currency: total for currency, total in sums.items() if total}
    if unbalanced:
        raise InvalidInput(f"journal entry {draft.event_id!r} does not balance: {unbalanced}")


def encode_entry(seq: int, previous: bytes, draft: JournalDraft) -> JournalRow:
    """The canonical bytes and chained hash of ``draft`` at position ``seq``."""
    _check_balanced(draft)
    document = {
        "v": JOURNAL_VERSION,
        "seq": seq,
        "prev": previous.hex(),
        "event": draft.event_id,
        "kind": draft.kind,
        "at": draft.at.isoformat(),
        "postings": [[p.account, str(p.amount.amount), p.amount.currency] for p in draft.postings],
        "refs": draft.refs,
    }
    body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return JournalRow(seq, draft.event_id, body, hashlib.sha256(previous + body).digest())


def decode_entry(body: bytes) -> dict[str, Any]:
    """The document inside an entry's canonical bytes."""
    document: dict[str, Any] = json.loads(body)
    return document


def postings_of(document: Mapping[str, Any]) -> list[Posting]:
    """The postings of a decoded entry."""
    return [
        Posting(account, Money(amount, currency))
        for account, amount, currency in document["postings"]
    ]


def verify_chain(
    links: Iterable[tuple[bytes, bytes]],
    *,
    marks: Collection[int] = (),
    start: bytes = GENESIS_HASH,
) -> tuple[int, dict[int, bytes]]:
    """Check every link of the chain, fast.

    ``links`` are the ``(body, hash)`` of each entry in sequence order. Each
    stored hash must equal ``sha256(previous hash || body)``; since a body
    holds its own sequence number and its predecessor's hash, an edited,
    deleted, inserted or reordered entry breaks the chain right there.
    Returns how many entries verified before the first broken link (all of
    them when none is) and the verified hashes at the positions in ``marks``.
    Use ``diagnose`` to say why a link broke.
    """
    sha256 = hashlib.sha256
    wanted = set(marks)
    found: dict[int, bytes] = {}
    previous = start
    checked = 0
    for body, digest in links:
        if sha256(previous + body).digest() != digest:
            break
        previous = digest
        checked += 1
        if wanted and checked in wanted:
            found[checked] = previous
    return checked, found


def diagnose(position: int, row: JournalRow | None) -> ChainProblem:
    """Why the chain broke at ``position`` (1-based), given the row stored there."""
    if row is None:
        return ChainProblem(position, "an entry is missing")
    if row.seq > position:
        return ChainProblem(row.seq, "an entry is missing before it")
    if row.seq < position:
        return ChainProblem(row.seq, "out of order")
    return ChainProblem(row.seq, "its content or its place was changed")
