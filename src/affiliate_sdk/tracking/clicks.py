"""Pure pieces of click tracking: the redirect, the visitor cookie, IP pseudonyms."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final, NamedTuple

from affiliate_sdk.clock import from_timestamp
from affiliate_sdk.errors import InvalidInput

if TYPE_CHECKING:
    from affiliate_sdk.models import Verdict

    from .links import LinkClaims

__all__ = [
    "DEFAULT_CLICK_PARAM",
    "DEFAULT_VISITOR_COOKIE",
    "MAX_PSEUDONYM_KEY_BYTES",
    "MIN_PSEUDONYM_KEY_BYTES",
    "Click",
    "ClickRow",
    "IpPseudonymizer",
    "VisitorCookie",
    "append_click_id",
    "referrer_host",
]

#: Query parameter that carries the click id to the landing page.
DEFAULT_CLICK_PARAM: Final = "aff_click_id"
#: Name of the first-party cookie that holds the visitor id.
DEFAULT_VISITOR_COOKIE: Final = "aff_vid"
#: Shortest pseudonym key accepted (as a previous key; the facade checks the current one).
MIN_PSEUDONYM_KEY_BYTES: Final = 16
#: Longest pseudonym key: BLAKE2b's key limit.
MAX_PSEUDONYM_KEY_BYTES: Final = 64
_V4_MAPPED: Final = b"\0" * 10 + b"\xff\xff"
_V6_KEEP: Final = 6  # /48
_V6_ZEROS: Final = b"\0" * (16 - _V6_KEEP)


class VisitorCookie(NamedTuple):
    """The first-party cookie the host sets so later orders find the visitor.

    Always ``Secure; HttpOnly; SameSite=Lax; Path=/``; ``max_age`` is the
    campaign's attribution window in seconds.
    """

    name: str
    value: str
    max_age: int
    secure: bool = True
    http_only: bool = True
    same_site: str = "Lax"
    path: str = "/"

    def header(self) -> str:
        """The ``Set-Cookie`` header value."""
        parts = [f"{self.name}={self.value}", f"Max-Age={self.max_age}", f"Path={self.path}"]
        if self.secure:
            parts.append("Secure")
        if self.http_only:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self.same_site}")
        return "; ".join(parts)


class Click(NamedTuple):
    """What ``track_click`` returns: where to send the visitor and what to remember.

    A blocked click (``verdict.decision == "block"``) still has a redirect,
    so no person is stranded, but it never earns commission. ``reused`` is
    true when the same visitor clicked the same link within the dedupe window
    and the earlier click was returned instead of a new one.
    """

    click_id: str
    visitor_id: str
    redirect_url: str
    verdict: Verdict
    cookie: VisitorCookie
    claims: LinkClaims
    clicked_at_ms: int
    reused: bool

    @property
    def clicked_at(self) -> datetime:
        return from_timestamp(self.clicked_at_ms / 1000)


def append_click_id(landing_url: str, param: str, click_id: str) -> str:
    """``landing_url`` with ``param=click_id`` added to its query, before any fragment."""
    base, hash_, fragment = landing_url.partition("#")
    if "?" not in base:
        sep = "?"
    elif base.endswith(("?", "&")):
        sep = ""
    else:
        sep = "&"
    return f"{base}{sep}{param}={click_id}{hash_}{fragment}"


class ClickRow(NamedTuple):
    """A stored click. No raw IP: a keyed hash and the truncated network only."""

    click_id: str
    visitor_id: str
    link_id: str
    affiliate_id: str
    campaign_id: str
    merchant_id: str
    landing_url: str
    sub_fields: bytes
    clicked_at_ms: int
    ip_hash: str | None
    ip_network: str | None
    ua_hash: str | None
    referrer_host: str | None
    decision: str
    verdict_json: str
    country: str | None = None  # as the host's geo lookup gave it, for geo-mismatch checks


class IpPseudonymizer:
    """Keyed hashes and networks of IP addresses; the raw address is never kept.

    ``pseudonymize(ip)`` returns ``(hash, network)``: the hash (BLAKE2b-128
    keyed with the alliance's pseudonym key, over the packed address) lets
    fraud rules recognise the same address again, the network (/24 for IPv4,
    /48 for IPv6) lets them count per network, and neither gives the address
    back. IPv4-mapped IPv6 addresses count as their IPv4 address.

    ``previous`` are older pseudonym keys, newest first. New hashes always use
    ``key``; ``digests(data)`` also gives the hash under each previous key, so
    a blacklist entry or a customer's device stored before a pseudonym-key
    rotation still matches. Drop a previous key once nothing stored under it
    matters any more.
    """

    __slots__ = ("_keyed", "_previous")

    def __init__(self, key: bytes, *, previous: Sequence[bytes] = ()) -> None:
        self._keyed = hashlib.blake2b(key=key, digest_size=16).copy
        self._previous = tuple(
            hashlib.blake2b(key=_previous_key(i, k), digest_size=16).copy
            for i, k in enumerate(previous)
        )

    def digest(self, data: bytes) -> str:
        """The keyed BLAKE2b-128 of ``data``, as hex (also used for user agents)."""
        keyed = self._keyed()
        keyed.update(data)
        return keyed.hexdigest()

    def digests(self, data: bytes) -> tuple[str, ...]:
        """``digest(data)`` first, then the same hash under each previous key, in order.

        Match a stored hash against all of them to recognise values hashed
        before the current key was introduced.
        """
        found = [self.digest(data)]
        for keyed_copy in self._previous:
            keyed = keyed_copy()
            keyed.update(data)
            found.append(keyed.hexdigest())
        return tuple(found)

    def pseudonymize(self, ip: str) -> tuple[str, str]:
        """``(hash, network)`` of ``ip`` under the current key; ``InvalidInput`` if not an IP."""
        packed, network = self.parse(ip)
        return self.digest(packed), network

    @staticmethod
    def parse(ip: str) -> tuple[bytes, str]:
        """The packed address (4 bytes for IPv4, IPv4-mapped included; 16 for IPv6) and
        its network; ``InvalidInput`` for anything else."""
        try:
            if ":" not in ip:
                packed = socket.inet_pton(socket.AF_INET, ip)  # strict dotted quad
                network = ip.rpartition(".")[0] + ".0/24"
            else:
                packed = socket.inet_pton(socket.AF_INET6, ip)
                if packed[:12] == _V4_MAPPED:
                    packed = packed[12:]
                    network = f"{packed[0]}.{packed[1]}.{packed[2]}.0/24"
                else:
                    prefix = socket.inet_ntop(socket.AF_INET6, packed[:_V6_KEEP] + _V6_ZEROS)
                    network = prefix + "/48"
        except (OSError, TypeError, ValueError):
            raise InvalidInput(f"ip {ip!r} is not an IPv4 or IPv6 address") from None
        return packed, network


def _previous_key(index: int, key: object) -> bytes:
    """``key`` if it can be a previous pseudonym key, else ``InvalidInput`` naming it."""
    if not isinstance(key, bytes | bytearray):
        raise InvalidInput(f"previous pseudonym key #{index} must be bytes")
    if not MIN_PSEUDONYM_KEY_BYTES <= len(key) <= MAX_PSEUDONYM_KEY_BYTES:
        raise InvalidInput(
            f"previous pseudonym key #{index} is {len(key)} bytes; "
            f"{MIN_PSEUDONYM_KEY_BYTES} to {MAX_PSEUDONYM_KEY_BYTES} required"
        )
    return bytes(key)


def referrer_host(referrer: str | None) -> str | None:
    """Only the host of a referrer is kept: its path and query may carry personal data."""
    if not referrer:
        return None
    _, sep, rest = referrer.partition("://")
    if not sep:
        return None
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    return host.lower()[:253] or None
