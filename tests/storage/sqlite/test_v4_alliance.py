"""The v4 fixture opens through ``Alliance`` and answers as the v4 code did.

The first open migrates the file and adopts its ledger into the keyed journal;
from then on ``verify_ledger()`` holds, a second open adopts nothing more, and
new business books on the migrated file as on a new one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pytest

from affiliate_sdk import Alliance, Money, Order
from affiliate_sdk.models import Commission
from affiliate_sdk.testing import FakeClock

FIXTURES: Final = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED: Final[dict[str, Any]] = json.loads((FIXTURES / "alliance_v4.expected.json").read_text())
KEYS: Final = {key_id: bytes.fromhex(secret) for key_id, secret in EXPECTED["keyring"].items()}
PSEUDONYM_KEY: Final = bytes.fromhex(EXPECTED["pseudonym_key"])
#: The fixture's last instant is 2026-02-14T09:26Z; the tests start two days later.
LATER: Final = datetime(2026, 2, 16, 9, 0, tzinfo=UTC)
WINDOW: Final = tuple(datetime.fromisoformat(t) for t in EXPECTED["reconcile_window"])
HUMAN_UA: Final = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15"
)


@pytest.fixture
def v4_url(tmp_path: Path) -> str:
    target = tmp_path / "alliance.db"
    shutil.copyfile(FIXTURES / "alliance_v4.db", target)
    return f"sqlite:///{target}"


def _open(url: str, clock: FakeClock | None = None) -> Alliance:
    return Alliance.open(
        url, keys=KEYS, clock=clock or FakeClock(LATER), pseudonym_key=PSEUDONYM_KEY
    )


@pytest.fixture
def alliance(v4_url: str) -> Iterator[Alliance]:
    with _open(v4_url) as opened:
        yield opened


def _public(line: Commission) -> dict[str, Any]:
    return line.model_dump(mode="json")


def test_the_commissions_are_what_v4_answered(alliance: Alliance) -> None:
    lines = alliance.commissions()
    expected = EXPECTED["commissions"]
    assert len(lines) == len(expected) == 37
    fields = set(Commission.model_fields)
    for found, answered in zip(lines, expected, strict=True):
        kept = {name: value for name, value in answered.items() if name in fields}
        assert kept, answered
        got = _public(found)
        assert {name: got[name] for name in kept} == kept


def test_the_legacy_ledger_is_adopted_and_verifies(alliance: Alliance) -> None:
    report = alliance.verify_ledger()
    assert report.ok, report
    assert report.first_bad_seq is None
    # The 28 v4 entries, and at least one keyed entry adopting their rows after them.
    assert report.entries > EXPECTED["verify_ledger"]["entries"] == 28


def test_the_reconciliation_is_what_v4_answered(alliance: Alliance) -> None:
    start, end = WINDOW
    rows = [row.model_dump(mode="json") for row in alliance.reconcile(start=start, end=end)]
    assert rows == EXPECTED["reconcile"]


def test_the_payouts_are_what_v4_answered(alliance: Alliance) -> None:
    batches = [batch.model_dump(mode="json") for batch in alliance.payouts()]
    assert batches == EXPECTED["payouts"]
    assert [b.amount for b in alliance.payouts(run_id="run-1")] == [
        Money("45.60", "CNY"),
        Money("114.00", "CNY"),
        Money("9.12", "CNY"),
    ]
    assert alliance.payouts(run_id="run-empty") == []


def test_a_second_open_adopts_nothing_more(v4_url: str) -> None:
    with _open(v4_url) as first:
        adopted = first.verify_ledger()
        lines = [_public(line) for line in first.commissions()]
    with _open(v4_url) as second:
        again = second.verify_ledger()
        assert [_public(line) for line in second.commissions()] == lines
    assert again.entries == adopted.entries > 28
    assert adopted.ok, adopted
    assert again.ok, again


def test_a_new_order_and_refund_book_correctly_on_the_migrated_file(v4_url: str) -> None:
    clock = FakeClock(LATER)
    with _open(v4_url, clock) as alliance:
        before = alliance.verify_ledger().entries
        link = alliance.create_link(
            affiliate_id="a1", campaign_id="c-flat", landing_url="https://shop.example.com/p/30"
        )
        click = alliance.track_click(
            link, ip="203.0.113.30", user_agent=HUMAN_UA, referrer="https://blog.example.org/"
        )
        clock.advance(timedelta(minutes=6))
        alliance.record_order(
            Order(order_id="o30", merchant_id="m1", total=Money("500.00", "CNY")),
            click_id=click.click_id,
        )
        booked = {(x.account, x.affiliate_id): x for x in alliance.commissions(order_id="o30")}
        # Plan version 2 of c-flat pays 12%: 500.00 x 12% = 60.00, of which m1's 5% take is
        # 3.00 and a1's share 57.00; a1's parent earns 20% of that, 11.40.
        assert {key: line.amount for key, line in booked.items()} == {
            ("affiliate", "a1"): Money("57.00", "CNY"),
            ("platform", "a1"): Money("3.00", "CNY"),
            ("parent", "parent1"): Money("11.40", "CNY"),
        }
        assert {line.status for line in booked.values()} == {"pending"}
        assert {line.plan_version for line in booked.values()} == {2}
        assert booked["affiliate", "a1"].rate == Decimal("0.12")

        clock.advance(timedelta(hours=1))
        alliance.refund("m1", "o30", Money("100.00", "CNY"), refund_id="r-new")
        reversals = {
            (x.account, x.affiliate_id): x.amount
            for x in alliance.commissions(order_id="o30")
            if x.kind == "reversal"
        }
        # A fifth of the order back: a fifth of every line.
        assert reversals == {
            ("affiliate", "a1"): Money("-11.40", "CNY"),
            ("platform", "a1"): Money("-0.60", "CNY"),
            ("parent", "parent1"): Money("-2.28", "CNY"),
        }
        report = alliance.verify_ledger()
        assert report.ok, report
        # The order and the refund: one entry each.
        assert report.entries == before + 2
    with _open(v4_url) as reopened:
        assert reopened.verify_ledger().ok
        assert len(reopened.commissions(order_id="o30")) == 6
