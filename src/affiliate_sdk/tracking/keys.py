"""Signing keys for tracking links.

A ``Keyring`` maps key ids to secrets. The last key signs new links; every key
in the ring verifies. To rotate: append a new key (it starts signing), keep the
old one while its links are in circulation, then remove it, which invalidates
every link it signed.

``Keyring.derive(purpose)`` gives a 32-byte key for one named use (HKDF-SHA256
with the explicit context ``b"affiliate_sdk/<purpose>/v1"``), so no two uses
share key material. A derived key changes with the keyring key it comes from:
anything that must outlive a rotation (a pseudonymisation key, a journal MAC
key) is a random secret kept *sealed* with a derived key, and resealed after a
rotation, rather than being a derived key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from binascii import b2a_base64
from collections.abc import Iterator, Mapping
from typing import Final

from affiliate_sdk.errors import InvalidInput, InvalidKey

__all__ = ["DERIVED_KEY_BYTES", "MIN_SECRET_BYTES", "TAG_BYTES", "Keyring", "LinkKey"]

#: Shortest secret accepted: 256 bits, the HMAC-SHA256 output size.
MIN_SECRET_BYTES: Final = 32
#: HMAC-SHA256 tags are truncated to 128 bits.
TAG_BYTES: Final = 16
#: Length of a key from ``Keyring.derive``: one SHA-256 output.
DERIVED_KEY_BYTES: Final = 32

_KEY_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BLOCK: Final = 64  # SHA-256 block size
_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_PURPOSE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_HKDF_SALT: Final = bytes(hashlib.sha256().digest_size)  # RFC 5869: no salt = HashLen zeros


class LinkKey:
    """One secret with its HMAC-SHA256 key schedule computed once.

    ``tag(msg)`` equals ``hmac.new(secret, msg, sha256).digest()[:16]``; the
    inner and outer padded-key states are hashed at construction, so each tag
    costs two short hash continuations instead of four block compressions.
    """

    __slots__ = ("_inner", "_outer", "key_id")

    def __init__(self, key_id: str, secret: bytes) -> None:
        self.key_id = key_id
        if len(secret) > _BLOCK:
            secret = hashlib.sha256(secret).digest()
        padded = secret.ljust(_BLOCK, b"\0")
        # Bound ``copy`` methods of the padded-key states, hashed once.
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded)).copy
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded)).copy

    def tag(self, message: bytes) -> bytes:
        """The 128-bit tag of ``message``."""
        inner = self._inner()
        inner.update(message)
        outer = self._outer()
        outer.update(inner.digest())
        return outer.digest()[:TAG_BYTES]

    def tag_b64(self, message: bytes) -> bytes:
        """The tag as 22 characters of unpadded base64url.

        Repeats ``tag``'s four steps rather than calling it: this runs on every
        verification, where the extra call is a measurable share of the cost.
        """
        inner = self._inner()
        inner.update(message)
        outer = self._outer()
        outer.update(inner.digest())
        return b2a_base64(outer.digest()[:TAG_BYTES], newline=False)[:22].translate(_URLSAFE)

    def __repr__(self) -> str:
        return f"LinkKey({self.key_id!r})"


class Keyring(Mapping[str, LinkKey]):
    """Key id -> key, in insertion order; the last key signs."""

    __slots__ = ("_keys", "_secrets", "by_ascii")

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise InvalidKey(None, "at least one signing key is required")
        built: dict[str, LinkKey] = {}
        secrets: dict[str, bytes] = {}
        for key_id, secret in keys.items():
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                raise InvalidKey(key_id, "key ids are 1-32 characters of A-Z a-z 0-9 _ -")
            if not isinstance(secret, bytes | bytearray):
                raise InvalidKey(key_id, "secret must be bytes (decode hex or base64 first)")
            if len(secret) < MIN_SECRET_BYTES:
                raise InvalidKey(
                    key_id, f"secret is {len(secret)} bytes; at least {MIN_SECRET_BYTES} required"
                )
            built[key_id] = LinkKey(key_id, bytes(secret))
            secrets[key_id] = bytes(secret)
        self._keys = built
        self._secrets = secrets
        #: The keys by id as ASCII bytes, for the verify hot path.
        self.by_ascii: Mapping[bytes, LinkKey] = {k.encode("ascii"): v for k, v in built.items()}

    @classmethod
    def from_environment(
        cls, name: str = "AFFILIATE_SDK_KEYS", environ: Mapping[str, str] | None = None
    ) -> Keyring:
        """The keys in the environment variable ``name``: ``id=hex,id=hex``, oldest first
        (the last signs). ``InvalidInput`` for a part that is not ``id=hex``, ``InvalidKey``
        for none at all or a key the keyring refuses."""
        text = (os.environ if environ is None else environ).get(name, "")
        keys: dict[str, bytes] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key_id, _, value = part.partition("=")
            try:
                keys[key_id] = bytes.fromhex(value)
            except ValueError:
                raise InvalidInput(f"{name}: {key_id!r} is not id=hex") from None
        if not keys:
            raise InvalidKey(None, f"{name} holds no key (set it to id=hex,id=hex)")
        return cls(keys)

    @property
    def signing_key(self) -> LinkKey:
        """The newest key, which signs new links."""
        return next(reversed(self._keys.values()))

    def derive(self, purpose: str, *, key_id: str | None = None) -> bytes:
        """A 32-byte key for ``purpose``, derived from key ``key_id`` (default: the signing key).

        HKDF-SHA256 (RFC 5869, no salt) over the key's secret with the context
        ``b"affiliate_sdk/" + purpose + b"/v1"``: the same purpose and key always
        give the same bytes, different purposes give unrelated keys. ``purpose``
        is 1-64 characters of a-z 0-9 . _ -.

        The result changes when the key it comes from changes: after a rotation
        the newest key derives something else, and once the old key is removed
        its derived keys cannot be recomputed. Long-lived secrets are therefore
        random and sealed under a derived key (``_kernel.secrets.DataKeys``), not
        derived themselves. Raises ``InvalidKey`` for an unknown ``key_id`` and
        ``InvalidInput`` for a bad ``purpose``.
        """
        if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
            raise InvalidInput(
                f"key purpose {purpose!r} must be 1-64 characters of a-z 0-9 . _ - "
                "starting with a letter or digit"
            )
        if key_id is None:
            key_id = next(reversed(self._secrets))
        try:
            secret = self._secrets[key_id]
        except KeyError:
            raise InvalidKey(key_id, "the keyring holds no key with this id") from None
        context = b"affiliate_sdk/" + purpose.encode("ascii") + b"/v1"
        prk = hmac.digest(_HKDF_SALT, secret, "sha256")
        return hmac.digest(prk, context + b"\x01", "sha256")

    def __getitem__(self, key_id: str) -> LinkKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({list(self._keys)!r})"
