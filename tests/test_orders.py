from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affiliate_sdk import (
    Alliance,
    CommissionPlan,
    ConflictingOrder,
    ConflictingRefund,
    CurrencyMismatch,
    InvalidAmount,
    InvalidInput,
    LineItem,
    Money,
    Order,
    RefundExceedsOrder,
    UnknownOrder,
)
from affiliate_sdk.testing import FakeClock

from .conftest import HUMAN_UA, SECRET, START, browse, make_campaign


def _click(
    alliance: Alliance, affiliate: str = "a1", visitor: str | None = None, campaign: str = "c1"
) -> tuple[str, str]:
    url = alliance.create_link(
        affiliate_id=affiliate, campaign_id=campaign, landing_url="https://shop.example.com/p"
    )
    click = alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA, visitor_id=visitor)
    return click.click_id, click.visitor_id


def _order(order_id: str = "o1", total: str = "199.00", **extra: object) -> Order:
    return Order(order_id=order_id, merchant_id="m1", total=Money(total, "CNY"), **extra)


def test_order_books_rate_times_total(alliance: Alliance, clock: FakeClock) -> None:
    click_id, visitor = _click(alliance)
    clock.advance(timedelta(days=3))
    outcome = alliance.record_order(_order(), visitor_id=visitor)
    assert [c.click_id for c in outcome.credits] == [click_id]
    assert outcome.credits[0].weight == 1
    [entry] = outcome.commissions
    assert (entry.affiliate_id, entry.account, entry.kind, entry.status) == (
        "a1",
        "affiliate",
        "commission",
        "pending",
    )
    assert entry.amount == Money("19.90", "CNY")
    assert entry.rate == Decimal("0.1")
    assert outcome.placed_at == START + timedelta(days=3)
    assert alliance.commissions(order_id="o1") == outcome.commissions


def test_commission_is_rounded_once_half_even(alliance: Alliance) -> None:
    alliance.add_campaign(
        alliance.campaign("c1").model_copy(update={"plan": CommissionPlan(rate="12.5%")})
    )
    _, visitor = _click(alliance)
    outcome = alliance.record_order(_order(total="0.20"), visitor_id=visitor)  # 0.025 -> 0.02
    assert outcome.commissions[0].amount == Money("0.02", "CNY")
    outcome = alliance.record_order(_order("o2", total="0.28"), visitor_id=visitor)  # 0.035 -> 0.04
    assert outcome.commissions[0].amount == Money("0.04", "CNY")


def test_platform_take_is_booked_beside_the_commission(clock: FakeClock) -> None:
    with Alliance.open(keys={"k1": SECRET}, clock=clock, platform_take="15%") as alliance:
        alliance.add_campaign(make_campaign())
        _, visitor = _click(alliance)
        outcome = alliance.record_order(_order(total="333.33"), visitor_id=visitor)
        by_account = {c.account: c.amount for c in outcome.commissions}
        # 33.333 -> 33.33; take 15% = 4.9995 -> 5.00; the affiliate keeps the rest
        assert by_account == {"platform": Money("5.00", "CNY"), "affiliate": Money("28.33", "CNY")}
        assert sum((c.amount for c in outcome.commissions), Money.zero("CNY")) == Money(
            "33.33", "CNY"
        )


def test_same_order_twice_books_once(alliance: Alliance, clock: FakeClock) -> None:
    _, visitor = _click(alliance)
    first = alliance.record_order(_order(), visitor_id=visitor)
    clock.advance(
        timedelta(minutes=5)
    )  # a retry later: placed_at was defaulted, still the same order
    again = alliance.record_order(_order(), visitor_id=visitor)
    assert again == first
    assert len(alliance.commissions(merchant_id="m1")) == 1


def test_same_ids_different_content_conflict(alliance: Alliance) -> None:
    _, visitor = _click(alliance)
    alliance.record_order(_order(), visitor_id=visitor)
    with pytest.raises(ConflictingOrder) as info:
        alliance.record_order(_order(total="200.00"), visitor_id=visitor)
    assert (info.value.merchant_id, info.value.order_id) == ("m1", "o1")


