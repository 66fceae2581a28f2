"""Per-order attribution: models, lookbacks, precedence, coupons, binding, cross-device."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import get_args

import pytest

from affiliate_sdk import (
    Affiliate,
    Alliance,
    AttributionPolicy,
    InvalidInput,
    Money,
    Order,
)
from affiliate_sdk.models import AttributionModel
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking.attribution import model_weights, rounded_weights

from .conftest import HUMAN_UA, SECRET, make_campaign

HOUR = 3_600_000


@pytest.fixture(params=["memory://", "sqlite"])
def alliance(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: object
) -> Iterator[Alliance]:
    url = request.param if request.param == "memory://" else f"sqlite:///{tmp_path}/a.db"
    with Alliance.open(url, keys={"k1": SECRET}, clock=clock) as alliance:
        yield alliance


def _setup(alliance: Alliance, **policy: object) -> None:
    alliance.add_campaign(
        make_campaign(rate="10%", attribution=AttributionPolicy.model_validate(policy))
    )


def _click(alliance: Alliance, affiliate: str, visitor: str | None = None) -> tuple[str, str]:
    link = alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )
    click = alliance.track_click(link, ip="198.51.100.7", user_agent=HUMAN_UA, visitor_id=visitor)
    return click.click_id, click.visitor_id


def _order(order_id: str = "o1", total: str = "100.00", **extra: object) -> Order:
    return Order(order_id=order_id, merchant_id="m1", total=Money(total, "CNY"), **extra)


def _journey(alliance: Alliance, clock: FakeClock, affiliates: list[str]) -> str:
    """Clicks by ``affiliates`` one hour apart from one visitor; returns the visitor."""
    visitor = None
    for affiliate in affiliates:
        _, visitor = _click(alliance, affiliate, visitor)
        clock.advance(timedelta(hours=1))
    assert visitor is not None
    return visitor


def _affiliate_amounts(alliance: Alliance, order_id: str = "o1") -> dict[str, Money]:
    return {
        line.affiliate_id: line.amount
        for line in alliance.commissions(order_id=order_id)
        if line.account == "affiliate"
    }


def test_weights_by_hand() -> None:
    times = [0, 10 * HOUR, 20 * HOUR, 30 * HOUR]

    def weigh(model: AttributionModel, at: list[int] = times) -> list[Fraction]:
        return model_weights(
            model,
            at,
            placed_at_ms=30 * HOUR,
            half_life_ms=10 * HOUR,
            first=Decimal("0.4"),
            last=Decimal("0.4"),
        )

    assert weigh("last_click") == [0, 0, 0, 1]
    assert weigh("first_click") == [1, 0, 0, 0]
    assert weigh("linear") == [Fraction(1, 4)] * 4
    assert weigh("position_based") == [
        Fraction(2, 5),
        Fraction(1, 10),
        Fraction(1, 10),
        Fraction(2, 5),
    ]
    assert weigh("position_based", times[:2]) == [Fraction(1, 2)] * 2
    assert weigh("position_based", times[:1]) == [1]
    # Half-life 10 h: ages 30, 20, 10, 0 h weigh 1/8, 1/4, 1/2, 1 -> over 15/8.
    assert weigh("time_decay") == [
        Fraction(1, 15),
        Fraction(2, 15),
        Fraction(4, 15),
        Fraction(8, 15),
    ]
    for model in get_args(AttributionModel):
        assert sum(weigh(model), Fraction(0)) == 1


def test_rounded_weights_add_up_to_one() -> None:
    thirds = rounded_weights([Fraction(1, 3)] * 3)
    assert sum(thirds) == 1
    assert thirds == [
        Decimal("0.333333333334"),
        Decimal("0.333333333333"),
        Decimal("0.333333333333"),
    ]


def test_linear_model_shares_commission_to_the_cent(alliance: Alliance, clock: FakeClock) -> None:
    _setup(alliance, model="linear")
    visitor = _journey(alliance, clock, ["a1", "a2", "a3"])
    outcome = alliance.record_order(_order(), visitor_id=visitor)
    assert outcome.model == "linear"
    assert sum(c.weight for c in outcome.credits) == 1
    assert [c.affiliate_id for c in outcome.credits] == ["a1", "a2", "a3"]
    amounts = _affiliate_amounts(alliance)
    # 10% of 100.00 = 10.00 split in thirds: 3.34 + 3.33 + 3.33.
    assert sorted(amounts.values()) == [
        Money("3.33", "CNY"),
        Money("3.33", "CNY"),
        Money("3.34", "CNY"),
    ]
    assert sum(m.amount for m in amounts.values()) == Decimal("10.00")
    assert [t.counted for t in outcome.touches] == [True, True, True]
    # A full refund reverses every share.
    alliance.refund("m1", "o1")
    assert all(
        line.status == "reversed"
        for line in alliance.commissions(order_id="o1")
        if line.kind == "commission"
    )


def test_position_based_and_repeat_clicks_of_one_affiliate(
    alliance: Alliance, clock: FakeClock
) -> None:
    _setup(alliance, model="position_based")
    visitor = _journey(alliance, clock, ["a1", "a2", "a2", "a3"])
    outcome = alliance.record_order(_order(), visitor_id=visitor)
    weights = {c.affiliate_id: c.weight for c in outcome.credits}
    # 40% first, 20% over the two middle clicks (both a2), 40% last.
    assert weights == {"a1": Decimal("0.4"), "a2": Decimal("0.2"), "a3": Decimal("0.4")}
    assert _affiliate_amounts(alliance) == {
        "a1": Money("4.00", "CNY"),
        "a2": Money("2.00", "CNY"),
        "a3": Money("4.00", "CNY"),
    }


def test_default_is_last_click(alliance: Alliance, clock: FakeClock) -> None:
    _setup(alliance)
    visitor = _journey(alliance, clock, ["a1", "a2"])
    outcome = alliance.record_order(_order(), visitor_id=visitor)
    assert [(c.affiliate_id, c.weight) for c in outcome.credits] == [("a2", Decimal(1))]
    assert [(t.affiliate_id, t.counted, t.weight) for t in outcome.touches] == [
        ("a1", True, Decimal(0)),
        ("a2", True, Decimal(1)),
    ]


def test_lookback_and_per_affiliate_overrides(alliance: Alliance, clock: FakeClock) -> None:
    _setup(
        alliance,
        model="linear",
        lookback="P1D",
        affiliates={"a2": {"lookback": "PT30M"}, "a3": {"counts": False}},
    )
    visitor = _journey(alliance, clock, ["a0"])
    clock.advance(timedelta(days=2))
    for affiliate in ["a1", "a2", "a3"]:
        _click(alliance, affiliate, visitor)
        clock.advance(timedelta(hours=1))
    outcome = alliance.record_order(_order(), visitor_id=visitor)
    assert [c.affiliate_id for c in outcome.credits] == ["a1"]
    reasons = {t.affiliate_id: t.reason for t in outcome.touches if not t.counted}
    assert "outside its attribution window" in (reasons["a0"] or "")
    assert "outside its attribution window" in (reasons["a2"] or "")  # its own 30 minutes
    assert "does not count" in (reasons["a3"] or "")


def test_ignored_channels_count_only_alone(alliance: Alliance, clock: FakeClock) -> None:
    _setup(alliance, ignore_channels=["coupon-site"])
    alliance.add_affiliate(Affiliate(affiliate_id="deals", channel="coupon-site"))
    visitor = _journey(alliance, clock, ["a1", "deals"])
    outcome = alliance.record_order(_order(), visitor_id=visitor)
    assert [c.affiliate_id for c in outcome.credits] == ["a1"]
    alone = _journey(alliance, clock, ["deals"])
    outcome = alliance.record_order(_order("o2"), visitor_id=alone)
    assert [c.affiliate_id for c in outcome.credits] == ["deals"]


def test_coupon_beats_click_by_default_and_not_when_declared(
    alliance: Alliance, clock: FakeClock
) -> None:
    _setup(alliance)
    alliance.assign_coupon("spring10", affiliate_id="influencer", campaign_id="c1")
    visitor = _journey(alliance, clock, ["a1"])
    outcome = alliance.record_order(_order(coupon_codes=[" SPRING10 "]), visitor_id=visitor)
    assert [(c.affiliate_id, c.signal, c.coupon_code) for c in outcome.credits] == [
        ("influencer", "coupon", "SPRING10")
    ]
    click_note = next(t for t in outcome.touches if t.signal == "click")
    assert not click_note.counted and "coupon takes precedence" in (click_note.reason or "")

    alliance.add_campaign(
        make_campaign(attribution=AttributionPolicy(precedence=["click", "coupon"]))
    )
    outcome = alliance.record_order(_order("o2", coupon_codes=["spring10"]), visitor_id=visitor)
    assert [(c.affiliate_id, c.signal) for c in outcome.credits] == [("a1", "click")]
    # Without a click the coupon still credits the order.
    outcome = alliance.record_order(_order("o3", coupon_codes=["spring10"]))
    assert [(c.affiliate_id, c.signal) for c in outcome.credits] == [("influencer", "coupon")]


def test_several_coupons_resolve_in_the_order_given(alliance: Alliance) -> None:
    _setup(alliance)
    alliance.assign_coupon("FIRST", affiliate_id="f1", campaign_id="c1")
    alliance.assign_coupon("SECOND", affiliate_id="f2", campaign_id="c1")
    outcome = alliance.record_order(_order(coupon_codes=["nobody", "second", "first"]))
    assert [c.affiliate_id for c in outcome.credits] == ["f2"]
    reasons = {t.coupon_code: t.reason for t in outcome.touches}
    assert reasons["NOBODY"] == "is not assigned"
    assert "comes after coupon SECOND" in (reasons["FIRST"] or "")


def test_coupon_assignment_rules(alliance: Alliance) -> None:
    _setup(alliance)
    alliance.assign_coupon("SAVE", affiliate_id="a1", campaign_id="c1")
    alliance.assign_coupon("save", affiliate_id="a1", campaign_id="c1")  # same holder: no-op
    with pytest.raises(InvalidInput, match="already assigned to affiliate a1"):
        alliance.assign_coupon("SAVE", affiliate_id="a2", campaign_id="c1")
    alliance.assign_coupon("SAVE", affiliate_id="a2", campaign_id="c1", replace=True)
    assert alliance.record_order(_order(coupon_codes=["save"])).credits[0].affiliate_id == "a2"
    with pytest.raises(InvalidInput, match="printable"):
        alliance.assign_coupon("two words", affiliate_id="a1", campaign_id="c1")


def test_customer_binding_for_a_period(alliance: Alliance, clock: FakeClock) -> None:
    _setup(alliance, bind_customers=True, binding_period="P90D")
    visitor = _journey(alliance, clock, ["a1"])
    first = alliance.record_order(_order(customer_id="cust-7"), visitor_id=visitor)
    assert [c.affiliate_id for c in first.credits] == ["a1"]
    clock.advance(timedelta(days=10))
    other = _journey(alliance, clock, ["a2"])
    second = alliance.record_order(_order("o2", customer_id="cust-7"), visitor_id=other)
    assert [(c.affiliate_id, c.signal) for c in second.credits] == [("a1", "bound_customer")]
    clock.advance(timedelta(days=81))
    later = _journey(alliance, clock, ["a2"])
    third = alliance.record_order(_order("o3", customer_id="cust-7"), visitor_id=later)
    assert [(c.affiliate_id, c.signal) for c in third.credits] == [("a2", "click")]
    assert any("binding has expired" in n for n in third.notes)
    # The expired binding is replaced: the customer is now a2's.
    fourth = alliance.record_order(_order("o4", customer_id="cust-7"))
    assert [(c.affiliate_id, c.signal) for c in fourth.credits] == [("a2", "bound_customer")]


def test_cross_device_clicks_through_the_customer(alliance: Alliance, clock: FakeClock) -> None:
    _setup(alliance, model="linear")
    phone = _journey(alliance, clock, ["a1"])
    alliance.record_order(_order(customer_id="cust-9"), visitor_id=phone)
    laptop = _journey(alliance, clock, ["a2"])
    outcome = alliance.record_order(_order("o2", customer_id="cust-9"), visitor_id=laptop)
    assert sorted(c.affiliate_id for c in outcome.credits) == ["a1", "a2"]
    # A third device with no clicks of its own still finds both.
    outcome = alliance.record_order(_order("o3", customer_id="cust-9"))
    assert sorted(c.affiliate_id for c in outcome.credits) == ["a1", "a2"]


def test_flagged_clicks_count_only_when_allowed(alliance: Alliance) -> None:
    from affiliate_sdk.tracking.attribution import CampaignRules, decide

    from .conftest import click_record

    flagged = click_record("k1")._replace(decision="review")
    for allowed in (False, True):
        rules = CampaignRules(AttributionPolicy(count_flagged=allowed), 30 * 24 * HOUR, True)
        decision = decide(
            [flagged],
            merchant_id="m1",
            placed_at_ms=2000,
            campaigns={"c1": rules},
            channels={},
            coupons=[],
            binding=None,
        )
        assert bool(decision.shares) is allowed


def test_policies_are_validated() -> None:
    with pytest.raises(InvalidInput, match="precedence"):
        AttributionPolicy.model_validate({"precedence": ["click", "click"]})
    with pytest.raises(InvalidInput, match="first_share"):
        AttributionPolicy.model_validate({"first_share": "70%", "last_share": "40%"})
    with pytest.raises(InvalidInput, match="lookback"):
        AttributionPolicy.model_validate({"lookback": "P500D"})
    with pytest.raises(InvalidInput, match="model"):
        AttributionPolicy.model_validate({"model": "everyone_wins"})
    assert "precedence" in AttributionPolicy.model_json_schema()["properties"]


def test_view_through_impressions(alliance: Alliance, clock: FakeClock) -> None:
    from .conftest import BOT_UA

    alliance.add_campaign(make_campaign(rate="10%"))
    link = alliance.create_link(
        affiliate_id="display", campaign_id="c1", landing_url="https://shop.example.com/"
    )
    visitor = "visitor-0001"
    assert alliance.track_impression(link, visitor_id=visitor, user_agent=BOT_UA) is None
    assert alliance.track_impression(link, visitor_id=visitor, user_agent=HUMAN_UA)
    clock.advance(timedelta(hours=2))
    unseen = alliance.record_order(_order(), visitor_id=visitor)
    assert unseen.credits == []
    assert any("does not count views" in n for n in unseen.notes)

    _setup(alliance, view_through="PT12H")
    seen = alliance.record_order(_order("o2"), visitor_id=visitor)
    assert [(c.affiliate_id, c.signal, c.click_id) for c in seen.credits] == [
        ("display", "view", None)
    ]
    assert _affiliate_amounts(alliance, "o2") == {"display": Money("10.00", "CNY")}

    _click(alliance, "search", visitor)  # a click takes precedence over a view
    clicked = alliance.record_order(_order("o3"), visitor_id=visitor)
    assert [(c.affiliate_id, c.signal) for c in clicked.credits] == [("search", "click")]
    view_note = next(t for t in clicked.touches if t.signal == "view")
    assert "click takes precedence" in (view_note.reason or "")

    clock.advance(timedelta(hours=11))
    stale = alliance.record_order(_order("o4"), visitor_id="visitor-0002")
    assert stale.credits == []
    assert alliance.track_impression(link, visitor_id="visitor-0002", user_agent=HUMAN_UA)
    clock.advance(timedelta(hours=13))
    late = alliance.record_order(_order("o5"), visitor_id="visitor-0002")
    assert late.credits == []
    assert any("outside its view-through window" in n for n in late.notes)
    with pytest.raises(InvalidInput, match="visitor_id"):
        alliance.track_impression(link, visitor_id="bad id")


def test_impressions_over_the_frequency_cap_do_not_earn_and_leave_the_clicks_cap_alone(
    alliance: Alliance, clock: FakeClock
) -> None:
    _setup(alliance, view_through="P1D")
    visitor = "visitor-0003"

    def see(affiliate: str) -> None:
        link = alliance.create_link(
            affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
        )
        assert alliance.track_impression(link, visitor_id=visitor, user_agent=HUMAN_UA)
        clock.advance(timedelta(hours=1))

    for _ in range(5):  # five impressions: the cap (5 in 7 days), each earns
        see("display-a")
    see("display-b")  # the sixth: recorded, but it does not earn
    seen = alliance.record_order(_order(), visitor_id=visitor)
    assert [(c.affiliate_id, c.signal) for c in seen.credits] == [("display-a", "view")]
    assert _affiliate_amounts(alliance, "o1") == {"display-a": Money("10.00", "CNY")}
    capped = [t for t in seen.touches if t.affiliate_id == "display-b"]
    assert [t.reason for t in capped] == ["is over the visitor's frequency cap"]
    clock.advance(timedelta(days=7))  # the week has passed: an impression earns again
    see("display-b")
    later = alliance.record_order(_order("o2"), visitor_id=visitor)
    assert [(c.affiliate_id, c.signal) for c in later.credits] == [("display-b", "view")]
    for _ in range(6):  # impressions do not use up the visitor's clicks: its click earns
        see("display-c")
    _click(alliance, "search", visitor)
    clicked = alliance.record_order(_order("o3"), visitor_id=visitor)
    assert [(c.affiliate_id, c.signal) for c in clicked.credits] == [("search", "click")]
