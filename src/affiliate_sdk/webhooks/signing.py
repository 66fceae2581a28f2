"""Signatures on webhook and postback deliveries, and the receivers' verifier. Pure.

Each delivery carries ``Affiliate-Signature: t=<unix seconds>,v1=<hex>``,
where the hex is HMAC-SHA256 under a subscription secret over
``"<t>.<body>"``: the timestamp is signed with the body, so a captured
delivery cannot be replayed later with a new time. While a secret is being
rotated the header carries one ``v1`` per secret, newest first, and a
receiver holding either accepts it.

A receiver checks a delivery with ``verify_signature(header, body, secrets,
now=...)``: it raises ``WebhookSignatureError`` unless the timestamp is
within ``tolerance`` seconds (300 by default) of ``now`` and one signature
matches one of the receiver's secrets.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Final

from affiliate_sdk.errors import InvalidInput, WebhookSignatureError

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "sign_payload",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER: Final = "Affiliate-Signature"
#: How far (seconds) a delivery's timestamp may be from the receiver's clock.
DEFAULT_TOLERANCE: Final = 300
MIN_SECRET_LENGTH: Final = 16


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_LENGTH:
        raise InvalidInput(f"a webhook secret must be at least {MIN_SECRET_LENGTH} bytes")
    return key


def sign_payload(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str | bytes], timestamp: int, body: bytes) -> str:
    """The ``Affiliate-Signature`` value: the time and one signature per secret, in order."""
    if not secrets:
        raise InvalidInput("signing needs at least one secret")
    signatures = ",".join(f"v1={sign_payload(s, timestamp, body)}" for s in secrets)
    return f"t={int(timestamp)},{signatures}"


def verify_signature(
    header: str | None,
    body: bytes,
    secrets: Sequence[str | bytes],
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """Check a delivery's signature header; returns its timestamp.

    ``secrets`` are the receiver's (during a rotation, old and new); ``now``
    is the receiver's clock in Unix seconds. Raises ``WebhookSignatureError``
    for a missing or malformed header, a timestamp outside ``tolerance``, or
    no matching signature.
    """
    if not header:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            raise WebhookSignatureError("the header is not a list of name=value pairs")
        if name == "t":
            if not value.isdigit() or timestamp is not None:
                raise WebhookSignatureError("the header needs exactly one numeric t=")
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None:
        raise WebhookSignatureError("the header has no t= timestamp")
    if not candidates:
        raise WebhookSignatureError("the header has no v1= signature")
    if abs(now - timestamp) > tolerance:
        raise WebhookSignatureError(
            f"the timestamp is {now - timestamp:+.0f} s from now (tolerance {tolerance:g} s)"
        )
    for secret in secrets:
        expected = sign_payload(secret, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return timestamp
    raise WebhookSignatureError("no signature matches a known secret")
