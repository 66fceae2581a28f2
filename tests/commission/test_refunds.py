"""Refunds from plain values: reversals, clawbacks, unwound totals and refunds after a close."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from affiliate_sdk.commission.booking import Booking, Measures, TrafficHome
from affiliate_sdk.commission.ledger import Posting
from affiliate_sdk.commission.periods import Totals, settle_period
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.commission.refunds import ClosedPeriod, RefundFacts, refund_keys, reverse
from affiliate_sdk.models import Affiliate, Commission
from affiliate_sdk.money import Money

from .support import BANDS, Book, cny, ids, order, plan

LATER = datetime(2026, 8, 5, 2, 0, tzinfo=UTC)
TIER_KEY = "tier/campaign/c1/affiliate_sales/a1/2026-Q2"
HOME = TrafficHome(
    merchant_id="m1", campaign_id="c1", affiliate_id="a1", plan_version=1, hold_days=30
)


def measures_of(*bookings: Booking) -> dict[str, Measures]:
    return {
        b.line.entry_id: b.measures for booking in bookings for b in booking.lines if b.measures
    }


def refund(
    lines: tuple[Commission, ...] | list[Commission],
    total: str,
    amount: str,
    *,
    before: str = "0.00",
    refund_id: str = "r1",
    order_id: str = "o1",
    **extra: object,
) -> RefundFacts:
    return RefundFacts(
        merchant_id="m1",
        order_id=order_id,
        refund_id=refund_id,
        total=cny(total),
        before=cny(before),
        amount=cny(amount),
        now=LATER,
        **extra,  # type: ignore[arg-type]
    )


def test_full_refund_reverses_every_line_where_its_money_sits() -> None:
    booking = Book(plan(rate="10%"), take=Decimal("0.2"))(order("o1", "199.00"))
    lines = booking.commissions  # 15.92 to a1, 3.98 taken
    done = reverse(lines, refund(lines, "199.00", "199.00"), new_id=ids("r"))
    assert [(x.kind, x.amount, x.status, x.reverses) for x in done.lines] == [
        ("reversal", cny("-15.92"), "reversed", lines[0].entry_id),
        ("reversal", cny("-3.98"), "reversed", lines[1].entry_id),
    ]
    assert done.lines[0].event_id == f"refund/m1/o1/r1/{lines[0].entry_id}"
    assert [x.status for x in done.emptied] == ["reversed", "reversed"]
    assert done.postings == {
        "reversed": (
            Posting("affiliate/a1/pending", cny("-15.92")),
            Posting("platform/pending", cny("-3.98")),
            Posting("merchant/m1/payable", cny("19.90")),
        )
    }
    [entry] = done.journal
    assert (entry.event_id, entry.kind, entry.lines) == (
        "refund/m1/o1/r1/reversed",
        "commission.reversed",
        done.lines,
    )
    assert done.refund_counted == ("a1",)


def test_partial_refunds_reverse_cumulatively_and_exactly() -> None:
    [line] = Book(plan(rate="10%"))(order("o1", "199.00")).commissions  # 19.90
    first = reverse([line], refund([line], "199.00", "66.33"), new_id=ids("r"))
    # 19.90 x 66.33 / 199.00 = 6.6330 -> 6.63; the line still holds 13.27
    assert [x.amount for x in first.lines] == [cny("-6.63")]
    assert first.emptied == ()
    lines = [line, *first.lines]
    second = reverse(
        lines,
        refund(lines, "199.00", "132.67", before="66.33", refund_id="r2"),
        new_id=ids("s"),
    )
    # the whole 19.90 is reversed now: 19.90 - 6.63 = 13.27
    assert [x.amount for x in second.lines] == [cny("-13.27")]
    assert [x.entry_id for x in second.emptied] == [line.entry_id]
    assert second.refund_counted == ()  # only an order's first refund counts


def test_refund_after_payout_is_an_approved_clawback() -> None:
    [line] = Book(plan(rate="10%"))(order("o1", "199.00")).commissions
    paid = line.model_copy(update={"status": "paid"})
    done = reverse([paid], refund([paid], "199.00", "199.00"), new_id=ids("r"))
    [claw] = done.lines
    assert (claw.kind, claw.status, claw.amount, claw.approved_at) == (
        "clawback",
        "approved",
        cny("-19.90"),
        LATER,
    )
    assert done.emptied == ()
    assert done.postings == {
        "clawed_back": (
            Posting("affiliate/a1/approved", cny("-19.90")),
            Posting("merchant/m1/payable", cny("19.90")),
        )
    }
    assert done.journal[0].event_id == "refund/m1/o1/r1/clawed_back"


def _retroactive_quarter() -> tuple[CommissionPlan, Book, Booking, Booking]:
    tiers = plan(tiers={"mode": "retroactive", "currency": "CNY", "bands": BANDS})
    book = Book(tiers)
    first = book(order("o1", "90000.00"))  # 13,500
    second = book(order("o2", "20000.00"))  # 4,000 + a 4,500 true-up
    return tiers, book, first, second


def test_refund_in_an_open_period_unwinds_the_tier_totals() -> None:
    _, book, first, second = _retroactive_quarter()
    lines = second.commissions
    facts = refund(
        lines,
        "20000.00",
        "20000.00",
        order_id="o2",
        measures=measures_of(first, second),
        totals=book.totals,
    )
    assert refund_keys(lines, facts.measures) == (TIER_KEY,)
    done = reverse(lines, facts, new_id=ids("r"))
    assert [(x.kind, x.amount) for x in done.lines] == [("reversal", cny("-4000.00"))]
    # the volume falls back to 90,000; 22,000 - 4,000 paid and booked; the close settles the rest
    assert done.totals[TIER_KEY] == Totals(
        Decimal(90_000), Decimal(90_000), Decimal("0.2"), Decimal(18_000), Decimal(18_000)
    )
    assert done.corrections == ()


def test_refund_after_the_period_closed_books_the_tier_correction_at_once() -> None:
    tiers, book, first, second = _retroactive_quarter()
    # July: Q2 is closed; 110,000 x 20% = 22,000 is what was booked, so nothing more
    settled = settle_period(tiers, "tier", book.totals[TIER_KEY])
    assert settled is not None and settled.amount == cny("0.00")
    lines = second.commissions
    closed = ClosedPeriod(what="tier", period="2026-Q2", plan=tiers, home=HOME)
    done = reverse(
        lines,
        refund(
            lines,
            "20000.00",
            "20000.00",
            order_id="o2",
            measures=measures_of(first, second),
            totals={TIER_KEY: settled.totals},
            closed={TIER_KEY: closed},
        ),
        new_id=ids("r"),
    )
    # August: the 20,000 order is refunded: -4,000 reversed, and 90,000 is back in the 15% band,
    # so the 4,500 true-up is taken back now: -4,500
    assert [(x.kind, x.amount) for x in done.lines] == [
        ("reversal", cny("-4000.00")),
        ("trueup", cny("-4500.00")),
    ]
    correction = done.corrections[0]
    assert (correction.created_at, correction.status, correction.order_id) == (
        LATER,
        "pending",
        "o2",
    )
    assert correction.rule == "tier rate 15%; period 2026-Q2 closed; refund r1"
    assert correction.event_id == "refund/m1/o2/r1/tier-correction/affiliate"
    ledger = [*first.commissions, *second.commissions, *done.lines]
    # the quarter nets to 90,000 x 15% = 13,500
    assert sum((x.amount for x in ledger), cny("0")) == cny("13500.00")
    assert done.totals[TIER_KEY].booked == Decimal("13500.00")
    assert done.totals[TIER_KEY].rate == Decimal("0.15")
    assert [(g.event_id, g.kind) for g in done.journal] == [
        ("refund/m1/o2/r1/reversed", "commission.reversed"),
        ("refund/m1/o2/r1/corrected", "commission.booked"),
    ]
    assert done.postings["booked"] == (
        Posting("affiliate/a1/pending", cny("-4500.00")),
        Posting("merchant/m1/payable", cny("4500.00")),
    )


def test_refund_after_the_month_closed_takes_back_a_bonus_it_undid() -> None:
    target = {"period": "month", "amount": cny("50000.00"), "bonus_rate": "5%"}
    bonus_plan = plan(rate="10%", target=target)
    book = Book(bonus_plan)
    first = book(order("o1", "40000.00"))
    second = book(order("o2", "20000.00"))  # 2,000 and a 3,000 bonus on 60,000
    key = "target/campaign/c1/affiliate_sales/a1/2026-05"
    settled = settle_period(bonus_plan, "target", book.totals[key])
    assert settled is not None and settled.amount == cny("0.00")
    lines = second.commissions
    done = reverse(
        lines,
        refund(
            lines,
            "20000.00",
            "20000.00",
            order_id="o2",
            measures=measures_of(first, second),
            totals={key: settled.totals},
            closed={key: ClosedPeriod(what="target", period="2026-05", plan=bonus_plan, home=HOME)},
        ),
        new_id=ids("r"),
    )
    # 40,000 is under the 50,000 target: the 3,000 bonus goes back
    assert [(x.kind, x.amount) for x in done.lines] == [
        ("reversal", cny("-2000.00")),
        ("bonus", cny("-3000.00")),
    ]
    assert done.corrections[0].rule == "target missed; period 2026-05 closed; refund r1"
    assert done.totals[key].volume == Decimal("40000.00")


def test_a_parents_line_does_not_unwind_the_volume_twice() -> None:
    tiers = plan(tiers={"mode": "marginal", "currency": "CNY", "bands": BANDS}, parent_share="10%")
    book = Book(tiers, affiliate=Affiliate(affiliate_id="a1", parent_id="p1"))
    booking = book(order("o1", "1000.00"))  # 150.00 to a1, 15.00 to p1
    lines = booking.commissions
    done = reverse(
        lines,
        refund(lines, "1000.00", "1000.00", measures=measures_of(booking), totals=book.totals),
        new_id=ids("r"),
    )
    assert [x.amount for x in done.lines] == [cny("-150.00"), cny("-15.00")]
    assert done.totals[TIER_KEY].volume == 0
    assert done.totals[TIER_KEY].booked == 0


def test_partial_refund_with_a_take_unwinds_booked_by_what_the_ledger_gave_back() -> None:
    tiers = plan(tiers={"mode": "retroactive", "currency": "CNY", "bands": BANDS})
    book = Book(tiers, take=Decimal("0.3"))
    booking = book(order("o1", "333.33"))  # 50.00: 35.00 to a1, 15.00 taken
    lines = booking.commissions
    done = reverse(
        lines,
        refund(lines, "333.33", "111.11", measures=measures_of(booking), totals=book.totals),
        new_id=ids("r"),
    )
    # 35.00 / 3 = 11.666... -> 11.67 and 15.00 / 3 = 5.00: 16.67 back, 33.33 still booked
    assert [x.amount for x in done.lines] == [cny("-11.67"), cny("-5.00")]
    assert done.totals[TIER_KEY].booked == Decimal("33.33")
    assert sum((x.amount for x in (*lines, *done.lines)), Money.zero("CNY")) == cny("33.33")
