from __future__ import annotations

import hashlib
import socket

import pytest

from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.tracking.clicks import IpPseudonymizer

CURRENT = b"k" * 32
OLDER = b"j" * 32
OLDEST = bytes(range(16))
PACKED = socket.inet_aton("203.0.113.7")


def _blake(key: bytes, data: bytes) -> str:
    return hashlib.blake2b(data, key=key, digest_size=16).hexdigest()


def test_the_current_digest_is_unchanged() -> None:
    plain = IpPseudonymizer(CURRENT)
    rotated = IpPseudonymizer(CURRENT, previous=[OLDER, OLDEST])
    assert plain.digest(PACKED) == "2a9f244737b0ad96b790d9d650ad7b65"
    assert rotated.digest(PACKED) == plain.digest(PACKED)
    assert rotated.pseudonymize("203.0.113.7") == (
        "2a9f244737b0ad96b790d9d650ad7b65",
        "203.0.113.0/24",
    )
    assert rotated.pseudonymize("::ffff:203.0.113.7") == plain.pseudonymize("203.0.113.7")


def test_digests_lists_the_current_then_each_previous_key() -> None:
    rotated = IpPseudonymizer(CURRENT, previous=(OLDER, OLDEST))
    assert rotated.digests(PACKED) == (
        "2a9f244737b0ad96b790d9d650ad7b65",
        "9f5f240f3e5f24b7f3fc8f6c5f7e8a55",
        _blake(OLDEST, PACKED),
    )


def test_a_previous_digest_is_what_a_pseudonymizer_with_that_key_alone_computes() -> None:
    rotated = IpPseudonymizer(CURRENT, previous=[OLDER])
    user_agent = b"Mozilla/5.0 (X11; Linux x86_64)"
    for data in (PACKED, user_agent, b""):
        assert rotated.digests(data)[1] == IpPseudonymizer(OLDER).digest(data)
        assert rotated.digests(data)[1] == _blake(OLDER, data)


def test_without_previous_keys_digests_is_the_digest_alone() -> None:
    plain = IpPseudonymizer(CURRENT)
    assert plain.digests(PACKED) == (plain.digest(PACKED),)


def test_a_hash_stored_before_a_rotation_still_matches() -> None:
    stored = IpPseudonymizer(OLDER).pseudonymize("198.51.100.9")[0]  # a blacklist entry
    after = IpPseudonymizer(CURRENT, previous=[OLDER])
    packed, _ = after.parse("198.51.100.9")
    assert stored != after.digest(packed)
    assert stored in after.digests(packed)
    assert IpPseudonymizer(CURRENT).pseudonymize("198.51.100.9")[0] not in (stored,)


def test_bad_previous_keys_are_refused() -> None:
    for bad, message in ((b"short", "5 bytes"), (b"x" * 65, "65 bytes")):
        with pytest.raises(InvalidInput, match=message):
            IpPseudonymizer(CURRENT, previous=[OLDER, bad])
    with pytest.raises(InvalidInput, match="#0 must be bytes"):
        IpPseudonymizer(CURRENT, previous=["not bytes"])  # type: ignore[list-item]
