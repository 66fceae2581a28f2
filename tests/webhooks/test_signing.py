"""Delivery signatures: tolerance, rotation, tampering, malformed and hostile headers (fuzzed)."""

from __future__ import annotations

import contextlib
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affiliate_sdk import InvalidInput, WebhookSignatureError
from affiliate_sdk.webhooks.signing import MAX_SIGNATURES, signature_header, verify_signature

OLD, NEW = "old-secret-0123456789", "new-secret-9876543210"
BODY = b'{"type":"commission.booked"}'
T = 1_800_000_000


def test_a_signed_body_verifies_within_the_tolerance() -> None:
    header = signature_header([NEW], T, BODY)
    assert header.startswith(f"t={T},v1=")
    assert verify_signature(header, BODY, [NEW], now=T + 299) == T
    assert verify_signature(header, BODY, [NEW], now=T - 299) == T
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify_signature(header, BODY, [NEW], now=T + 301)
    assert verify_signature(header, BODY, [NEW], now=T + 3000, tolerance=3600) == T


def test_tampering_with_body_or_time_is_caught() -> None:
    header = signature_header([NEW], T, BODY)
    with pytest.raises(WebhookSignatureError, match="no signature matches"):
        verify_signature(header, BODY + b" ", [NEW], now=T)
    moved = header.replace(f"t={T}", f"t={T + 60}")
    with pytest.raises(WebhookSignatureError, match="no signature matches"):
        verify_signature(moved, BODY, [NEW], now=T + 60)
    with pytest.raises(WebhookSignatureError, match="no signature matches"):
        verify_signature(header, BODY, ["someone-elses-secret"], now=T)


def test_rotation_signs_with_both_and_either_receiver_accepts() -> None:
    header = signature_header([NEW, OLD], T, BODY)
    assert header.count("v1=") == 2
    assert verify_signature(header, BODY, [OLD], now=T) == T  # a receiver not yet rotated
    assert verify_signature(header, BODY, [NEW], now=T) == T  # one already rotated
    after = signature_header([NEW], T, BODY)
    with pytest.raises(WebhookSignatureError):
        verify_signature(after, BODY, [OLD], now=T)  # the overlap is over


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no Affiliate-Signature"),
        ("", "no Affiliate-Signature"),
        ("garbage", "name=value"),
        ("v1=" + "a" * 64, "no t="),
        (f"t={T}", "no v1="),
        ("t=soon,v1=abc", "numeric t="),
        (f"t={T},t={T},v1=abc", "numeric t="),
    ],
)
def test_malformed_headers_are_refused(header: str | None, reason: str) -> None:
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_signature(header, BODY, [NEW], now=T)


def test_short_or_missing_secrets_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 16"):
        signature_header(["short"], T, BODY)
    with pytest.raises(InvalidInput, match="at least one"):
        signature_header([], T, BODY)


def test_no_more_secrets_sign_than_a_receiver_reads() -> None:
    header = signature_header([NEW] * MAX_SIGNATURES, T, BODY)
    assert verify_signature(header, BODY, [NEW], now=T) == T
    with pytest.raises(InvalidInput, match=f"at most {MAX_SIGNATURES} secrets"):
        signature_header([NEW] * (MAX_SIGNATURES + 1), T, BODY)


# -- hostile headers: the typed error, whatever the header holds -------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f"t={T},v1=é", "64 hexadecimal"),  # was a TypeError from hmac.compare_digest
        ("t=²,v1=" + "a" * 64, "numeric t="),  # was a ValueError: "²".isdigit() but no int
        ("t=١٢٣,v1=" + "a" * 64, "numeric t="),  # Arabic-Indic digits
        ("t=" + "9" * 5000 + ",v1=" + "a" * 64, "numeric t="),  # past int()'s digit limit
        (f"t={T},v1=" + "é" * 64, "64 hexadecimal"),
        (f"t={T},v1=abc", "64 hexadecimal"),
        (f"t={T}," + ",".join(["v1=" + "a" * 64] * 9), "more than 8"),
        (b"t=1,v1=\xff", "not ASCII"),
        (12345, "is text"),
    ],
)
def test_hostile_headers_get_the_typed_error(header: object, reason: str) -> None:
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_signature(header, BODY, [NEW], now=T)  # type: ignore[arg-type]


