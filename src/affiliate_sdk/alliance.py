"""The ``Alliance``: the one object a host holds.

It loads what a decision needs from the ``Store``, calls the pure core
(links, attribution, commission arithmetic, fraud verdicts) and writes the
result back in one transaction. It is the only layer that touches storage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Unpack

from ._alliance_base import (
    _COOKIE_FLAGS,
    _MEMO_LIMIT,
    _VISITOR_ID,
    DEFAULT_CAMPAIGN_CACHE_TTL,
    DEFAULT_CLICK_DEDUPE_WINDOW,
    MAX_USER_AGENT_LENGTH,
    AllianceOptions,
    _new_click,
    _new_click_record,
    _new_cookie,
)
from ._orders import OrdersMixin
from ._settlement import SettlementMixin
from ._webhooks import WebhooksMixin
from .errors import CampaignInactive, InvalidInput
from .ids import new_id, new_id_pair
from .models import Verdict
from .storage import open_store
from .tracking.clicks import Click, append_click_id, referrer_host
from .tracking.keys import Keyring
from .tracking.landing import check_landing_url
from .tracking.links import LinkClaims, decode_token, encode_token, expiry_from

_COUNTRY = re.compile(r"[A-Z]{2}")

__all__ = [
    "DEFAULT_CAMPAIGN_CACHE_TTL",
    "DEFAULT_CLICK_DEDUPE_WINDOW",
    "MAX_USER_AGENT_LENGTH",
    "Alliance",
    "AllianceOptions",
]


class Alliance(OrdersMixin, SettlementMixin, WebhooksMixin):
    """An affiliate alliance inside the host's platform.

    Open one with ``Alliance.open(url, keys=...)`` and share it across the
    host's threads; ``close()`` it (or use ``with``) on shutdown.
    """

    @classmethod
    def open(
        cls,
        url: str = "memory://",
        *,
        keys: Mapping[str, bytes] | Keyring,
        **options: Unpack[AllianceOptions],
    ) -> Alliance:
        """Open the store at ``url`` (``memory://`` or ``sqlite:///path.db``).

        ``options`` are the keyword arguments of ``Alliance`` itself.
        """
        keyring = keys if isinstance(keys, Keyring) else Keyring(keys)
        store = open_store(url)
        try:
            return cls(store, keyring, **options)
        except BaseException:
            store.close()
            raise

    # -- links ------------------------------------------------------------------------------
    def create_link(
        self,
        *,
        affiliate_id: str,
        campaign_id: str,
        landing_url: str,
        sub_ids: Mapping[str, str] | None = None,
        expires_in: timedelta | None = None,
    ) -> str:
        """A signed tracking link for an affiliate to promote a campaign."""
        now = self._clock.timestamp()
        campaign = self._campaign_view(campaign_id, now).campaign
        if not campaign.active:
            raise CampaignInactive(campaign_id, landing_url)
        check_landing_url(landing_url, campaign.landing_domains)
        token = encode_token(
            self._keyring.signing_key,
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
        return f"{self._redirect_base}/{token}"

    def verify_link(self, url: str) -> LinkClaims:
        """The claims of a link (or bare token), or a ``LinkError`` subclass.

        Checks the signature and expiry only; ``track_click`` also checks the
        campaign and the landing URL.
        """
        return decode_token(self._keyring, url, self._clock.timestamp())

    def track_impression(
        self, url: str, *, visitor_id: str, user_agent: str | None = None
    ) -> str | None:
        """Record that a visitor saw an affiliate's link (for view-through attribution).

        Verifies the link and its campaign like ``track_click`` and returns the
        impression's id; a known bot's impression is not recorded (None).
        Views count towards an order only where the campaign's policy sets a
        ``view_through`` window.
        """
        now = self._clock.timestamp()
        claims = decode_token(self._keyring, url, now)
        campaign = self._campaign_view(claims.campaign_id, now).campaign
        if not campaign.active:
            raise CampaignInactive(campaign.campaign_id, claims.landing_url)
        if not _VISITOR_ID.fullmatch(visitor_id):
            raise InvalidInput("visitor_id must be 8-64 letters, digits, '-' or '_'")
        agent = self._user_agents.get(user_agent) or self._user_agent(user_agent)
        if agent.verdict.decision == "block":
            return None
        now_ms = int(now * 1000)
        impression_id = new_id(now_ms)
        data = [claims.affiliate_id, claims.campaign_id, campaign.merchant_id, now_ms]
        self._store.put_record(
            "impression", f"{visitor_id}/{now_ms:015d}/{impression_id}", json.dumps(data)
        )
        return impression_id

    def _stored_verdict(self, verdict_json: str) -> Verdict:
        verdict = self._verdicts.get(verdict_json)
        if verdict is None:
            verdict = Verdict.model_validate_json(verdict_json)
            if len(self._verdicts) >= _MEMO_LIMIT:
                self._verdicts.clear()
            self._verdicts[verdict_json] = verdict
        return verdict

    def track_click(
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
        """Verify a link, record the click and say where to send the visitor.

        Raises a ``LinkError`` for a bad, expired or re-pointed link and a
        ``CampaignError`` when its campaign is gone or paused. A known bot gets
        a ``block`` verdict but still its redirect; it never earns commission.
        ``country`` (ISO 3166 alpha-2, from the host's geo lookup) is kept with
        the click so an order from another country can be questioned.
        ``device_id`` (the host's device fingerprint, if it has one) is counted
        for velocity and checked against the blacklist; it is not stored.
        """
        if device_id is not None and not _VISITOR_ID.fullmatch(device_id):
            raise InvalidInput("device_id must be 8-64 letters, digits, '-' or '_'")
        if country is not None and not _COUNTRY.fullmatch(country):
            raise InvalidInput(f"country {country!r} must be an ISO 3166 alpha-2 code like 'DE'")
        now = self._clock.timestamp()
        now_ms = int(now * 1000)
        claims = decode_token(self._keyring, url, now)
        view = self._campaign_view(claims.campaign_id, now)
        campaign = view.campaign
        if not campaign.active:
            raise CampaignInactive(campaign.campaign_id, claims.landing_url)
        view.landing.check(claims.landing_url)
        agent = self._user_agents.get(user_agent) or self._user_agent(user_agent)
        click_id, new_visitor = new_id_pair(now_ms)
        if visitor_id is not None and _VISITOR_ID.fullmatch(visitor_id):
            dedupe_since: int | None = now_ms - self._dedupe_ms
        else:
            visitor_id = new_visitor
            dedupe_since = None
        if ip:  # parsed once: its hash, its network and its kind all come from this
            packed_ip: bytes | None
            packed_ip, ip_network = self._ips.parse(ip)
            ip_hash: str | None = self._ips.digest(packed_ip)
        else:
            packed_ip = ip_hash = ip_network = None
        if agent.verdict.decision == "block":
            verdict, verdict_json = agent.verdict, agent.verdict_json
        else:
            verdict, verdict_json = self._click_verdict(
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
        record, created = self._store.record_click(
            _new_click_record(
                (
                    click_id,
                    visitor_id,
                    claims.link_id,
                    claims.affiliate_id,
                    claims.campaign_id,
                    campaign.merchant_id,
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
            ),
            dedupe_since_ms=dedupe_since,
        )
        return _new_click(
            (
                record.click_id,
                visitor_id,
                append_click_id(claims.landing_url, self._click_param, record.click_id),
                verdict if created else self._stored_verdict(record.verdict_json),
                _new_cookie(
                    (self._cookie_name, visitor_id, view.window_ms // 1000, *_COOKIE_FLAGS)
                ),
                claims,
                record.clicked_at_ms,
                not created,
            )
        )
