"""Links and clicks: signing links, verifying them, and the click hot path."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Final

from affiliate_sdk._kernel.fields import check_text
from affiliate_sdk._kernel.keys import path_key
from affiliate_sdk.errors import CampaignInactive, InvalidInput
from affiliate_sdk.ids import new_id, new_id_pair
from affiliate_sdk.models import FraudThresholds, Verdict
from affiliate_sdk.storage.composed import counters_part
from affiliate_sdk.storage.contract import ClickClaims
from affiliate_sdk.storage.rows import ImpressionRow
from affiliate_sdk.tracking.clicks import (
    Click,
    ClickRow,
    VisitorCookie,
    append_click_id,
    referrer_host,
)
from affiliate_sdk.tracking.landing import check_landing_url
from affiliate_sdk.tracking.links import (
    LinkClaims,
    VerifiedLinks,
    check_link_base,
    decode_token,
    encode_token,
    expiry_from,
)

from .catalog import MAX_CACHED, CatalogService
from .context import ServiceContext
from .fraud import FraudService, UserAgentView

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
        self._skew = ctx.settings.link_clock_skew.total_seconds()

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

    def verify(self, url: str, *, redirect_base: str | None = None) -> LinkClaims:
        """The claims of a link (or bare token), or a ``LinkError`` subclass.

        Checks the signature, the issue time (not later than the clock allows)
        and expiry only; ``track_click`` also checks the campaign and the
        landing URL. The token is accepted under any host; with
        ``redirect_base``, only a link under that base is (``MalformedLink``).
        """
        if redirect_base is not None:
            check_link_base(url, redirect_base)
        return decode_token(self._ctx.keyring, url, self._ctx.clock.timestamp(), self._skew)


class ClickService:
    """The click hot path and view-through impressions."""

    def __init__(self, ctx: ServiceContext, catalog: CatalogService, fraud: FraudService) -> None:
        self._ctx = ctx
        self._catalog = catalog
        self._fraud = fraud
        self._param = ctx.settings.click_param
        self._cookie = ctx.settings.cookie_name
        self._dedupe_ms = int(ctx.settings.click_dedupe_window.total_seconds() * 1000)
        #: First clicks claimed where every process sees them at once (counters on Redis).
        self._first_clicks: ClickClaims | None = counters_part(ctx.store, "click_claims")
        self._skew = ctx.settings.link_clock_skew.total_seconds()
        self._links = VerifiedLinks(ctx.keyring)  # a link clicked again is verified once
        self._verdicts: dict[str, Verdict] = {}

    def track_impression(
        self, url: str, *, visitor_id: str, user_agent: str | None = None
    ) -> str | None:
        """Record that a visitor saw an affiliate's link (for view-through attribution).

        Verifies the link and its campaign like ``track_click`` and returns the
        impression's id; a known bot's impression is not recorded (None). Over the
        campaign's frequency cap (``visitor_touches_per_week`` impressions of the
        visitor in seven days; its clicks are capped apart) it is recorded but does
        not earn (``earns`` False: attribution notes it and passes it by).
        """
        now = self._ctx.clock.timestamp()
        claims = self._links.claims(url, now, self._skew)
        view = self._catalog.view(claims.merchant_id, claims.campaign_id, now)
        campaign = view.campaign
        if not campaign.active:
            raise CampaignInactive(campaign.campaign_id, claims.landing_url)
        check_visitor_id("visitor_id", visitor_id)
        if self._fraud.user_agent(user_agent).verdict.decision == "block":
            return None
        now_ms = int(now * 1000)
        seen = self._fraud.count_impression(visitor_id, now_ms)
        impression = ImpressionRow(
            new_id(now_ms),
            campaign.merchant_id,
            visitor_id,
            claims.affiliate_id,
            claims.campaign_id,
            now_ms,
            earns=seen <= view.fraud.visitor_touches_per_week,
        )
        try:
            with self._ctx.store.transaction() as tx:
                tx.clicks.add_impression(impression)
        except BaseException:
            with contextlib.suppress(Exception):  # (the store's error is the one to see)
                self._fraud.count_impression(visitor_id, now_ms, -1)  # not recorded
            raise
        return impression.impression_id

    def _store(
        self,
        row: ClickRow,
        dedupe_since: int | None,
        agent: UserAgentView,
        device_id: str | None,
        limits: FraudThresholds,
    ) -> tuple[ClickRow, bool]:
        """Record the click (or find the one it repeats); a click that cannot be stored is
        uncounted again, so a ``track`` that raises leaves the velocity windows as they were.

        With first clicks claimed on a shared server, a repeat is looked for there before
        the store, and a visitor's first click on a link is named there once stored."""
        first = self._first_clicks
        if first is not None and dedupe_since is not None:
            earlier = first.claim(row, since_ms=dedupe_since)
            if earlier is not None:
                return earlier, False
        try:
            with self._ctx.store.transaction() as tx:
                stored, created = tx.clicks.record(row, dedupe_since_ms=dedupe_since)
        except BaseException:
            if first is not None and dedupe_since is not None:
                first.forget(row)
            if agent.verdict.decision != "block":  # only what was counted is uncounted
                self._fraud.uncount_click(
                    limits,
                    affiliate_id=row.affiliate_id,
                    visitor_id=None if dedupe_since is None else row.visitor_id,
                    ip_network=row.ip_network,
                    device_id=device_id,
                    now_ms=row.clicked_at_ms,
                    # (a blocked click's campaign counts were taken back when judged)
                    scope=""
                    if row.decision == "block"
                    else path_key(row.merchant_id, row.campaign_id),
                )
            raise
        named = dedupe_since is None and stored.decision != "block"  # (bots' are not kept)
        if first is not None and (named or not created):  # the server names the store's
            first.keep(stored, since_ms=row.clicked_at_ms - self._dedupe_ms)
        return stored, created

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
        """Verify a link, record the click, say where to send the visitor (bots: ``block``).

        The hot path: written out in one function, since every call here costs each click.
        """
        if device_id is not None or country is not None or (referrer and not referrer.isascii()):
            _check_extras(device_id, country, referrer)
        ctx, now = self._ctx, self._ctx.clock.timestamp()
        now_ms = int(now * 1000)
        claims = self._links.claims(url, now, self._skew)
        view = self._catalog.view(claims.merchant_id, claims.campaign_id, now)
        if not view.campaign.active:
            raise CampaignInactive(view.campaign.campaign_id, claims.landing_url)
        view.landing.check(claims.landing_url)
        fraud = self._fraud
        agent = fraud.agent_views.get(user_agent) or fraud.user_agent(user_agent)
        click_id, visitor = new_id_pair(now_ms)
        dedupe_since = None  # a new visitor has no earlier click to repeat
        if visitor_id is not None and _VISITOR_ID.fullmatch(visitor_id):
            visitor, dedupe_since = visitor_id, now_ms - self._dedupe_ms
        elif visitor_id is not None:  # another shape: a new visitor, if it is text at all
            check_text("visitor_id", visitor_id)
        packed_ip = ip_hash = ip_network = None
        if ip:  # parsed once: its hash, its network and its kind all come from this
            packed_ip, ip_network = ctx.pseudonyms.parse(ip)
            ip_hash = ctx.pseudonyms.digest(packed_ip)
        if agent.verdict.decision == "block":
            verdict, verdict_json = agent.verdict, agent.verdict_json
        else:
            verdict, verdict_json = fraud.click_verdict(
                url, agent, view.fraud, affiliate_id=claims.affiliate_id,
                visitor_id=None if dedupe_since is None else visitor, packed_ip=packed_ip,
                ip_network=ip_network, device_id=device_id, now_ms=now_ms,
                scope=path_key(view.campaign.merchant_id, claims.campaign_id),
            )  # fmt: skip
        row = _new_click_row((
            click_id, visitor, claims.link_id, claims.affiliate_id, claims.campaign_id,
            view.campaign.merchant_id, claims.landing_url, claims.sub_fields, now_ms, ip_hash,
            ip_network, agent.ua_hash, referrer_host(referrer) if referrer else None,
            verdict.decision, verdict_json, country,
        ))  # fmt: skip
        stored, created = self._store(row, dedupe_since, agent, device_id, view.fraud)
        return _new_click((
            stored.click_id, visitor,
            append_click_id(claims.landing_url, self._param, stored.click_id),
            verdict if created else self._stored_verdict(stored.verdict_json),
            _new_cookie((self._cookie, visitor, view.window_ms // 1000, *_COOKIE_FLAGS)),
            claims, stored.clicked_at_ms, not created,
        ))  # fmt: skip


def _check_extras(device_id: str | None, country: str | None, referrer: str | None) -> None:
    """The checks of the rarer click parameters (and of a referrer that is not ASCII)."""
    if referrer is not None:
        check_text("referrer", referrer)
    if device_id is not None:
        check_visitor_id("device_id", device_id)
    if country is not None and not _COUNTRY.fullmatch(country):
        raise InvalidInput(f"country {country!r} must be an ISO 3166 alpha-2 code like 'DE'")
