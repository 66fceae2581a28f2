"""The click path runs the fraud rules: velocity, frequency caps, paid click ids, headless."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from affiliate_sdk import Alliance, FraudThresholds, InvalidInput, Money, Order
from affiliate_sdk.testing import FakeClock

from ..conftest import HUMAN_UA, SECRET, make_campaign


@pytest.fixture
def alliance(clock: FakeClock) -> Iterator[Alliance]:
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        yield alliance


def _link(alliance: Alliance, affiliate: str = "a1") -> str:
    return alliance.create_link(
        affiliate_id=affiliate, campaign_id="c1", landing_url="https://shop.example.com/"
    )


def test_network_velocity_blocks_a_burst(alliance: Alliance, clock: FakeClock) -> None:
    link = _link(alliance)
    decisions = []
    for n in range(32):
        click = alliance.track_click(link, ip="198.51.100.7", user_agent=f"{HUMAN_UA} v{n}")
        decisions.append(click.verdict.decision)
        clock.advance(timedelta(milliseconds=500))
    assert decisions[:30] == ["allow"] * 30
    assert decisions[30:] == ["block", "block"]
    assert click.verdict.reasons[0].code == "velocity.network"
    clock.advance(timedelta(minutes=2))  # the window has passed
    fresh = alliance.track_click(link, ip="198.51.100.7", user_agent=HUMAN_UA)
    assert fresh.verdict.decision == "allow"


def test_a_visitor_clicking_too_often_is_flagged_and_its_clicks_do_not_earn(
    alliance: Alliance, clock: FakeClock
) -> None:
    # (the weekly frequency cap raised: this is about clicks within a minute)
    alliance.add_campaign(make_campaign(fraud=FraudThresholds(visitor_touches_per_week=50)))
    links = [_link(alliance, f"a{n}") for n in range(9)]
    visitor = None
    verdicts = []
    for n, link in enumerate(links):
        click = alliance.track_click(
            link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA, visitor_id=visitor
        )
        visitor = click.visitor_id
        verdicts.append(click.verdict)
        clock.advance(timedelta(seconds=1))
    # The first click made the visitor; its next six are within the limit, the seventh is not.
    assert [v.decision for v in verdicts[:7]] == ["allow"] * 7
    assert verdicts[7].decision == "review"
    assert [r.code for r in verdicts[7].reasons] == ["velocity.visitor"]
    outcome = alliance.record_order(
        Order(order_id="o1", merchant_id="m1", total=Money("10.00", "CNY")), visitor_id=visitor
    )
    # The flagged clicks (a7, a8) do not count; the last one allowed (a6) takes the order.
    assert [c.affiliate_id for c in outcome.credits] == ["a6"]


def test_over_five_touches_in_seven_days_a_visitors_clicks_are_recorded_and_do_not_earn(
    alliance: Alliance, clock: FakeClock
) -> None:
    visitor = None
    verdicts = []
    for n in range(7):  # one affiliate a day, for a week
        click = alliance.track_click(
            _link(alliance, f"a{n}"), ip="203.0.113.5", user_agent=HUMAN_UA, visitor_id=visitor
        )
        visitor = click.visitor_id
        verdicts.append(click.verdict)
        clock.advance(timedelta(hours=23))
    # the first click made the visitor; five touches more are within the cap (5 in 7 days)
    assert [v.decision for v in verdicts] == ["allow"] * 6 + ["review"]
    assert [r.code for r in verdicts[6].reasons] == ["velocity.frequency_cap"]
    outcome = alliance.record_order(
        Order(order_id="o-cap", merchant_id="m1", total=Money("10.00", "CNY")),
        visitor_id=visitor,
    )
    assert [c.affiliate_id for c in outcome.credits] == ["a5"]  # the capped touch does not earn
    clock.advance(timedelta(days=7))  # the week has passed
    later = alliance.track_click(_link(alliance, "a8"), ip="203.0.113.5", user_agent=HUMAN_UA,
                                 visitor_id=visitor)  # fmt: skip
    assert later.verdict.decision == "allow"


def test_by_default_a_visitor_bursting_within_a_minute_is_capped_then_blocked(
    alliance: Alliance, clock: FakeClock
) -> None:
    # the weekly cap (5) fires first and reviews; past 6 in a minute the visitor's reason adds
    # to the cap's, 50 + 40 >= 80, and blocks: so the minute is counted by default
    links = [_link(alliance, f"a{n}") for n in range(9)]
    visitor, verdicts = None, []
    for n, link in enumerate(links):
        click = alliance.track_click(link, ip=f"203.0.113.{n}", user_agent=HUMAN_UA,
                                     visitor_id=visitor)  # fmt: skip
        visitor = click.visitor_id
        verdicts.append(click.verdict)
        clock.advance(timedelta(seconds=1))
    assert [v.decision for v in verdicts] == ["allow"] * 6 + ["review", "block", "block"]
    assert [r.code for r in verdicts[8].reasons] == ["velocity.visitor", "velocity.frequency_cap"]


def test_the_visitors_minute_is_not_counted_where_it_cannot_change_a_decision(
    clock: FakeClock,
) -> None:
    # a block score the two reasons do not reach together: the weekly cap decides alone
    limits = FraudThresholds(block_score=95)
    with Alliance.open("memory://", keys={"k1": SECRET}, clock=clock, fraud=limits) as alliance:
        alliance.add_campaign(make_campaign())
        visitor = None
        for n in range(9):
            click = alliance.track_click(_link(alliance, f"a{n}"), ip=f"203.0.113.{n}",
                                         user_agent=HUMAN_UA, visitor_id=visitor)  # fmt: skip
            visitor = click.visitor_id
            clock.advance(timedelta(seconds=1))
        assert click.verdict.decision == "review"
        now_ms = int(clock.now().timestamp() * 1000)
        assert alliance.fraud.per_minute.total(f"v/{visitor}", now_ms) == 0


def test_a_daily_cap_per_affiliate_below_the_weekly_one_is_counted_and_enforced(
    alliance: Alliance, clock: FakeClock
) -> None:
    # 3 clicks a day on one affiliate's links, under a weekly cap of 50: the daily count
    # matters (by default, 20 a day against 5 a week, the weekly cap always fires first)
    limits = FraudThresholds(visitor_touches_per_week=50, visitor_affiliate_clicks_per_day=3)
    alliance.add_campaign(make_campaign(fraud=limits))

    def link(affiliate: str, n: int) -> str:  # a link of its own each (no repeated click)
        return alliance.create_link(
            affiliate_id=affiliate, campaign_id="c1", landing_url=f"https://shop.example.com/{n}"
        )

    first = alliance.track_click(link("a1", 0), ip="203.0.113.9", user_agent=HUMAN_UA)
    visitor, decisions = first.visitor_id, []
    for n in range(1, 6):  # every 20 s: within every per-minute limit
        clock.advance(timedelta(seconds=20))
        click = alliance.track_click(link("a1", n), ip=f"203.0.113.{n}", user_agent=HUMAN_UA,
                                     visitor_id=visitor)  # fmt: skip
        decisions.append(click.verdict.decision)
    # the first click made the visitor: its next three on a1 are within 3 a day, then over
    assert decisions == ["allow", "allow", "allow", "review", "review"]
    elsewhere = alliance.track_click(link("a2", 9), ip="203.0.113.9", user_agent=HUMAN_UA,
                                     visitor_id=visitor)  # fmt: skip
    assert elsewhere.verdict.decision == "allow"  # another affiliate's links: its own count
    clock.advance(timedelta(days=1))
    again = alliance.track_click(link("a1", 10), ip="203.0.113.9", user_agent=HUMAN_UA,
                                 visitor_id=visitor)  # fmt: skip
    assert again.verdict.decision == "allow"  # a new day


def test_paid_click_ids_are_blocked_where_the_campaign_forbids_paid_search(
    alliance: Alliance,
) -> None:
    link = _link(alliance)
    tagged = f"{link}?gclid=abc123&utm_source=x"
    assert alliance.track_click(tagged, ip="198.51.100.1", user_agent=HUMAN_UA).verdict.allowed
    alliance.add_campaign(make_campaign(fraud=FraudThresholds(forbid_paid_search=True)))
    click = alliance.track_click(tagged, ip="198.51.100.2", user_agent=HUMAN_UA)
    assert click.verdict.decision == "block"
    assert click.verdict.reasons[0].code == "paid.click_id"
    assert "gclid" in click.verdict.reasons[0].message
    assert click.redirect_url.startswith("https://shop.example.com/")  # still redirected


def test_headless_browsers_are_blocked(alliance: Alliance) -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Puppeteer Safari/537.36"
    click = alliance.track_click(_link(alliance), ip="198.51.100.3", user_agent=agent)
    assert click.verdict.decision == "block"
    assert "ua.headless" in [r.code for r in click.verdict.reasons]


def test_a_device_fingerprint_clicking_too_fast_is_flagged_across_cookies(
    alliance: Alliance, clock: FakeClock
) -> None:
    link = _link(alliance)
    decisions = []
    for n in range(12):  # new cookie every time, same device fingerprint, different networks
        click = alliance.track_click(
            link, ip=f"203.0.{n}.9", user_agent=HUMAN_UA, device_id="device-fp-0001"
        )
        decisions.append(click.verdict.decision)
        clock.advance(timedelta(seconds=3))
    assert decisions[:10] == ["allow"] * 10
    assert decisions[10:] == ["review", "review"]
    assert click.verdict.reasons[0].code == "velocity.device"
    alliance.blacklist("device", "device-fp-0002", reason="emulator farm")
    listed = alliance.track_click(
        link, ip="203.0.99.9", user_agent=HUMAN_UA, device_id="device-fp-0002"
    )
    assert listed.verdict.decision == "block"
    with pytest.raises(InvalidInput, match="device_id"):
        alliance.track_click(link, ip="203.0.99.9", user_agent=HUMAN_UA, device_id="x")
