"""The bot matcher agrees with Python's ``re`` on every pattern, first match included."""

from __future__ import annotations

import re

import crawleruseragents
import pytest

from affiliate_sdk.antifraud.useragents import BotUserAgents, bundled_patterns

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36",
]


def _first_by_re(compiled: list[re.Pattern[str]], user_agent: str) -> str | None:
    return next((p.pattern for p in compiled if p.search(user_agent)), None)


def test_set_matcher_is_in_use() -> None:
    assert BotUserAgents().engine == "re2"


def test_every_dataset_instance_matches_as_python_re_says() -> None:
    compiled = [re.compile(p) for p in bundled_patterns()]
    bots = BotUserAgents()
    instances = [
        instance
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        for instance in entry.get("instances", [])
    ]
    assert len(instances) > 1000
    for user_agent in [*instances, *BROWSERS]:
        assert bots.match(user_agent) == _first_by_re(compiled, user_agent), user_agent


def test_browsers_are_not_bots() -> None:
    bots = BotUserAgents()
    assert [bots.match(ua) for ua in BROWSERS] == [None] * len(BROWSERS)


@pytest.mark.parametrize(
    ("patterns", "agent", "expected"),
    [
        (["beta", "alpha"], "alpha beta", "beta"),  # list order, not position in the string
        ([r"(a)\1x", "zz"], "aax zz", r"(a)\1x"),  # a back-reference RE2 cannot take
        (["zz", r"(a)\1x"], "aax zz", "zz"),
        ([r"(?=q)qq"], "xqq", r"(?=q)qq"),  # a look-ahead, likewise
        ([r"(?=q)qq"], "xq", None),
    ],
)
def test_order_and_patterns_re2_cannot_take(
    patterns: list[str], agent: str, expected: str | None
) -> None:
    assert BotUserAgents(patterns).match(agent) == expected


def test_extra_patterns_come_after_the_bundled_ones() -> None:
    bots = BotUserAgents(extra=["MyInternalMonitor/"])
    assert bots.match("MyInternalMonitor/1.0") == "MyInternalMonitor/"
    assert bots.patterns[-1] == "MyInternalMonitor/"
