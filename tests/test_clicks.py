from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from affiliate_sdk import (
    Alliance,
    CampaignInactive,
    ForbiddenLanding,
    InvalidInput,
    InvalidSignature,
    Money,
    Order,
    UnknownCampaign,
)
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking.clicks import IpPseudonymizer, append_click_id, referrer_host

from .conftest import BOT_UA, HUMAN_UA, SECRET, make_campaign


def _link(alliance: Alliance, landing: str = "https://shop.example.com/p/1") -> str:
    return alliance.create_link(
        affiliate_id="a1", campaign_id="c1", landing_url=landing, sub_ids={"sub2": "feed"}
    )


def test_click_redirects_with_click_id_and_sets_cookie(alliance: Alliance) -> None:
    url = _link(alliance, "https://shop.example.com/p/1?color=red#top")
    click = alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA, referrer=None)
    assert click.verdict.decision == "allow"
    parts = urlsplit(click.redirect_url)
    assert parts.netloc == "shop.example.com"
    assert parse_qs(parts.query) == {"color": ["red"], "aff_click_id": [click.click_id]}
    assert parts.fragment == "top"
    assert click.cookie.name == "aff_vid"
    assert click.cookie.value == click.visitor_id
    assert click.cookie.max_age == 30 * 24 * 3600
    header = click.cookie.header()
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"):
        assert attribute in header
    assert click.claims.sub_ids == {"sub2": "feed"}
    assert not click.reused


def test_click_param_and_cookie_name_are_configurable(clock: FakeClock) -> None:
    with Alliance.open(
        keys={"k1": SECRET}, clock=clock, click_param="cid", cookie_name="ref"
    ) as alliance:
        alliance.add_campaign(
            make_campaign(
                rate="1%",
                attribution_window=timedelta(days=7),
            )
        )
        click = alliance.track_click(_link(alliance), ip=None, user_agent=HUMAN_UA)
        assert click.redirect_url.endswith(f"?cid={click.click_id}")
        assert click.cookie.name == "ref"
        assert click.cookie.max_age == 7 * 24 * 3600


@pytest.mark.parametrize(
    ("option", "value"),
    [("click_param", "a b"), ("cookie_name", "x;y"), ("redirect_base", "https://go.test/")],
)
def test_bad_configuration_is_refused(option: str, value: str) -> None:
    with pytest.raises(InvalidInput):
        Alliance.open(keys={"k1": SECRET}, **{option: value})


def test_visitor_id_is_kept_or_assigned(alliance: Alliance) -> None:
    url = _link(alliance)
    first = alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA)
    kept = alliance.track_click(
        _link(alliance, "https://shop.example.com/p/2"),
        ip="203.0.113.7",
        user_agent=HUMAN_UA,
        visitor_id=first.visitor_id,
    )
    assert kept.visitor_id == first.visitor_id
    tampered = alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA, visitor_id="<x>")
    assert tampered.visitor_id != "<x>"


def test_repeat_click_within_an_hour_reuses_the_click(alliance: Alliance, clock: FakeClock) -> None:
    url = _link(alliance)
    first = alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA)
    clock.advance(timedelta(minutes=59))
    again = alliance.track_click(
        url, ip="203.0.113.7", user_agent=HUMAN_UA, visitor_id=first.visitor_id
    )
    assert again.reused
    assert again.click_id == first.click_id
    assert again.clicked_at == first.clicked_at
    other_visitor = alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA)
    assert other_visitor.click_id != first.click_id
    clock.advance(timedelta(minutes=2))
    later = alliance.track_click(
        url, ip="203.0.113.7", user_agent=HUMAN_UA, visitor_id=first.visitor_id
    )
    assert not later.reused
    assert later.click_id != first.click_id


def test_known_bot_is_blocked_but_redirected_and_never_paid(alliance: Alliance) -> None:
    url = _link(alliance)
    click = alliance.track_click(url, ip="66.249.66.1", user_agent=BOT_UA)
    assert click.verdict.decision == "block"
    assert click.verdict.score == 100
    assert [r.code for r in click.verdict.reasons] == ["ua.known_bot"]
    assert "Googlebot" in click.verdict.reasons[0].message
    assert click.redirect_url.startswith("https://shop.example.com/p/1?aff_click_id=")
    outcome = alliance.record_order(
        Order(order_id="o-bot", merchant_id="m1", total=Money("50.00", "CNY")),
        visitor_id=click.visitor_id,
        click_id=click.click_id,
    )
    assert outcome.credits == []
    assert outcome.commissions == []
    assert any("blocked" in note for note in outcome.notes)


@pytest.mark.parametrize("user_agent", [None, "", "   "])
def test_missing_user_agent_is_blocked(alliance: Alliance, user_agent: str | None) -> None:
    click = alliance.track_click(_link(alliance), ip="203.0.113.7", user_agent=user_agent)
    assert click.verdict.decision == "block"
    assert click.verdict.reasons[0].code == "ua.missing"


def test_reused_click_keeps_its_verdict(alliance: Alliance) -> None:
    url = _link(alliance)
    bot = alliance.track_click(url, ip="66.249.66.1", user_agent=BOT_UA)
    again = alliance.track_click(
        url, ip="66.249.66.1", user_agent=HUMAN_UA, visitor_id=bot.visitor_id
    )
    assert again.reused
    assert again.verdict == bot.verdict


def test_campaign_checks_on_click(alliance: Alliance) -> None:
    url = _link(alliance)
    campaign = alliance.campaign("c1")
    alliance.add_campaign(campaign.model_copy(update={"active": False}))
    with pytest.raises(CampaignInactive) as info:
        alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA)
    assert info.value.landing_url == "https://shop.example.com/p/1"
    # the campaign narrows its domains: links to the old domain stop redirecting
    alliance.add_campaign(campaign.model_copy(update={"landing_domains": ["new-shop.example.com"]}))
    with pytest.raises(ForbiddenLanding):
        alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA)


