"""The keyed journal chain and the projection proofs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from affiliate_sdk import InvalidInput, LedgerTampered, Money
from affiliate_sdk._services.projections import Proof, mark_doc
from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.journal import (
    GENESIS_HASH,
    ChainKey,
    JournalDraft,
    Posting,
    encode_entry,
    verify_chain,
)
from affiliate_sdk.storage.rows import JournalRow, Mark

AT = datetime(2026, 5, 1, tzinfo=UTC)
KEY = ChainKey(b"k" * 32)


def _draft(n: int, rows: dict[str, dict[str, object]] | None = None) -> JournalDraft:
    amount = Money("10.00", "CNY")
    return JournalDraft(
        f"e{n}",
        "commission.booked",
        AT,
        [Posting("affiliate/a1/pending", amount), Posting("merchant/m1/payable", -amount)],
        {"lines": [f"l{n}"]},
        rows or {},
    )


def _chain(count: int, key: ChainKey = KEY) -> list[tuple[bytes, bytes]]:
    links: list[tuple[bytes, bytes]] = []
    previous = GENESIS_HASH
    for n in range(1, count + 1):
        body, tag = encode_entry(n, previous, _draft(n), key)
        links.append((body, tag))
        previous = tag
    return links


def _v1(seq: int, previous: bytes) -> tuple[bytes, bytes]:
    """An entry as the unkeyed first journal version wrote it."""
    document = {"v": 1, "seq": seq, "prev": previous.hex(), "event": f"old{seq}", "kind": "x"}
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return body, hashlib.sha256(previous + body).digest()


def test_a_keyed_chain_verifies_and_its_tags_are_hmacs() -> None:
    links = _chain(5)
    assert verify_chain(links, KEY)[0] == 5
    body, tag = links[0]
    import hmac

    assert tag == hmac.new(b"k" * 32, GENESIS_HASH + body, hashlib.sha256).digest()


def test_an_edited_or_rechained_entry_breaks_without_the_key() -> None:
    links = _chain(4)
    body, _ = links[2]
    forged = body.replace(b'"10.00"', b'"1000.00"')
    # Re-chaining with plain SHA-256 (what an attacker without the key can do) fails.
    edited = [*links[:2], (forged, hashlib.sha256(links[1][1] + forged).digest()), *links[3:]]
    assert verify_chain(edited, KEY)[0] == 2
    # So does re-chaining under another key.
    assert verify_chain(_chain(4, ChainKey(b"x" * 32)), KEY)[0] == 0


def test_unkeyed_entries_verify_before_the_first_keyed_one_and_not_after() -> None:
    first = _v1(1, GENESIS_HASH)
    second = _v1(2, first[1])
    body, tag = encode_entry(3, second[1], _draft(3), KEY)
    assert verify_chain([first, second, (body, tag)], KEY)[0] == 3
    # A rewritten legacy entry no longer matches what the keyed entry bound, so
    # nothing before the break is trusted either.
    rewritten = _v1(2, first[1])[0].replace(b"old2", b"new2")
    relinked = (rewritten, hashlib.sha256(first[1] + rewritten).digest())
    assert verify_chain([first, relinked, (body, tag)], KEY)[0] == 0
    # An unkeyed entry appended after a keyed one is refused.
    assert verify_chain([first, second, (body, tag), _v1(4, tag)], KEY)[0] == 3
    # Unkeyed entries that no keyed entry binds verify nothing: a journal rewritten
    # without the key, every entry re-hashed with SHA-256, is not trusted.
    assert verify_chain([first, second], KEY)[0] == 0


def test_an_entry_that_does_not_balance_is_refused() -> None:
    draft = _draft(1)._replace(postings=[Posting("affiliate/a1/pending", Money("1.00", "CNY"))])
    with pytest.raises(InvalidInput, match="does not balance"):
        encode_entry(1, GENESIS_HASH, draft, KEY)


def test_a_short_journal_key_is_refused() -> None:
    with pytest.raises(InvalidInput):
        ChainKey(b"short")


class _Journal:
    """Just enough of a journal repository for the proofs."""

    def __init__(self, rows: Sequence[JournalRow]) -> None:
        self.rows = {row.seq: row for row in rows}

    def get_many(self, seqs: Sequence[int]) -> dict[int, JournalRow]:
        return {seq: self.rows[seq] for seq in seqs if seq in self.rows}

    def head(self, chain: int = 0) -> JournalRow | None:
        return self.rows[max(self.rows)] if self.rows else None

    def heads(self) -> dict[int, JournalRow]:
        head = self.head()
        return {} if head is None else {0: head}

    def next_seq(self) -> int:
        return max(self.rows, default=0) + 1

    def append(self, rows: Sequence[JournalRow], *, previous: bytes | None = None) -> None:
        raise NotImplementedError

    def by_event(self, event_id: str) -> JournalRow | None:
        return None

    def scan(
        self, *, chain: int = 0, after: int = 0, until: int | None = None
    ) -> Iterator[JournalRow]:
        return iter(())

    def first_at(self, at_ms: int, *, chain: int = 0) -> int | None:
        return None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        raise NotImplementedError

    def checkpoints(self) -> list[Checkpoint]:
        return []


def _journal_with_mark(value: str) -> _Journal:
    body, tag = encode_entry(1, GENESIS_HASH, _draft(1, {"marks": {"closed/c1/Q2": value}}), KEY)
    return _Journal([JournalRow(1, "e1", 0, body, tag, 0, 1)])


def test_a_row_that_matches_its_entry_is_proven() -> None:
    Proof(_journal_with_mark("yes"), KEY).marks([Mark("closed/c1/Q2", "yes", 1)])


@pytest.mark.parametrize(
    ("mark", "reason"),
    [
        (Mark("closed/c1/Q2", "no", 1), "differs from its journal entry"),
        (Mark("closed/c1/Q3", "yes", 1), "did not write it"),
        (Mark("closed/c1/Q2", "yes", 2), "missing or altered"),
        (Mark("closed/c1/Q2", "yes", 0), "no journal entry"),
    ],
)
def test_a_row_that_disagrees_with_the_journal_is_named(mark: Mark, reason: str) -> None:
    with pytest.raises(LedgerTampered, match=reason) as caught:
        Proof(_journal_with_mark("yes"), KEY).marks([mark])
    assert (caught.value.what, caught.value.key) == ("marks", mark.key)
    assert mark_doc(mark) == mark.value


def test_an_entry_whose_tag_fails_proves_nothing() -> None:
    journal = _journal_with_mark("yes")
    row = journal.rows[1]
    journal.rows[1] = row._replace(body=row.body.replace(b"e1", b"e9"))
    with pytest.raises(LedgerTampered, match="missing or altered"):
        Proof(journal, KEY).marks([Mark("closed/c1/Q2", "yes", 1)])
