"""Hostile input to ``create_link`` and ``verify_link``.

A link is made or refused with an ``AffiliateError``; making one writes nothing.
A link that was made verifies and says what it was made with; a link that is not
the one made (its token changed in any way) is refused with a ``LinkError``, and
verifying changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from affiliate_sdk import AffiliateError, LinkClaims, LinkError

from ._state import attempt, check, snapshot
from ._world import LANDING, alliance
from .strategies import HOSTILE, HOSTILE_ATOMS, expiries, identifiers, strings, urls

_SUB_NAMES = ("sub1", "sub2", "sub3", "sub4", "sub5", "utm_x", "sub6", "", "x" * 33, "ü", "a-b")


def sub_id_maps() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        st.one_of(st.sampled_from(_SUB_NAMES), strings(8)),
        st.one_of(strings(), st.text(max_size=600), st.just("x" * 512)),
        max_size=4,
    )


def _token(link: str) -> str:
    """The token part of a link, as the verifier reads it."""
    return link.partition("?")[0].partition("#")[0].rpartition("/")[2]


@HOSTILE
@given(
    affiliate_id=identifiers("a1"),
    campaign_id=identifiers("c1"),
    landing_url=st.one_of(st.just(LANDING), urls()),
    sub_ids=st.one_of(st.none(), sub_id_maps()),
    expires_in=expiries(),
    merchant_id=st.one_of(st.none(), identifiers("m1")),
)
def test_create_link_signs_or_refuses_and_writes_nothing(
    *,
    affiliate_id: str,
    campaign_id: str,
    landing_url: str,
    sub_ids: dict[str, str] | None,
    expires_in: timedelta | None,
    merchant_id: str | None,
) -> None:
    with alliance() as a:
        before = snapshot(a)
        link = check(
            a,
            lambda: a.create_link(
                affiliate_id=affiliate_id,
                campaign_id=campaign_id,
                landing_url=landing_url,
                sub_ids=sub_ids,
                expires_in=expires_in,
                merchant_id=merchant_id,
            ),
        )
        assert snapshot(a) == before  # signing a link is not a write
        if isinstance(link, AffiliateError):
            return
        claims = attempt(lambda: a.verify_link(link))
        assert isinstance(claims, LinkClaims), f"a link just made does not verify: {claims!r}"
        assert (claims.affiliate_id, claims.campaign_id, claims.landing_url) == (
            affiliate_id,
            campaign_id,
            landing_url,
        )
        assert claims.sub_ids == {name: value for name, value in (sub_ids or {}).items() if value}
        assert claims.issued_at == a.clock.now()
        if expires_in is None:
            assert claims.expires_at is None
        else:
            assert claims.expires_at is not None and claims.expires_at > a.clock.now()


def _mutations(link: str) -> st.SearchStrategy[str]:
    """``link`` changed: a character replaced, inserted or dropped, cut short, extended,
    its key id swapped, or hostile text around it."""
    at = st.integers(0, len(link) - 1)
    piece = st.one_of(st.sampled_from(HOSTILE_ATOMS[:30]), st.characters(exclude_categories=()))
    return st.one_of(
        st.tuples(at, piece).map(lambda p: link[: p[0]] + p[1] + link[p[0] + 1 :]),
        st.tuples(at, piece).map(lambda p: link[: p[0]] + p[1] + link[p[0] :]),
        at.map(lambda i: link[:i] + link[i + 1 :]),
        at.map(lambda i: link[:i]),
        piece.map(lambda p: link + p),
        st.sampled_from(["k2", "K1", "k1\x00", "", "k1.k1"]).map(
            lambda k: link.replace("/k1.", f"/{k}.", 1)
        ),
        st.sampled_from(["?utm=1", "#top", "/", "?", "%2e", ".", ".."]).map(lambda s: link + s),
    )


@HOSTILE
@given(st.data())
def test_verify_link_refuses_any_other_token_with_a_link_error(data: st.DataObject) -> None:
    with alliance() as a:
        link = a.create_link(
            affiliate_id="a1", campaign_id="c1", landing_url=LANDING, sub_ids={"sub1": "x"}
        )
        candidate: str = data.draw(st.one_of(_mutations(link), strings(), urls()), "candidate")
        claims: Any = check(a, lambda: a.verify_link(candidate))
        if isinstance(claims, AffiliateError):
            assert isinstance(claims, LinkError), f"not a LinkError: {claims!r}"
        else:
            assert _token(candidate) == _token(link), "a changed token verified"
            assert claims.affiliate_id == "a1"
