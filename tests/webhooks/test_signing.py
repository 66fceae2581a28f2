"""Delivery signatures: tolerance, rotation, tampering, malformed headers."""

from __future__ import annotations

import pytest

from affiliate_sdk import InvalidInput, WebhookSignatureError
from affiliate_sdk.webhooks.signing import signature_header, verify_signature

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
        ("v1=abc", "no t="),
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
