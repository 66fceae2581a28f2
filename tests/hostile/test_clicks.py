"""Hostile input to ``track_click``, ``track_impression`` and ``record_impressions``.

Each call succeeds or raises an ``AffiliateError``; a refused click, impression or
impression count leaves the ledger and every velocity counter as they were.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from affiliate_sdk import AffiliateError, Alliance, Click, Commission

from ._state import attempt, check
from ._world import HUMAN_UA, LANDING, alliance
from .strategies import HOSTILE, SLOW, identifiers, ints, ips, strings, texts, urls

_BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

#: The arguments of one ``track_click`` call, and the link it is made on.
click_calls = st.fixed_dictionaries(
    {
        "landing_url": st.one_of(st.just(LANDING), urls()),
        "sub_ids": st.dictionaries(
            st.sampled_from(["sub1", "sub2", "gclid"]), strings(), max_size=2
        ),
        "ip": st.one_of(st.none(), ips()),
        "user_agent": st.one_of(st.none(), st.just(HUMAN_UA), st.just(_BOT_UA), strings()),
        "referrer": st.one_of(st.none(), urls()),
        "visitor_id": st.one_of(st.none(), identifiers("visitor-0001")),
        "country": st.one_of(
            st.none(), st.sampled_from(["DE", "de", "D", "DEU", "ÄÖ"]), strings(3)
        ),
        "device_id": st.one_of(st.none(), identifiers("device-0001")),
        "query": st.one_of(
            st.just(""), st.sampled_from(["?gclid=1", "?&&==", "?\ud800=1"]), strings()
        ),
    }
)

#: A click with nothing odd about it; ``@example``s change one field.
PLAIN: dict[str, Any] = {
    "landing_url": LANDING,
    "sub_ids": {},
    "ip": "203.0.113.7",
    "user_agent": HUMAN_UA,
    "referrer": None,
    "visitor_id": None,
    "country": None,
    "device_id": None,
    "query": "",
}


def _track(a: Alliance, call: dict[str, Any]) -> Click | AffiliateError:
    """Make the link (a plain one if its landing URL or sub-ids are refused) and click it."""
    link = attempt(
        lambda: a.create_link(
            affiliate_id="a1",
            campaign_id="c1",
            landing_url=call["landing_url"],
            sub_ids=call["sub_ids"],
        )
    )
    if isinstance(link, AffiliateError):
        link = a.create_link(affiliate_id="a1", campaign_id="c1", landing_url=LANDING)
    url = link + call["query"]
    plain = a.create_link(affiliate_id="a1", campaign_id="c1", landing_url=LANDING)
    a.track_click(plain, ip="203.0.113.9", user_agent=HUMAN_UA)  # counters with something in
    return check(
        a,
        lambda: a.track_click(
            url,
            ip=call["ip"],
            user_agent=call["user_agent"],
            referrer=call["referrer"],
            visitor_id=call["visitor_id"],
            country=call["country"],
            device_id=call["device_id"],
        ),
    )


def _clicked_well(click: Click | AffiliateError) -> None:
    if isinstance(click, Click):
        assert click.redirect_url.lower().startswith("https://"), click.redirect_url
        assert click.verdict.decision in ("allow", "review", "block")


@HOSTILE
@example({**PLAIN, "user_agent": "\ud800"})
@given(click_calls)
def test_track_click_succeeds_or_raises_typed_and_a_refusal_counts_nothing(
    call: dict[str, Any],
) -> None:
    with alliance() as a:
        _clicked_well(_track(a, call))


_db = itertools.count()


@settings(
    SLOW, suppress_health_check=[*SLOW.suppress_health_check, HealthCheck.function_scoped_fixture]
)
@example(call={**PLAIN, "referrer": "https://sh\ud800p.example.com/"})
@given(call=click_calls)
def test_track_click_on_sqlite_succeeds_or_raises_typed_and_a_refusal_counts_nothing(
    tmp_path: Path, call: dict[str, Any]
) -> None:
    with alliance(f"sqlite:///{tmp_path / f'clicks-{next(_db)}.db'}") as a:
        _clicked_well(_track(a, call))


@HOSTILE
@given(
    link=st.one_of(st.none(), strings(), urls()),
    visitor_id=identifiers("visitor-0001"),
    user_agent=st.one_of(st.none(), st.just(_BOT_UA), strings()),
)
def test_track_impression_succeeds_or_raises_typed_and_changes_nothing_when_refused(
    link: str | None, visitor_id: str, user_agent: str | None
) -> None:
    with alliance() as a:
        url = link or a.create_link(affiliate_id="a1", campaign_id="cpm", landing_url=LANDING)
        result = check(
            a, lambda: a.track_impression(url, visitor_id=visitor_id, user_agent=user_agent)
        )
        assert result is None or isinstance(result, str | AffiliateError)


@HOSTILE
@given(
    campaign_id=identifiers("cpm"),
    affiliate_id=identifiers("a1"),
    count=ints(),
    batch_id=identifiers("batch-1"),
    merchant_id=st.one_of(st.none(), identifiers("m1")),
    again=st.one_of(st.none(), ints()),
)
def test_record_impressions_books_non_negative_or_raises_typed_and_changes_nothing(
    *,
    campaign_id: str,
    affiliate_id: str,
    count: int,
    batch_id: str,
    merchant_id: str | None,
    again: int | None,
) -> None:
    with alliance() as a:
        a.record_impressions("cpm", affiliate_id="a1", count=999, batch_id="seed")
        for n in (count, count if again is None else again):  # the same batch twice

            def count_batch(n: int = n) -> list[Commission]:
                return a.record_impressions(
                    campaign_id,
                    affiliate_id=affiliate_id,
                    count=n,
                    batch_id=batch_id,
                    merchant_id=merchant_id,
                )

            lines = check(a, count_batch)
            if not isinstance(lines, AffiliateError):
                assert all(line.amount.amount >= 0 for line in lines), lines


@HOSTILE
@given(
    sku=texts("sku-1"),
    referrer=urls(),
    user_agent=strings(),
)
def test_a_clicked_link_keeps_its_redirect_on_the_landing_host(
    sku: str, referrer: str, user_agent: str
) -> None:
    with alliance() as a:
        link = attempt(
            lambda: a.create_link(
                affiliate_id="a1", campaign_id="c1", landing_url=LANDING, sub_ids={"sub1": sku}
            )
        )
        if isinstance(link, AffiliateError):
            link = a.create_link(affiliate_id="a1", campaign_id="c1", landing_url=LANDING)
        click = check(
            a, lambda: a.track_click(link, ip=None, user_agent=user_agent, referrer=referrer)
        )
        if isinstance(click, Click):
            assert click.redirect_url.startswith(LANDING + "?"), click.redirect_url
