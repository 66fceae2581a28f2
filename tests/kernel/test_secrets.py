from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from affiliate_sdk._kernel.secrets import DataKeys
from affiliate_sdk.errors import ConfigurationError, InvalidInput
from affiliate_sdk.tracking.keys import Keyring

K1 = bytes(range(32))
K2 = bytes(range(100, 132))


class DictRepo:
    """The KeyRepo contract over a dict; ``sneak_in`` plays another process racing."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.writes = 0
        self.sneak_in: tuple[str, str] | None = None

    def get_sealed(self, name: str) -> str | None:
        return self.rows.get(name)

    def put_sealed(self, name: str, sealed: str, *, replace: bool = False) -> str:
        if self.sneak_in is not None:
            other_name, other_value = self.sneak_in
            self.rows.setdefault(other_name, other_value)
            self.sneak_in = None
        self.writes += 1
        if replace or name not in self.rows:
            self.rows[name] = sealed
        return self.rows[name]


def _raw(sealed: str) -> bytes:
    text = sealed.split(":", 3)[3]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_create_then_reopen_gives_the_same_bytes() -> None:
    repo = DictRepo()
    first = DataKeys(repo, Keyring({"k1": K1})).get_or_create("pseudonym-key")
    assert len(first) == 32
    again = DataKeys(repo, Keyring({"k1": K1})).get_or_create("pseudonym-key")
    assert again == first
    assert repo.writes == 1
    other = DataKeys(repo, Keyring({"k1": K1})).get_or_create("journal-mac-key")
    assert other != first


def test_the_stored_text_is_sealed_under_the_derived_key_with_the_name_bound() -> None:
    repo = DictRepo()
    keyring = Keyring({"k1": K1})
    secret = DataKeys(repo, keyring).get_or_create("pseudonym-key", initial=b"s" * 32)
    assert secret == b"s" * 32
    sealed = repo.rows["pseudonym-key"]
    assert sealed.startswith("sealed:v1:k1:")
    assert "=" not in sealed
    assert b"s" * 32 not in _raw(sealed)
    raw = _raw(sealed)
    assert len(raw) == 12 + 32 + 16
    aead = AESGCM(keyring.derive("data-keys", key_id="k1"))
    assert aead.decrypt(raw[:12], raw[12:], b"pseudonym-key") == b"s" * 32


def test_initial_adopts_an_older_key_only_on_first_use() -> None:
    repo = DictRepo()
    keys = DataKeys(repo, Keyring({"k1": K1}))
    assert keys.get_or_create("pseudonym-key", initial=b"old-key-16-bytes") == b"old-key-16-bytes"
    assert keys.get_or_create("pseudonym-key", initial=b"another-value!!!") == b"old-key-16-bytes"
    with pytest.raises(InvalidInput, match="non-empty bytes"):
        keys.get_or_create("other-key", initial=b"")


def test_rotation_then_reseal_then_the_old_key_removed_still_opens() -> None:
    repo = DictRepo()
    before = DataKeys(repo, Keyring({"k1": K1})).get_or_create("pseudonym-key")
    rotated = DataKeys(repo, Keyring({"k1": K1, "k2": K2}), names=["pseudonym-key", "unused"])
    assert rotated.get_or_create("pseudonym-key") == before
    assert repo.rows["pseudonym-key"].startswith("sealed:v1:k1:")
    assert rotated.reseal() == 1
    assert repo.rows["pseudonym-key"].startswith("sealed:v1:k2:")
    assert rotated.reseal() == 0
    assert "unused" not in repo.rows
    after = DataKeys(repo, Keyring({"k2": K2})).get_or_create("pseudonym-key")
    assert after == before


def test_reseal_covers_the_names_used_and_the_names_given() -> None:
    repo = DictRepo()
    old = DataKeys(repo, Keyring({"k1": K1}))
    old.get_or_create("pseudonym-key")
    old.get_or_create("journal-mac-key")
    used = DataKeys(repo, Keyring({"k1": K1, "k2": K2}))
    used.get_or_create("journal-mac-key")
    assert used.names == ("journal-mac-key",)
    assert used.reseal() == 1
    listed = DataKeys(repo, Keyring({"k1": K1, "k2": K2}), names=["pseudonym-key"])
    assert listed.reseal() == 1
    assert all(v.startswith("sealed:v1:k2:") for v in repo.rows.values())


def test_a_removed_key_without_reseal_fails_with_the_way_out() -> None:
    repo = DictRepo()
    DataKeys(repo, Keyring({"k1": K1})).get_or_create("pseudonym-key")
    with pytest.raises(ConfigurationError, match="put key 'k1' back") as caught:
        DataKeys(repo, Keyring({"k2": K2})).get_or_create("pseudonym-key")
    assert "'pseudonym-key'" in str(caught.value)
    assert "reseal()" in str(caught.value)


def test_tampered_or_moved_values_do_not_open() -> None:
    repo = DictRepo()
    keys = DataKeys(repo, Keyring({"k1": K1}))
    keys.get_or_create("pseudonym-key")
    sealed = repo.rows["pseudonym-key"]
    flipped = bytearray(_raw(sealed))
    flipped[20] ^= 1
    text = base64.urlsafe_b64encode(bytes(flipped)).decode().rstrip("=")
    repo.rows["pseudonym-key"] = f"sealed:v1:k1:{text}"
    with pytest.raises(ConfigurationError, match=r"'pseudonym-key'.*does not open"):
        keys.get_or_create("pseudonym-key")

    repo.rows["journal-mac-key"] = sealed  # copied under another name
    with pytest.raises(ConfigurationError, match=r"'journal-mac-key'.*does not open"):
        keys.get_or_create("journal-mac-key")

    for broken in ("sealed:v1:k1:short", "sealed:v1:k1:!!!", "sealed:v1::AAAA", "plain text"):
        repo.rows["pseudonym-key"] = broken
        with pytest.raises(ConfigurationError, match="'pseudonym-key'"):
            keys.get_or_create("pseudonym-key")


def test_racing_creators_keep_one_value() -> None:
    repo = DictRepo()
    winner = DataKeys(repo, Keyring({"k1": K1}))
    theirs = DictRepo()
    value = winner.get_or_create("pseudonym-key")
    # The other process read None, then its put comes after the first one landed.
    theirs.sneak_in = ("pseudonym-key", repo.rows["pseudonym-key"])
    late = DataKeys(theirs, Keyring({"k1": K1})).get_or_create("pseudonym-key")
    assert late == value
    assert theirs.rows["pseudonym-key"] == repo.rows["pseudonym-key"]


def test_names_are_checked() -> None:
    keys = DataKeys(DictRepo(), Keyring({"k1": K1}))
    for name in ("", "Upper", "a:b", "x" * 65):
        with pytest.raises(InvalidInput, match="data key name"):
            keys.get_or_create(name)
    with pytest.raises(InvalidInput):
        DataKeys(DictRepo(), Keyring({"k1": K1}), names=["bad name"])
