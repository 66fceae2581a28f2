from __future__ import annotations

import base64
import hashlib
import hmac
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from affiliate_sdk import (
    Alliance,
    InvalidKey,
    InvalidSignature,
    Keyring,
    LinkError,
    LinkExpired,
    MalformedLink,
    UnknownKey,
)
from affiliate_sdk.errors import InvalidInput
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.tracking import links as links_module
from affiliate_sdk.tracking.keys import LinkKey
from affiliate_sdk.tracking.links import (
    LINK_CLOCK_SKEW,
    LinkClaims,
    VerifiedLinks,
    decode_token,
    encode_token,
)

from ..conftest import SECRET, START, make_campaign

OTHER = bytes(range(100, 132))
NOW = START.timestamp()


def _token(keyring: Keyring, **overrides: object) -> str:
    fields: dict[str, object] = {
        "affiliate_id": "a1",
        "campaign_id": "c1",
        "landing_url": "https://shop.example.com/p/1?color=red",
        "sub_ids": {"sub1": "spring"},
        "issued_at_ts": int(NOW),
        "expires_at_ts": int(NOW) + 3600,
        "merchant_id": "m1",
    }
    fields.update(overrides)
    return encode_token(keyring.signing_key, **fields)  # type: ignore[arg-type]


@given(secret=st.binary(min_size=32, max_size=200), message=st.binary(max_size=300))
def test_tag_is_truncated_hmac_sha256(secret: bytes, message: bytes) -> None:
    assert (
        LinkKey("k", secret).tag(message) == hmac.new(secret, message, hashlib.sha256).digest()[:16]
    )


def test_round_trip_and_format() -> None:
    ring = Keyring({"k1": SECRET})
    token = _token(ring)
    key_id, payload, tag = token.split(".")
    assert key_id == "k1"
    assert len(tag) == 22
    assert set(payload + tag) <= set(string.ascii_letters + string.digits + "-_")
    claims = decode_token(ring, token, NOW)
    assert claims.affiliate_id == "a1"
    assert claims.campaign_id == "c1"
    assert claims.landing_url == "https://shop.example.com/p/1?color=red"
    assert claims.sub_ids == {"sub1": "spring"}
    assert claims.issued_at == START
    assert claims.expires_at == START + timedelta(hours=1)
    assert claims.link_id == tag


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_character_change_is_rejected(data: st.DataObject) -> None:
    ring = Keyring({"k1": SECRET, "k2": OTHER})
    url = "https://go.invalid/r/" + _token(ring)
    original = decode_token(ring, url, NOW)
    position = data.draw(st.integers(min_value=0, max_value=len(url) - 1))
    replacement = data.draw(st.characters(codec="utf-8"))
    assume(replacement != url[position])
    altered = url[:position] + replacement + url[position + 1 :]
    try:
        claims = decode_token(ring, altered, NOW)
    except LinkError:
        return
    assert claims == original  # only the parts outside the token may change harmlessly


_names = st.sampled_from(["sub1", "sub2", "sub3", "sub4", "sub5"]) | st.from_regex(
    r"\A[A-Za-z0-9_]{1,32}\Z"
)
_values = st.text(min_size=1, max_size=60).filter(
    lambda v: not any(0xD800 <= ord(c) < 0xE000 for c in v)
)


@given(sub_ids=st.dictionaries(_names, _values, max_size=8))
def test_round_trip_of_arbitrary_sub_ids(sub_ids: dict[str, str]) -> None:
    ring = Keyring({"k1": SECRET})
    claims = decode_token(ring, _token(ring, sub_ids=sub_ids), NOW)
    assert claims.sub_ids == sub_ids


def test_expiry_exactly_at_the_boundary() -> None:
    clock = FakeClock(START)
    with Alliance.open(keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign(rate="5%"))
        url = alliance.create_link(
            affiliate_id="a1",
            campaign_id="c1",
            landing_url="https://shop.example.com/",
            expires_in=timedelta(days=30),
        )
        deadline = START + timedelta(days=30)
        assert alliance.verify_link(url).expires_at == deadline
        clock.set(deadline - timedelta(microseconds=1))
        assert alliance.verify_link(url).affiliate_id == "a1"
        clock.set(deadline)
        with pytest.raises(LinkExpired) as info:
            alliance.verify_link(url)
        assert info.value.expired_at == deadline


