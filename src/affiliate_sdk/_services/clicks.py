"""Links and clicks: signing links, verifying them, and the click hot path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Final

from affiliate_sdk.errors import CampaignInactive, InvalidInput
from affiliate_sdk.ids import new_id, new_id_pair
from affiliate_sdk.models import Verdict
from affiliate_sdk.storage.rows import ImpressionRow
from affiliate_sdk.tracking.clicks import (
    Click,
    ClickRow,
    VisitorCookie,
    append_click_id,
    referrer_host,
)
from affiliate_sdk.tracking.landing import check_landing_url
from affiliate_sdk.tracking.links import LinkClaims, decode_token, encode_token, expiry_from

from .catalog import MAX_CACHED, CampaignView, CatalogService
from .context import ServiceContext
from .fraud import FraudService

__all__ = ["ClickService", "LinkService"]

_VISITOR_ID: Final = re.compile(r"[A-Za-z0-9_-]{8,64}")
_COUNTRY: Final = re.compile(r"[A-Z]{2}")
_COOKIE_FLAGS: Final = tuple(
    VisitorCookie._field_defaults[name] for name in ("secure", "http_only", "same_site", "path")
)
# Hot-path constructors: tuple.__new__ skips the named tuples' Python-level __new__.
_new_click_row: Final = partial(tuple.__new__, ClickRow)
_new_click: Final = partial(tuple.__new__, Click)
_new_cookie: Final = partial(tuple.__new__, VisitorCookie)


def check_visitor_id(name: str, value: str) -> None:
    if not _VISITOR_ID.fullmatch(value):
        raise InvalidInput(f"{name} must be 8-64 letters, digits, '-' or '_'")


class LinkService:
    """Signed tracking links."""

    def __init__(self, ctx: ServiceContext, catalog: CatalogService) -> None:
        self._ctx = ctx
        self._catalog = catalog
        self._base = ctx.settings.redirect_base

    def create(
        self,
        *,
        affiliate_id: str,
        campaign_id: str,
        landing_url: str,
        sub_ids: Mapping[str, str] | None = None,
        expires_in: timedelta | None = None,
        merchant_id: str | None = None,
    ) -> str:
        """A signed tracking link for an affiliate to promote a campaign.

        ``merchant_id`` names the campaign's merchant when several merchants
        have a campaign with this id (``AmbiguousCampaign`` otherwise).
        """
        now = self._ctx.clock.timestamp()
        campaign = self._catalog.view(merchant_id, campaign_id, now).campaign
        if not campaign.active:
            raise CampaignInactive(campaign_id, landing_url)
        check_landing_url(landing_url, campaign.landing_domains)
        token = encode_token(
            self._ctx.keyring.signing_key,
            affiliate_id=affiliate_id,
            campaign_id=campaign_id,
            landing_url=landing_url,
            sub_ids=sub_ids or {},
            issued_at_ts=int(now),
            expires_at_ts=expiry_from(
                now, None if expires_in is None else expires_in.total_seconds()
            ),
            merchant_id=campaign.merchant_id,
        )
        return f"{self._base}/{token}"

    def verify(self, url: str) -> LinkClaims:
        """The claims of a link (or bare token), or a ``LinkError`` subclass.

        Checks the signature and expiry only; ``track_click`` also checks the
        campaign and the landing URL.
        """
        return decode_token(self._ctx.keyring, url, self._ctx.clock.timestamp())


class ClickService:
    """The click hot path and view-through impressions."""

    def __init__(self, ctx: ServiceContext, catalog: CatalogService, fraud: FraudService) -> None:
        self._ctx = ctx
        self._catalog = catalog
        self._fraud = fraud
        self._param = ctx.settings.click_param
        self._cookie = ctx.settings.cookie_name
        self._dedupe_ms = int(ctx.settings.click_dedupe_window.total_seconds() * 1000)
        self._verdicts: dict[str, Verdict] = {}

    def track_impression(
        self, url: str, *, visitor_id: str, user_agent: str | None = None
    ) -> str | None:
        """Record that a visitor saw an affiliate's link (for view-through attribution).

        Verifies the link and its campaign like ``track_click`` and returns the
        impression's id; a known bot's impression is not recorded (None).
        """
        now = self._ctx.clock.timestamp()
        claims = decode_token(self._ctx.keyring, url, now)
        campaign = self._catalog.view(claims.merchant_id, claims.campaign_id, now).campaign
        if not campaign.active:
            raise CampaignInactive(campaign.campaign_id, claims.landing_url)
        check_visitor_id("visitor_id", visitor_id)
        if self._fraud.user_agent(user_agent).verdict.decision == "block":
            return None
        now_ms = int(now * 1000)
        impression = ImpressionRow(
            new_id(now_ms),
            campaign.merchant_id,
            visitor_id,
            claims.affiliate_id,
            claims.campaign_id,
            now_ms,
        )
        with self._ctx.store.transaction() as tx:
            tx.clicks.add_impression(impression)
        return impression.impression_id

    def _stored_verdict(self, verdict_json: str) -> Verdict:
        verdict = self._verdicts.get(verdict_json)
        if verdict is None:
            verdict = Verdict.model_validate_json(verdict_json)
            if len(self._verdicts) >= MAX_CACHED:
                self._verdicts.clear()
            self._verdicts[verdict_json] = verdict
        return verdict

    def track(
        self,
        url: str,
        *,
        ip: str | None,
        user_agent: str | None,
        referrer: str | None = None,
        visitor_id: str | None = None,
        country: str | None = None,
        device_id: str | None = None,
    ) -> Click:
        """Verify a link, record the click, say where to send the visitor (bots: ``block``)."""
        _check_extras(device_id, country)
        ctx, now = self._ctx, self._ctx.clock.timestamp()
        now_ms = int(now * 1000)
        claims = decode_token(ctx.keyring, url, now)
        view = self._landing(claims, now)
        agent = self._fraud.user_agent(user_agent)
        click_id, new_visitor = new_id_pair(now_ms)
        visitor_id, dedupe_since = self._visitor(visitor_id, new_visitor, now_ms)
        packed_ip, ip_hash, ip_network = self._address(ip)
        verdict, verdict_json = (
            (agent.verdict, agent.verdict_json)
            if agent.verdict.decision == "block"
            else self._fraud.click_verdict(
                url,
                agent,
                view.fraud,
                affiliate_id=claims.affiliate_id,
                visitor_id=None if dedupe_since is None else visitor_id,
                packed_ip=packed_ip,
                ip_network=ip_network,
                device_id=device_id,
                now_ms=now_ms,
            )
        )
        row = _new_click_row(
            (
                click_id,
                visitor_id,
                claims.link_id,
                claims.affiliate_id,
                claims.campaign_id,
                view.campaign.merchant_id,
                claims.landing_url,
                claims.sub_fields,
                now_ms,
                ip_hash,
                ip_network,
                agent.ua_hash,
                referrer_host(referrer) if referrer else None,
                verdict.decision,
                verdict_json,
                country,
            )
        )
        with ctx.store.transaction() as tx:
            stored, created = tx.clicks.record(row, dedupe_since_ms=dedupe_since)
        shown = verdict if created else self._stored_verdict(stored.verdict_json)
        return self._reply(stored, visitor_id, shown, claims, view.window_ms, reused=not created)

    def _visitor(self, given: str | None, new: str, now_ms: int) -> tuple[str, int | None]:
        """The visitor id to keep, and since when a repeat click is the same click
        (None: a new visitor has no earlier clicks)."""
        if given is not None and _VISITOR_ID.fullmatch(given):
            return given, now_ms - self._dedupe_ms
        return new, None

    def _landing(self, claims: LinkClaims, now: float) -> CampaignView:
        """The link's campaign, active, with the link's landing URL allowed."""
        view = self._catalog.view(claims.merchant_id, claims.campaign_id, now)
        if not view.campaign.active:
            raise CampaignInactive(view.campaign.campaign_id, claims.landing_url)
        view.landing.check(claims.landing_url)
        return view

    def _address(self, ip: str | None) -> tuple[bytes | None, str | None, str | None]:
        """The packed address, its keyed hash and its network, parsed once."""
        if not ip:
            return None, None, None
        pseudonyms = self._ctx.pseudonyms
        packed, network = pseudonyms.parse(ip)
        return packed, pseudonyms.digest(packed), network

    def _reply(
        self,
        stored: ClickRow,
        visitor_id: str,
        verdict: Verdict,
        claims: LinkClaims,
        window_ms: int,
        *,
        reused: bool,
    ) -> Click:
        return _new_click(
            (
                stored.click_id,
                visitor_id,
                append_click_id(claims.landing_url, self._param, stored.click_id),
                verdict,
                _new_cookie((self._cookie, visitor_id, window_ms // 1000, *_COOKIE_FLAGS)),
                claims,
                stored.clicked_at_ms,
                reused,
            )
        )


def _check_extras(device_id: str | None, country: str | None) -> None:
    if device_id is not None:
        check_visitor_id("device_id", device_id)
    if country is not None and not _COUNTRY.fullmatch(country):
        raise InvalidInput(f"country {country!r} must be an ISO 3166 alpha-2 code like 'DE'")