def test_last_valid_click_wins(alliance: Alliance, clock: FakeClock) -> None:
    _, visitor = _click(alliance, "a1")
    clock.advance(timedelta(hours=2))
    second_click, _ = _click(alliance, "a2", visitor)
    clock.advance(timedelta(hours=2))
    outcome = alliance.record_order(_order(), visitor_id=visitor)
    assert [(c.affiliate_id, c.click_id) for c in outcome.credits] == [("a2", second_click)]


def test_window_boundary(alliance: Alliance, clock: FakeClock) -> None:
    _, visitor = _click(alliance)
    clock.advance(timedelta(days=30))
    assert alliance.record_order(_order("on-time"), visitor_id=visitor).credits
    clock.advance(timedelta(milliseconds=1))
    late = alliance.record_order(_order("late"), visitor_id=visitor)
    assert late.credits == []
    assert any("outside its attribution window" in n for n in late.notes)


def test_clicks_after_the_order_or_for_other_merchants_do_not_count(
    alliance: Alliance, clock: FakeClock
) -> None:
    alliance.add_campaign(make_campaign(campaign_id="c2", merchant_id="m2", rate="50%"))
    _, visitor = _click(alliance, "a9", campaign="c2")
    placed = clock.now()
    clock.advance(timedelta(minutes=1))
    late_click, _ = _click(alliance, "a1", visitor)
    outcome = alliance.record_order(
        _order(placed_at=placed), visitor_id=visitor, click_id=late_click
    )
    assert outcome.credits == []
    # Another merchant's clicks are not even seen: nothing of m2's reaches m1's order (the
    # random ids the notes name are left out of the check: one may hold "c2" or "a9").
    notes = [n.replace(late_click, "").replace(visitor, "") for n in outcome.notes]
    assert not any("c2" in n or "a9" in n for n in notes)
    assert any("after the order" in n for n in outcome.notes)


def test_click_id_passed_server_to_server(alliance: Alliance) -> None:
    click_id, _ = _click(alliance)
    outcome = alliance.record_order(_order(), click_id=click_id)
    assert [c.click_id for c in outcome.credits] == [click_id]
    unknown = alliance.record_order(_order("o2"), click_id="does-not-exist")
    assert unknown.credits == []
    assert "click id does-not-exist is unknown" in unknown.notes


def test_unattributed_order_is_still_recorded(alliance: Alliance) -> None:
    outcome = alliance.record_order(_order())
    assert not outcome.attributed
    with pytest.raises(RefundExceedsOrder):
        alliance.refund(merchant_id="m1", order_id="o1", amount=Money("199.01", "CNY"))
    assert alliance.refund(merchant_id="m1", order_id="o1").reversals == []


def test_order_from_a_bot_earns_nothing(alliance: Alliance) -> None:
    _, visitor = _click(alliance)
    outcome = alliance.record_order(_order(), visitor_id=visitor, user_agent="curl/8.5.0")
    assert outcome.verdict.decision == "block"
    assert outcome.commissions == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: Order(order_id="o", merchant_id="m1", total=Money("1.005", "USD")),
        lambda: Order(order_id="o", merchant_id="m1", total=Money("-1.00", "USD")),
        lambda: Order(order_id="o", merchant_id="m 1", total=Money("1.00", "USD")),
        lambda: Order(order_id="o\n", merchant_id="m1", total=Money("1.00", "USD")),
        lambda: Order(order_id="o", merchant_id="m1", total=Money("1.00", "USD"), country="cn"),
        lambda: Order(
            order_id="o",
            merchant_id="m1",
            total=Money("1.00", "USD"),
            items=[LineItem(sku="s", unit_price=Money("1.00", "EUR"))],
        ),
        lambda: Order.model_validate({"order_id": "o", "merchant_id": "m1", "total": 1.5}),
        lambda: Order.model_validate_json('{"order_id": "o", "merchant_id": "m1"}'),
    ],
)
def test_bad_orders_are_typed_errors(build: object) -> None:
    with pytest.raises(InvalidInput) as info:
        build()  # type: ignore[operator]
    assert info.value.errors


