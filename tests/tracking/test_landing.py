from __future__ import annotations

import pytest

from affiliate_sdk import ForbiddenLanding
from affiliate_sdk.tracking.landing import (
    LandingPolicy,
    check_landing_url,
    normalize_domain_pattern,
)

DOMAINS = ["shop.example.com", "*.cdn.example.com"]

ALLOWED = [
    "https://shop.example.com",
    "https://shop.example.com/",
    "https://shop.example.com/p/1?color=red&size=m#reviews",
    "HTTPS://SHOP.EXAMPLE.COM/P/1",
    "https://shop.example.com:443/p/1",
    "https://shop.example.com:8443/",
    "https://img.cdn.example.com/a.png",
    "https://a.b.cdn.example.com/",
    "https://shop.example.com/%E4%B8%AD%E6%96%87",
    "https://shop.example.com//double/slash",
]

# Redirect-bypass and look-alike tricks seen against link redirectors.
BYPASSES = [
    "http://shop.example.com/",  # plain http
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.com/",  # protocol-relative
    "https:/shop.example.com/",  # one slash
    "https:shop.example.com/",
    "https:///evil.com/",
    "https://evil.com/",
    "https://shop.example.com.evil.com/",  # suffix attack
    "https://evilshop.example.com/",
    "https://example.com/",
    "https://cdn.example.com/",  # wildcard covers subdomains only
    "https://xcdn.example.com/",  # wildcard at a dot boundary only
    "https://shop.example.com@evil.com/",  # user-info
    "https://user:pass@shop.example.com/",
    "https://evil.com#@shop.example.com/",
    "https://evil.com?@shop.example.com/",
    "https://evil.com\\@shop.example.com/",  # backslash
    "https://shop.example.com\\.evil.com/",
    "https://evil.com\\shop.example.com",
    "https://shop\uff0eexample\uff0ecom/",  # full-width dots
    "https://shop\u3002example\u3002com/",  # ideographic full stop
    "https://shop\uff61example.com/",  # half-width ideographic full stop
    "https://shop.exampl\u0435.com/",  # Cyrillic е
    "https://shop.example.com\u2024evil.com/",  # one-dot leader
    "https://shop.example.com./",  # trailing dot
    "https://shop..example.com/",
    "https://shop.example.com%2eevil.com/",
    "https://shop.example.com%40evil.com/",
    "https://shop.example.com:0/",
    "https://shop.example.com:99999/",
    "https://shop.example.com:443:80/",
    "https://shop.example.com:abc/",
    "https://[::1]/",
    "https://127.0.0.1/",
    "https://shop.example.com/\tpath",
    "https://shop.exa\nmple.com/",
    "https://shop.example.com/\x00",
    "https://shop.example.com/ space",
    " https://shop.example.com/",
    "https://shop.example.com/\u202e",  # bidi override
    "https://-shop.example.com/",
    "https://shop.example.com/" + "a" * 2100,
    "",
]


@pytest.mark.parametrize("url", ALLOWED)
def test_allowed(url: str) -> None:
    assert check_landing_url(url, DOMAINS) == url
    LandingPolicy(DOMAINS).check(url)


@pytest.mark.parametrize("url", BYPASSES)
def test_bypasses_are_refused(url: str) -> None:
    with pytest.raises(ForbiddenLanding) as info:
        check_landing_url(url, DOMAINS)
    assert info.value.url == url
    assert info.value.reason
    policy = LandingPolicy(DOMAINS)
    for _ in range(2):  # the memo gives the same answer the second time
        with pytest.raises(ForbiddenLanding):
            policy.check(url)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("Shop.Example.com", "shop.example.com"), ("*.example.com", "*.example.com")],
)
def test_domain_patterns(pattern: str, expected: str) -> None:
    assert normalize_domain_pattern(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "https://shop.example.com",
        "shop.example.com/",
        "*",
        "*.",
        "shop\uff0eexample.com",
        "shop.example.com:443",
        "sh op.com",
        "",
        "a..b",
        "*.*.example.com",
    ],
)
def test_bad_domain_patterns(pattern: str) -> None:
    with pytest.raises(ValueError, match="not a host name"):
        normalize_domain_pattern(pattern)
