"""Signed tracking links: the token format, signing and verification.

A link is ``<redirect base>/<token>``. The token is three dot-separated parts::

    <key id> . <payload, base64url without padding> . <tag, base64url without padding>

The tag is HMAC-SHA256 under the named key over the exact ASCII bytes of
``<key id>.<payload>``, truncated to 128 bits. Verification checks the tag over
the bytes as received, in constant time, before decoding anything, and only
then reads the payload and checks expiry.

The payload is UTF-8 fields joined by the byte ``0xFF`` (which never occurs in
UTF-8, so no field needs escaping)::

    version, affiliate id, campaign id, landing URL, issued-at, expires-at,
    merchant id, sub1, sub2, sub3, sub4, sub5, then free-form sub-id name/value pairs

(version 2; version 1 tokens, without the merchant id, still verify: their
campaign is then looked up by its id alone).

Times are whole POSIX seconds; an empty expires-at means the link never
expires; an empty sub-id is absent. A link is valid from its issue time, less
``LINK_CLOCK_SKEW`` (the clocks of a host's servers disagree by a little), while
``now < expires_at``; earlier it is refused as ``MalformedLink``.

The token names no host: the platform serves the redirect on any of its domains
(each merchant's own, a shared one, one added later), so the same token works
under each of them. ``check_link_base`` is the optional check that a link sits
under one given redirect base.
"""

from __future__ import annotations

import binascii
import math
import re
from binascii import Error as BinasciiError
from binascii import a2b_base64
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from hmac import compare_digest
from typing import Final, NamedTuple

from affiliate_sdk._validation import check_identifier
from affiliate_sdk.clock import from_timestamp
from affiliate_sdk.errors import (
    InvalidInput,
    InvalidSignature,
    LinkExpired,
    MalformedLink,
    UnknownKey,
)

from .keys import Keyring, LinkKey

__all__ = [
    "DEFAULT_REDIRECT_BASE",
    "LATEST_EXPIRY_TS",
    "LINK_CLOCK_SKEW",
    "MAX_EXTRA_SUB_IDS",
    "MAX_SUB_ID_LENGTH",
    "SUB_ID_SLOTS",
    "LinkClaims",
    "VerifiedLinks",
    "check_link_base",
    "decode_sub_ids",
    "decode_token",
    "encode_sub_ids",
    "encode_token",
]

#: Where links point unless the host configures its own redirect endpoint.
DEFAULT_REDIRECT_BASE: Final = "https://go.invalid/r"
#: The five positional sub-ids every network understands.
SUB_ID_SLOTS: Final = ("sub1", "sub2", "sub3", "sub4", "sub5")
MAX_SUB_ID_LENGTH: Final = 512
MAX_EXTRA_SUB_IDS: Final = 20
#: How far a link's issue time may lie ahead of the verifying host's clock: the servers
#: of one host disagree by seconds, so a link signed on one whose clock runs ahead still
#: verifies at once on another. A link issued later than this is not valid yet
#: (``AllianceSettings.link_clock_skew`` overrides it).
LINK_CLOCK_SKEW: Final = timedelta(minutes=5)
#: The latest expiry a link may have: 9999-12-31T23:59:59Z, the last second a
#: ``datetime`` holds (``LinkClaims.expires_at`` must be able to show it).
LATEST_EXPIRY_TS: Final = 253_402_300_799
_SKEW_S: Final = LINK_CLOCK_SKEW.total_seconds()

_VERSION: Final = "2"
_V2_HEAD: Final = b"2\xff"
_V1_HEAD: Final = b"1\xff"
_SEP: Final = b"\xff"
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")
_EXTRA_NAME: Final = re.compile(r"[A-Za-z0-9_]{1,32}")


class LinkClaims(NamedTuple):
    """What a verified link says. ``link_id`` is unique per signed link.

    A named tuple, so verification allocates one object. ``sub_fields`` holds
    the sub-ids as signed (UTF-8, 0xFF-separated: sub1..sub5, then name/value
    pairs); ``sub_ids`` decodes them on access.
    """

    key_id: str
    link_id: str
    affiliate_id: str
    campaign_id: str
    landing_url: str
    issued_at_ts: int
    expires_at_ts: int | None
    sub_fields: bytes = b"\xff\xff\xff\xff"
    merchant_id: str | None = None  # None in version 1 tokens

    @property
    def sub_ids(self) -> dict[str, str]:
        """Sub-ids with a value: ``sub1``..``sub5`` first, then free-form ones."""
        return decode_sub_ids(self.sub_fields)

    @property
    def issued_at(self) -> datetime:
        return from_timestamp(self.issued_at_ts)

    @property
    def expires_at(self) -> datetime | None:
        return None if self.expires_at_ts is None else from_timestamp(self.expires_at_ts)


