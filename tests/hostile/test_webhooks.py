"""Hostile input to ``subscribe``, ``verify_signature`` and postback URL templates.

A subscription is kept or refused with an ``AffiliateError`` (nothing kept then);
``verify_signature`` returns a timestamp within the tolerance or raises an
``AffiliateError`` (``WebhookSignatureError`` for a bad header), whatever the header,
body, secrets and clock; a header the SDK signed verifies; a filled postback
template keeps the template's host, whatever the values.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from hypothesis import example, given
from hypothesis import strategies as st

from affiliate_sdk import AffiliateError, Subscription
from affiliate_sdk.webhooks import MACROS, fill_template, signature_header, verify_signature
from affiliate_sdk.webhooks.signing import sign_payload

from ._state import attempt, check
from ._world import alliance
from .strategies import HOSTILE, headers, identifiers, ints, strings, urls, variants

SECRET = "whsec_0123456789abcdef"
NOW = 1_772_366_400  # the test clock's start, in Unix seconds

_EVENTS = ["order.attributed", "commission.booked", "payout.batch_created", "order.paid", ""]
_SIGNED = sign_payload(SECRET, NOW, b"")
_POSTBACK = "https://postback.example.com/cb?click={click_id}&amount={amount}&s1={sub1}"

subscription_specs = variants(
    {
        "subscription_id": "sub-1",
        "owner": "merchant",
        "owner_id": "m1",
        "url": _POSTBACK,
        "event_types": ["order.attributed"],
        "secrets": [SECRET],
    },
    {
        "subscription_id": identifiers("sub-1"),
        "owner": st.sampled_from(["platform", "merchant", "affiliate"]),
        "owner_id": st.one_of(st.none(), identifiers("m1")),
        "url": st.one_of(urls(), st.sampled_from(["https://{sub1}.example.com/"])),
        "event_types": st.lists(st.one_of(st.sampled_from(_EVENTS), strings(8)), max_size=3),
        "secrets": st.lists(
            st.one_of(st.just(SECRET), strings(), st.text(min_size=16)), max_size=4
        ),
        "method": st.sampled_from(["POST", "GET", "get", "DELETE"]),
        "active": st.booleans(),
        "disabled_reason": st.one_of(st.none(), strings()),
    },
)


@HOSTILE
@given(spec=subscription_specs)
def test_subscribe_keeps_or_raises_typed_and_keeps_nothing(spec: dict[str, Any]) -> None:
    with alliance() as a:
        kept_before = a.subscriptions()
        result = check(a, lambda: a.subscribe(Subscription(**spec)))
        if isinstance(result, AffiliateError):
            assert a.subscriptions() == kept_before, "a refused subscription was kept"
            return
        stored = a.subscription(result.subscription_id, scope=result.scope)
        assert (stored.url, stored.event_types) == (result.url, result.event_types)
        assert len(stored.secrets) == len(result.secrets)


def _secrets() -> st.SearchStrategy[list[str | bytes]]:
    one: st.SearchStrategy[str | bytes] = st.one_of(
        st.just(SECRET), strings(), st.binary(max_size=40), st.just(b"\x00" * 16)
    )
    return st.lists(one, max_size=3)


_clock = st.one_of(
    st.just(float(NOW)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, float(2**63)]),
)
_tolerance = st.one_of(
    st.just(300.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -1.0, 0.0, -0.0]),
)


@HOSTILE
@example(header=f"t=²,v1={_SIGNED}", body=b"", secrets=[SECRET], now=float(NOW), tolerance=300.0)
@example(header=f"t={NOW},v1={_SIGNED}", body=b"", secrets=[SECRET], now=math.nan, tolerance=300.0)
@example(header=f"t={10**400},v1=00", body=b"", secrets=[SECRET], now=float(NOW), tolerance=300.0)
@given(
    header=headers(NOW, _SIGNED),
    body=st.one_of(st.just(b""), st.binary(max_size=64)),
    secrets=_secrets(),
    now=_clock,
    tolerance=_tolerance,
)
def test_verify_signature_accepts_only_a_matching_timely_signature(
    header: str, body: bytes, secrets: list[str | bytes], now: float, tolerance: float
) -> None:
    result = attempt(lambda: verify_signature(header, body, secrets, now=now, tolerance=tolerance))
    if isinstance(result, AffiliateError):
        return
    assert abs(now - result) <= tolerance, f"accepted t={result} at now={now} (±{tolerance})"
    signed = {sign_payload(secret, result, body) for secret in secrets}
    offered = {part.strip().partition("=")[2] for part in header.split(",")}
    assert signed & offered, "accepted without a matching signature"


@HOSTILE
@given(
    secrets=st.lists(st.one_of(st.just(SECRET), strings(), st.binary(min_size=16)), min_size=1),
    timestamp=st.one_of(st.just(NOW), st.integers(0, 2**64)),
    body=st.binary(),
)
def test_a_signed_header_verifies_at_its_own_time(
    secrets: list[str | bytes], timestamp: int, body: bytes
) -> None:
    header = attempt(lambda: signature_header(secrets, timestamp, body))
    if isinstance(header, AffiliateError):
        return
    for secret in secrets:
        assert verify_signature(header, body, [secret], now=float(timestamp)) == timestamp


_value = st.one_of(st.none(), strings(), ints(), st.just("evil.test/"), st.just("@evil.test"))
_values = st.fixed_dictionaries(dict.fromkeys(sorted(MACROS), _value))


@HOSTILE
@given(
    template=st.one_of(
        st.just(_POSTBACK),
        st.sampled_from(sorted(MACROS)).map(
            lambda m: f"https://postback.example.com/{{{m}}}?x={{{m}}}#{{{m}}}"
        ),
    ),
    values=_values,
)
def test_a_filled_postback_keeps_the_template_host(template: str, values: dict[str, Any]) -> None:
    filled = attempt(lambda: fill_template(template, values))
    if isinstance(filled, AffiliateError):
        return
    assert urlsplit(filled).netloc == "postback.example.com", filled
    assert filled.isascii() and filled.isprintable(), filled