def test_naive_placed_at_is_refused() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        _order(placed_at=START.replace(tzinfo=None))


def test_partial_then_full_refund_reverses_exactly(alliance: Alliance) -> None:
    _, visitor = _click(alliance)
    alliance.record_order(_order(total="100.00"), visitor_id=visitor)
    part = alliance.refund(merchant_id="m1", order_id="o1", amount=Money("33.33", "CNY"))
    assert [r.amount for r in part.reversals] == [Money("-3.33", "CNY")]
    assert part.reversals[0].status == "reversed"
    assert part.remaining == Money("66.67", "CNY")
    rest = alliance.refund(merchant_id="m1", order_id="o1")
    assert rest.amount == Money("66.67", "CNY")
    assert rest.remaining == Money("0.00", "CNY")
    net = sum((c.amount for c in alliance.commissions(order_id="o1")), Money.zero("CNY"))
    assert net == Money("0.00", "CNY")
    with pytest.raises(RefundExceedsOrder):
        alliance.refund(merchant_id="m1", order_id="o1", amount=Money("0.01", "CNY"))


def test_refund_errors(alliance: Alliance) -> None:
    with pytest.raises(UnknownOrder):
        alliance.refund(merchant_id="m1", order_id="missing")
    alliance.record_order(_order())
    with pytest.raises(CurrencyMismatch):
        alliance.refund(merchant_id="m1", order_id="o1", amount=Money("1.00", "USD"))
    with pytest.raises(InvalidAmount):
        alliance.refund(merchant_id="m1", order_id="o1", amount=Money("0.00", "CNY"))
    with pytest.raises(InvalidAmount):
        alliance.refund(merchant_id="m1", order_id="o1", amount=Money("0.001", "CNY"))
    with pytest.raises(RefundExceedsOrder) as info:
        alliance.refund(merchant_id="m1", order_id="o1", amount=Money("199.01", "CNY"))
    assert info.value.remaining == Money("199.00", "CNY")


def test_refund_id_makes_refunds_idempotent(alliance: Alliance) -> None:
    _, visitor = _click(alliance)
    alliance.record_order(_order(total="100.00"), visitor_id=visitor)
    first = alliance.refund(
        merchant_id="m1", order_id="o1", amount=Money("10.00", "CNY"), refund_id="r1"
    )
    again = alliance.refund(
        merchant_id="m1", order_id="o1", amount=Money("10.00", "CNY"), refund_id="r1"
    )
    assert again == first
    assert len(alliance.commissions(order_id="o1")) == 2
    with pytest.raises(ConflictingRefund):
        alliance.refund(
            merchant_id="m1", order_id="o1", amount=Money("11.00", "CNY"), refund_id="r1"
        )


def test_failed_refund_writes_nothing(alliance: Alliance) -> None:
    _, visitor = _click(alliance)
    alliance.record_order(_order(total="100.00"), visitor_id=visitor)
    before = alliance.commissions(order_id="o1")
    with pytest.raises(RefundExceedsOrder):
        alliance.refund(merchant_id="m1", order_id="o1", amount=Money("100.01", "CNY"))
    assert alliance.commissions(order_id="o1") == before
    assert alliance.refund(merchant_id="m1", order_id="o1").amount == Money("100.00", "CNY")


def _written(alliance: Alliance) -> tuple[int, int]:
    """How many orders the store holds, and how many journal entries verify."""
    with alliance.store.transaction() as tx:
        orders = len(tx.orders.scan())
    verification = alliance.verify_ledger()
    assert verification.ok
    return orders, verification.entries


