"""The destination guard: every spelling in the table of docs/webhooks.md, and how it is used."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import NamedTuple

import pytest

from affiliate_sdk import ForbiddenDestination
from affiliate_sdk.webhooks.destinations import (
    REFUSED_V4,
    REFUSED_V6,
    check_destination,
    refusal,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
_TICKED = re.compile(r"`([^`]+)`")


class Row(NamedTuple):
    """One row of the doc's table: a destination, what the resolver answers, the verdict."""

    url: str
    answers: list[str] | None  # None: no lookup may be made; [] answers nothing
    fails: bool  # the resolver raises
    verdict: str
    why: str


def _rows() -> list[Row]:
    text = DOC.read_text()
    section = text[text.index("### What the destination check refuses") :]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        destination, answers, verdict, why = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append(
            Row(
                url=_TICKED.fullmatch(destination).group(1),  # type: ignore[union-attr]
                answers=None if answers == "—" else _TICKED.findall(answers),
                fails=answers == "an error",
                verdict=verdict,
                why=why,
            )
        )
    return rows


ROWS = _rows()


def _resolver(row: Row, asked: list[str]) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> Sequence[str]:
        assert row.answers is not None, f"{row.url}: a literal or refused name was looked up"
        asked.append(host)
        if row.fails:
            raise OSError("no such name")
        return row.answers

    return resolve


def test_the_table_lists_every_class_of_spelling() -> None:
    assert len(ROWS) >= 44
    assert len({row.url for row in ROWS}) == len(ROWS)
    assert {row.verdict for row in ROWS} == {"refused", "allowed"}


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.url)
def test_each_row_of_the_table_is_the_verdict(row: Row) -> None:
    asked: list[str] = []
    if row.verdict == "refused":
        with pytest.raises(ForbiddenDestination) as caught:
            check_destination(row.url, resolver=_resolver(row, asked))
        assert row.why in caught.value.reason
        return
    addresses = check_destination(row.url, resolver=_resolver(row, asked))
    connects, *looked_up = _TICKED.findall(row.why)
    assert addresses[0] == connects
    if looked_up:  # the name as the resolver is asked it
        assert asked == looked_up


def test_the_verdict_does_not_depend_on_the_python_version_tables() -> None:
    # Python 3.11 calls these global; the guard's own table does not.
    for text in ("::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "64:ff9b:1::1"):
        assert refusal(IPv6Address(text)) is not None
    # Python 3.13 stopped calling 192.0.0.9 (PCP anycast) private; the guard refuses all of
    # 192.0.0.0/24 whatever the version.
    assert refusal(IPv4Address("192.0.0.9")) is not None
    assert refusal(IPv4Address("93.184.216.34")) is None


def test_the_tables_hold_the_special_purpose_ranges() -> None:
    v4 = {str(network) for network, _ in REFUSED_V4}
    v6 = {str(network) for network, _ in REFUSED_V6}
    assert {"100.64.0.0/10", "198.18.0.0/15", "240.0.0.0/4", "255.255.255.255/32"} <= v4
    assert {"fc00::/7", "fe80::/10", "fec0::/10", "100::/64", "ff00::/8"} <= v6


def test_allow_private_lets_internal_addresses_through_but_not_odd_spellings() -> None:
    def resolve(host: str, port: int) -> Sequence[str]:
        return ["10.0.0.7"]

    assert check_destination("http://hooks.internal/", allow_private=True, resolver=resolve) == [
        "10.0.0.7"
    ]
    assert check_destination("http://127.0.0.1:8080/", allow_private=True) == ["127.0.0.1"]
    for url in ("http://127.1/", "http://[fe80::1%25eth0]/"):
        with pytest.raises(ForbiddenDestination):
            check_destination(url, allow_private=True)

    def garbage(host: str, port: int) -> Sequence[str]:
        return ["10.0.0.7/evil#"]

    with pytest.raises(ForbiddenDestination, match="not an IP address"):
        check_destination("http://hooks.internal/", allow_private=True, resolver=garbage)


def test_bad_urls_are_refused_with_the_typed_error() -> None:
    bad = ("ftp://hooks.example/", "http:///x", "http://hooks.example:99999/", "http://a..b/")
    for url in (*bad, "http://ex%41mple.com/", "http://-x.example/", "http://a!b.example/"):
        with pytest.raises(ForbiddenDestination):
            check_destination(url, resolver=lambda host, port: ["93.184.216.34"])