def test_fractional_expiry_never_shortens_the_link() -> None:
    ring = Keyring({"k1": SECRET})
    from affiliate_sdk.tracking.links import expiry_from

    assert expiry_from(100.4, 10.2) == 111
    assert expiry_from(100.0, None) is None
    with pytest.raises(InvalidInput):
        expiry_from(100.0, 0)
    token = _token(ring, expires_at_ts=None)
    assert decode_token(ring, token, NOW + 10**9).expires_at is None


def test_rotation_newest_signs_all_verify_retired_fail() -> None:
    old_ring = Keyring({"k1": SECRET})
    old_token = _token(old_ring)
    rotated = Keyring({"k1": SECRET, "k2": OTHER})
    new_token = _token(rotated)
    assert new_token.startswith("k2.")
    assert decode_token(rotated, old_token, NOW).key_id == "k1"
    assert decode_token(rotated, new_token, NOW).key_id == "k2"
    retired = Keyring({"k2": OTHER})
    with pytest.raises(UnknownKey) as info:
        decode_token(retired, old_token, NOW)
    assert info.value.key_id == "k1"
    assert decode_token(retired, new_token, NOW).key_id == "k2"


def test_same_key_id_with_another_secret_is_a_bad_signature() -> None:
    token = _token(Keyring({"k1": SECRET}))
    with pytest.raises(InvalidSignature) as info:
        decode_token(Keyring({"k1": OTHER}), token, NOW)
    assert info.value.key_id == "k1"


@pytest.mark.parametrize(
    "token",
    ["", "abc", "k1.abc", "k1.a.b.c", "k1..", "ключ.a.b", "k1.payload.tag\u00e9"],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(LinkError):
        decode_token(Keyring({"k1": SECRET}), token, NOW)


def test_non_ascii_token_is_malformed() -> None:
    with pytest.raises(MalformedLink):
        decode_token(Keyring({"k1": SECRET}), "k1.ab\u00e9.cd", NOW)


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({}, "at least one"),
        ({"k1": b"short"}, "at least 32"),
        ({"k1": "a" * 40}, "must be bytes"),
        ({"bad id!": SECRET}, "key ids"),
        ({"": SECRET}, "key ids"),
    ],
)
def test_keyring_refuses_weak_or_malformed_keys(keys: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason):
        Keyring(keys)  # type: ignore[arg-type]


def test_keyring_is_ordered_and_the_last_signs() -> None:
    ring = Keyring({"a": SECRET, "b": OTHER})
    assert list(ring) == ["a", "b"]
    assert ring.signing_key.key_id == "b"
    assert len(ring) == 2