_OVER = {"amount": "92233720368547758.08", "currency": "CNY"}  # 2^63 fen: one over the bound
_ONE = {"amount": "1.00", "currency": "CNY"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"total": _OVER}, "total"),
        ({"total": _ONE, "shipping": _OVER}, "shipping"),
        ({"total": _ONE, "tax": _OVER}, "tax"),
        ({"total": _ONE, "discount": _OVER}, "discount"),
        ({"total": _ONE, "items": [{"sku": "s", "unit_price": _OVER}]}, "items.0.unit_price"),
        # 2^62 units at 2.00 are 2^63 fen
        (
            {
                "total": _ONE,
                "items": [{"sku": "s", "quantity": 2**62, "unit_price": _ONE | {"amount": "2.00"}}],
            },
            "items.0",
        ),
        (
            {"total": _ONE, "items": [{"sku": "s", "quantity": 10**30, "unit_price": _ONE}]},
            "items.0.quantity",
        ),
        # two lines of 5 x 10^18 fen each: each is bookable, their sum is not
        (
            {
                "total": _ONE,
                "items": [
                    {"sku": s, "unit_price": {"amount": "50000000000000000.00", "currency": "CNY"}}
                    for s in "ab"
                ],
            },
            "(model)",
        ),
    ],
)
def test_amounts_beyond_max_minor_units_are_refused_alike_by_every_store(
    alliance: Alliance, payload: dict[str, object], field: str
) -> None:
    click_id, _ = _click(alliance)
    browse(alliance)
    most = Money("92233720368547758.07", "CNY")  # 2^63 - 1 fen, the most a store holds
    outcome = alliance.record_order(
        Order(order_id="o1", merchant_id="m1", total=most), click_id=click_id
    )
    # 10% is 9,223,372,036,854,775.807, rounded half-even
    assert [c.amount for c in outcome.commissions] == [Money("9223372036854775.81", "CNY")]
    before = _written(alliance)
    assert before[0] == 1
    with pytest.raises(InvalidInput) as info:
        alliance.record_order(
            Order.model_validate({"order_id": "big", "merchant_id": "m1", **payload}),
            click_id=click_id,
        )
    assert f"{field}:" in str(info.value)
    with pytest.raises(RefundExceedsOrder):
        alliance.refund(merchant_id="m1", order_id="o1", amount=Money.from_minor(2**63, "CNY"))
    assert _written(alliance) == before
    assert alliance.refund(merchant_id="m1", order_id="o1").amount == most


def test_commission_filters(alliance: Alliance) -> None:
    _, v1 = _click(alliance, "a1")
    _, v2 = _click(alliance, "a2")
    alliance.record_order(_order("o1"), visitor_id=v1)
    alliance.record_order(_order("o2"), visitor_id=v2)
    assert {c.order_id for c in alliance.commissions(affiliate_id="a1")} == {"o1"}
    assert {c.order_id for c in alliance.commissions(merchant_id="m1")} == {"o1", "o2"}
    assert alliance.commissions(merchant_id="m1", affiliate_id="a2", order_id="o1") == []


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    total_units=st.integers(min_value=1, max_value=10**8),
    cuts=st.lists(st.integers(min_value=1, max_value=10**8), min_size=1, max_size=6),
    rate=st.decimals(min_value=0, max_value=1, places=4),
    take=st.decimals(min_value=0, max_value=1, places=3),
)
def test_refunds_always_net_to_zero(
    total_units: int, cuts: list[int], rate: Decimal, take: Decimal
) -> None:
    clock = FakeClock(START)
    with Alliance.open(keys={"k1": SECRET}, clock=clock, platform_take=take) as alliance:
        alliance.add_campaign(make_campaign(rate=rate))
        _, visitor = _click(alliance)
        total = Money.from_minor(total_units, "CNY")
        booked = alliance.record_order(
            Order(order_id="o", merchant_id="m1", total=total), visitor_id=visitor
        ).commissions
        gross = sum((c.amount for c in booked), Money.zero("CNY"))
        assert gross == (total * rate).round()
        remaining = total_units
        for cut in cuts:
            if remaining == 0:
                break
            step = min(cut, remaining)
            alliance.refund(merchant_id="m1", order_id="o", amount=Money.from_minor(step, "CNY"))
            remaining -= step
            net = sum((c.amount for c in alliance.commissions(order_id="o")), Money.zero("CNY"))
            # never reverse more than was booked, and never flip sign
            assert Money.zero("CNY") <= net <= gross
        if remaining:
            alliance.refund(merchant_id="m1", order_id="o")
        for account in ("affiliate", "platform"):
            net = sum(
                (c.amount for c in alliance.commissions(order_id="o") if c.account == account),
                Money.zero("CNY"),
            )
            assert net == Money.zero("CNY")