def test_create_link_checks_campaign_and_landing(alliance: Alliance) -> None:
    with pytest.raises(UnknownCampaign):
        alliance.create_link(
            affiliate_id="a1", campaign_id="nope", landing_url="https://shop.example.com/"
        )
    with pytest.raises(ForbiddenLanding):
        alliance.create_link(affiliate_id="a1", campaign_id="c1", landing_url="https://evil.com/")
    with pytest.raises(InvalidInput):
        alliance.create_link(
            affiliate_id="a 1", campaign_id="c1", landing_url="https://shop.example.com/"
        )


def test_forged_link_is_refused(alliance: Alliance) -> None:
    url = _link(alliance)
    forged = url.replace(url.split(".")[-1], "A" * 22)
    with pytest.raises(InvalidSignature):
        alliance.track_click(forged, ip="203.0.113.7", user_agent=HUMAN_UA)


def test_raw_ip_is_never_stored(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "a.db"
    with Alliance.open(f"sqlite:///{path}", keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        click = alliance.track_click(_link(alliance), ip="198.51.100.73", user_agent=HUMAN_UA)
        alliance.track_click(_link(alliance), ip="2001:db8:abcd:12::7", user_agent=HUMAN_UA)
        alliance.record_order(
            Order(order_id="o1", merchant_id="m1", total=Money("10.00", "USD")),
            click_id=click.click_id,
            ip="198.51.100.73",
        )
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT ip_hash, ip_network FROM clicks ORDER BY clicked_at_ms"
        ).fetchall()
    assert {row[1] for row in rows} == {"198.51.100.0/24", "2001:db8:abcd::/48"}
    assert all(len(row[0]) == 32 for row in rows)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for needle in (b"198.51.100.73", b"2001:db8:abcd:12::7", b"2001:db8:abcd:12:"):
        assert needle not in raw


def pseudonymize_ip(ip: str, key: bytes) -> tuple[str, str]:
    return IpPseudonymizer(key).pseudonymize(ip)


def test_pseudonymize_ip() -> None:
    key = b"k" * 32
    digest, network = pseudonymize_ip("203.0.113.7", key)
    assert network == "203.0.113.0/24"
    assert pseudonymize_ip("203.0.113.7", key)[0] == digest
    assert pseudonymize_ip("203.0.113.8", key)[0] != digest
    assert pseudonymize_ip("203.0.113.7", b"j" * 32)[0] != digest
    assert pseudonymize_ip("::ffff:203.0.113.7", key) == (digest, network)
    assert pseudonymize_ip("2001:DB8::1", key)[1] == "2001:db8::/48"
    for bad in ("1.2.3", "256.1.1.1", "example.com", "1.2.3.4/24", ""):
        with pytest.raises(InvalidInput):
            pseudonymize_ip(bad, key)


def test_invalid_ip_is_a_typed_error(alliance: Alliance) -> None:
    with pytest.raises(InvalidInput, match="not an IPv4 or IPv6"):
        alliance.track_click(_link(alliance), ip="999.1.1.1", user_agent=HUMAN_UA)


def test_append_click_id() -> None:
    assert append_click_id("https://s.test/", "c", "X") == "https://s.test/?c=X"
    assert append_click_id("https://s.test/?a=1", "c", "X") == "https://s.test/?a=1&c=X"
    assert append_click_id("https://s.test/?", "c", "X") == "https://s.test/?c=X"
    assert append_click_id("https://s.test/p#f?x", "c", "X") == "https://s.test/p?c=X#f?x"


def test_referrer_keeps_only_the_host() -> None:
    assert referrer_host("https://User@Blog.Example.org/post?email=a@b.c") == "blog.example.org"
    assert referrer_host("android-app://com.example") == "com.example"
    assert referrer_host("not a url") is None
    assert referrer_host(None) is None


def test_huge_user_agents_are_judged_by_their_start(alliance: Alliance) -> None:
    padded_bot = "Googlebot/2.1 " + "x" * 100_000
    click = alliance.track_click(_link(alliance), ip="203.0.113.7", user_agent=padded_bot)
    assert click.verdict.decision == "block"
    human = alliance.track_click(
        _link(alliance), ip="203.0.113.7", user_agent=HUMAN_UA + "y" * 5000
    )
    assert human.verdict.decision == "allow"


def test_attribution_window_is_bounded() -> None:
    with pytest.raises(InvalidInput, match="at most 400 days"):
        make_campaign(
            campaign_id="c",
            merchant_id="m",
            rate="1%",
            attribution_window=timedelta(days=401),
        )


def test_concurrent_repeat_clicks_count_once(alliance: Alliance) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    url = _link(alliance)
    visitor = alliance.track_click(url, ip="203.0.113.7", user_agent=HUMAN_UA).visitor_id
    other = _link(alliance, "https://shop.example.com/p/9")
    barrier = threading.Barrier(8)

    def click(_: int) -> tuple[str, bool]:
        barrier.wait()
        result = alliance.track_click(
            other, ip="203.0.113.7", user_agent=HUMAN_UA, visitor_id=visitor
        )
        return result.click_id, result.reused

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(click, range(8)))
    assert len({click_id for click_id, _ in results}) == 1
    assert sorted(reused for _, reused in results) == [False] + [True] * 7


def test_links_survive_appended_tracking_parameters(alliance: Alliance) -> None:
    url = _link(alliance)
    assert alliance.verify_link(url + "?fbclid=IwAR0abc&utm_source=x#frag") == alliance.verify_link(
        url
    )
