"""Signing keys for tracking links.

A ``Keyring`` maps key ids to secrets. The last key signs new links; every key
in the ring verifies. To rotate: append a new key (it starts signing), keep the
old one while its links are in circulation, then remove it, which invalidates
every link it signed.
"""

from __future__ import annotations

import hashlib
import re
from binascii import b2a_base64
from collections.abc import Iterator, Mapping
from typing import Final

from affiliate_sdk.errors import InvalidKey

__all__ = ["MIN_SECRET_BYTES", "TAG_BYTES", "Keyring", "LinkKey"]

#: Shortest secret accepted: 256 bits, the HMAC-SHA256 output size.
MIN_SECRET_BYTES: Final = 32
#: HMAC-SHA256 tags are truncated to 128 bits.
TAG_BYTES: Final = 16

_KEY_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BLOCK: Final = 64  # SHA-256 block size
_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


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

    __slots__ = ("_keys", "by_ascii")

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise InvalidKey(None, "at least one signing key is required")
        built: dict[str, LinkKey] = {}
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
        self._keys = built
        #: The keys by id as ASCII bytes, for the verify hot path.
        self.by_ascii: Mapping[bytes, LinkKey] = {k.encode("ascii"): v for k, v in built.items()}

    @property
    def signing_key(self) -> LinkKey:
        """The newest key, which signs new links."""
        return next(reversed(self._keys.values()))

    def __getitem__(self, key_id: str) -> LinkKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({list(self._keys)!r})"
