"""Period keys and bounds, and what closing a period books, from plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from affiliate_sdk.commission.booking import TrafficHome, book_traffic
from affiliate_sdk.commission.periods import (
    Scope,
    Totals,
    cap_key,
    closed_key,
    join_id,
    level_key,
    parse_scope,
    period_bounds,
    period_key,
    scope_key,
    settle_period,
    settling_instant,
)
from affiliate_sdk.models import Commission

from .support import BANDS, Book, cny, ids, order, plan

HOME = TrafficHome(
    merchant_id="m1", campaign_id="c1", affiliate_id="a1", plan_version=1, hold_days=30
)
RETROACTIVE = plan(tiers={"mode": "retroactive", "currency": "CNY", "bands": BANDS})
TARGET = plan(rate="10%", target={"amount": cny("50000.00"), "bonus_rate": "5%"})


def test_keys_name_scope_and_period_in_the_campaigns_time_zone() -> None:
    # 30 June 17:00 UTC is already 1 July in Shanghai
    instant = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)
    ids_ = {"merchant_id": "m1", "campaign_id": "c1", "affiliate_id": "a/1"}
    assert (
        scope_key("tier", "quarter", "affiliate_sales", placed_at=instant, timezone="UTC", **ids_)
        == "tier/campaign/c1/affiliate_sales/a%2F1/2026-Q2"
    )
    assert (
        scope_key(
            "tier", "quarter", "merchant_sales", placed_at=instant, timezone="Asia/Shanghai", **ids_
        )
        == "tier/merchant/m1/2026-Q3"
    )
    assert (
        cap_key("month", campaign_id="c1", affiliate_id="a1", placed_at=instant, timezone="UTC")
        == "cap/campaign/c1/affiliate_sales/a1/2026-06"
    )
    assert level_key("a1", instant) == "level/affiliate/a1/2026"
    assert closed_key("c1", "2026-Q2") == "closed/c1/2026-Q2"
    assert join_id("a%b", "c/d") == "a%25b/c%2Fd"
    key = "target/campaign/c1/affiliate_sales/a%2F1/2026-05"
    assert parse_scope(key) == Scope("target", "c1", "affiliate_sales", "a/1", "2026-05")
    assert parse_scope("tier/merchant/m1/2026-Q2") is None


def test_period_bounds_and_the_instant_that_settles_a_period() -> None:
    assert period_key(datetime(2026, 12, 31, 16, 0, tzinfo=UTC), "year", "Asia/Shanghai") == "2027"
    start, end = period_bounds("2026-Q4", "Asia/Shanghai")
    assert (start.year, start.month, end.year, end.month) == (2026, 10, 2027, 1)
    assert settling_instant("2026-02", "UTC") == datetime(2026, 3, 1, tzinfo=UTC) - timedelta(
        microseconds=1
    )


def test_closing_after_refunds_books_the_negative_true_up() -> None:
    # 110,000 sold (22,000 booked), then 20,000 refunded: 90,000 left, 18,000 still booked
    after_refund = Totals(
        Decimal(90_000), Decimal(90_000), Decimal("0.2"), Decimal(18_000), Decimal(18_000)
    )
    settled = settle_period(RETROACTIVE, "tier", after_refund)
    assert settled is not None
    # 90,000 x 15% = 13,500 owed: 18,000 - 4,500
    assert (settled.amount, settled.rate, settled.rule) == (
        cny("-4500.00"),
        Decimal("0.15"),
        "tier rate 15%",
    )
    assert (settled.totals.paid, settled.totals.booked) == (Decimal(13_500), Decimal(13_500))
    again = settle_period(RETROACTIVE, "tier", settled.totals)
    assert again is not None and again.amount == cny("0.00")


def test_closing_a_period_that_kept_its_band_books_nothing() -> None:
    # 105,000 left at 20% = 21,000; booked 13,500 + 4,500 + 4,000 - 1,000
    kept = Totals(
        Decimal(105_000), Decimal(105_000), Decimal("0.2"), Decimal(21_000), Decimal(21_000)
    )
    settled = settle_period(RETROACTIVE, "tier", kept)
    assert settled is not None and settled.amount == cny("0.00")


def test_marginal_tiers_and_plans_without_a_bonus_do_not_settle() -> None:
    marginal = plan(tiers={"mode": "marginal", "currency": "CNY", "bands": BANDS})
    assert settle_period(marginal, "tier", Totals()) is None
    assert settle_period(plan(rate="10%"), "target", Totals()) is None


def test_closing_a_target_period_trims_or_takes_back_the_bonus() -> None:
    # 60,000 sold earned 3,000; refunds left 55,000: 5% of it is 2,750
    trimmed = settle_period(TARGET, "target", Totals(volume=Decimal(55_000), paid=Decimal(3_000)))
    assert trimmed is not None
    assert (trimmed.amount, trimmed.rule) == (cny("-250.00"), "over-target bonus")
    assert trimmed.totals.paid == 2_750
    missed = settle_period(TARGET, "target", Totals(volume=Decimal(40_000), paid=Decimal(3_000)))
    assert missed is not None
    assert (missed.amount, missed.rule) == (cny("-3000.00"), "target missed")


def test_close_trues_up_the_per_order_rounding_against_the_exact_amount() -> None:
    book = Book(RETROACTIVE)
    tier_lines: list[Commission] = []
    for n in range(7):
        tier_lines += book(order(f"o{n}", "14285.73")).commissions
    # six orders at 15%: 2,142.8595 -> 2,142.86 each; the seventh lifts the volume to
    # 100,000.11: 2,857.146 -> 2,857.15 at 20%, and 85,714.38 x 5% = 4,285.719 -> 4,285.72
    assert sum((x.amount for x in tier_lines), cny("0")) == cny("20000.03")
    [totals] = book.totals.values()
    assert (totals.paid, totals.booked) == (Decimal("20000.0220"), Decimal("20000.03"))
    settled = settle_period(RETROACTIVE, "tier", totals)
    assert settled is not None
    # 100,000.11 x 20% = 20,000.022 -> 20,000.02 owed: the close takes back 0.01
    assert settled.amount == cny("-0.01")
    closing = book_traffic(
        HOME,
        settled.amount,
        rule=f"{settled.rule}; period 2026-Q2 closed",
        reference="tier-close/c1/a1/2026-Q2",
        now=datetime(2026, 7, 2, tzinfo=UTC),
        new_id=ids("c"),
        kind="trueup",
    )
    [line] = closing.lines
    assert (line.kind, line.amount, line.rule) == (
        "trueup",
        cny("-0.01"),
        "tier rate 20%; period 2026-Q2 closed",
    )
    assert line.event_id == "traffic/tier-close%2Fc1%2Fa1%2F2026-Q2/affiliate"
    assert sum((x.amount for x in [*tier_lines, line]), cny("0")) == cny("20000.02")
    assert settled.totals.booked == Decimal("20000.02")
