"""Order fingerprints are keyed: the database alone cannot confirm a guessed email.

They were an unkeyed SHA-256 of the order (customer email, phone and payment details
included); orders stored that way must still be recognised when sent again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from affiliate_sdk import Alliance, ConflictingOrder, Money, Order
from affiliate_sdk._services import orders as order_service
from affiliate_sdk.testing import FakeClock

from ..conftest import SECRET, START, make_campaign

KEY, NEW_KEY = b"p" * 32, b"q" * 32


def _order(**changes: object) -> Order:
    fields: dict[str, object] = {
        "order_id": "o1",
        "merchant_id": "m1",
        "total": Money("100.00", "CNY"),
        "customer_email": "alice@example.com",
        "placed_at": START,
    }
    return Order(**{**fields, **changes})


def _unkeyed(order: Order) -> str:
    """The fingerprint as orders were stored before it was keyed."""
    return hashlib.sha256(order.model_dump_json().encode()).hexdigest()


def _open(path: Path, key: bytes, previous: tuple[bytes, ...] = ()) -> Alliance:
    rotation: dict[str, Any] = {"previous_pseudonym_keys": previous} if previous else {}
    alliance = Alliance.open(
        f"sqlite:///{path}",
        keys={"k1": SECRET},
        clock=FakeClock(START),
        pseudonym_key=key,
        **rotation,
    )
    alliance.add_campaign(make_campaign())
    return alliance


def _stored(alliance: Alliance) -> str:
    with alliance.store.reader() as tx:
        row = tx.orders.get("m1", "o1")
    assert row is not None
    return row.fingerprint


def test_the_fingerprint_is_keyed_and_a_guessed_email_cannot_be_confirmed(
    tmp_path: Path,
) -> None:
    with _open(tmp_path / "a.db", KEY) as first, _open(tmp_path / "b.db", NEW_KEY) as second:
        first.record_order(_order())
        second.record_order(_order())
        stored = _stored(first)
        assert stored != _stored(second)  # the digest depends on the key
        guesses = ("bob@example.com", "alice@example.com")  # the right one among them
        assert stored not in {_unkeyed(_order(customer_email=email)) for email in guesses}
        first.record_order(_order())  # the same order again: recognised
        with pytest.raises(ConflictingOrder):
            first.record_order(_order(customer_email="bob@example.com"))


def test_an_order_stored_with_the_unkeyed_fingerprint_is_still_recognised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alliance.db"
    with monkeypatch.context() as legacy:  # as recorded before fingerprints were keyed
        legacy.setattr(order_service, "fingerprint", lambda order, _: _unkeyed(order))
        with _open(path, KEY) as before:
            recorded = before.record_order(_order())
            assert _stored(before) == _unkeyed(_order())
    with _open(path, KEY) as after:
        assert after.record_order(_order()) == recorded  # not a ConflictingOrder
        with pytest.raises(ConflictingOrder):
            after.record_order(_order(total=Money("99.00", "CNY")))
        assert after.verify_ledger().ok


def test_orders_fingerprinted_under_a_previous_pseudonym_key_still_match(tmp_path: Path) -> None:
    path = tmp_path / "alliance.db"
    with _open(path, KEY) as before:
        recorded = before.record_order(_order())
    with _open(path, NEW_KEY, previous=(KEY,)) as rotated:
        assert rotated.record_order(_order()) == recorded
        with pytest.raises(ConflictingOrder):
            rotated.record_order(_order(customer_email="bob@example.com"))
    with _open(path, NEW_KEY) as forgotten, pytest.raises(ConflictingOrder):
        forgotten.record_order(_order())  # the old key dropped: the old digest is unknown