def test_a_body_may_be_text_or_bytes_and_a_header_bytes() -> None:
    text = '{"type":"commission.booked","note":"café"}'
    header = signature_header([NEW], T, text.encode())
    assert verify_signature(header, text, [NEW], now=T) == T
    assert verify_signature(header.encode(), text.encode(), [NEW], now=T) == T
    shouting = header.upper().replace("T=", "t=").replace("V1=", "v1=")  # hex in capitals
    assert verify_signature(shouting, text, [NEW], now=T) == T
    with pytest.raises(WebhookSignatureError, match="not valid text"):
        verify_signature(header, "\ud800", [NEW], now=T)


def test_the_receivers_own_mistakes_are_invalid_input() -> None:
    header = signature_header([NEW], T, BODY)
    for secrets in (["short"], ["\ud800" * 20], [32]):
        with pytest.raises(InvalidInput):
            verify_signature(header, BODY, secrets, now=T)  # type: ignore[arg-type]
    for now, tolerance in ((float("nan"), 300.0), (T, float("inf")), (T, -1.0)):
        with pytest.raises(InvalidInput):
            verify_signature(header, BODY, [NEW], now=now, tolerance=tolerance)
    with pytest.raises(InvalidInput):
        verify_signature(header, None, [NEW], now=T)  # type: ignore[arg-type]


_TEXT: Final = st.text(st.characters(codec="utf-8"))
_SECRETS: Final = st.lists(
    st.one_of(_TEXT.filter(lambda s: len(s.encode()) >= 16), st.binary(min_size=16)),
    min_size=1,
    max_size=3,
)
_BODIES: Final = st.one_of(st.binary(), st.text())
#: Headers near the real shape: pairs named t, v1, another scheme or anything, any values.
_PAIRS: Final = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(["t", "v1", "v0", " t", "v1 "]), st.text(max_size=4)),
        st.one_of(
            st.integers(min_value=-(10**20), max_value=10**20).map(str),
            st.text(alphabet="0123456789abcdefABCDEF²١", max_size=70),
            st.text(),
        ),
        st.sampled_from(["=", "==", ""]),
    ),
    max_size=6,
).map(lambda pairs: ",".join(f"{name}{eq}{value}" for name, value, eq in pairs))


@settings(max_examples=300, deadline=None)
@given(header=st.one_of(st.text(), _PAIRS, st.binary()), body=_BODIES, secrets=_SECRETS)
def test_any_header_verifies_or_gets_the_signature_error(
    header: str | bytes, body: bytes | str, secrets: list[str | bytes]
) -> None:
    with contextlib.suppress(WebhookSignatureError):
        assert verify_signature(header, body, secrets, now=T) == T


@settings(max_examples=200, deadline=None)
@given(
    header=st.one_of(st.text(), _PAIRS),
    body=_BODIES,
    secrets=st.lists(st.one_of(st.text(), st.binary()), max_size=3),
)
def test_any_input_gives_a_typed_error_or_a_timestamp(
    header: str, body: bytes | str, secrets: list[str | bytes]
) -> None:
    with contextlib.suppress(WebhookSignatureError, InvalidInput):
        assert verify_signature(header, body, secrets, now=T) == T


@settings(max_examples=200, deadline=None)
@given(body=_BODIES, secrets=_SECRETS, stamp=st.integers(min_value=0, max_value=10**11))
def test_what_is_signed_verifies_with_each_secret_and_nothing_else(
    body: bytes | str, secrets: list[str | bytes], stamp: int
) -> None:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if isinstance(body, str) and not _encodes(body):
        return
    header = signature_header(secrets, stamp, raw)
    for secret in secrets:
        assert verify_signature(header, body, [secret], now=stamp) == stamp
    with pytest.raises(WebhookSignatureError):
        verify_signature(header, raw + b".", secrets, now=stamp)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
