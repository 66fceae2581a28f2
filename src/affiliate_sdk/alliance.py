"""The ``Alliance``: the one object a host holds.

It loads what a decision needs from the ``Store``, calls the pure core
(links, attribution, commission arithmetic, fraud verdicts) and writes the
result back in one transaction. It is the only layer that touches storage.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import partial
from types import TracebackType
from typing import Any, Final, NamedTuple, Self, TypedDict, TypeVar, Unpack, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import TypeAdapter

from ._base import Rate
from ._validation import check_identifier
from .antifraud.useragents import BotUserAgents
from .antifraud.verdicts import ALLOW, user_agent_verdict
from .clock import Clock, SystemClock, from_timestamp
from .commission.calculator import (
    COMMISSION_ROUNDING,
    Calculation,
    CommissionSplit,
    OrderContext,
    TargetInput,
    TierInput,
    calculate,
    effective_rate,
    fraction,
    reversal_for_refund,
    split_commission,
)
from .commission.checkpoints import Checkpoint, SignedStatement, sign_checkpoint, sign_statement
from .commission.ledger import (
    GENESIS_HASH,
    ChainProblem,
    JournalDraft,
    Posting,
    affiliate_account,
    decode_entry,
    diagnose,
    encode_entry,
    verify_chain,
)
from .commission.lifecycle import (
    OPEN_STATUSES,
    from_merchant,
    live_amounts,
    move,
    to_merchant,
)
from .commission.plans import CommissionPlan
from .commission.settlement import build_invoices, build_statements, reconcile_rows
from .commission.targets import Level, PeriodCap
from .commission.tiers import Period, TierState, period_bounds, period_key
from .errors import (
    CampaignInactive,
    CommissionStateError,
    ConflictingOrder,
    ConflictingRefund,
    CurrencyMismatch,
    InvalidAmount,
    InvalidInput,
    LedgerImbalance,
    MissingFxRate,
    RefundExceedsOrder,
    UnknownCampaign,
    UnknownCommission,
    UnknownOrder,
)
from .fx import FxRates
from .ids import new_id, new_id_pair
from .models import (
    MAX_ATTRIBUTION_WINDOW,
    Affiliate,
    Campaign,
    Commission,
    CommissionStatus,
    Credit,
    Invoice,
    ItemCommission,
    LedgerVerification,
    Merchant,
    Order,
    OrderOutcome,
    PayoutBatch,
    PlanVersion,
    ReconciliationRow,
    RefundOutcome,
    Statement,
    Verdict,
)
from .money import Money, sum_money
from .storage import Store, open_store
from .storage.records import ClickRecord, OrderRecord, RefundRecord
from .tracking.attribution import Attribution, last_click
from .tracking.clicks import (
    DEFAULT_CLICK_PARAM,
    DEFAULT_VISITOR_COOKIE,
    Click,
    IpPseudonymizer,
    VisitorCookie,
    append_click_id,
    referrer_host,
)
from .tracking.keys import Keyring
from .tracking.landing import LandingPolicy, check_landing_url
from .tracking.links import (
    DEFAULT_REDIRECT_BASE,
    LinkClaims,
    decode_token,
    encode_token,
    expiry_from,
)

__all__ = [
    "DEFAULT_CAMPAIGN_CACHE_TTL",
    "DEFAULT_CLICK_DEDUPE_WINDOW",
    "MAX_USER_AGENT_LENGTH",
    "Alliance",
    "AllianceOptions",
]

#: A second click by the same visitor on the same link within this span
#: returns the first click instead of counting again.
DEFAULT_CLICK_DEDUPE_WINDOW: Final = timedelta(hours=1)
#: How long a campaign read from the store is trusted before it is read again
#: (changes made through this ``Alliance`` apply at once).
DEFAULT_CAMPAIGN_CACHE_TTL: Final = timedelta(seconds=5)
#: User agents are judged (and remembered) by their first this many characters.
MAX_USER_AGENT_LENGTH: Final = 512
#: Journal entry kind (after "commission.") for each kind of refund line.
_JOURNAL_KIND: Final = {"reversal": "reversed", "clawback": "clawed_back"}
#: How long after approval a commission becomes payable (T+1).
DEFAULT_SETTLE_AFTER: Final = timedelta(days=1)
#: The platform's share of every commission unless configured.
DEFAULT_PLATFORM_TAKE: Final = Decimal(0)

_VISITOR_ID: Final = re.compile(r"[A-Za-z0-9_-]{8,64}")
_MEMO_LIMIT: Final = 65_536
_PSEUDONYM_CONTEXT: Final = b"affiliate_sdk/pseudonym-key/v1"
_RATE: Final = TypeAdapter[Decimal](Rate)
_NO_IP: Final = (None, None)
_COOKIE_FLAGS: Final = tuple(
    VisitorCookie._field_defaults[name] for name in ("secure", "http_only", "same_site", "path")
)
# Hot-path constructors: tuple.__new__ skips the named tuples' Python-level __new__.
_new_click_record: Final = partial(tuple.__new__, ClickRecord)
_new_click: Final = partial(tuple.__new__, Click)
_new_cookie: Final = partial(tuple.__new__, VisitorCookie)


class _CampaignView(NamedTuple):
    campaign: Campaign
    landing: LandingPolicy
    window_ms: int
    loaded_at: float
    plans: tuple[PlanVersion, ...]

    def plan_at(self, instant: datetime) -> PlanVersion:
        """The plan version in force at ``instant`` (the first one for earlier instants)."""
        chosen = self.plans[0]
        for version in self.plans:
            if version.effective_from <= instant:
                chosen = version
        return chosen


_Registered = TypeVar("_Registered", Affiliate, Merchant)


class _UserAgentView(NamedTuple):
    verdict: Verdict
    verdict_json: str
    ua_hash: str | None


class AllianceOptions(TypedDict, total=False):
    """Keyword options of ``Alliance`` and ``Alliance.open``."""

    clock: Clock | None
    redirect_base: str
    click_param: str
    cookie_name: str
    platform_take: Decimal | str
    pseudonym_key: bytes | None
    click_dedupe_window: timedelta
    campaign_cache_ttl: timedelta
    bots: BotUserAgents | None
    fx: FxRates | None


class Alliance:
    """An affiliate alliance inside the host's platform.

    Open one with ``Alliance.open(url, keys=...)`` and share it across the
    host's threads; ``close()`` it (or use ``with``) on shutdown.
    """

    def __init__(
        self,
        store: Store,
        keys: Mapping[str, bytes] | Keyring,
        *,
        clock: Clock | None = None,
        redirect_base: str = DEFAULT_REDIRECT_BASE,
        click_param: str = DEFAULT_CLICK_PARAM,
        cookie_name: str = DEFAULT_VISITOR_COOKIE,
        platform_take: Decimal | str = DEFAULT_PLATFORM_TAKE,
        pseudonym_key: bytes | None = None,
        click_dedupe_window: timedelta = DEFAULT_CLICK_DEDUPE_WINDOW,
        campaign_cache_ttl: timedelta = DEFAULT_CAMPAIGN_CACHE_TTL,
        bots: BotUserAgents | None = None,
        fx: FxRates | None = None,
    ) -> None:
        self._store = store
        self._fx = fx
        self._keyring = keys if isinstance(keys, Keyring) else Keyring(keys)
        self._clock: Clock = clock if clock is not None else SystemClock()
        if not redirect_base.startswith(("https://", "http://")) or redirect_base.endswith("/"):
            raise InvalidInput(
                f"redirect_base {redirect_base!r} must be an http(s) URL without a trailing slash"
            )
        self._redirect_base = redirect_base
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", click_param):
            raise InvalidInput(f"click_param {click_param!r} must be a plain query parameter name")
        self._click_param = click_param
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cookie_name):
            raise InvalidInput(f"cookie_name {cookie_name!r} must be a plain cookie name")
        self._cookie_name = cookie_name
        try:
            self._platform_take = _RATE.validate_python(platform_take)
        except ValueError as exc:
            raise InvalidInput(f"platform_take: {exc}") from None
        if pseudonym_key is None:
            first = self._keyring[next(iter(self._keyring))]
            pseudonym_key = first.tag(_PSEUDONYM_CONTEXT)
        if not 16 <= len(pseudonym_key) <= 64:
            raise InvalidInput("pseudonym_key must be 16 to 64 bytes")
        self._pseudonym_key = pseudonym_key
        self._ips = IpPseudonymizer(pseudonym_key)
        self._dedupe_ms = int(click_dedupe_window.total_seconds() * 1000)
        self._cache_ttl = campaign_cache_ttl.total_seconds()
        self._bots = bots if bots is not None else BotUserAgents()
        self._campaigns: dict[str, _CampaignView] = {}
        self._registry: dict[tuple[str, str], tuple[float, object]] = {}
        self._user_agents: dict[str | None, _UserAgentView] = {}
        self._verdicts: dict[str, Verdict] = {}

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

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self._store

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- campaigns -----------------------------------------------------------------------
    def add_campaign(
        self, campaign: Campaign, *, plan_effective_from: datetime | None = None
    ) -> Campaign:
        """Publish a campaign, or replace the one with the same id.

        A plan that differs from the campaign's current one becomes its next
        version, used for orders placed from ``plan_effective_from`` (default:
        now) on; orders placed earlier keep the plan of their time.
        """
        if not isinstance(campaign, Campaign):
            raise InvalidInput("add_campaign takes a Campaign")
        effective = plan_effective_from or self._clock.now()
        if effective.tzinfo is None:
            raise InvalidInput("plan_effective_from must be timezone-aware")
        store = self._store
        with store.transaction():
            versions = store.plan_versions(campaign.campaign_id)
            if not versions or versions[-1].plan != campaign.plan:
                store.add_plan_version(
                    PlanVersion(
                        campaign_id=campaign.campaign_id,
                        version=len(versions) + 1,
                        effective_from=effective,
                        plan=campaign.plan,
                    )
                )
            store.put_campaign(campaign)
        self._campaigns.pop(campaign.campaign_id, None)
        return campaign

    def add_merchant(self, merchant: Merchant) -> Merchant:
        """Register a merchant's settings (its platform take), or replace them."""
        if not isinstance(merchant, Merchant):
            raise InvalidInput("add_merchant takes a Merchant")
        self._store.put_merchant(merchant)
        self._registry.pop(("merchant", merchant.merchant_id), None)
        return merchant

    def _registered(
        self, kind: str, key: str, load: Callable[[str], _Registered | None]
    ) -> _Registered | None:
        """A registry entry, read from the store at most once per cache period."""
        now = self._clock.timestamp()
        cached = self._registry.get((kind, key))
        if cached is not None and now - cached[0] < self._cache_ttl:
            return cast("_Registered | None", cached[1])
        value = load(key)
        if len(self._registry) >= _MEMO_LIMIT:
            self._registry.clear()
        self._registry[(kind, key)] = (now, value)
        return value

    def _member(self, affiliate_id: str) -> Affiliate | None:
        return self._registered("affiliate", affiliate_id, self._store.get_affiliate)

    def add_affiliate(self, affiliate: Affiliate) -> Affiliate:
        """Register an affiliate (its group, channel and recruiter), or replace it."""
        if not isinstance(affiliate, Affiliate):
            raise InvalidInput("add_affiliate takes an Affiliate")
        self._store.put_affiliate(affiliate)
        self._registry.pop(("affiliate", affiliate.affiliate_id), None)
        return affiliate

    def affiliate(self, affiliate_id: str) -> Affiliate | None:
        """The registered affiliate, or None (affiliates need not be registered)."""
        return self._store.get_affiliate(affiliate_id)

    def plan_versions(self, campaign_id: str) -> list[PlanVersion]:
        """Every plan the campaign has had, oldest first."""
        return self._store.plan_versions(campaign_id)

    def campaign(self, campaign_id: str) -> Campaign:
        return self._campaign_view(campaign_id, self._clock.timestamp()).campaign

    def campaigns(self) -> list[Campaign]:
        return self._store.list_campaigns()

    def _campaign_view(self, campaign_id: str, now: float) -> _CampaignView:
        view = self._campaigns.get(campaign_id)
        if view is not None and now - view.loaded_at < self._cache_ttl:
            return view
        campaign = self._store.get_campaign(campaign_id)
        if campaign is None:
            self._campaigns.pop(campaign_id, None)
            raise UnknownCampaign(campaign_id)
        window_ms = int(campaign.attribution_window.total_seconds() * 1000)
        versions = tuple(self._store.plan_versions(campaign_id))
        view = _CampaignView(
            campaign, LandingPolicy(campaign.landing_domains), window_ms, now, versions
        )
        if len(self._campaigns) >= _MEMO_LIMIT:
            self._campaigns.clear()
        self._campaigns[campaign_id] = view
        return view

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
        )
        return f"{self._redirect_base}/{token}"

    def verify_link(self, url: str) -> LinkClaims:
        """The claims of a link (or bare token), or a ``LinkError`` subclass.

        Checks the signature and expiry only; ``track_click`` also checks the
        campaign and the landing URL.
        """
        return decode_token(self._keyring, url, self._clock.timestamp())

    # -- clicks -------------------------------------------------------------------------------
    def _user_agent(self, user_agent: str | None) -> _UserAgentView:
        if user_agent is not None and len(user_agent) > MAX_USER_AGENT_LENGTH:
            user_agent = user_agent[:MAX_USER_AGENT_LENGTH]  # bounds the memo and the match
        view = self._user_agents.get(user_agent)
        if view is None:
            matched = self._bots.match(user_agent) if user_agent else None
            verdict = user_agent_verdict(user_agent, matched)
            ua_hash = (
                hashlib.blake2b(
                    user_agent.encode("utf-8", "replace"), key=self._pseudonym_key, digest_size=16
                ).hexdigest()
                if user_agent
                else None
            )
            view = _UserAgentView(verdict, verdict.model_dump_json(), ua_hash)
            if len(self._user_agents) >= _MEMO_LIMIT:
                self._user_agents.clear()
            self._user_agents[user_agent] = view
        return view

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
    ) -> Click:
        """Verify a link, record the click and say where to send the visitor.

        Raises a ``LinkError`` for a bad, expired or re-pointed link and a
        ``CampaignError`` when its campaign is gone or paused. A known bot gets
        a ``block`` verdict but still its redirect; it never earns commission.
        """
        now = self._clock.timestamp()
        now_ms = int(now * 1000)
        claims = decode_token(self._keyring, url, now)
        view = self._campaigns.get(claims.campaign_id)
        if view is None or now - view.loaded_at >= self._cache_ttl:
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
        ip_hash, ip_network = self._ips.pseudonymize(ip) if ip else _NO_IP
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
                    agent.verdict.decision,
                    agent.verdict_json,
                )
            ),
            dedupe_since_ms=dedupe_since,
        )
        return _new_click(
            (
                record.click_id,
                visitor_id,
                append_click_id(claims.landing_url, self._click_param, record.click_id),
                agent.verdict if created else self._stored_verdict(record.verdict_json),
                _new_cookie(
                    (self._cookie_name, visitor_id, view.window_ms // 1000, *_COOKIE_FLAGS)
                ),
                claims,
                record.clicked_at_ms,
                not created,
            )
        )

    # -- orders -------------------------------------------------------------------------------
    def record_order(
        self,
        order: Order,
        *,
        visitor_id: str | None = None,
        click_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> OrderOutcome:
        """Attribute an order and book its commission, exactly once.

        Recording the same ``(merchant_id, order_id)`` again returns the first
        outcome and books nothing; different content under the same ids raises
        ``ConflictingOrder``.
        """
        if not isinstance(order, Order):
            raise InvalidInput("record_order takes an Order")
        now = self._clock.now()
        now_ts = now.timestamp()
        placed_at = order.placed_at or now
        placed_ms = int(placed_at.timestamp() * 1000)
        fingerprint = _fingerprint(order)
        verdict = ALLOW if user_agent is None else self._user_agent(user_agent).verdict
        ip_hash, ip_network = self._ips.pseudonymize(ip) if ip else _NO_IP
        store = self._store
        with store.transaction():
            existing = store.get_order(order.merchant_id, order.order_id)
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise ConflictingOrder(order.merchant_id, order.order_id)
                return OrderOutcome.model_validate_json(existing.outcome_json)

            if order.renewal and order.subscription_id is not None:
                attribution = self._renewal(store, order, order.subscription_id)
            else:
                attribution = self._attribute(
                    store,
                    merchant_id=order.merchant_id,
                    placed_ms=placed_ms,
                    visitor_id=visitor_id,
                    click_id=click_id,
                    now=now_ts,
                )
            notes = attribution.notes
            winner = attribution.winner
            if winner is not None and order.subscription_id is not None and not order.renewal:
                store.bind_subscription(order.merchant_id, order.subscription_id, winner.click_id)
            credits: list[Credit] = []
            entries: list[Commission] = []
            breakdown: list[ItemCommission] = []
            if winner is not None:
                credits.append(
                    Credit(
                        affiliate_id=winner.affiliate_id,
                        campaign_id=winner.campaign_id,
                        click_id=winner.click_id,
                        weight=Decimal(1),
                        clicked_at=from_timestamp(winner.clicked_at_ms / 1000),
                    )
                )
                if verdict.decision == "block":
                    notes.append("no commission: the order request came from invalid traffic")
                else:
                    entries, calculation = self._book_commission(
                        order, winner, now_ms=int(now_ts * 1000)
                    )
                    if calculation is None:
                        notes.append(
                            f"no commission: the plan does not pay renewal {order.renewal}"
                        )
                    else:
                        breakdown = list(calculation.items)
            outcome = OrderOutcome(
                merchant_id=order.merchant_id,
                order_id=order.order_id,
                total=order.total,
                placed_at=placed_at,
                credits=credits,
                commissions=entries,
                verdict=verdict,
                notes=notes,
                breakdown=breakdown,
            )
            store.insert_order(
                OrderRecord(
                    order.merchant_id,
                    order.order_id,
                    fingerprint,
                    order.total.currency,
                    order.total.to_minor(),
                    0,
                    placed_ms,
                    int(now_ts * 1000),
                    ip_hash,
                    ip_network,
                    outcome.model_dump_json(),
                )
            )
            if entries:
                store.add_entries(entries)
                self._journal(
                    store,
                    event_id=_event_id("order", order.merchant_id, order.order_id),
                    kind="commission.booked",
                    at=entries[0].created_at,
                    postings=from_merchant(order.merchant_id, entries),
                    lines=entries,
                )
        return outcome

    def _renewal(self, store: Store, order: Order, subscription_id: str) -> Attribution:
        """A renewal is credited to the click that earned the subscription's first order."""
        bound = store.subscription_click(order.merchant_id, subscription_id)
        click = None if bound is None else store.get_click(bound)
        if click is None:
            return Attribution(
                None, [f"subscription {subscription_id} has no attributed first order"]
            )
        return Attribution(
            click,
            [f"renewal {order.renewal} of {subscription_id} is credited to its first click"],
        )

    def _attribute(
        self,
        store: Store,
        *,
        merchant_id: str,
        placed_ms: int,
        visitor_id: str | None,
        click_id: str | None,
        now: float,
    ) -> Attribution:
        """Load the order's candidate clicks and their windows; let the pure rule decide."""
        notes: list[str] = []
        candidates: list[ClickRecord] = []
        if click_id is not None:
            given = store.get_click(click_id)
            if given is None:
                notes.append(f"click id {click_id} is unknown")
            else:
                candidates.append(given)
        if visitor_id is not None:
            lookback = int(MAX_ATTRIBUTION_WINDOW.total_seconds() * 1000)
            candidates += store.visitor_clicks(
                visitor_id, since_ms=placed_ms - lookback, until_ms=placed_ms
            )
        if click_id is None and visitor_id is None:
            notes.append("no click id or visitor id was given")
        windows: dict[str, int] = {}
        for click in candidates:
            with suppress(UnknownCampaign):  # its clicks are then passed over, with a note
                windows[click.campaign_id] = self._campaign_view(click.campaign_id, now).window_ms
        decided = last_click(
            candidates, merchant_id=merchant_id, placed_at_ms=placed_ms, window_ms=windows
        )
        return Attribution(decided.winner, notes + decided.notes)

    def _book_commission(
        self, order: Order, click: ClickRecord, *, now_ms: int
    ) -> tuple[list[Commission], Calculation | None]:
        """Price the order under the plan of its time and build its ledger lines.

        Reads and advances the period totals its tiers, target and cap keep
        (inside the caller's transaction).
        """
        store = self._store
        placed_at = order.placed_at or from_timestamp(now_ms / 1000)
        view = self._campaign_view(click.campaign_id, now_ms / 1000)
        version = view.plan_at(placed_at)
        plan = version.plan
        if order.renewal and not _pays_renewal(plan, order.renewal):
            return [], None
        zone = view.campaign.timezone
        currency = order.total.currency
        tier_key = tier_input = None
        if plan.tiers is not None:
            tier_key = _period_scope(
                "tier", plan.tiers.period, plan.tiers.basis, click, placed_at=placed_at, zone=zone
            )
            fx = self._fx_rate(currency, plan.tiers.currency, placed_at)
            tier_input = TierInput(store.get_tier_state(tier_key) or TierState(), fx)
        target_key = target_input = target_state = None
        if plan.target is not None:
            target_key = _period_scope(
                "target",
                plan.target.period,
                "affiliate_sales",
                click,
                placed_at=placed_at,
                zone=zone,
            )
            target_state = store.get_tier_state(target_key) or TierState()
            fx = self._fx_rate(currency, plan.target.amount.currency, placed_at)
            target_input = TargetInput(target_state.volume, fx)
        member = self._member(click.affiliate_id)
        level: Level | None = None
        level_key: str | None = None
        if plan.levels is not None:
            level_key = _event_id("level", "affiliate", click.affiliate_id, str(placed_at.year))
            standing = store.get_tier_state(level_key) or TierState()
            level = plan.levels.level_at(standing.volume)
        context = OrderContext(
            affiliate_group=None if member is None else member.group,
            channel=None if member is None else member.channel,
            affiliate_rate=None if member is None else member.rate,
            affiliate_level=None if level is None else level.name,
        )
        calculation = calculate(plan, order, context, tier=tier_input, target=target_input)
        if tier_key is not None and calculation.tier_state is not None:
            store.put_tier_state(tier_key, calculation.tier_state)
        counts: dict[str, Decimal] = {}
        if target_key is not None and target_state is not None:
            counts[target_key] = calculation.target_measure or Decimal(0)
        take = self._take(plan, order.merchant_id)
        level_rule = ""
        if plan.levels is not None and level is not None and level_key is not None:
            take, level_rule = Decimal(1) - level.share, f"; level {level.name}"
            fx = self._fx_rate(currency, plan.levels.currency, placed_at)
            counts[level_key] = (
                sum((item.eligible.amount for item in calculation.items), Decimal(0)) * fx
            )
        for key, measure in counts.items():
            totals = store.get_tier_state(key) or TierState()
            store.put_tier_state(key, totals._replace(volume=totals.volume + measure))

        # (kind, amount, rate, basis, rule, fields of the affiliate's line)
        parts: list[tuple[str, Money, Decimal, Money, str, dict[str, object]]] = [
            (
                "commission",
                calculation.gross,
                effective_rate(calculation),
                sum_money((item.eligible for item in calculation.items), currency),
                calculation.rule + level_rule,
                {
                    "tier_key": tier_key,
                    "counts": counts,
                    **_tier_fields(calculation, tier_input),
                },
            )
        ]
        state = calculation.tier_state
        if calculation.true_up and plan.tiers is not None and plan.tiers.currency and state:
            tier_currency = plan.tiers.currency
            parts.append(
                (
                    "trueup",
                    Money(calculation.true_up, tier_currency).round(COMMISSION_ROUNDING),
                    state.rate,
                    Money(state.tier_base, tier_currency).round(COMMISSION_ROUNDING),
                    "retroactive tier true-up",
                    {"tier_key": tier_key},
                )
            )
        if calculation.bonus and plan.target is not None and target_input is not None:
            target_currency = plan.target.amount.currency
            volume = target_input.volume + (calculation.target_measure or Decimal(0))
            parts.append(
                (
                    "bonus",
                    Money(calculation.bonus, target_currency).round(COMMISSION_ROUNDING),
                    plan.target.bonus_rate or Decimal(0),
                    Money(volume, target_currency).round(COMMISSION_ROUNDING),
                    "over-target bonus",
                    {},
                )
            )
        if plan.period_cap is not None:
            parts = self._capped(parts, plan.period_cap, click, placed_at, zone)

        created_at = from_timestamp(now_ms / 1000)
        common = {
            "merchant_id": order.merchant_id,
            "order_id": order.order_id,
            "campaign_id": click.campaign_id,
            "affiliate_id": click.affiliate_id,
            "click_id": click.click_id,
            "status": "pending",
            "plan_version": version.version,
            "created_at": created_at,
            "hold_until": created_at + timedelta(days=plan.hold_days),
        }
        entries: list[Commission] = []
        for kind, amount, rate, basis, rule, fields in parts:
            if kind != "commission" and not amount:
                continue
            event = ("order", order.merchant_id, order.order_id)
            entries += self._split_lines(
                split_commission(amount, take),
                kind=kind,
                event=event if kind == "commission" else (*event, kind),
                rate=rate,
                basis=basis,
                rule=rule,
                tier=fields,
                now_ms=now_ms,
                common=common,
            )
        parent_id = None if member is None else member.parent_id
        if plan.parent_share and parent_id is not None:
            entries += self._parent_lines(
                entries, parent_id, plan.parent_share, now_ms=now_ms, common=common
            )
        return entries, calculation

    def _capped(
        self,
        parts: list[tuple[str, Money, Decimal, Money, str, dict[str, object]]],
        cap: PeriodCap,
        click: ClickRecord,
        placed_at: datetime,
        zone: str,
    ) -> list[tuple[str, Money, Decimal, Money, str, dict[str, object]]]:
        """Trim the order's amounts so the period's total stays within the cap."""
        key = _period_scope(
            "cap", cap.period, "affiliate_sales", click, placed_at=placed_at, zone=zone
        )
        state = self._store.get_tier_state(key) or TierState()
        room = cap.amount.amount - state.paid
        trimmed = []
        for kind, amount, rate, basis, rule, fields in parts:
            fx = self._fx_rate(amount.currency, cap.amount.currency, placed_at)
            wanted = amount.amount * fx
            allowed = max(min(wanted, room), Decimal(0))
            kept, label = amount, rule
            if allowed < wanted:
                kept = Money(allowed / fx, amount.currency).round(ROUND_DOWN)
                label = f"{rule}; period cap {cap.amount}"
            room -= kept.amount * fx
            trimmed.append((kind, kept, rate, basis, label, fields))
        self._store.put_tier_state(key, state._replace(paid=cap.amount.amount - room))
        return trimmed

    def _take(self, plan: CommissionPlan, merchant_id: str) -> Decimal:
        """The platform's share: the plan's, else the merchant's, else the alliance default."""
        if plan.platform_take is not None:
            return plan.platform_take
        merchant = self._registered("merchant", merchant_id, self._store.get_merchant)
        if merchant is not None and merchant.platform_take is not None:
            return merchant.platform_take
        return self._platform_take

    def _parent_lines(
        self,
        lines: list[Commission],
        parent_id: str,
        share: Decimal,
        *,
        now_ms: int,
        common: Mapping[str, object],
    ) -> list[Commission]:
        """The recruiter's share of the affiliate's commission, paid on top (two-tier)."""
        parents = []
        for line in lines:
            if line.account != "affiliate":
                continue
            amount = (line.amount * share).round(COMMISSION_ROUNDING)
            if not amount:
                continue
            parents.append(
                line.model_copy(
                    update={
                        **common,
                        "entry_id": new_id(now_ms),
                        "event_id": f"{line.event_id}/parent",
                        "account": "parent",
                        "affiliate_id": parent_id,
                        "amount": amount,
                        "rate": share,
                        "basis": line.amount,
                        "rule": f"parent share {(share * 100).normalize():f}%",
                    }
                )
            )
        return parents

    def _split_lines(
        self,
        split: CommissionSplit,
        *,
        kind: str,
        event: tuple[str, ...],
        rate: Decimal,
        basis: Money,
        rule: str,
        tier: Mapping[str, object],
        now_ms: int,
        common: Mapping[str, object],
    ) -> list[Commission]:
        """The affiliate's line and the platform's (when its take is not zero)."""
        lines = []
        for account, amount in (("affiliate", split.affiliate), ("platform", split.platform)):
            if account == "platform" and not amount:
                continue
            lines.append(
                Commission.model_validate(
                    {
                        **common,
                        **(tier if account == "affiliate" else {}),
                        "entry_id": new_id(now_ms),
                        "event_id": _event_id(*event, account),
                        "account": account,
                        "kind": kind,
                        "amount": amount,
                        "rate": rate,
                        "basis": basis,
                        "rule": rule,
                    }
                )
            )
        return lines

    def _fx_rate(self, base: str, quote: str | None, at: datetime) -> Decimal:
        if quote is None or base == quote:
            return Decimal(1)
        if self._fx is None:
            raise MissingFxRate(base, quote)
        return self._fx.rate(base, quote, at)

    # -- period close ---------------------------------------------------------------------------
    def close_tier_period(self, campaign_id: str, period: str) -> list[Commission]:
        """Settle a retroactive tier period once it is over: book what refunds changed.

        Refunds may leave an affiliate's period volume below a band it had
        reached; closing books the (negative, or positive) true-up that makes
        the period's tier commission exactly the net volume times the rate of
        the band finally reached. Closing twice books nothing more.
        """
        store = self._store
        with store.transaction():
            view = self._campaign_view(campaign_id, self._clock.timestamp())
            closed = _event_id("closed", campaign_id, period)
            if store.get_tier_state(closed) is not None:
                return []
            store.put_tier_state(closed, TierState())
            booked: list[Commission] = []
            prefix = _event_id("tier", "campaign", campaign_id) + "/"
            for key, state in sorted(store.tier_states(prefix).items()):
                parts = key[len(prefix) :].split("/")
                if len(parts) != 3 or parts[2] != period:
                    continue
                end = period_bounds(period, view.campaign.timezone)[1]
                plan = view.plan_at(end - timedelta(microseconds=1)).plan
                tiers = plan.tiers
                if tiers is None or tiers.mode != "retroactive" or tiers.currency is None:
                    continue
                final = tiers.rate_at(state.volume)
                due = state.tier_base * final
                adjustment = Money(due - state.paid, tiers.currency).round(COMMISSION_ROUNDING)
                store.put_tier_state(
                    key, state._replace(rate=final, paid=state.paid + adjustment.amount)
                )
                if adjustment:
                    booked += self._book_traffic(
                        view,
                        parts[1],
                        adjustment,
                        rule=f"tier period {period} closed at {final * 100:f}%",
                        reference=f"tier-close/{campaign_id}/{parts[1]}/{period}",
                        kind="trueup",
                    )
            return booked

    # -- traffic: CPC and CPM ---------------------------------------------------------------------
    def settle_clicks(
        self, campaign_id: str, *, start: datetime, end: datetime
    ) -> list[Commission]:
        """Book CPC commission for the campaign's clicks in ``start <= t < end``.

        Each affiliate earns the plan's ``per_click`` for every click that was
        not blocked. Windows must follow each other: each starts where the
        previous one ended, so no click is paid twice or skipped.
        """
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise InvalidInput("settle_clicks needs an aware start before an aware end")
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        store = self._store
        with store.transaction():
            view = self._campaign_view(campaign_id, self._clock.timestamp())
            mark = _event_id("cpc-settled", campaign_id)
            settled = store.get_tier_state(mark)
            if settled is not None and int(settled.volume) != start_ms:
                raise InvalidInput(
                    f"clicks of {campaign_id} are settled up to "
                    f"{from_timestamp(int(settled.volume) / 1000).isoformat()}; start there"
                )
            store.put_tier_state(mark, TierState(volume=Decimal(end_ms)))
            plan = view.plan_at(start).plan
            if plan.per_click is None:
                return []
            booked: list[Commission] = []
            counts = store.count_clicks(campaign_id, since_ms=start_ms, until_ms=end_ms)
            for affiliate_id, count in sorted(counts.items()):
                booked += self._book_traffic(
                    view,
                    affiliate_id,
                    plan.per_click * count,
                    rule=f"cpc {plan.per_click} x {count}",
                    reference=f"cpc/{campaign_id}/{affiliate_id}/{start_ms}-{end_ms}",
                )
            return booked

    def record_impressions(
        self, campaign_id: str, *, affiliate_id: str, count: int, batch_id: str
    ) -> list[Commission]:
        """Count impressions; book the plan's ``per_mille`` for each completed thousand.

        Impressions short of a thousand carry over to the next batch. The same
        ``batch_id`` again counts nothing.
        """
        check_identifier("affiliate_id", affiliate_id)
        check_identifier("batch_id", batch_id)
        if count < 0:
            raise InvalidInput("count must not be negative")
        store = self._store
        with store.transaction():
            seen = _event_id("impressions-batch", campaign_id, batch_id)
            if store.get_tier_state(seen) is not None:
                return []
            store.put_tier_state(seen, TierState(volume=Decimal(count)))
            view = self._campaign_view(campaign_id, self._clock.timestamp())
            plan = view.plan_at(self._clock.now()).plan
            key = _event_id("impressions", campaign_id, affiliate_id)
            totals = store.get_tier_state(key) or TierState()
            before = int(totals.volume)
            store.put_tier_state(key, totals._replace(volume=Decimal(before + count)))
            thousands = (before + count) // 1000 - before // 1000
            if plan.per_mille is None or not thousands:
                return []
            return self._book_traffic(
                view,
                affiliate_id,
                plan.per_mille * thousands,
                rule=f"cpm {plan.per_mille} x {thousands}",
                reference=f"cpm/{campaign_id}/{affiliate_id}/{batch_id}",
            )

    def _book_traffic(
        self,
        view: _CampaignView,
        affiliate_id: str,
        amount: Money,
        *,
        rule: str,
        reference: str,
        kind: str = "commission",
    ) -> list[Commission]:
        """Ledger lines and journal entry for commission not tied to one order."""
        campaign = view.campaign
        now = self._clock.now()
        now_ms = int(now.timestamp() * 1000)
        plan = view.plan_at(now)
        common = {
            "merchant_id": campaign.merchant_id,
            "order_id": reference,
            "campaign_id": campaign.campaign_id,
            "affiliate_id": affiliate_id,
            "click_id": None,
            "status": "pending",
            "plan_version": plan.version,
            "created_at": now,
            "hold_until": now + timedelta(days=plan.plan.hold_days),
        }
        lines = self._split_lines(
            split_commission(
                amount.round(COMMISSION_ROUNDING), self._take(plan.plan, campaign.merchant_id)
            ),
            kind=kind,
            event=("traffic", reference),
            rate=Decimal(0),
            basis=amount,
            rule=rule,
            tier={},
            now_ms=now_ms,
            common=common,
        )
        self._store.add_entries(lines)
        self._journal(
            self._store,
            event_id=_event_id("traffic", reference),
            kind="commission.booked",
            at=now,
            postings=from_merchant(campaign.merchant_id, lines),
            lines=lines,
        )
        return lines

    # -- refunds ------------------------------------------------------------------------------
    def refund(
        self,
        merchant_id: str,
        order_id: str,
        amount: Money | None = None,
        *,
        refund_id: str | None = None,
    ) -> RefundOutcome:
        """Refund an order in full (no ``amount``) or in part, reversing commission.

        Each commission entry of the order is reversed in proportion to the
        refund; refunds that add up to the order total reverse it exactly.
        With a ``refund_id`` the call is idempotent: the same id again returns
        the first outcome and books nothing.
        """
        check_identifier("merchant_id", merchant_id)
        now_ms = int(self._clock.timestamp() * 1000)
        if refund_id is not None:
            check_identifier("refund_id", refund_id)
        store = self._store
        with store.transaction():
            order = store.get_order(merchant_id, order_id)
            if order is None:
                raise UnknownOrder(merchant_id, order_id)
            if refund_id is not None:
                done = store.get_refund(merchant_id, order_id, refund_id)
                if done is not None:
                    replay = RefundOutcome.model_validate_json(done.outcome_json)
                    if amount is not None and amount != replay.amount:
                        raise ConflictingRefund(order_id, refund_id)
                    return replay
            refund_id = refund_id or new_id(now_ms)
            currency = order.currency
            total = Money.from_minor(order.total_minor, currency)
            before = Money.from_minor(order.refunded_minor, currency)
            remaining = total - before
            if amount is None:
                amount = remaining
            if not isinstance(amount, Money):
                raise InvalidInput("amount must be Money")
            if amount.currency != currency:
                raise CurrencyMismatch(currency, amount.currency)
            if not amount.is_rounded or amount.amount <= 0:
                raise InvalidAmount(
                    amount.amount, f"a refund is a positive amount of whole {currency} minor units"
                )
            if amount > remaining:
                raise RefundExceedsOrder(order_id, amount, remaining)
            amount = amount.round()
            lines = store.entries(merchant_id=merchant_id, order_id=order_id)
            reversals, emptied, postings = self._reversals(
                lines, refund_id=refund_id, total=total, before=before, refund=amount, now_ms=now_ms
            )
            refunded = before + amount
            outcome = RefundOutcome(
                merchant_id=merchant_id,
                order_id=order_id,
                refund_id=refund_id,
                amount=amount,
                refunded_total=refunded,
                remaining=total - refunded,
                reversals=reversals,
            )
            self._unwind_tiers(lines, share=fraction(amount, total))
            if reversals:
                store.add_entries(reversals)
                store.update_entries(emptied)
                for kind, kind_postings in postings.items():
                    self._journal(
                        store,
                        event_id=_event_id("refund", merchant_id, order_id, refund_id, kind),
                        kind=f"commission.{kind}",
                        at=reversals[0].created_at,
                        postings=kind_postings,
                        lines=[r for r in reversals if _JOURNAL_KIND[r.kind] == kind],
                    )
            store.set_order_refunded(merchant_id, order_id, refunded.to_minor())
            store.insert_refund(
                RefundRecord(
                    merchant_id,
                    order_id,
                    refund_id,
                    amount.to_minor(),
                    now_ms,
                    outcome.model_dump_json(),
                )
            )
        return outcome

    def _unwind_tiers(self, lines: list[Commission], *, share: Decimal) -> None:
        """Take a refunded share of orders back out of their period's volume."""
        for line in lines:
            if line.kind == "commission":
                for key, measure in line.counts.items():
                    totals = self._store.get_tier_state(key)
                    if totals is not None:
                        volume = totals.volume - measure * share
                        self._store.put_tier_state(key, totals._replace(volume=volume))
            if line.kind != "commission" or line.tier_key is None or line.tier_measure is None:
                continue
            state = self._store.get_tier_state(line.tier_key)
            if state is None:
                continue
            self._store.put_tier_state(
                line.tier_key,
                TierState(
                    state.volume - line.tier_measure * share,
                    state.tier_base - (line.tier_base or 0) * share,
                    state.rate,
                    state.paid - (line.tier_paid or 0) * share,
                ),
            )

    def _reversals(
        self,
        lines: list[Commission],
        *,
        refund_id: str,
        total: Money,
        before: Money,
        refund: Money,
        now_ms: int,
    ) -> tuple[list[Commission], list[Commission], dict[str, list[Posting]]]:
        """Reversal lines for a refund, the lines it empties, and the postings by kind.

        Before payment a line is reversed where its money sits; after payment
        the refund becomes an approved clawback that nets against the next payout.
        """
        created_at = from_timestamp(now_ms / 1000)
        live = live_amounts(lines)
        reversals: list[Commission] = []
        emptied: list[Commission] = []
        parts: dict[str, dict[str, list[tuple[Commission, str, Money]]]] = {}
        for line in lines:
            if line.kind != "commission" or line.status not in OPEN_STATUSES:
                continue
            amount = reversal_for_refund(line.amount, total, before, refund)
            if not amount:
                continue
            paid = line.status == "paid"
            state = "approved" if paid else line.status
            reversals.append(
                line.model_copy(
                    update={
                        "entry_id": new_id(now_ms),
                        "event_id": _event_id(
                            "refund", line.merchant_id, line.order_id, refund_id, line.entry_id
                        ),
                        "kind": "clawback" if paid else "reversal",
                        "amount": amount,
                        "status": "approved" if paid else "reversed",
                        "refund_id": refund_id,
                        "reverses": line.entry_id,
                        "reason": "refund",
                        "created_at": created_at,
                        "hold_until": None,
                        "approved_at": created_at if paid else None,
                        "paid_at": None,
                        "payout_id": None,
                    }
                )
            )
            kind = "clawed_back" if paid else "reversed"
            parts.setdefault(kind, {}).setdefault(line.merchant_id, []).append(
                (line, state, -amount)
            )
            if not paid and not live[line.entry_id] + amount:
                emptied.append(line.model_copy(update={"status": "reversed"}))
        return reversals, emptied, {kind: to_merchant(p) for kind, p in sorted(parts.items())}

    # -- lifecycle --------------------------------------------------------------------------------
    def approve_due(self, now: datetime | None = None) -> list[Commission]:
        """Approve every pending commission whose hold period has ended by ``now``."""
        at = now or self._clock.now()
        with self._store.transaction():
            due = [
                line
                for line in self._store.entries(status="pending")
                if line.kind == "commission" and (line.hold_until is None or line.hold_until <= at)
            ]
            return self._transition(
                due, source="pending", target="approved", at=at, kind="commission.approved"
            )

    def approve(self, entry_ids: Iterable[str]) -> list[Commission]:
        """Approve pending commissions now, whatever their hold period."""
        return self._by_hand(entry_ids, "pending", "approved", "commission.approved")

    def freeze(self, entry_ids: Iterable[str], *, reason: str) -> list[Commission]:
        """Hold pending commissions for review: they cannot be approved or paid."""
        return self._by_hand(entry_ids, "pending", "frozen", "commission.frozen", reason)

    def release(self, entry_ids: Iterable[str]) -> list[Commission]:
        """Return frozen commissions to pending, where their hold period resumes."""
        return self._by_hand(entry_ids, "frozen", "pending", "commission.released")

    def reject(self, entry_ids: Iterable[str], *, reason: str) -> list[Commission]:
        """Reject frozen commissions: their money goes back to the merchant."""
        return self._by_hand(entry_ids, "frozen", "rejected", "commission.rejected", reason)

    def _by_hand(
        self,
        entry_ids: Iterable[str],
        source: CommissionStatus,
        target: CommissionStatus,
        kind: str,
        reason: str | None = None,
    ) -> list[Commission]:
        wanted = list(dict.fromkeys(entry_ids))
        with self._store.transaction():
            found = {line.entry_id: line for line in self._lines(wanted)}
            missing = [entry_id for entry_id in wanted if entry_id not in found]
            if missing:
                raise UnknownCommission(missing[0])
            wrong = [line for line in found.values() if line.status != source]
            if wrong:
                raise CommissionStateError(wrong[0].entry_id, wrong[0].status, target)
            return self._transition(
                [found[i] for i in wanted],
                source=source,
                target=target,
                at=self._clock.now(),
                kind=kind,
                reason=reason,
            )

    def _lines(self, entry_ids: list[str]) -> list[Commission]:
        wanted = set(entry_ids)
        return [line for line in self._store.entries() if line.entry_id in wanted]

    def _transition(
        self,
        lines: list[Commission],
        *,
        source: CommissionStatus,
        target: CommissionStatus,
        at: datetime,
        kind: str,
        reason: str | None = None,
    ) -> list[Commission]:
        """Move ``lines`` from ``source`` to ``target``: ledger lines and journal together."""
        if not lines:
            return []
        store = self._store
        now_ms = int(at.timestamp() * 1000)
        orders = {(line.merchant_id, line.order_id) for line in lines}
        live: dict[str, Money] = {}
        for merchant_id, order_id in sorted(orders):
            live.update(live_amounts(store.entries(merchant_id=merchant_id, order_id=order_id)))
        updated: list[Commission] = []
        postings: list[Posting] = []
        returned: dict[str, list[tuple[Commission, str, Money]]] = {}
        rejections: list[Commission] = []
        for line in lines:
            changes: dict[str, object] = {"status": target}
            if target == "approved":
                changes["approved_at"] = at
            if reason is not None:
                changes["reason"] = reason
            updated.append(line.model_copy(update=changes))
            amount = live[line.entry_id]
            if target == "rejected":
                if amount:
                    returned.setdefault(line.merchant_id, []).append((line, source, amount))
                    rejections.append(
                        line.model_copy(
                            update={
                                "entry_id": new_id(now_ms),
                                "event_id": f"reject/{line.entry_id}",
                                "kind": "reversal",
                                "amount": -amount,
                                "status": "reversed",
                                "reverses": line.entry_id,
                                "reason": reason,
                                "created_at": at,
                                "hold_until": None,
                            }
                        )
                    )
            elif amount:
                postings += move(line, amount, source, target)
        postings += to_merchant(returned)
        store.update_entries(updated)
        if rejections:
            store.add_entries(rejections)
        self._journal(
            store,
            event_id=f"{kind}/{new_id(now_ms)}",
            kind=kind,
            at=at,
            postings=postings,
            lines=[*updated, *rejections],
            reason=reason,
        )
        return updated

    # -- payouts -----------------------------------------------------------------------------
    def pay_approved(
        self,
        *,
        run_id: str,
        now: datetime | None = None,
        minimum: Mapping[str, Money] | None = None,
        settle_after: timedelta = DEFAULT_SETTLE_AFTER,
    ) -> list[PayoutBatch]:
        """Pay each affiliate's approved balance, one batch per affiliate and currency.

        A commission is payable ``settle_after`` its approval (T+1 by default).
        An affiliate whose payable balance (clawbacks included) is not positive,
        or is below ``minimum[currency]``, is not paid: the balance carries
        forward. ``run_id`` makes the run idempotent: the same id again returns
        the batches it made and pays nothing twice.
        """
        check_identifier("run_id", run_id)
        at = now or self._clock.now()
        store = self._store
        with store.transaction():
            done = store.payouts(run_id=run_id)
            if done:
                return done
            payable: dict[tuple[str, str], list[Commission]] = {}
            for line in store.entries(status="approved"):
                if line.account == "platform":
                    continue
                if line.kind == "commission" and (
                    line.approved_at is None or line.approved_at + settle_after > at
                ):
                    continue
                payable.setdefault((line.affiliate_id, line.amount.currency), []).append(line)
            batches: list[PayoutBatch] = []
            for (affiliate_id, currency), lines in sorted(payable.items()):
                live = {}
                for merchant_id, order_id in sorted({(x.merchant_id, x.order_id) for x in lines}):
                    live.update(
                        live_amounts(store.entries(merchant_id=merchant_id, order_id=order_id))
                    )
                amounts = [live[x.entry_id] if x.kind == "commission" else x.amount for x in lines]
                balance = sum_money(amounts, currency)
                floor = (minimum or {}).get(currency, Money.zero(currency))
                if balance.amount <= 0 or balance < floor:
                    continue
                payout_id = _event_id("payout", run_id, affiliate_id, currency)
                batches.append(
                    PayoutBatch(
                        payout_id=payout_id,
                        affiliate_id=affiliate_id,
                        amount=balance,
                        entry_ids=[x.entry_id for x in lines],
                        created_at=at,
                    )
                )
                paid = [
                    x.model_copy(update={"status": "paid", "paid_at": at, "payout_id": payout_id})
                    for x in lines
                ]
                store.update_entries(paid)
                self._journal(
                    store,
                    event_id=payout_id,
                    kind="payout",
                    at=at,
                    postings=[
                        Posting(affiliate_account(affiliate_id, "approved"), -balance),
                        Posting(affiliate_account(affiliate_id, "paid"), balance),
                    ],
                    lines=paid,
                )
            store.insert_payouts(run_id, batches)
        return batches

    def payouts(
        self, *, run_id: str | None = None, affiliate_id: str | None = None
    ) -> list[PayoutBatch]:
        """Payout batches made so far (export them with ``payouts_csv`` / ``payouts_json``)."""
        return self._store.payouts(run_id=run_id, affiliate_id=affiliate_id)

    # -- journal --------------------------------------------------------------------------------
    def _journal(
        self,
        store: Store,
        *,
        event_id: str,
        kind: str,
        at: datetime,
        postings: list[Posting],
        lines: Sequence[Commission],
        reason: str | None = None,
    ) -> None:
        """Append one entry to the hash chain (inside the caller's transaction)."""
        refs: dict[str, object] = {"lines": [line.entry_id for line in lines]}
        if reason is not None:
            refs["reason"] = reason
        head = store.journal_head()
        seq, previous = head if head is not None else (0, GENESIS_HASH)
        draft = JournalDraft(event_id, kind, at, postings, refs)
        store.append_journal([encode_entry(seq + 1, previous, draft)])

    # -- reports ------------------------------------------------------------------------------
    def _documents(self) -> Iterator[dict[str, Any]]:
        return (decode_entry(row.body) for row in self._store.journal())

    def statements(self, *, start: datetime, end: datetime) -> list[Statement]:
        """Each affiliate's statement for ``start <= t < end``, per currency."""
        return build_statements(self._documents(), start=start, end=end)

    def invoices(self, *, start: datetime, end: datetime) -> list[Invoice]:
        """What each merchant owes for commission booked in ``start <= t < end``."""
        return build_invoices(self._store.entries(), start=start, end=end)

    def reconcile(self, *, start: datetime, end: datetime) -> list[ReconciliationRow]:
        """Prove merchant cost = affiliate earnings + platform take, per merchant and currency.

        Raises ``LedgerImbalance`` naming every row that is off by even a cent.
        """
        rows = reconcile_rows(self._documents(), self._store.entries(), start=start, end=end)
        off = [row for row in rows if not row.balanced]
        if off:
            raise LedgerImbalance(off)
        return rows

    # -- ledger view ----------------------------------------------------------------------------
    def commissions(
        self,
        *,
        merchant_id: str | None = None,
        affiliate_id: str | None = None,
        order_id: str | None = None,
    ) -> list[Commission]:
        """Ledger entries matching every given filter, in booking order (signed amounts)."""
        return self._store.entries(
            merchant_id=merchant_id, affiliate_id=affiliate_id, order_id=order_id
        )

    def checkpoint(self, signing_key: Ed25519PrivateKey, *, key_id: str) -> Checkpoint:
        """Sign the journal's current head and keep the checkpoint with the ledger."""
        head = self._store.journal_head()
        seq, hash_ = head if head is not None else (0, GENESIS_HASH)
        checkpoint = sign_checkpoint(
            signing_key, key_id=key_id, seq=seq, hash_=hash_, at=self._clock.now()
        )
        self._store.add_checkpoint(checkpoint)
        return checkpoint

    def signed_statements(
        self, *, start: datetime, end: datetime, signing_key: Ed25519PrivateKey, key_id: str
    ) -> list[SignedStatement]:
        """Statements an affiliate can verify with the public key alone."""
        checkpoint = self.checkpoint(signing_key, key_id=key_id)
        return [
            sign_statement(signing_key, statement, checkpoint)
            for statement in self.statements(start=start, end=end)
        ]

    def verify_ledger(
        self, *, trusted_keys: Mapping[str, Ed25519PublicKey] | None = None
    ) -> LedgerVerification:
        """Recompute the journal's hash chain and say where it first breaks, if it does.

        With ``trusted_keys`` (key id -> Ed25519 public key), every stored
        checkpoint must carry a valid signature and still match the chain: a
        journal rewritten, or cut short, before a checkpoint fails here even
        when its hashes were recomputed.
        """
        store = self._store
        checkpoints = store.checkpoints() if trusted_keys is not None else []
        checked, hashes = verify_chain(store.journal_links(), marks={c.seq for c in checkpoints})
        problem: ChainProblem | None = None
        following = next(store.journal(after_seq=checked), None)
        if following is not None or checked < _journal_length(store):
            problem = diagnose(checked + 1, following)
        if problem is None:
            for checkpoint in checkpoints:
                key = (trusted_keys or {}).get(checkpoint.key_id)
                if key is None or not checkpoint.verify(key):
                    problem = ChainProblem(checkpoint.seq, "a checkpoint's signature is not valid")
                elif checkpoint.seq > checked:
                    problem = ChainProblem(
                        checked + 1, "entries signed in a checkpoint are missing"
                    )
                elif checkpoint.seq and hashes.get(checkpoint.seq, b"").hex() != checkpoint.hash:
                    problem = ChainProblem(
                        checkpoint.seq, "the journal no longer matches a signed checkpoint"
                    )
                if problem is not None:
                    break
        return LedgerVerification(
            ok=problem is None,
            entries=checked,
            first_bad_seq=None if problem is None else problem.seq,
            reason=None if problem is None else problem.reason,
        )


def _tier_fields(calculation: Calculation, tier: TierInput | None) -> dict[str, object]:
    """What an order added to its tier period, kept on its line so a refund can take it back."""
    after = calculation.tier_state
    if tier is None or after is None:
        return {}
    before = tier.state
    return {
        "tier_measure": calculation.tier_measure,
        "tier_base": after.tier_base - before.tier_base,
        "tier_paid": after.paid - before.paid - calculation.true_up,
        "fx_rate": tier.fx_rate,
    }


def _pays_renewal(plan: CommissionPlan, renewal: int) -> bool:
    recurring = plan.recurring
    return recurring is not None and (recurring.renewals is None or renewal <= recurring.renewals)


def _journal_length(store: Store) -> int:
    head = store.journal_head()
    return 0 if head is None else head[0]


def _fingerprint(order: Order) -> str:
    """A digest of the order as the host gave it (a defaulted ``placed_at`` is left out)."""
    exclude = None if "placed_at" in order.model_fields_set else {"placed_at"}
    return hashlib.sha256(order.model_dump_json(exclude=exclude).encode()).hexdigest()


def _period_scope(
    what: str, period: Period, basis: str, click: ClickRecord, *, placed_at: datetime, zone: str
) -> str:
    """The key of the period totals an order counts towards (tiers, targets, caps)."""
    when = period_key(placed_at, period, zone)
    if basis == "merchant_sales":
        return _event_id(what, "merchant", click.merchant_id, when)
    return _event_id(what, "campaign", click.campaign_id, basis, click.affiliate_id, when)


def _event_id(*parts: str) -> str:
    """Parts joined by "/", each with "%" and "/" escaped so the joint is unambiguous."""
    return "/".join(part.replace("%", "%25").replace("/", "%2F") for part in parts)
