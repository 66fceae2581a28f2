"""Where deliveries may go: the destination guard and its table of refused ranges.

``check_destination(url)`` returns the addresses a delivery may connect to,
or raises ``ForbiddenDestination``. It judges what will be connected to, the
same way on every Python version (the refused ranges are written here, as
data, not taken from ``ipaddress``'s ``is_global``, whose tables changed
between 3.11 and 3.13):

1. **The host as a resolver sees it.** The name is IDNA-encoded as the
   system resolver encodes it (so ``①②⑦.0.0.1`` is ``127.0.0.1``). A host
   that ends in a number is an IPv4 address, and only its canonical
   ``a.b.c.d`` spelling is accepted: ``127.1``, ``0x7f.1``, ``2130706433``,
   ``0177.0.0.1`` are refused whatever they mean. A bracketed host must be an
   IPv6 literal, without a zone (``%eth0``). Literals are judged as they are,
   with no lookup. Names reserved for local use (``localhost``, ``*.local``,
   ``*.internal``, ``*.home.arpa``) are refused before any lookup.
2. **Every address.** A name's addresses come from the resolver (the
   system's, or an injected one); each must be an IP address and, unless
   ``allow_private``, public. IPv4 embedded in IPv6 is unwrapped and judged
   as what the packets reach: IPv4-mapped, IPv4-compatible, IPv4-translated,
   NAT64 (``64:ff9b::/96``), 6to4 (``2002::/16``) and Teredo (``2001::/32``:
   its server and its de-obfuscated client). Otherwise an IPv6 address must
   lie in the global unicast space ``2000::/3`` outside the refused ranges.
   The most specific range an address falls in decides.

``REFUSED_V4``, ``REFUSED_V6`` and ``EMBEDDED_V4`` are the tables (from the
IANA IPv4 and IPv6 Special-Purpose Address Registries, plus multicast, the
reserved 240.0.0.0/4, site-local and the IPv6 address space outside
``2000::/3``); ``docs/webhooks.md`` lists the spellings and their verdicts.
The dispatchers send each request to the first address returned, with the
name in ``Host`` and SNI, so a DNS answer that changes after the check
cannot move a delivery. They call ``resolve_destination``, which tells a name
that does not resolve now (``Unresolved``: retried like a refused connection,
as a receiver's DNS outage is its outage) from a destination no delivery may
go to (``ForbiddenDestination``: the subscription is disabled).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Final, NamedTuple
from urllib.parse import urlsplit

from affiliate_sdk.errors import ForbiddenDestination

__all__ = [
    "EMBEDDED_V4",
    "GLOBAL_UNICAST",
    "LOCAL_NAMES",
    "REFUSED_V4",
    "REFUSED_V6",
    "Resolver",
    "Unresolved",
    "ascii_host",
    "check_destination",
    "refusal",
    "resolve_destination",
]

#: Resolves ``(host, port)`` to address strings; raises ``OSError`` when it cannot.
Resolver = Callable[[str, int], Sequence[str]]


def _v4(*rows: tuple[str, str]) -> tuple[tuple[IPv4Network, str], ...]:
    return tuple((IPv4Network(net), what) for net, what in rows)


def _v6(*rows: tuple[str, str]) -> tuple[tuple[IPv6Network, str], ...]:
    return tuple((IPv6Network(net), what) for net, what in rows)


#: IPv4 ranges no delivery goes to, and what each is.
REFUSED_V4: Final = _v4(
    ("0.0.0.0/8", "this network, unspecified (RFC 791, 1122)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space, carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local, where cloud metadata lives (RFC 3927)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)"),
    ("192.88.99.0/24", "6to4 relay anycast, deprecated (RFC 7526)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved for future use (RFC 1112)"),
    ("255.255.255.255/32", "limited broadcast (RFC 919)"),
)

#: IPv6 ranges no delivery goes to, and what each is (inside or outside ``2000::/3``).
REFUSED_V6: Final = _v6(
    ("::/128", "unspecified (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("100:0:0:1::/64", "dummy prefix (RFC 9780)"),
    ("2001::/23", "IETF protocol assignments (RFC 2928)"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:10::/28", "ORCHID, deprecated (RFC 4843)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "SRv6 SIDs (RFC 9602)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("fec0::/10", "site-local, deprecated (RFC 3879)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)

#: The IPv6 space a public address lies in; the rest is reserved or special (IANA).
GLOBAL_UNICAST: Final = IPv6Network("2000::/3")

_LOW32: Final = 0xFFFFFFFF


def _last32(address: IPv6Address) -> tuple[IPv4Address, ...]:
    return (IPv4Address(int(address) & _LOW32),)


def _sixtofour(address: IPv6Address) -> tuple[IPv4Address, ...]:
    return (IPv4Address((int(address) >> 80) & _LOW32),)


def _teredo(address: IPv6Address) -> tuple[IPv4Address, ...]:
    server = IPv4Address((int(address) >> 64) & _LOW32)
    client = IPv4Address(~int(address) & _LOW32)  # stored obfuscated: every bit flipped
    return (server, client)


_Extract = Callable[[IPv6Address], tuple[IPv4Address, ...]]

#: IPv6 ranges that carry IPv4 addresses, what each is, and how to take them out.
EMBEDDED_V4: Final[tuple[tuple[IPv6Network, str, _Extract], ...]] = (
    (IPv6Network("::ffff:0:0/96"), "IPv4-mapped", _last32),
    (IPv6Network("::/96"), "IPv4-compatible (deprecated)", _last32),
    (IPv6Network("::ffff:0:0:0/96"), "IPv4-translated (RFC 2765)", _last32),
    (IPv6Network("64:ff9b::/96"), "NAT64 (RFC 6052)", _last32),
    (IPv6Network("2002::/16"), "6to4 (RFC 3056)", _sixtofour),
    (IPv6Network("2001::/32"), "Teredo (RFC 4380)", _teredo),
)

#: Names reserved for local use (RFC 6761, 6762, 8375; ICANN's .internal), refused unresolved.
LOCAL_NAMES: Final = ("localhost", "local", "internal", "home.arpa")

_NUMBER: Final = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)
_LABEL: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_MAX_NAME: Final = 253
_AT_MOST: Final = (0, 0xFFFFFFFF, 0xFFFFFF, 0xFFFF, 0xFF)  # the last part's limit, by part count


def refusal(address: IPv4Address | IPv6Address) -> str | None:
    """Why no delivery may go to ``address``, or None when it is public."""
    if isinstance(address, IPv4Address):
        return _refused_v4(address)
    best: tuple[int, str | None] = (-1, None)
    for network, what in REFUSED_V6:
        if address in network and network.prefixlen > best[0]:
            best = (network.prefixlen, what)
    for network, what, extract in EMBEDDED_V4:
        if address in network and network.prefixlen > best[0]:
            best = (network.prefixlen, _embedded(what, extract(address)))
    if best[0] >= 0:
        return best[1]
    if address not in GLOBAL_UNICAST:
        return "outside the global unicast space 2000::/3 (reserved by the IETF)"
    return None


def _refused_v4(address: IPv4Address) -> str | None:
    best: tuple[int, str | None] = (-1, None)
    for network, what in REFUSED_V4:
        if address in network and network.prefixlen > best[0]:
            best = (network.prefixlen, what)
    return best[1]


def _embedded(what: str, inner: tuple[IPv4Address, ...]) -> str | None:
    """Why an IPv6 address of kind ``what`` is refused: the first refused IPv4 it carries."""
    for v4 in inner:
        why = _refused_v4(v4)
        if why is not None:
            return f"{what} wrapping {v4}: {why}"
    return None


def ascii_host(hostname: str) -> str:
    """``hostname`` as the system resolver sees it (IDNA, as ``socket`` encodes it).

    Raises ``UnicodeError`` for a name that cannot be encoded (an empty or
    too long label).
    """
    if hostname.isascii():
        return hostname.lower()
    return hostname.encode("idna").decode("ascii").lower()


def _system_resolver(host: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class Unresolved(NamedTuple):
    """The name does not resolve now (a DNS outage is an outage: worth trying again)."""

    reason: str


def check_destination(
    url: str, *, allow_private: bool = False, resolver: Resolver | None = None
) -> list[str]:
    """The addresses a delivery to ``url`` may connect to, or ``ForbiddenDestination``.

    A literal host is judged as it is; a name is resolved (with ``resolver``,
    or the system's) and every address it has must be public, unless
    ``allow_private`` (for a host's own internal receivers: then only the
    spelling rules apply). A name that does not resolve is refused too.
    """
    found = resolve_destination(url, allow_private=allow_private, resolver=resolver)
    if isinstance(found, Unresolved):
        raise ForbiddenDestination(url, found.reason)
    return found


def resolve_destination(
    url: str, *, allow_private: bool = False, resolver: Resolver | None = None
) -> list[str] | Unresolved:
    """``check_destination``, telling a name that does not resolve (``Unresolved``) from
    a destination no delivery may go to (``ForbiddenDestination``).

    The dispatchers retry the first as they retry a refused connection, and
    disable a subscription for the second.
    """
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ForbiddenDestination(url, "the port is not a number from 0 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForbiddenDestination(url, "not an http(s) URL with a host")
    literal = _literal(url, parts.hostname, bracketed="[" in parts.netloc)
    if literal is not None:
        addresses = [literal]
    else:
        name = _name(url, parts.hostname, allow_private=allow_private)
        resolved = _resolve(url, name, port, resolver or _system_resolver)
        if isinstance(resolved, Unresolved):
            return resolved
        addresses = resolved
    if not allow_private:
        for address in addresses:
            why = refusal(address)
            if why is not None:
                said = f"{parts.hostname} resolves to " if literal is None else ""
                raise ForbiddenDestination(url, f"{said}non-public address {address}: {why}")
    return [_connected(address) for address in addresses]


def _connected(address: IPv4Address | IPv6Address) -> str:
    """The address to connect to: an IPv4-mapped one as the IPv4 address it maps."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _literal(url: str, hostname: str, *, bracketed: bool) -> IPv4Address | IPv6Address | None:
    """The address a literal host spells, None for a name; refuses unusual spellings."""
    if bracketed:
        if "%" in hostname:
            raise ForbiddenDestination(url, "an address with a zone (%...) names a local link")
        try:
            return IPv6Address(hostname)
        except ValueError:
            raise ForbiddenDestination(url, f"[{hostname}] is not an IPv6 address") from None
    try:
        host = ascii_host(hostname)
    except UnicodeError:
        raise ForbiddenDestination(url, f"{hostname!r} is not a valid host name") from None
    if not _NUMBER.fullmatch(host.rstrip(".").rpartition(".")[2] or "."):
        return None
    meant = _inet_aton(host)
    if meant is None:
        raise ForbiddenDestination(url, f"{hostname} ends in a number but is no IPv4 address")
    if host != str(meant):
        raise ForbiddenDestination(
            url, f"{hostname} is an unusual spelling of {meant}: write it as {meant}"
        )
    return meant


def _inet_aton(host: str) -> IPv4Address | None:
    """What ``inet_aton`` reads ``host`` as (1-4 decimal, 0x hex or 0 octal parts), if any."""
    parts = host.removesuffix(".").split(".")
    if len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        if not _NUMBER.fullmatch(part):
            return None
        if part[:2].lower() == "0x":
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if any(digit in "89" for digit in part):
                return None
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *head, last = numbers
    if any(n > 0xFF for n in head) or last > _AT_MOST[len(parts)]:
        return None
    value = last
    for at, n in enumerate(head):
        value |= n << (24 - 8 * at)
    return IPv4Address(value)


def _name(url: str, hostname: str, *, allow_private: bool) -> str:
    """The name to resolve; refuses names reserved for local use unless ``allow_private``."""
    name = ascii_host(hostname)
    bare = name.removesuffix(".")
    if len(bare) > _MAX_NAME or not all(_LABEL.fullmatch(label) for label in bare.split(".")):
        raise ForbiddenDestination(url, f"{hostname!r} is not a valid host name")
    if not allow_private:
        for local in LOCAL_NAMES:
            if bare == local or bare.endswith("." + local):
                raise ForbiddenDestination(url, f"{hostname} is a name for local use (.{local})")
    return name


def _resolve(
    url: str, name: str, port: int, resolver: Resolver
) -> list[IPv4Address | IPv6Address] | Unresolved:
    try:
        answers = list(resolver(name, port))
    except OSError as exc:
        return Unresolved(f"the host does not resolve ({exc})")
    except UnicodeError:
        raise ForbiddenDestination(url, f"{name!r} is not a valid host name") from None
    if not answers:
        return Unresolved("the host does not resolve (no address)")
    addresses: list[IPv4Address | IPv6Address] = []
    for answer in answers:
        if isinstance(answer, str) and "%" in answer:
            raise ForbiddenDestination(
                url, f"{name} resolves to {answer}, whose zone names a local link"
            )
        try:
            addresses.append(ip_address(answer if isinstance(answer, str) else ""))
        except ValueError:
            raise ForbiddenDestination(
                url, f"the resolver answered {answer!r}, not an IP address"
            ) from None
    return addresses
