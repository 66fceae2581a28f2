"""Fuzz targets for the two parsers that read what strangers send: tracking-link tokens
(``verify_link``) and webhook signature headers (``verify_signature``).

Random text and bytes, and payloads signed with the alliance's own key (so the
decoder past the signature check is reached too): a token verifies into readable
claims or raises a ``LinkError``; a header verifies into a timestamp or raises a
``WebhookSignatureError``. Bounded (``FUZZ``) so the suite stays fast.
"""

from __future__ import annotations

import binascii
from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import Alliance, LinkClaims, LinkError, WebhookSignatureError
from affiliate_sdk.testing import FakeClock
from affiliate_sdk.webhooks import verify_signature

from ..conftest import SECRET, START
from ._state import attempt
from .strategies import FUZZ, ints

WEBHOOK_SECRET = "whsec_0123456789abcdef"
NOW = START.timestamp()


@cache
def _verifier() -> Alliance:
    """One memory alliance for the whole module: ``verify_link`` only reads it."""
    return Alliance.open("memory://", keys={"k1": SECRET}, clock=FakeClock(START))


def _b64(raw: bytes) -> bytes:
    return (
        binascii.b2a_base64(raw, newline=False)
        .rstrip(b"=")
        .translate(bytes.maketrans(b"+/", b"-_"))
    )


def _signed(payload: bytes) -> str:
    """A link whose token carries ``payload``, signed with the alliance's key."""
    key = _verifier().keyring.signing_key
    signed = key.key_id.encode("ascii") + b"." + _b64(payload)
    return f"https://go.invalid/r/{(signed + b'.' + key.tag_b64(signed)).decode('ascii')}"


def assert_verifies_or_refuses(link: str) -> None:
    claims = attempt(lambda: _verifier().verify_link(link))
    if isinstance(claims, LinkClaims):  # readable, all of it
        assert isinstance(claims.sub_ids, dict)
        assert claims.issued_at.tzinfo is not None
        assert claims.expires_at is None or claims.expires_at.tzinfo is not None
    else:
        assert isinstance(claims, LinkError), f"not a LinkError: {claims!r}"


_texts = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.lists(st.sampled_from(["k1", ".", "/", "?", "#", "=", "-", "_", "A", "\xff"])).map("".join),
)


@FUZZ
@given(_texts)
def test_fuzz_verify_link_on_random_text(text: str) -> None:
    assert_verifies_or_refuses(text)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_verify_link_on_signed_random_payloads(payload: bytes) -> None:
    assert_verifies_or_refuses(_signed(payload))


_field = st.one_of(
    st.binary(max_size=12),
    ints().map(lambda n: str(n).encode()),
    st.sampled_from([b"", b"-0", b" 1 ", b"1_0", "²".encode(), "١٢".encode(), b"9" * 5000]),
)


@FUZZ
@given(
    version=st.sampled_from([b"1", b"2", b"3", b""]),
    fields=st.lists(_field, min_size=0, max_size=12),
)
def test_fuzz_verify_link_on_signed_payloads_of_fields(version: bytes, fields: list[bytes]) -> None:
    """Payloads shaped like real ones (0xFF-separated fields) with odd field contents."""
    assert_verifies_or_refuses(_signed(b"\xff".join([version, *fields])))


_header_texts = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=120),
    st.binary(max_size=120).map(lambda b: b.decode("latin-1")),
    st.lists(
        st.sampled_from(["t", "v1", "=", ",", " ", "0", "1", "9", "²", "a", "f", str(int(NOW))])
    ).map("".join),
    st.lists(
        st.tuples(
            st.sampled_from(["t", "v1", "v0", "", "T"]),
            st.one_of(
                st.text("0123456789²³¹١９", min_size=1, max_size=6),
                st.text("0123456789abcdef -+.eE", max_size=12),
                st.just(str(int(NOW))),
            ),
        ),
        max_size=4,
    ).map(lambda pairs: ",".join(f"{name}={value}" for name, value in pairs)),
)


@FUZZ
@given(header=_header_texts, body=st.binary(max_size=64))
def test_fuzz_verify_signature_on_random_headers(header: str, body: bytes) -> None:
    result = attempt(lambda: verify_signature(header, body, [WEBHOOK_SECRET], now=NOW))
    assert isinstance(result, int | WebhookSignatureError), f"{result!r}"
