"""A journal of several chains: each merchant's entries on its own, checked chain by chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.commission.checkpoints import Checkpoint
from affiliate_sdk.commission.journal import (
    GENESIS_HASH,
    ChainKey,
    JournalDraft,
    chain_of,
    decode_entry,
    encode_entry,
)
from affiliate_sdk.errors import InvalidInput, UnsupportedStore
from affiliate_sdk.models import LedgerVerification
from affiliate_sdk.storage import open_store
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.storage.rows import JournalRow
from affiliate_sdk.testing import FakeClock

from .conftest import HUMAN_UA, SECRET, browse, make_campaign

CHAINS = 4
MERCHANTS = tuple(f"m{n}" for n in range(1, 9))
SIGNER = Ed25519PrivateKey.generate()


def _open(url: str, clock: FakeClock) -> Alliance:
    alliance = Alliance.open(
        url, keys={"k1": SECRET}, clock=clock, checkpoint_key=("ck", SIGNER), checkpoint_every=2
    )
    for merchant in MERCHANTS:
        alliance.add_campaign(make_campaign(f"c-{merchant}", merchant))
    return alliance


def _trade(alliance: Alliance, clock: FakeClock) -> None:
    """An order of 100.00 per merchant (10% to a1), half of m2's refunded, a payout run."""
    for n, merchant in enumerate(MERCHANTS):
        link = alliance.create_link(
            affiliate_id="a1", campaign_id=f"c-{merchant}", landing_url="https://shop.example.com/"
        )
        click = alliance.track_click(link, ip=f"203.0.113.{n + 1}", user_agent=HUMAN_UA)
        browse(alliance, 30)
        alliance.record_order(
            Order(order_id=f"o{n}", merchant_id=merchant, total=Money("100.00", "CNY")),
            click_id=click.click_id,
        )
    alliance.refund(merchant_id="m2", order_id="o1", amount=Money("50.00", "CNY"))
    clock.advance(timedelta(days=31))
    alliance.approve_due()
    clock.advance(timedelta(days=1))
    alliance.pay_approved(run_id="r1")


@pytest.fixture
def split(clock: FakeClock) -> Iterator[Alliance]:
    alliance = _open(f"memory://?chains={CHAINS}", clock)
    _trade(alliance, clock)
    yield alliance
    alliance.close()


def _rows(alliance: Alliance) -> dict[int, list[JournalRow]]:
    with alliance.store.reader() as tx:
        return {chain: list(tx.journal.scan(chain=chain)) for chain in tx.journal.heads()}


def _trusted(alliance: Alliance, **kwargs: object) -> LedgerVerification:
    return alliance.verify_ledger(trusted_keys={"ck": SIGNER.public_key()}, **kwargs)  # type: ignore[arg-type]


def test_the_url_sets_the_chains() -> None:
    store = open_store("memory://?chains=3")
    assert isinstance(store, MemoryStore) and store.chains == 3
    assert open_store("memory://").chains == 1
    for url in ("memory://?chains=x", "memory://?chains=1&chains=2", "memory://?chain=2"):
        with pytest.raises(UnsupportedStore):
            open_store(url)


def test_each_merchant_books_on_its_own_chain_and_payouts_on_chain_0(split: Alliance) -> None:
    rows = _rows(split)
    kinds: dict[int, set[str]] = {}
    for chain, entries in rows.items():
        assert [row.pos for row in entries] == list(range(1, len(entries) + 1))
        assert all(row.chain == chain for row in entries)
        kinds[chain] = {decode_entry(row.body)["kind"] for row in entries}
    assert len(rows) > 2  # eight merchants spread over the chains, and chain 0
    for merchant in MERCHANTS:
        assert "commission.booked" in kinds[chain_of(merchant, CHAINS)]
    assert "commission.reversed" in kinds[chain_of("m2", CHAINS)]
    assert {"commission.approved", "payout"} <= kinds[0]  # (they span the merchants)
    seqs = sorted(row.seq for entries in rows.values() for row in entries)
    assert seqs == list(range(1, len(seqs) + 1))  # one numbering over every chain
    result = _trusted(split)
    assert (result.ok, result.entries) == (True, len(seqs))


def _books(url: str, start: FakeClock) -> tuple[list[tuple[str, Money]], list[dict[str, Any]]]:
    clock = FakeClock(start.now())
    alliance = _open(url, clock)
    _trade(alliance, clock)
    paid = [(p.affiliate_id, p.amount) for p in alliance.payouts(run_id="r1")]
    begin, end = start.now(), clock.now()
    reports = [
        *(s.model_dump() for s in alliance.statements(start=begin, end=end)),
        *(i.model_dump() for i in alliance.invoices(start=begin, end=end)),
        *(r.model_dump() for r in alliance.reconcile(start=begin, end=end)),
    ]
    alliance.close()
    return paid, reports


