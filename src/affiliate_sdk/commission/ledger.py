"""Postings, accounts and the first (unkeyed) journal format. Pure.

Each journal entry is one event with postings that move money between
accounts and sum to zero in every currency. Accounts are paths:

* ``merchant/{merchant_id}/payable``: what the merchant owes (it goes negative);
* ``affiliate/{affiliate_id}/{state}``: the affiliate's earnings by state
  (``pending``, ``frozen``, ``approved``, ``paid``);
* ``platform/{state}``: the platform's take, by the same states.

Entries of version 1 were chained with ``sha256(previous hash || canonical
bytes)``; ``encode_entry`` writes that format, which journals from earlier
releases hold (and tests use to play an attacker without the key). New
entries are keyed: see ``commission.journal``, which also verifies both.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.money import Money

__all__ = [
    "GENESIS_HASH",
    "JOURNAL_VERSION",
    "JournalDraft",
    "JournalRow",
    "Posting",
    "affiliate_account",
    "decode_entry",
    "encode_entry",
    "merchant_account",
    "platform_account",
    "postings_of",
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