def encode_sub_ids(sub_ids: Mapping[str, str]) -> bytes:
    """Validate sub-ids and encode them as they are signed into a token."""
    positional = [""] * len(SUB_ID_SLOTS)
    extra: list[tuple[str, str]] = []
    for name, value in sub_ids.items():
        text = _sub_value(name, value)
        if name in SUB_ID_SLOTS:
            positional[SUB_ID_SLOTS.index(name)] = text
        elif isinstance(name, str) and _EXTRA_NAME.fullmatch(name):
            if text:
                extra.append((name, text))
        else:
            raise InvalidInput(
                f"sub-id name {name!r}: use sub1..sub5 or 1-32 characters of A-Z a-z 0-9 _"
            )
    if len(extra) > MAX_EXTRA_SUB_IDS:
        raise InvalidInput(f"at most {MAX_EXTRA_SUB_IDS} free-form sub-ids are allowed")
    for name, text in sorted(extra):
        positional += (name, text)
    try:
        return _SEP.join(field.encode("utf-8") for field in positional)
    except UnicodeEncodeError:
        raise InvalidInput("sub-ids must be valid Unicode text (no lone surrogates)") from None


def decode_sub_ids(encoded: bytes) -> dict[str, str]:
    """The sub-id mapping for ``encoded`` (as made by ``encode_sub_ids``); ``MalformedLink``
    for bytes that no ``encode_sub_ids`` made."""
    try:
        fields = [part.decode("utf-8") for part in encoded.split(_SEP)]
    except UnicodeDecodeError:
        raise MalformedLink("the sub-ids do not decode") from None
    found = {name: value for name, value in zip(SUB_ID_SLOTS, fields[:5], strict=False) if value}
    for at in range(5, len(fields) - 1, 2):
        found[fields[at]] = fields[at + 1]
    return found


def _b64(raw: bytes) -> bytes:
    return binascii.b2a_base64(raw, newline=False).rstrip(b"=").translate(_TO_URLSAFE)


def _sub_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"sub-id {name!r} must be a string, got {type(value).__name__}")
    if len(value) > MAX_SUB_ID_LENGTH:
        raise InvalidInput(f"sub-id {name!r} is longer than {MAX_SUB_ID_LENGTH} characters")
    return value


def encode_token(
    key: LinkKey,
    *,
    affiliate_id: str,
    campaign_id: str,
    landing_url: str,
    sub_ids: Mapping[str, str],
    issued_at_ts: int,
    expires_at_ts: int | None,
    merchant_id: str,
) -> str:
    """Sign a token. Arguments are validated; the landing URL must already be checked."""
    check_identifier("affiliate_id", affiliate_id)
    check_identifier("campaign_id", campaign_id)
    check_identifier("merchant_id", merchant_id)
    head = [_VERSION, affiliate_id, campaign_id, landing_url, str(issued_at_ts)]
    head.append("" if expires_at_ts is None else str(expires_at_ts))
    head.append(merchant_id)
    payload = _SEP.join([*(field.encode("utf-8") for field in head), encode_sub_ids(sub_ids)])
    signed = key.key_id.encode("ascii") + b"." + _b64(payload)
    return (signed + b"." + key.tag_b64(signed)).decode("ascii")


def expiry_from(issued_at: float, expires_in_seconds: float | None) -> int | None:
    """Whole-second expiry that leaves the link valid for at least the given span."""
    if expires_in_seconds is None:
        return None
    if expires_in_seconds <= 0:
        raise InvalidInput("expires_in must be positive")
    if issued_at + expires_in_seconds > LATEST_EXPIRY_TS:
        raise InvalidInput("expires_in reaches past the year 9999; leave it out for no expiry")
    return math.ceil(issued_at + expires_in_seconds)


