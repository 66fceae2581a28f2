"""The shared state and helpers of the ``Alliance``: settings, caches, registries, journal."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from types import TracebackType
from typing import Final, Literal, NamedTuple, Self, TypedDict, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import TypeAdapter

from ._base import Rate
from ._validation import check_identifier
from .antifraud.counters import Counts, SlidingCounts
from .antifraud.networks import NetworkKinds
from .antifraud.rules import (
    CLICK_RULES,
    ORDER_RULES,
    PAID_CLICK_PARAMETERS,
    USER_AGENT_RULES,
    ClickFacts,
    ClickRule,
    OrderRule,
    judge,
)
from .antifraud.shared import SharedCounts
from .antifraud.useragents import BotUserAgents
from .antifraud.verdicts import ALLOW
from .clock import Clock, SystemClock
from .commission.calculator import Calculation, CommissionSplit, TierInput
from .commission.checkpoints import sign_checkpoint
from .commission.ledger import GENESIS_HASH, JournalDraft, Posting, encode_entry
from .commission.plans import CommissionPlan
from .commission.tiers import Period, period_key
from .errors import InvalidInput, MissingFxRate, UnknownCampaign
from .fx import FxRates
from .ids import new_id
from .models import (
    Affiliate,
    Campaign,
    Commission,
    ComplaintOutcome,
    FraudThresholds,
    Merchant,
    Order,
    PlanVersion,
    Reason,
    Verdict,
)
from .money import Money
from .storage import Store
from .storage.legacy_memory import MemoryStore
from .storage.records import ClickRecord
from .tracking.clicks import (
    DEFAULT_CLICK_PARAM,
    DEFAULT_VISITOR_COOKIE,
    Click,
    IpPseudonymizer,
    VisitorCookie,
)
from .tracking.keys import Keyring
from .tracking.landing import LandingPolicy
from .tracking.links import DEFAULT_REDIRECT_BASE
from .webhooks.events import commission_events

__all__ = ["AllianceBase"]

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
#: With a checkpoint key, the journal signs its head every this many entries.
DEFAULT_CHECKPOINT_EVERY: Final = 1000
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


class Party(NamedTuple):
    """Who an order (or a share of it) is credited to, and through which click."""

    affiliate_id: str
    campaign_id: str
    merchant_id: str
    click_id: str | None


class _CampaignView(NamedTuple):
    campaign: Campaign
    landing: LandingPolicy
    window_ms: int
    loaded_at: float
    plans: tuple[PlanVersion, ...]
    fraud: FraudThresholds

    def plan_at(self, instant: datetime) -> PlanVersion:
        """The plan version in force at ``instant`` (the first one for earlier instants)."""
        chosen = self.plans[0]
        for version in self.plans:
            if version.effective_from <= instant:
                chosen = version
        return chosen


_Registered = TypeVar("_Registered", Affiliate, Merchant)
BlacklistKind = Literal["network", "device", "affiliate", "payment"]


class _UserAgentView(NamedTuple):
    verdict: Verdict
    verdict_json: str
    ua_hash: str | None
    reasons: tuple[Reason, ...]


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
    checkpoint_key: tuple[str, Ed25519PrivateKey] | None
    checkpoint_every: int
    fraud: FraudThresholds | None
    click_rules: Sequence[ClickRule]
    order_rules: Sequence[OrderRule]
    networks: NetworkKinds | None


class AllianceBase:
    """State every part of the ``Alliance`` shares; see ``affiliate_sdk.Alliance``."""

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
        checkpoint_key: tuple[str, Ed25519PrivateKey] | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        fraud: FraudThresholds | None = None,
        click_rules: Sequence[ClickRule] = (),
        order_rules: Sequence[OrderRule] = (),
        networks: NetworkKinds | None = None,
    ) -> None:
        self._store = store
        self._networks = networks
        self._fraud = fraud if fraud is not None else FraudThresholds()
        self._click_rules = (*CLICK_RULES, *click_rules)
        self._order_rules = (*ORDER_RULES, *order_rules)
        # Velocity windows, shared through the store with every process that opens it
        # (a memory store lives in one process: its windows stay in memory).
        self._per_minute: Counts
        self._per_day: Counts
        if isinstance(store, MemoryStore):
            self._per_minute = SlidingCounts(60_000, buckets=6, max_keys=100_000)
            self._per_day = SlidingCounts(86_400_000, buckets=4, max_keys=100_000)
        else:
            self._per_minute = SharedCounts(store, "velocity/minute", 60_000, buckets=6)
            self._per_day = SharedCounts(store, "velocity/day", 86_400_000, buckets=4)
        self._fx = fx
        if checkpoint_every < 1:
            raise InvalidInput("checkpoint_every must be at least 1")
        self._checkpoint_key = checkpoint_key
        self._checkpoint_every = checkpoint_every
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
        self._ips = IpPseudonymizer(pseudonym_key)
        self._dedupe_ms = int(click_dedupe_window.total_seconds() * 1000)
        self._cache_ttl = campaign_cache_ttl.total_seconds()
        self._bots = bots if bots is not None else BotUserAgents()
        self._campaigns: dict[str, _CampaignView] = {}
        self._registry: dict[tuple[str, str], tuple[float, object]] = {}
        self._user_agents: dict[str | None, _UserAgentView] = {}
        self._verdicts: dict[str, Verdict] = {}
        self._judged: dict[tuple[object, ...], tuple[Verdict, str]] = {}
        self._blacklist_loaded: tuple[float, frozenset[str]] | None = None

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
        now_ms = int(self._clock.timestamp() * 1000)
        try:
            self._per_minute.flush(now_ms)
            self._per_day.flush(now_ms)
        finally:
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
            campaign,
            LandingPolicy(campaign.landing_domains),
            window_ms,
            now,
            versions,
            campaign.fraud if campaign.fraud is not None else self._fraud,
        )
        if len(self._campaigns) >= _MEMO_LIMIT:
            self._campaigns.clear()
        self._campaigns[campaign_id] = view
        return view

    # -- clicks -------------------------------------------------------------------------------
    def _click_verdict(
        self,
        url: str,
        agent: _UserAgentView,
        limits: FraudThresholds,
        *,
        affiliate_id: str,
        visitor_id: str | None,
        packed_ip: bytes | None,
        ip_network: str | None,
        now_ms: int,
        device_id: str | None = None,
    ) -> tuple[Verdict, str]:
        """The verdict on one click: its user agent's reasons and the per-click rules.

        Counts the click in the velocity windows first: per IP network and
        affiliate per minute, per affiliate per day, and for a returning
        ``visitor_id`` (a new visitor has no history) per visitor per minute
        and per visitor and affiliate per day.
        """
        minute = self._per_minute
        day = self._per_day
        day.add(f"a/{affiliate_id}", now_ms)
        paid: tuple[str, ...] = ()
        _, mark, query = url.partition("?")
        if mark:
            names = {part.partition("=")[0] for part in query.split("&")}
            paid = tuple(sorted(names & PAID_CLICK_PARAMETERS))
        facts = ClickFacts(
            user_agent=None,
            bot_pattern=None,
            network_kind=(
                self._networks.kind_of_packed(packed_ip)
                if self._networks is not None and packed_ip
                else None
            ),
            network_clicks=minute.add(f"n/{ip_network}", now_ms) if ip_network else 0,
            visitor_clicks=minute.add(f"v/{visitor_id}", now_ms) if visitor_id else 1,
            device_clicks=minute.add(f"d/{device_id}", now_ms) if device_id else 0,
            affiliate_clicks=minute.add(f"a/{affiliate_id}", now_ms),
            visitor_affiliate_clicks_today=(
                day.add(f"{visitor_id}/{affiliate_id}", now_ms) if visitor_id else 1
            ),
            paid_parameters=paid,
            blacklisted=self._listed(
                f"network:{ip_network}" if ip_network else None,
                f"device:{visitor_id}" if visitor_id else None,
                f"device:{device_id}" if device_id else None,
                f"affiliate:{affiliate_id}",
                now=now_ms / 1000,
            ),
        )
        fired = [reason for rule in self._click_rules if (reason := rule(facts, limits))]
        if not fired:
            return agent.verdict, agent.verdict_json
        # Reasons carry no per-click numbers, so a burst of bad clicks shares one verdict.
        key = (agent.verdict_json, *fired)
        judged = self._judged.get(key)
        if judged is None:
            verdict = judge((*agent.reasons, *fired), limits)
            judged = (verdict, verdict.model_dump_json())
            if len(self._judged) >= _MEMO_LIMIT:
                self._judged.clear()
            self._judged[key] = judged
        return judged

    def _user_agent(self, user_agent: str | None) -> _UserAgentView:
        """The remembered verdict and hash of a user agent, judged on first sight.

        The click path looks the memo up itself and calls this only on a miss.
        """
        if user_agent is not None and len(user_agent) > MAX_USER_AGENT_LENGTH:
            user_agent = user_agent[:MAX_USER_AGENT_LENGTH]  # bounds the memo and the match
        view = self._user_agents.get(user_agent)
        if view is None:
            matched = self._bots.match(user_agent) if user_agent else None
            facts = ClickFacts(user_agent=user_agent, bot_pattern=matched)
            fired = [rule(facts, self._fraud) for rule in USER_AGENT_RULES]
            reasons = tuple(reason for reason in fired if reason is not None)
            verdict = judge(reasons, self._fraud) if reasons else ALLOW
            ua_hash = (
                self._ips.digest(user_agent.encode("utf-8", "replace")) if user_agent else None
            )
            view = _UserAgentView(verdict, verdict.model_dump_json(), ua_hash, reasons)
            if len(self._user_agents) >= _MEMO_LIMIT:
                self._user_agents.clear()
            self._user_agents[user_agent] = view
        return view

    def _take(self, plan: CommissionPlan, merchant_id: str) -> Decimal:
        """The platform's share: the plan's, else the merchant's, else the alliance default."""
        if plan.platform_take is not None:
            return plan.platform_take
        merchant = self._registered("merchant", merchant_id, self._store.get_merchant)
        if merchant is not None and merchant.platform_take is not None:
            return merchant.platform_take
        return self._platform_take

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
        row = encode_entry(seq + 1, previous, JournalDraft(event_id, kind, at, postings, refs))
        store.append_journal([row])
        events = commission_events(kind, event_id, lines, at)
        if events:
            store.add_events(events)
        if self._checkpoint_key is not None and row.seq % self._checkpoint_every == 0:
            key_id, signing_key = self._checkpoint_key
            store.add_checkpoint(
                sign_checkpoint(signing_key, key_id=key_id, seq=row.seq, hash_=row.hash, at=at)
            )

    # -- fraud -------------------------------------------------------------------------------
    def identity_hashes(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        payment: str | None = None,
        device: str | None = None,
        ip: str | None = None,
    ) -> list[str]:
        """Keyed hashes of contact, payment and device details, for ``Affiliate.identity``.

        Emails are compared trimmed and in lower case, phones by their digits,
        an ``ip`` by its network (/24, /48); ``device`` is a visitor or device
        id. The same details of an order (``customer_email``, ..., the
        ``visitor_id`` and ``ip`` it is recorded with) hash alike, so an
        affiliate buying through their own link is recognised without either
        side's details being stored.
        """
        network = None
        if ip is not None:
            try:
                network = self._ips.pseudonymize(ip)[1]
            except InvalidInput:
                raise InvalidInput(f"{ip!r} is not an IP address") from None
        return self._identity(
            (
                ("email", email),
                ("phone", phone),
                ("payment", payment),
                ("device", device),
                ("network", network),
            )
        )

    def _identity(self, details: Iterable[tuple[str, str | None]]) -> list[str]:
        hashes = []
        for kind, value in details:
            normal = _normal_identity(kind, value)
            if normal:
                hashes.append(f"{kind}:{self._ips.digest(f'{kind}:{normal}'.encode())}")
        return hashes

    def blacklist(
        self, kind: BlacklistKind, value: str, *, reason: str, remove: bool = False
    ) -> str:
        """Put an IP network, device, affiliate or payment fingerprint on the shared blacklist.

        ``network`` takes an IP address (its /24 or /48 network is listed),
        ``device`` a visitor or device id, ``affiliate`` an affiliate id and
        ``payment`` a payment fingerprint (kept as a keyed hash). Every
        merchant's clicks and orders are checked against it; with ``remove``
        the entry is taken off. Returns the key the entry is kept under.
        """
        key = self._blacklist_key(kind, value)
        if remove:
            self._store.put_record("blacklist", key, json.dumps(None))
        else:
            if not reason.strip():
                raise InvalidInput("a blacklist entry needs a reason")
            self._store.put_record("blacklist", key, json.dumps(reason))
        self._blacklist_loaded = None
        return key

    def blacklisted(self) -> dict[str, str]:
        """The shared blacklist: key (``kind:value``) -> reason."""
        return {
            key: reason
            for key, data in self._store.records("blacklist", "")
            if (reason := json.loads(data)) is not None
        }

    def _blacklist_key(self, kind: str, value: str) -> str:
        if kind == "network":
            try:
                return f"network:{self._ips.pseudonymize(value)[1]}"
            except ValueError:
                raise InvalidInput(f"{value!r} is not an IP address") from None
        if kind == "payment" and value.strip():
            return self.identity_hashes(payment=value)[0]
        if kind in ("device", "affiliate") and value.strip():
            return f"{kind}:{value.strip()}"
        raise InvalidInput(
            f"cannot blacklist {kind!r} {value!r}: kinds are network, device, affiliate, payment"
        )

    def _listed(self, *keys: str | None, now: float) -> tuple[str, ...]:
        """Which of ``keys`` are on the blacklist (read at most once per cache period)."""
        loaded = self._blacklist_loaded
        if loaded is None or now - loaded[0] >= self._cache_ttl:
            loaded = self._blacklist_loaded = (now, frozenset(self.blacklisted()))
        entries = loaded[1]
        if not entries:
            return ()
        return tuple(key.partition(":")[0] for key in keys if key and key in entries)

    def complain(
        self,
        *,
        reason: str,
        campaign_id: str | None = None,
        affiliate_id: str | None = None,
    ) -> ComplaintOutcome:
        """Record a complaint about a campaign or an affiliate; too many in an hour pause it.

        Past the campaign's (or the alliance's) ``complaints_per_hour`` (50 by
        default) within the last hour, the circuit breaker trips: a campaign is
        made inactive (its links stop redirecting with ``CampaignInactive``), an
        affiliate is put on the blacklist, so its clicks are blocked. Resume by
        republishing the campaign active, or by taking the affiliate off the
        blacklist.
        """
        if (campaign_id is None) == (affiliate_id is None):
            raise InvalidInput("a complaint is about one campaign or one affiliate")
        if not reason.strip():
            raise InvalidInput("a complaint needs a reason")
        now_ms = int(self._clock.timestamp() * 1000)
        if campaign_id is not None:
            campaign = self.campaign(campaign_id)
            limits = campaign.fraud or self._fraud
            target = f"campaign:{campaign_id}"
        else:
            check_identifier("affiliate_id", affiliate_id or "")
            limits = self._fraud
            target = f"affiliate:{affiliate_id}"
        store = self._store
        with store.transaction():
            store.put_record(
                "complaint", f"{target}/{now_ms:015d}/{new_id(now_ms)}", json.dumps(reason)
            )
            recent = [
                key
                for key, _ in store.records("complaint", f"{target}/")
                if int(key.rsplit("/", 2)[1]) > now_ms - 3_600_000
            ]
            paused = len(recent) > limits.complaints_per_hour
            note = f"circuit breaker: {len(recent)} complaints within an hour"
            if paused and campaign_id is not None and campaign.active:
                self.add_campaign(campaign.model_copy(update={"active": False}))
            elif paused and affiliate_id is not None:
                self.blacklist("affiliate", affiliate_id, reason=note)
        return ComplaintOutcome(
            target=target,
            complaints_last_hour=len(recent),
            limit=limits.complaints_per_hour,
            paused=paused,
        )

    def freeze(self, entry_ids: Iterable[str], *, reason: str) -> list[Commission]:
        """Hold pending commissions for review (see ``SettlementMixin.freeze``)."""
        raise NotImplementedError  # the Alliance's settlement part provides it

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


def _normal_identity(kind: str, value: str | None) -> str:
    if value is None:
        return ""
    if kind == "phone":
        return "".join(ch for ch in value if ch.isdigit())
    if kind == "email":
        return value.strip().lower()
    return value.strip()


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
    what: str, period: Period, basis: str, click: Party, *, placed_at: datetime, zone: str
) -> str:
    """The key of the period totals an order counts towards (tiers, targets, caps)."""
    when = period_key(placed_at, period, zone)
    if basis == "merchant_sales":
        return _event_id(what, "merchant", click.merchant_id, when)
    return _event_id(what, "campaign", click.campaign_id, basis, click.affiliate_id, when)


def _event_id(*parts: str) -> str:
    """Parts joined by "/", each with "%" and "/" escaped so the joint is unambiguous."""
    return "/".join(part.replace("%", "%25").replace("/", "%2F") for part in parts)