def test_concurrent_duplicate_orders_book_once(alliance: Alliance) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    click_id, _ = _click(alliance)
    barrier = threading.Barrier(6)

    def record(_: int) -> str:
        barrier.wait()
        return alliance.record_order(_order("race"), click_id=click_id).model_dump_json()

    with ThreadPoolExecutor(6) as pool:
        assert len(set(pool.map(record, range(6)))) == 1
    assert len(alliance.commissions(order_id="race")) == 1


def test_plan_changes_apply_to_orders_placed_after_them(
    alliance: Alliance, clock: FakeClock
) -> None:
    click_id, _ = _click(alliance)
    before_change = clock.now()
    clock.advance(timedelta(hours=1))
    campaign = alliance.campaign("c1")
    alliance.add_campaign(campaign.model_copy(update={"plan": CommissionPlan(rate="20%")}))
    alliance.add_campaign(
        campaign.model_copy(update={"plan": CommissionPlan(rate="20%"), "active": True})
    )
    assert [v.version for v in alliance.plan_versions("c1")] == [1, 2]  # same plan: no new version
    late = alliance.record_order(
        _order("late", total="100.00", placed_at=before_change), click_id=click_id
    )
    now = alliance.record_order(_order("now", total="100.00"), click_id=click_id)
    assert [(c.amount, c.plan_version, c.rate) for c in late.commissions] == [
        (Money("10.00", "CNY"), 1, Decimal("0.1"))
    ]
    assert [(c.amount, c.plan_version, c.rate) for c in now.commissions] == [
        (Money("20.00", "CNY"), 2, Decimal("0.2"))
    ]


def test_a_plan_change_can_be_scheduled(alliance: Alliance, clock: FakeClock) -> None:
    click_id, _ = _click(alliance)
    campaign = alliance.campaign("c1")
    starts = clock.now() + timedelta(days=1)
    alliance.add_campaign(
        campaign.model_copy(update={"plan": CommissionPlan(rate="5%")}), plan_effective_from=starts
    )
    today = alliance.record_order(_order("today", total="100.00"), click_id=click_id)
    assert today.commissions[0].amount == Money("10.00", "CNY")
    clock.advance(timedelta(days=1))
    tomorrow = alliance.record_order(_order("tomorrow", total="100.00"), click_id=click_id)
    assert tomorrow.commissions[0].amount == Money("5.00", "CNY")
    assert tomorrow.commissions[0].rule == "base"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=st.lists(st.sampled_from(["o1", "o2", "o3"]), min_size=1, max_size=12))
def test_any_sequence_of_retries_books_each_order_once(calls: list[str]) -> None:
    totals = {"o1": "10.00", "o2": "25.50", "o3": "99.99"}
    with Alliance.open(keys={"k1": SECRET}, clock=FakeClock(START)) as alliance:
        alliance.add_campaign(make_campaign())
        click_id, _ = _click(alliance)
        browse(alliance)
        first: dict[str, object] = {}
        for order_id in calls:
            outcome = alliance.record_order(
                _order(order_id, total=totals[order_id]), click_id=click_id
            )
            assert first.setdefault(order_id, outcome) == outcome
        booked = alliance.commissions()
        assert sorted(c.order_id for c in booked) == sorted(set(calls))
        assert alliance.verify_ledger().entries == len(set(calls))