def decode_token(keyring: Keyring, link: str, now_ts: float, skew_s: float = _SKEW_S) -> LinkClaims:
    """Verify a link (or its bare token) and return its claims, or raise a ``LinkError``.

    The token is the link's last path segment; a query or fragment appended to
    the link (``?utm_source=...``) is ignored. A link issued more than
    ``skew_s`` seconds after ``now_ts`` is not valid yet (``MalformedLink``).
    """
    try:
        if "?" in link or "#" in link:
            link = link.partition("?")[0].partition("#")[0]
        raw = link.rpartition("/")[2].encode("ascii")
        key_id, body, tag = raw.split(b".")
    except (UnicodeEncodeError, AttributeError):
        raise MalformedLink("the token is not ASCII text") from None
    except ValueError:
        raise MalformedLink("expected <key id>.<payload>.<tag>") from None
    key = keyring.by_ascii.get(key_id)
    if key is None:
        raise UnknownKey(key_id.decode("ascii"))
    if not compare_digest(key.tag_b64(raw[: len(raw) - len(tag) - 1]), tag):
        raise InvalidSignature(key.key_id)
    # Authentic from here on: the bytes are ones this keyring signed.
    try:
        payload = a2b_base64(body.translate(_FROM_URLSAFE) + b"==")
        if payload[:2] == _V2_HEAD:
            fields = payload.split(_SEP, 7)
            if len(fields) != 8:
                raise ValueError("unknown layout")
            merchant: str | None = fields[6].decode("utf-8")
            subs = fields[7]
        elif payload[:2] == _V1_HEAD:
            fields = payload.split(_SEP, 6)
            if len(fields) != 7:
                raise ValueError("unknown layout")
            merchant, subs = None, fields[6]
        else:
            raise ValueError("unknown layout")
        expires = int(fields[5]) if fields[5] else None
        issued = int(fields[4])
        if not 0 <= issued <= LATEST_EXPIRY_TS or not 0 <= (expires or 0) <= LATEST_EXPIRY_TS:
            raise ValueError("a time out of range")
        # The sub-ids decode on access, so they must be able to: each part (an ASCII byte
        # in the separator's place ends any multi-byte sequence) is UTF-8.
        subs.replace(_SEP, b"\0").decode("utf-8")
        claims = _new_claims(
            (
                key.key_id,
                tag.decode("ascii"),
                fields[1].decode("utf-8"),
                fields[2].decode("utf-8"),
                fields[3].decode("utf-8"),
                issued,
                expires,
                subs,
                merchant,
            )
        )
    except (ValueError, BinasciiError):
        raise MalformedLink("the payload does not decode") from None
    return _in_time(claims, now_ts, skew_s)


def _in_time(claims: LinkClaims, now_ts: float, skew_s: float) -> LinkClaims:
    """``claims`` if the link is valid at ``now_ts``: not expired, issued no later than
    ``skew_s`` after it."""
    expires = claims.expires_at_ts
    if expires is not None and now_ts >= expires:
        raise LinkExpired(from_timestamp(expires))
    if now_ts + skew_s < claims.issued_at_ts:
        raise MalformedLink(_not_yet(claims.issued_at_ts, now_ts, skew_s))
    return claims


class VerifiedLinks:
    """The claims of links one keyring has verified, by the link as it was given.

    A link clicked again needs no second signature check and decode: its bytes are the
    ones that verified, and a ``Keyring`` never changes. Its times are checked again at
    every use (``decode_token``'s expiry and not-before rules). Only links that verified
    are held, at most ``max_links`` (then all are let go at once, which keeps the holder
    free of locks: a dict's single operations are atomic).
    """

    __slots__ = ("_claims", "_keyring", "_max")

    def __init__(self, keyring: Keyring, max_links: int = 4096) -> None:
        self._keyring = keyring
        self._max = max_links
        self._claims: dict[str, LinkClaims] = {}

    def claims(self, link: str, now_ts: float, skew_s: float = _SKEW_S) -> LinkClaims:
        """What ``decode_token(keyring, link, now_ts, skew_s)`` returns or raises."""
        known = self._claims.get(link)
        if known is not None:
            return _in_time(known, now_ts, skew_s)
        claims = decode_token(self._keyring, link, now_ts, skew_s)
        if len(self._claims) >= self._max:
            self._claims.clear()
        self._claims[link] = claims
        return claims


def _not_yet(issued_at_ts: int, now_ts: float, skew_s: float) -> str:
    issued = from_timestamp(issued_at_ts).isoformat()
    return (
        f"the link was issued at {issued}, {issued_at_ts - now_ts:.0f} s after this host's "
        f"clock says it is now (more than the {skew_s:.0f} s allowed): it is not valid yet"
    )


def check_link_base(link: str, redirect_base: str) -> None:
    """``MalformedLink`` unless ``link`` is ``<redirect_base>/<token>`` (a query or fragment
    after it is ignored): for hosts that accept links under one redirect base only.

    Tokens name no host (see the module's docstring), so ``decode_token`` accepts
    one under any; this is the optional, stricter check.
    """
    path = link.partition("?")[0].partition("#")[0]
    if path.rpartition("/")[0] != redirect_base.rstrip("/"):
        raise MalformedLink(f"the link is not under the redirect base {redirect_base!r}")


_new_claims: Final = partial(tuple.__new__, LinkClaims)
