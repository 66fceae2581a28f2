"""Long-lived random secrets kept beside the data, sealed under the keyring.

Some secrets must outlive keyring rotations: the key that pseudonymises IPs and
identity details (every stored hash depends on it) and the key that MACs the
journal. Deriving them from a keyring key would change them whenever that key
is retired, so they are random bytes instead, created on first use and kept in
the store *sealed*: AES-256-GCM under ``keyring.derive("data-keys", key_id=...)``
with the secret's name as associated data, stored as the text::

    sealed:v1:<key id>:<base64url(nonce + ciphertext)>

Reading the store alone gives nothing usable, and a sealed value copied to
another name does not open. After adding a keyring key, ``DataKeys.reseal()``
seals every secret under it; only then may the old key be removed.

>>> from affiliate_sdk.tracking.keys import Keyring
>>> class Repo(dict[str, str]):
...     def get_sealed(self, name):
...         return self.get(name)
...     def put_sealed(self, name, sealed, *, replace=False):
...         if replace:
...             self[name] = sealed
...         return self.setdefault(name, sealed)
>>> keys = DataKeys(Repo(), Keyring({"k1": bytes(range(32))}))
>>> first = keys.get_or_create("pseudonym-key")
>>> len(first), keys.get_or_create("pseudonym-key") == first
(32, True)
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from affiliate_sdk.errors import ConfigurationError, InvalidInput
from affiliate_sdk.tracking.keys import Keyring

__all__ = ["DATA_KEY_BYTES", "PREFIX", "PURPOSE", "DataKeys", "KeyRepo"]

#: Length of a secret ``get_or_create`` makes up.
DATA_KEY_BYTES: Final = 32
#: What a sealed value starts with; the key id and the sealed bytes follow.
PREFIX: Final = "sealed:v1:"
#: The ``Keyring.derive`` purpose of the sealing keys.
PURPOSE: Final = "data-keys"

_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class KeyRepo(Protocol):
    """Where sealed secrets are kept (the shape of ``storage.contract.KeyRepo``)."""

    def get_sealed(self, name: str) -> str | None:
        """The sealed value kept under ``name``, or ``None``."""
        ...

    def put_sealed(self, name: str, sealed: str, *, replace: bool = False) -> str:
        """Keep ``sealed`` under ``name``; without ``replace`` a value already there wins.

        Returns the value now kept.
        """
        ...


class DataKeys:
    """Random secrets by name, created once and kept sealed in ``repo``.

    ``names`` lists the secrets this object manages, the ones ``reseal()``
    covers; every name passed to ``get_or_create`` joins them for the life of
    the object. List all of them when resealing from a fresh process.
    """

    __slots__ = ("_keyring", "_names", "_repo")

    def __init__(self, repo: KeyRepo, keyring: Keyring, *, names: Iterable[str] = ()) -> None:
        self._repo = repo
        self._keyring = keyring
        self._names: dict[str, None] = dict.fromkeys(_check_name(n) for n in names)

    @property
    def names(self) -> tuple[str, ...]:
        """The names ``reseal()`` covers, in the order they were first seen."""
        return tuple(self._names)

    def get_or_create(self, name: str, *, initial: bytes | None = None) -> bytes:
        """The secret ``name``; on first use, ``initial`` (to adopt an older key) or random bytes.

        When two processes create the same secret at once, the value the
        repository kept first wins and both return it. ``initial`` is ignored
        once a value exists. Raises ``ConfigurationError`` when the value kept
        cannot be opened with this keyring.
        """
        self._names.setdefault(_check_name(name), None)
        sealed = self._repo.get_sealed(name)
        if sealed is None:
            if initial is not None and (not isinstance(initial, bytes) or not initial):
                raise InvalidInput(
                    f"the initial value of data key {name!r} must be non-empty bytes"
                )
            secret = os.urandom(DATA_KEY_BYTES) if initial is None else initial
            sealed = self._repo.put_sealed(name, self._seal(name, secret), replace=False)
        return self._open(name, sealed)

    def reseal(self) -> int:
        """Seal every managed secret under the keyring's newest key; the number resealed.

        Run it after adding a key to the keyring and before removing the old
        one. Secrets already sealed under the newest key, and names with no
        value yet, are left alone.
        """
        newest = self._keyring.signing_key.key_id
        resealed = 0
        for name in self._names:
            sealed = self._repo.get_sealed(name)
            if sealed is None or _split(name, sealed)[0] == newest:
                continue
            secret = self._open(name, sealed)
            self._repo.put_sealed(name, self._seal(name, secret), replace=True)
            resealed += 1
        return resealed

    def _seal(self, name: str, secret: bytes) -> str:
        key_id = self._keyring.signing_key.key_id
        nonce = os.urandom(_NONCE_BYTES)
        aead = AESGCM(self._keyring.derive(PURPOSE, key_id=key_id))
        text = base64.urlsafe_b64encode(nonce + aead.encrypt(nonce, secret, name.encode()))
        return f"{PREFIX}{key_id}:{text.decode('ascii').rstrip('=')}"

    def _open(self, name: str, sealed: str) -> bytes:
        key_id, raw = _split(name, sealed)
        if key_id not in self._keyring:
            raise ConfigurationError(
                f"data key {name!r} is sealed with keyring key {key_id!r}, which the keyring "
                f"no longer holds: put key {key_id!r} back, or, if it is lost, so is the "
                "secret; after a rotation run reseal() before removing the old key"
            )
        aead = AESGCM(self._keyring.derive(PURPOSE, key_id=key_id))
        try:
            return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], name.encode())
        except InvalidTag:
            raise _damaged(name, key_id) from None


def _split(name: str, sealed: str) -> tuple[str, bytes]:
    """The key id and the nonce-plus-ciphertext of a sealed value."""
    if not sealed.startswith(PREFIX):
        raise ConfigurationError(
            f"data key {name!r} is kept unsealed or in an unknown format: "
            f"expected text starting {PREFIX!r}"
        )
    key_id, _, text = sealed[len(PREFIX) :].partition(":")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _damaged(name, key_id) from None
    if not key_id or len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise _damaged(name, key_id)
    return key_id, raw


def _damaged(name: str, key_id: str) -> ConfigurationError:
    return ConfigurationError(
        f"data key {name!r} (sealed with keyring key {key_id!r}) does not open: the sealed "
        "value was altered, damaged or copied from another name"
    )


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"data key name {name!r} must be 1-64 characters of a-z 0-9 . _ - "
            "starting with a letter or digit"
        )
    return name
