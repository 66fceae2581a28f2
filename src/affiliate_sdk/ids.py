"""Identifiers that sort by creation time and cannot be guessed.

An id is 16 bytes: 48 bits of milliseconds since the Unix epoch, then 80 bits
from the operating system's CSPRNG, written as 22 characters of an alphabet
whose ASCII order equals its value order, so ids sort by time as plain strings
(at millisecond resolution; ids minted in the same millisecond order randomly).
"""

from __future__ import annotations

import binascii
import os
from typing import Final

__all__ = ["ID_LENGTH", "RANDOM_BITS", "id_timestamp_ms", "is_valid_id", "new_id", "new_id_pair"]

RANDOM_BITS: Final = 80
ID_LENGTH: Final = 22

_STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_SORTABLE = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_ENCODE: Final = bytes.maketrans(_STANDARD, _SORTABLE)
_DECODE: Final = bytes.maketrans(_SORTABLE, _STANDARD)
_ALPHABET: Final = frozenset(_SORTABLE.decode())
_MAX_MS: Final = (1 << 48) - 1


def new_id(now_ms: int) -> str:
    """A fresh id stamped with ``now_ms`` (milliseconds since the epoch)."""
    raw = (now_ms & _MAX_MS).to_bytes(6, "big") + os.urandom(10)
    return binascii.b2a_base64(raw, newline=False)[:ID_LENGTH].translate(_ENCODE).decode()


def new_id_pair(now_ms: int) -> tuple[str, str]:
    """Two fresh ids stamped with ``now_ms``, from one read of the CSPRNG."""
    stamp = (now_ms & _MAX_MS).to_bytes(6, "big")
    rand = os.urandom(20)
    first = binascii.b2a_base64(stamp + rand[:10], newline=False)[:ID_LENGTH]
    second = binascii.b2a_base64(stamp + rand[10:], newline=False)[:ID_LENGTH]
    return first.translate(_ENCODE).decode(), second.translate(_ENCODE).decode()


def is_valid_id(value: object) -> bool:
    """True when ``value`` has the shape of an id from ``new_id``."""
    return (
        isinstance(value, str)
        and len(value) == ID_LENGTH
        and _ALPHABET.issuperset(value)
        # the last character holds 2 data bits; the 4 padding bits must be zero
        and _SORTABLE.index(value[-1].encode()) % 16 == 0
    )


def id_timestamp_ms(value: str) -> int:
    """The millisecond stamp inside an id."""
    raw = binascii.a2b_base64(value.encode().translate(_DECODE) + b"==")
    return int.from_bytes(raw[:6], "big")
