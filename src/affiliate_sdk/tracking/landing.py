"""Which landing URLs a tracking link may redirect to.

A landing URL is accepted only when all of these hold:

* it is plain printable ASCII: no control characters, spaces or backslashes,
  and no non-ASCII characters at all (internationalised host names must be
  written in their ``xn--`` form and non-ASCII path characters percent-encoded),
  which shuts out full-width dots and every other look-alike;
* it starts with ``https://`` (any letter case) and has a host;
* the authority has no user-info (``user@host``) and at most a numeric port;
* the host is a DNS name (labels of ``a-z 0-9 -``, no empty label, no
  trailing dot) equal to one of the campaign's landing domains, or under a
  ``*.example.com`` wildcard at a dot boundary (any depth of subdomain,
  not the bare ``example.com`` itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from affiliate_sdk.errors import ForbiddenLanding

__all__ = ["MAX_URL_LENGTH", "LandingPolicy", "check_landing_url", "normalize_domain_pattern"]

MAX_URL_LENGTH: Final = 2048
_PRINTABLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")
_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_MEMO_LIMIT: Final = 4096


def _valid_hostname(host: str) -> bool:
    return 0 < len(host) <= 253 and all(_LABEL.fullmatch(label) for label in host.split("."))


def normalize_domain_pattern(pattern: str) -> str:
    """Check a campaign landing domain (``shop.example.com`` or ``*.example.com``)."""
    if not isinstance(pattern, str):
        raise ValueError("a landing domain must be a string")
    lowered = pattern.strip().lower()
    name = lowered[2:] if lowered.startswith("*.") else lowered
    if not _PRINTABLE_ASCII.fullmatch(lowered) or not _valid_hostname(name):
        raise ValueError(
            f"{pattern!r} is not a host name or '*.' wildcard "
            "(ASCII only, xn-- form for international names, no scheme, port or path)"
        )
    return lowered


def _host_of(url: str) -> str:
    """The lower-cased host of an ``https://`` URL, or raise ForbiddenLanding."""
    if len(url) > MAX_URL_LENGTH:
        raise ForbiddenLanding(url, f"longer than {MAX_URL_LENGTH} characters")
    if not _PRINTABLE_ASCII.fullmatch(url):
        raise ForbiddenLanding(
            url, "only printable ASCII is allowed (no spaces, control or non-ASCII characters)"
        )
    if "\\" in url:
        raise ForbiddenLanding(url, "backslashes are not allowed")
    if url[:8].lower() != "https://":
        raise ForbiddenLanding(url, "only https:// URLs are allowed")
    rest = url[8:]
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1 and at < end:
            end = at
    authority = rest[:end]
    if "@" in authority:
        raise ForbiddenLanding(url, "user-info (user@host) is not allowed")
    host, colon, port = authority.partition(":")
    if colon and not (_PORT.fullmatch(port) and 0 < int(port) < 65536):
        raise ForbiddenLanding(url, "the port must be a number from 1 to 65535")
    host = host.lower()
    if not _valid_hostname(host):
        raise ForbiddenLanding(url, f"{host!r} is not a valid host name")
    return host


def _host_allowed(host: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def check_landing_url(url: str, domains: Iterable[str]) -> str:
    """Return ``url`` if it may be a landing page for ``domains``; else raise."""
    host = _host_of(url)
    if not _host_allowed(host, domains):
        raise ForbiddenLanding(url, f"host {host!r} is not one of the campaign's landing domains")
    return url


class LandingPolicy:
    """``check_landing_url`` for one campaign's domains, remembering verdicts.

    The check is pure, so a bounded memo of recent URLs makes repeat clicks
    on the same landing page cost a dictionary lookup.
    """

    __slots__ = ("_domains", "_memo")

    def __init__(self, domains: Iterable[str]) -> None:
        self._domains = tuple(domains)
        self._memo: dict[str, str | None] = {}

    def check(self, url: str) -> None:
        memo = self._memo
        reason = memo.get(url, "")
        if reason is None:
            return
        if reason == "":
            try:
                check_landing_url(url, self._domains)
            except ForbiddenLanding as exc:
                reason = exc.reason
            else:
                reason = None
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[url] = reason
            if reason is None:
                return
        raise ForbiddenLanding(url, reason)
