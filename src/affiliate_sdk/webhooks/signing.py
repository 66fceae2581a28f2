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
matches one of the receiver's secrets. Whatever a header holds (it comes
from the network), the answer is a timestamp or that error, never another
exception: ``t`` must be ASCII digits and each ``v1`` 64 hex digits.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
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
#: The most ``v1`` signatures a header may carry (a delivery carries one per secret, up to 3).
MAX_SIGNATURES: Final = 8
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")  # ASCII digits: str.isdigit() takes "²" too
_SIGNATURE: Final = re.compile(r"[0-9a-fA-F]{64}")


def _key(secret: object) -> bytes:
    if isinstance(secret, str):
        try:
            key = secret.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("a webhook secret must be valid text (no lone surrogates)") from None
    elif isinstance(secret, bytes | bytearray | memoryview):
        key = bytes(secret)
    else:
        raise InvalidInput(f"a webhook secret is str or bytes, not {type(secret).__name__}")
    if len(key) < MIN_SECRET_LENGTH:
        raise InvalidInput(f"a webhook secret must be at least {MIN_SECRET_LENGTH} bytes")
    return key


def sign_payload(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str | bytes], timestamp: int, body: bytes) -> str:
    """The ``Affiliate-Signature`` value: the time and one signature per secret, in order.
    ``timestamp`` is Unix seconds of at most 12 digits, and at most ``MAX_SIGNATURES``
    secrets sign (what ``verify_signature`` reads)."""
    if not secrets:
        raise InvalidInput("signing needs at least one secret")
    if len(secrets) > MAX_SIGNATURES:
        raise InvalidInput(
            f"at most {MAX_SIGNATURES} secrets sign one delivery (a receiver reads no more), "
            f"not {len(secrets)}"
        )
    if not 0 <= timestamp < 10**12:
        raise InvalidInput(f"timestamp must be Unix seconds of 0 to 12 digits, not {timestamp}")
    signatures = ",".join(f"v1={sign_payload(s, timestamp, body)}" for s in secrets)
    return f"t={int(timestamp)},{signatures}"


def verify_signature(
    header: str | bytes | None,
    body: bytes | str,
    secrets: Sequence[str | bytes],
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """Check a delivery's signature header; returns its timestamp.

    ``body`` is the request body as received (a GET postback's: its request
    target), bytes or text (checked as UTF-8). ``secrets`` are the
    receiver's (during a rotation, old and new); ``now`` is the receiver's
    clock in Unix seconds. Raises ``WebhookSignatureError`` for a missing or
    malformed header or body, a timestamp outside ``tolerance``, or no
    matching signature, whatever the header holds; ``InvalidInput`` for the
    receiver's own mistakes (a secret too short, a clock that is not a number).
    """
    _check_clock(now, tolerance)
    timestamp, candidates = _parse(header)
    signed = _body(body)
    if abs(now - timestamp) > tolerance:
        raise WebhookSignatureError(
            f"the timestamp is {now - timestamp:+.0f} s from now (tolerance {tolerance:g} s)"
        )
    for secret in secrets:
        expected = sign_payload(secret, timestamp, signed)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return timestamp
    raise WebhookSignatureError("no signature matches a known secret")


def _check_clock(now: float, tolerance: float) -> None:
    """``now`` and ``tolerance`` are finite numbers of seconds, ``tolerance`` >= 0."""
    for value in (now, tolerance):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInput("now and tolerance are finite numbers of seconds")
    if tolerance < 0:
        raise InvalidInput("tolerance is a number of seconds >= 0")


def _parse(header: object) -> tuple[int, list[str]]:
    """The timestamp and the ``v1`` signatures of a header, or ``WebhookSignatureError``."""
    if not header:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header")
    if isinstance(header, bytes):
        try:
            header = header.decode("ascii")
        except UnicodeDecodeError:
            raise WebhookSignatureError("the header is not ASCII") from None
    if not isinstance(header, str):
        raise WebhookSignatureError(f"the header is text, not {type(header).__name__}")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            raise WebhookSignatureError("the header is not a list of name=value pairs")
        if name == "t":
            if not _TIMESTAMP.fullmatch(value) or timestamp is not None:
                raise WebhookSignatureError(
                    "the header needs exactly one numeric t= (ASCII digits, Unix seconds)"
                )
            timestamp = int(value)
        elif name == "v1":
            if not _SIGNATURE.fullmatch(value):
                raise WebhookSignatureError("a v1= signature is 64 hexadecimal digits")
            candidates.append(value.lower())
    if timestamp is None:
        raise WebhookSignatureError("the header has no t= timestamp")
    if not candidates:
        raise WebhookSignatureError("the header has no v1= signature")
    if len(candidates) > MAX_SIGNATURES:
        raise WebhookSignatureError(f"the header has more than {MAX_SIGNATURES} signatures")
    return timestamp, candidates


def _body(body: object) -> bytes:
    """The signed bytes of a body given as bytes or text."""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise WebhookSignatureError("the body is not valid text (a lone surrogate)") from None
    raise InvalidInput(f"the body is bytes or str, not {type(body).__name__}")