@pytest.mark.parametrize(
    "sub_ids",
    [{"sub6!": "x"}, {"": "x"}, {"sub1": 5}, {"sub1": "x" * 513}, {"sub1": "\udc80"}],
)
def test_bad_sub_ids_are_refused(sub_ids: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        _token(Keyring({"k1": SECRET}), sub_ids=sub_ids)


def test_the_token_is_the_last_path_segment() -> None:
    ring = Keyring({"k1": SECRET})
    token = _token(ring)
    expected = decode_token(ring, token, NOW)
    for link in (f"https://go.invalid/r/{token}", f"https://x.test/a/b/{token}?utm=x#frag"):
        assert decode_token(ring, link, NOW) == expected


def test_claims_times_are_utc() -> None:
    ring = Keyring({"k1": SECRET})
    claims = decode_token(ring, _token(ring), NOW)
    assert claims.issued_at.tzinfo is UTC
    assert claims.issued_at == datetime.fromtimestamp(int(NOW), UTC)


def test_tokens_carry_their_merchant_and_version_1_tokens_still_verify() -> None:
    ring = Keyring({"k1": SECRET})
    claims = decode_token(ring, _token(ring), NOW)
    assert claims.merchant_id == "m1"
    # A version 1 payload (no merchant id field), signed by the same key.
    payload = b"\xff".join([b"1", b"a1", b"c1", b"https://shop.example.com/", b"0", b"", b"s"])
    body = base64.urlsafe_b64encode(payload).rstrip(b"=")
    signed = b"k1." + body
    token = (signed + b"." + ring["k1"].tag_b64(signed)).decode()
    old = decode_token(ring, token, NOW)
    assert (old.campaign_id, old.merchant_id, old.sub_ids) == ("c1", None, {"sub1": "s"})


def test_a_link_is_not_valid_before_its_issue_time_less_the_clock_skew() -> None:
    assert timedelta(minutes=5) == LINK_CLOCK_SKEW
    clock = FakeClock(START)
    with Alliance.open(keys={"k1": SECRET}, clock=clock) as alliance:
        alliance.add_campaign(make_campaign())
        url = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        clock.set(START - LINK_CLOCK_SKEW)  # a server whose clock is 5 minutes behind
        assert alliance.verify_link(url).issued_at == START
        assert alliance.track_click(url, ip=None, user_agent=None).claims.issued_at == START
        clock.set(START - LINK_CLOCK_SKEW - timedelta(seconds=1))
        for verify in (
            lambda: alliance.verify_link(url),
            lambda: alliance.track_click(url, ip=None, user_agent=None),
            lambda: alliance.track_impression(url, visitor_id="visitor-0001"),
        ):
            with pytest.raises(MalformedLink, match="not valid yet") as caught:
                verify()
            assert "2026-03-01T12:00:00+00:00" in caught.value.reason
    ring = Keyring({"k1": SECRET})
    future = _token(ring, issued_at_ts=int(NOW) + 60)
    assert decode_token(ring, future, NOW).issued_at_ts == int(NOW) + 60
    with pytest.raises(MalformedLink, match="not valid yet"):
        decode_token(ring, future, NOW, 59)


def test_the_clock_skew_is_a_setting() -> None:
    clock = FakeClock(START)
    with Alliance.open(keys={"k1": SECRET}, clock=clock, link_clock_skew=timedelta(0)) as strict:
        strict.add_campaign(make_campaign())
        url = strict.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        clock.set(START - timedelta(seconds=1))
        with pytest.raises(MalformedLink, match="not valid yet"):
            strict.verify_link(url)


def test_the_token_is_host_independent_unless_a_redirect_base_is_required() -> None:
    with Alliance.open(keys={"k1": SECRET}, clock=FakeClock(START)) as alliance:
        alliance.add_campaign(make_campaign())
        url = alliance.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url="https://shop.example.com/"
        )
        token = url.rpartition("/")[2]
        elsewhere = f"https://go.other-merchant.example/r/{token}?utm_source=x"
        assert alliance.verify_link(elsewhere) == alliance.verify_link(url)
        base = url.rpartition("/")[0]
        assert alliance.verify_link(f"{url}#top", redirect_base=base).affiliate_id == "a1"
        assert alliance.verify_link(url, redirect_base=base + "/").affiliate_id == "a1"
        for wrong in (elsewhere, token, f"{base}/extra/{token}"):
            with pytest.raises(MalformedLink, match="not under the redirect base"):
                alliance.verify_link(wrong, redirect_base=base)


def test_verified_links_are_verified_once_and_their_times_checked_at_every_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ring = Keyring({"k1": SECRET})
    links = VerifiedLinks(ring, max_links=2)
    token = _token(ring)
    decoded: list[str] = []

    def counting(keyring: Keyring, link: str, now_ts: float, skew_s: float) -> LinkClaims:
        decoded.append(link)
        return decode_token(keyring, link, now_ts, skew_s)

    monkeypatch.setattr(links_module, "decode_token", counting)
    assert (
        links.claims(token, NOW) == links.claims(token, NOW + 60) == decode_token(ring, token, NOW)
    )
    assert decoded == [token]  # the second use was not verified again
    with pytest.raises(LinkExpired):
        links.claims(token, NOW + 3600)  # expired while held
    with pytest.raises(MalformedLink, match="not valid yet"):
        links.claims(token, NOW - LINK_CLOCK_SKEW.total_seconds() - 1)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    for _ in range(2):
        with pytest.raises(InvalidSignature):
            links.claims(forged, NOW)
    assert decoded == [token, forged, forged]  # a link that failed is never held
    others = [_token(ring, affiliate_id=f"a{n}") for n in (2, 3)]
    for other in others:
        links.claims(other, NOW)
    links.claims(token, NOW)  # all were let go when the third arrived
    assert decoded[-3:] == [*others, token]


def test_a_keyring_from_the_environment() -> None:
    environ = {"AFFILIATE_SDK_KEYS": f" k1={'11' * 32}, k2={'22' * 32} "}
    keyring = Keyring.from_environment(environ=environ)
    assert list(keyring) == ["k1", "k2"] and keyring.signing_key.key_id == "k2"
    with pytest.raises(InvalidInput, match="'k1' is not id=hex"):
        Keyring.from_environment(environ={"AFFILIATE_SDK_KEYS": "k1=zz"})
    with pytest.raises(InvalidKey, match="holds no key"):
        Keyring.from_environment("MY_KEYS", environ={})