def test_money_does_not_depend_on_how_the_journal_is_split(clock: FakeClock) -> None:
    one = _books("memory://", clock)
    split = _books(f"memory://?chains={CHAINS}", clock)
    # eight orders of 100.00 at 10%, less half of one commission refunded: 80.00 - 5.00
    assert one[0] == split[0] == [("a1", Money("75.00", "CNY"))]
    assert one[1] == split[1]
    assert one[1]  # (the window holds statements, invoices and reconciliation rows)


def _journal(alliance: Alliance) -> object:
    store = alliance.store
    assert isinstance(store, MemoryStore)
    return store._uow.journal


def _merchant_chain(alliance: Alliance) -> int:
    """A chain other than 0 that holds at least two entries."""
    return next(c for c, entries in _rows(alliance).items() if c and len(entries) >= 2)


def test_checkpoints_name_every_chains_head(split: Alliance) -> None:
    heads = {
        chain: (entries[-1].pos, entries[-1].hash.hex()) for chain, entries in _rows(split).items()
    }
    kept = split.checkpoint(SIGNER, key_id="ck")
    assert {(h.chain, h.seq, h.hash) for h in kept.named} == {
        (chain, pos, tag) for chain, (pos, tag) in heads.items()
    }
    assert kept.verify(SIGNER.public_key())
    assert split.verify_ledger(expect_head=kept).ok
    with split.store.reader() as tx:
        signed = tx.journal.checkpoints()
    assert any(c.chain for c in signed) and any(c.heads for c in signed)
    assert _trusted(split).ok


def test_a_checkpoint_event_is_a_checkpoint_a_receiver_can_check(split: Alliance) -> None:
    with split.store.reader() as tx:
        events = [
            row for row in tx.outbox.after(0, limit=10_000) if row.type == "ledger.checkpoint"
        ]
    assert len({row.event_id for row in events}) == len(events) > 2
    for row in events:
        checkpoint = Checkpoint.model_validate(json.loads(row.data)["data"])
        assert checkpoint.verify(SIGNER.public_key())
        assert split.verify_ledger(expect_head=checkpoint).ok


def test_an_entry_edited_in_a_merchants_chain_is_named(split: Alliance) -> None:
    chain = _merchant_chain(split)
    rows: list[JournalRow] = _journal(split)._chains[chain].rows  # type: ignore[attr-defined]
    target = rows[0]
    rows[0] = target._replace(body=target.body.replace(b'"a1"', b'"a2"'))
    result = split.verify_ledger()
    assert not result.ok
    assert result.first_bad_seq == target.seq
    assert f"(chain {chain};" in str(result.reason)


def test_an_entry_whose_chain_column_is_changed_is_named(split: Alliance) -> None:
    chain = _merchant_chain(split)
    rows: list[JournalRow] = _journal(split)._chains[chain].rows  # type: ignore[attr-defined]
    target = rows[1]
    rows[1] = target._replace(chain=0)
    result = split.verify_ledger()
    assert (result.ok, result.first_bad_seq) == (False, target.seq)
    assert "chain and place columns" in str(result.reason)


def test_a_chain_removed_whole_is_caught_by_the_heads_kept(split: Alliance) -> None:
    kept = split.checkpoint(SIGNER, key_id="ck")
    chain = _merchant_chain(split)
    journal = _journal(split)
    removed = journal._chains.pop(chain)  # type: ignore[attr-defined]
    for row in removed.rows:
        del journal._seqs[row.seq]  # type: ignore[attr-defined]
        del journal._events[row.event_id]  # type: ignore[attr-defined]
    assert not split.verify_ledger().ok  # the lines its entries wrote are proven by none
    result = split.verify_ledger(expect_head=kept)
    assert not result.ok and f"(chain {chain};" in str(result.reason)
    assert "before the expected head" in str(result.reason)
    result = _trusted(split)
    assert not result.ok and "entries signed in a checkpoint are missing" in str(result.reason)


def test_a_one_chain_entry_is_encoded_as_it_always_was() -> None:
    key = ChainKey(b"k" * 32)
    draft = JournalDraft("e1", "note", FakeClock().now(), (), {}, {})
    plain = encode_entry(7, GENESIS_HASH, draft, key)
    assert plain == encode_entry(7, GENESIS_HASH, draft, key, chain=0, pos=7)
    assert b'"chain"' not in plain[0] and b'"pos"' not in plain[0]
    placed = encode_entry(7, GENESIS_HASH, draft, key, chain=3, pos=2)
    assert (decode_entry(placed[0])["chain"], decode_entry(placed[0])["pos"]) == (3, 2)
    assert placed[1] != plain[1]
    moved = encode_entry(7, GENESIS_HASH, draft, key, chain=0, pos=2)
    assert decode_entry(moved[0])["pos"] == 2


def test_a_one_chain_head_is_refused_for_a_journal_of_several(split: Alliance) -> None:
    head = _rows(split)[0][-1]
    with pytest.raises(InvalidInput, match="keep a Checkpoint"):
        split.verify_ledger(expect_head=(head.pos, head.hash))
