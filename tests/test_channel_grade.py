"""A channel graded C holds its affiliates' settlement, as an affiliate graded C does.

The histories are made through the public API: orders that come 2 seconds after
their click are reviewed (click injection) and count against their affiliate;
orders 10 minutes after theirs are clean. Every order is 30.00 CNY at 10%, so each
line is 3.00 CNY (no platform take).

| affiliate | channel | orders | reviewed | alone |
|---|---|---|---|---|
| c-ok | cashback | 20 | 0 | S |
| c-bad | cashback | 8 | 6 | no grade (under 20 orders) |
| s-good | search | 20 | 0 | S |
| n-bad | none (registered) | 8 | 6 | no grade |
| n-ok | none (not registered) | 20 | 0 | S |

Pooled, cashback has 28 orders, 6 reviewed (21% fraud, C); search 20, none
reviewed (S); the affiliates without a channel 28, 6 reviewed (C as well, but
that pool holds nobody).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest

from affiliate_sdk import Affiliate, Alliance, FraudThresholds, Money
from affiliate_sdk.antifraud.grades import History
from affiliate_sdk.models import Commission
from affiliate_sdk.storage.memory._catalog import MemoryCatalog
from affiliate_sdk.storage.memory._risk import MemoryRisk
from affiliate_sdk.testing import FakeClock

from .conftest import SECRET, book_orders, make_campaign

CHANNEL_REASON = "channel.grade_c: the affiliate's channel is graded C, reviewed before settlement"
#: (affiliate, channel or None, registered, orders, of which injected first)
BOOKS = (
    ("c-ok", "cashback", True, 20, 0),
    ("c-bad", "cashback", True, 8, 6),
    ("s-good", "search", True, 20, 0),
    ("n-bad", None, True, 8, 6),
    ("n-ok", None, False, 20, 0),
)
LINE = Money("3.00", "CNY")  # 30.00 CNY at 10%


def _build(alliance: Alliance, clock: FakeClock) -> None:
    """Register the affiliates and book their orders (see the module's table)."""
    alliance.add_campaign(make_campaign(rate="10%"))
    number = 1
    for affiliate, channel, registered, orders, injected in BOOKS:
        if registered:
            alliance.add_affiliate(Affiliate(affiliate_id=affiliate, channel=channel))
        number = book_orders(alliance, clock, affiliate, orders, injected=injected,
                             first=number, network="10.3")  # fmt: skip


def _statuses(lines: Sequence[Commission]) -> list[tuple[str, str | None]]:
    return sorted((line.status, line.reason) for line in lines)


@pytest.fixture
def built(alliance: Alliance, clock: FakeClock) -> Alliance:
    _build(alliance, clock)
    clock.advance(timedelta(days=60))  # every hold period is over
    return alliance


def test_the_books_grade_as_the_table_says(built: Alliance) -> None:
    grades = {(g.channel, g.affiliates, g.orders, g.grade) for g in built.channel_grades()}
    assert grades == {("cashback", 2, 28, "C"), ("search", 1, 20, "S"), (None, 2, 28, "C")}
    assert [built.grade(a).grade for a, *_ in BOOKS] == ["S", None, "S", None, "S"]
    assert built.grade("c-bad").fraud_rate == pytest.approx(6 / 8)


def test_a_c_channel_member_is_frozen_and_a_good_channel_member_approved(
    built: Alliance,
) -> None:
    approved = built.approve_due()
    by_affiliate: dict[str, list[Commission]] = {}
    for line in approved:
        by_affiliate.setdefault(line.affiliate_id, []).append(line)
    # s-good (search, S) and the affiliates without a channel are approved; cashback is not
    assert {a: len(lines) for a, lines in by_affiliate.items()} == {
        "s-good": 20,
        "n-ok": 20,
        "n-bad": 2,
    }
    assert sum((line.amount for line in by_affiliate["s-good"]), Money.zero("CNY")) == Money(
        "60.00", "CNY"
    )
    # c-ok is graded S alone, and frozen for its channel: every one of its 20 lines
    assert built.grade("c-ok").grade == "S"
    assert _statuses(built.commissions(affiliate_id="c-ok")) == [("frozen", CHANNEL_REASON)] * 20
    # c-bad's two clean lines are frozen for the channel too; its six reviewed ones were
    # frozen when they were booked, for what they did
    lines = built.commissions(affiliate_id="c-bad")
    assert [line.reason for line in lines].count(CHANNEL_REASON) == 2
    assert all(line.status == "frozen" for line in lines)
    assert sum(1 for line in lines if (line.reason or "").startswith("fraud review:")) == 6
    queue = [line for line in built.review_queue() if line.reason == CHANNEL_REASON]
    assert len(queue) == 22
    assert {line.amount for line in queue} == {LINE}


def test_the_pool_of_affiliates_without_a_channel_holds_nobody(built: Alliance) -> None:
    unassigned = built.channel_grades()[-1]
    assert (unassigned.channel, unassigned.grade) == (None, "C")
    built.approve_due()
    for affiliate, approved in (("n-ok", 20), ("n-bad", 2)):
        lines = built.commissions(affiliate_id=affiliate)
        assert [line.status for line in lines].count("approved") == approved
        assert not any("grade_c" in (line.reason or "") for line in lines)


def test_the_freeze_does_not_count_against_the_affiliate(built: Alliance) -> None:
    built.approve_due()
    graded = built.grade("c-ok")
    assert (graded.grade, graded.orders, graded.fraud_rate) == ("S", 20, 0.0)
    cashback = built.channel_grades()[0]
    assert (cashback.channel, cashback.orders, cashback.grade) == ("cashback", 28, "C")
    assert cashback.fraud_rate == pytest.approx(6 / 28)


def test_a_c_channel_member_is_paid_after_everyone_else(built: Alliance, clock: FakeClock) -> None:
    built.approve_due()
    held = [line.entry_id for line in built.commissions(affiliate_id="c-ok")]
    built.approve(held)  # a reviewer clears them
    clock.advance(timedelta(days=2))
    batches = built.pay_approved(run_id="run-1")
    # alphabetical as ever ("c-ok" would come first), except that the C channel comes last
    assert [(b.affiliate_id, b.amount) for b in batches] == [
        ("n-bad", Money("6.00", "CNY")),
        ("n-ok", Money("60.00", "CNY")),
        ("s-good", Money("60.00", "CNY")),
        ("c-ok", Money("60.00", "CNY")),
    ]


def test_nothing_is_frozen_for_a_grade_with_freeze_grade_c_off(clock: FakeClock) -> None:
    thresholds = FraudThresholds(freeze_grade_c=False)
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock, fraud=thresholds) as off:
        _build(off, clock)
        clock.advance(timedelta(days=60))
        approved = off.approve_due()
        assert len(approved) == 20 + 2 + 20 + 2 + 20
        assert sum((line.amount for line in approved), Money.zero("CNY")) == Money("192.00", "CNY")
        queue = off.review_queue()
        assert len(queue) == 12  # the orders reviewed for what they did, when booked
        assert all((line.reason or "").startswith("fraud review:") for line in queue)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """The channel and history reads of the memory store, as they are made."""
    seen: list[tuple[str, object]] = []
    members, histories = MemoryCatalog.channel_members, MemoryRisk.histories

    def channel_members(self: MemoryCatalog, channel: str) -> list[str]:
        seen.append(("members", channel))
        return members(self, channel)

    def spied(
        self: MemoryRisk, *, affiliate_ids: Sequence[str] | None = None
    ) -> Iterator[tuple[str, History]]:
        seen.append(("histories", None if affiliate_ids is None else sorted(affiliate_ids)))
        return histories(self, affiliate_ids=affiliate_ids)

    monkeypatch.setattr(MemoryCatalog, "channel_members", channel_members)
    monkeypatch.setattr(MemoryRisk, "histories", spied)
    return seen


def test_a_channel_is_graded_once_a_call_from_its_members_alone(
    clock: FakeClock, calls: list[tuple[str, object]]
) -> None:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        _build(alliance, clock)
        clock.advance(timedelta(days=60))
        calls.clear()
        alliance.approve_due()  # 70 due lines of five affiliates
        # no scan of every history: each named channel's members, once
        assert sorted(calls, key=str) == [
            ("histories", ["c-bad", "c-ok"]),
            ("histories", ["s-good"]),
            ("members", "cashback"),
            ("members", "search"),
        ]
        alliance.approve([line.entry_id for line in alliance.commissions(affiliate_id="c-ok")])
        calls.clear()
        clock.advance(timedelta(days=2))
        alliance.pay_approved(run_id="run-1")
        assert sorted(calls, key=str) == [
            ("histories", ["c-bad", "c-ok"]),
            ("histories", ["s-good"]),
            ("members", "cashback"),
            ("members", "search"),
        ]
