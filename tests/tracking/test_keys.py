from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from affiliate_sdk import InvalidKey, Keyring
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.tracking.keys import DERIVED_KEY_BYTES

OLD = bytes(range(32))
NEW = bytes(range(100, 132))


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, info).derive(secret)


def test_a_fixed_vector() -> None:
    keyring = Keyring({"k1": OLD})
    assert keyring.derive("data-keys") == bytes.fromhex(
        "55e85bb905d341a3d1d4ae1afcbdb81fdf0a38d537c7720f6dfe0dd64cac2ce8"
    )


def test_derive_is_hkdf_sha256_with_an_explicit_context() -> None:
    keyring = Keyring({"k1": OLD, "k2": NEW})
    assert keyring.derive("pseudonyms", key_id="k1") == _hkdf(OLD, b"affiliate_sdk/pseudonyms/v1")
    assert keyring.derive("pseudonyms", key_id="k2") == _hkdf(NEW, b"affiliate_sdk/pseudonyms/v1")
    assert len(keyring.derive("data-keys")) == DERIVED_KEY_BYTES


def test_the_default_is_the_signing_key() -> None:
    keyring = Keyring({"k1": OLD, "k2": NEW})
    assert keyring.signing_key.key_id == "k2"
    assert keyring.derive("data-keys") == keyring.derive("data-keys", key_id="k2")
    assert keyring.derive("data-keys") != keyring.derive("data-keys", key_id="k1")


def test_purposes_and_keys_give_unrelated_bytes() -> None:
    keyring = Keyring({"k1": OLD})
    derived = {keyring.derive(p) for p in ("data-keys", "pseudonyms", "journal.mac", "x")}
    assert len(derived) == 4
    # a key moved to another id derives the same bytes: the id is not in the context
    assert Keyring({"other": OLD}).derive("data-keys") == keyring.derive("data-keys")


def test_derived_keys_are_not_link_tags() -> None:
    keyring = Keyring({"k1": OLD})
    context = b"affiliate_sdk/data-keys/v1"
    assert keyring.derive("data-keys") != hmac.new(OLD, context, hashlib.sha256).digest()
    assert keyring.derive("data-keys")[:16] != keyring["k1"].tag(context)


def test_unknown_key_and_bad_purpose() -> None:
    keyring = Keyring({"k1": OLD})
    with pytest.raises(InvalidKey, match="no key with this id") as caught:
        keyring.derive("data-keys", key_id="k0")
    assert caught.value.key_id == "k0"
    for purpose in ("", "Data", "a/b", "x" * 65, "data keys"):
        with pytest.raises(InvalidInput, match="purpose"):
            keyring.derive(purpose)


def test_link_keys_are_unchanged() -> None:
    keyring = Keyring({"k1": OLD})
    keyring.derive("data-keys")
    assert keyring["k1"].tag(b"msg") == hmac.new(OLD, b"msg", hashlib.sha256).digest()[:16]
    assert set(keyring.by_ascii) == {b"k1"}
