"""Outbox rows built from the payload models: the same bodies as before, checkpoints too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk.commission.checkpoints import sign_checkpoint
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.models import PayoutBatch
from affiliate_sdk.money import Money
from affiliate_sdk.webhooks.events import (
    EVENT_TYPES,
    CheckpointSigned,
    CreditData,
    Event,
    OrderAttributed,
    PayoutCreated,
    checkpoint_event,
    event_row,
    event_schemas,
    order_events,
    order_rows,
    payout_event,
    payout_row,
)

AT = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


def test_a_checkpoint_event_carries_the_signed_head() -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = sign_checkpoint(key, key_id="ck1", seq=42, hash_=bytes(32), at=AT)
    row = checkpoint_event(checkpoint)
    event = Event.model_validate_json(row.data)
    assert (row.type, event.type, row.seq) == ("ledger.checkpoint", "ledger.checkpoint", 0)
    payload = event.payload()
    assert isinstance(payload, CheckpointSigned)
    assert (payload.seq, payload.hash, payload.key_id) == (42, "0" * 64, "ck1")
    assert payload.signature == checkpoint.signature and payload.at == AT
    assert checkpoint_event(checkpoint).event_id == row.event_id  # stable id
    assert "ledger.checkpoint" in EVENT_TYPES and "ledger.checkpoint" in event_schemas()


def test_built_rows_match_the_plain_data_ones() -> None:
    batch = PayoutBatch(
        payout_id="p1",
        affiliate_id="a1",
        amount=Money("12.50", "USD"),
        entry_ids=["e1", "e2"],
        created_at=AT,
    )
    assert payout_row(batch) == payout_event(batch)
    credit = CreditData(
        affiliate_id="a1", campaign_id="c1", click_id="k1", weight="1", signal="click"
    )
    order = OrderAttributed(
        merchant_id="m1",
        order_id="o1",
        total="100.00",
        currency="USD",
        placed_at=AT,
        decision="allow",
        credits=[credit],
    )
    built = order_rows(order, [(credit, {"sub1": "x"})], {"a1": "10.00"}, at=AT)
    plain = order_events(
        merchant_id="m1",
        order_id="o1",
        total=("100.00", "USD"),
        placed_at=AT,
        decision="allow",
        credits=[(credit.model_dump(), {"sub1": "x"})],
        commissions={"a1": "10.00"},
        at=AT,
    )
    assert built == plain


def test_an_event_row_takes_only_its_types_model() -> None:
    data = PayoutCreated(payout_id="p1", affiliate_id="a1", amount="1", currency="USD", entries=1)
    with pytest.raises(InvalidInput):
        event_row("commission.booked", "k", AT, data)
