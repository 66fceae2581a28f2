"""The catalog: campaigns and their plan versions, merchants, affiliates and coupons.

Campaigns are kept per merchant: two merchants may both have a campaign
``c1``. Reads are cached; changes made through this service apply at once,
changes made elsewhere (another process, a hand edit of the file) within
``campaign_cache_ttl``: once per that period the cache asks the store for the
catalog's revision (one small read) and is dropped only when it changed, so a
click never rereads campaigns that did not change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Final, NamedTuple, TypeVar

from affiliate_sdk._kernel.fields import check_identifier, check_texts
from affiliate_sdk.commission.plans import CommissionPlan
from affiliate_sdk.errors import AmbiguousCampaign, InvalidInput, UnknownCampaign
from affiliate_sdk.models import Affiliate, Campaign, FraudThresholds, Merchant, PlanVersion
from affiliate_sdk.storage.contract import UnitOfWork
from affiliate_sdk.storage.rows import CouponRow
from affiliate_sdk.tracking.landing import LandingPolicy

from .context import ServiceContext

__all__ = ["MAX_CACHED", "CampaignView", "CatalogService", "coupon_code"]

#: Entries kept per cache before it is cleared.
MAX_CACHED: Final = 65_536

#: What a registry lookup finds for a key not cached (None is a cached "not registered").
_MISSING: Final = object()

_T = TypeVar("_T")
_K = TypeVar("_K")
_V = TypeVar("_V")


class CampaignView(NamedTuple):
    """A campaign with what the hot paths derive from it, as loaded at ``loaded_at``."""

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


def coupon_code(code: str) -> str:
    """A coupon code as compared: trimmed, upper case."""
    return code.strip().upper()


class CatalogService:
    """Campaigns, plan versions, merchants, affiliates and coupons."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._ttl = ctx.settings.campaign_cache_ttl.total_seconds()
        self._views: dict[tuple[str, str], CampaignView] = {}
        self._owners: dict[str, tuple[str, ...]] = {}
        self._registry: dict[tuple[str, object], object] = {}
        self._view_through: dict[str, bool] = {}
        self._revision: int | None = None  # the store's catalog revision the caches are of
        self._checked_at = float("-inf")  # when that was asked last (the clock's seconds)
        self._heard = 0  # the catalog changes heard announced when it was

    # -- campaigns ---------------------------------------------------------------------------
    def add_campaign(
        self, campaign: Campaign, *, plan_effective_from: datetime | None = None
    ) -> Campaign:
        """Publish a campaign, or replace the merchant's campaign with the same id.

        A plan that differs from the campaign's current one becomes its next
        version, used for orders placed from ``plan_effective_from`` (default:
        now) on; orders placed earlier keep the plan of their time.
        """
        if not isinstance(campaign, Campaign):
            raise InvalidInput("add_campaign takes a Campaign")
        effective = plan_effective_from or self._ctx.clock.now()
        if effective.tzinfo is None:
            raise InvalidInput("plan_effective_from must be timezone-aware")
        merchant_id, campaign_id = campaign.merchant_id, campaign.campaign_id
        with self._ctx.store.transaction() as tx:
            versions = tx.catalog.plan_versions(merchant_id, campaign_id)
            if not versions or versions[-1].plan != campaign.plan:
                version = PlanVersion(
                    campaign_id=campaign_id,
                    version=len(versions) + 1,
                    effective_from=effective,
                    plan=campaign.plan,
                )
                tx.catalog.add_plan_version(merchant_id, version)
            tx.catalog.put_campaign(campaign)
        self.forget(merchant_id, campaign_id)
        self._ctx.announce("catalog")
        return campaign

    def _current(self, now: float, tx: UnitOfWork | None = None) -> None:
        """Drop the caches if the catalog changed since they were filled (asked of the store
        at most once per ``campaign_cache_ttl``, and at once when a change was announced; in
        ``tx`` when given)."""
        heard = self._ctx.heard("catalog")
        fresh = 0 <= now - self._checked_at < self._ttl
        if fresh and heard == self._heard:
            return
        if tx is None:
            with self._ctx.store.reader() as reader:
                revision = reader.catalog.revision()
        else:
            revision = tx.catalog.revision()
        self._heard = heard
        if revision == self._revision and fresh:
            return  # asked after an announcement: the period goes on from when it began
        self._checked_at = now
        if revision != self._revision:
            self._revision = revision
            self._views.clear()
            self._owners.clear()
            self._registry.clear()
            self._view_through.clear()

    def forget(self, merchant_id: str, campaign_id: str) -> None:
        """Drop the cached view of a campaign (after it changed)."""
        self._views.pop((merchant_id, campaign_id), None)
        self._owners.pop(campaign_id, None)
        self._view_through.pop(merchant_id, None)

    def merchant_of(self, campaign_id: str, now: float) -> str:
        """The merchant whose campaign has this id; ``AmbiguousCampaign`` if several do."""
        self._current(now)
        return self._owner(campaign_id)

    def _owner(self, campaign_id: str) -> str:
        """``merchant_of`` once the caches are known to be current."""
        owners = self._owners.get(campaign_id)
        if owners is None:
            check_texts(campaign_id=campaign_id)
            with self._ctx.store.reader() as tx:
                found = tx.catalog.campaigns(campaign_id=campaign_id)
            owners = tuple(c.merchant_id for c in found)
            _remember(self._owners, campaign_id, owners)
        if not owners:
            raise UnknownCampaign(campaign_id)
        if len(owners) > 1:
            raise AmbiguousCampaign(campaign_id, list(owners))
        return owners[0]

    def view(self, merchant_id: str | None, campaign_id: str, now: float) -> CampaignView:
        """The campaign's cached view (looked up by id alone when ``merchant_id`` is None)."""
        self._current(now)
        if merchant_id is None:
            merchant_id = self._owner(campaign_id)
        key = (merchant_id, campaign_id)
        view = self._views.get(key)
        if view is not None:
            return view
        check_texts(merchant_id=merchant_id, campaign_id=campaign_id)
        with self._ctx.store.reader() as tx:
            view = self._load(tx, merchant_id, campaign_id, now)
        _remember(self._views, key, view)
        return view

    def _load(self, tx: UnitOfWork, merchant_id: str, campaign_id: str, now: float) -> CampaignView:
        campaign = tx.catalog.get_campaign(merchant_id, campaign_id)
        if campaign is None:
            self._views.pop((merchant_id, campaign_id), None)
            raise UnknownCampaign(campaign_id)
        return CampaignView(
            campaign,
            LandingPolicy(campaign.landing_domains),
            int(campaign.attribution_window.total_seconds() * 1000),
            now,
            tuple(tx.catalog.plan_versions(merchant_id, campaign_id)),
            campaign.fraud if campaign.fraud is not None else self._ctx.settings.fraud,
        )

    def view_through(self, merchant_id: str, now: float) -> bool:
        """Whether any of the merchant's campaigns counts views (cached like the campaigns)."""
        self._current(now)
        counted = self._view_through.get(merchant_id)
        if counted is None:
            with self._ctx.store.reader() as tx:
                campaigns = tx.catalog.campaigns(merchant_id=merchant_id)
            counted = any(c.attribution.view_through is not None for c in campaigns)
            _remember(self._view_through, merchant_id, counted)
        return counted

    def campaign_view(self, merchant_id: str | None, campaign_id: str) -> CampaignView:
        """The campaign's view now (see ``view``)."""
        return self.view(merchant_id, campaign_id, self._ctx.clock.timestamp())

    def campaign(self, campaign_id: str, *, merchant_id: str | None = None) -> Campaign:
        return self.view(merchant_id, campaign_id, self._ctx.clock.timestamp()).campaign

    def campaigns(self, *, merchant_id: str | None = None) -> list[Campaign]:
        check_texts(merchant_id=merchant_id)
        with self._ctx.store.reader() as tx:
            return tx.catalog.campaigns(merchant_id=merchant_id)

    def plan_versions(
        self, campaign_id: str, *, merchant_id: str | None = None
    ) -> list[PlanVersion]:
        """Every plan the campaign has had, oldest first."""
        if merchant_id is None:
            merchant_id = self.merchant_of(campaign_id, self._ctx.clock.timestamp())
        check_texts(merchant_id=merchant_id, campaign_id=campaign_id)
        with self._ctx.store.reader() as tx:
            return tx.catalog.plan_versions(merchant_id, campaign_id)

    # -- merchants and affiliates ------------------------------------------------------------
    def add_merchant(self, merchant: Merchant) -> Merchant:
        """Register a merchant's settings (its platform take), or replace them."""
        if not isinstance(merchant, Merchant):
            raise InvalidInput("add_merchant takes a Merchant")
        with self._ctx.store.transaction() as tx:
            tx.catalog.put_merchant(merchant)
        self._registry.pop(("merchant", merchant.merchant_id), None)
        self._ctx.announce("catalog")
        return merchant

    def add_affiliate(self, affiliate: Affiliate) -> Affiliate:
        """Register an affiliate (its group, channel and recruiter), or replace it."""
        if not isinstance(affiliate, Affiliate):
            raise InvalidInput("add_affiliate takes an Affiliate")
        with self._ctx.store.transaction() as tx:
            tx.catalog.put_affiliate(affiliate)
        self._registry.pop(("affiliate", affiliate.affiliate_id), None)
        self._ctx.announce("catalog")
        return affiliate

    def affiliate(self, affiliate_id: str) -> Affiliate | None:
        """The registered affiliate, or None (affiliates need not be registered)."""
        check_texts(affiliate_id=affiliate_id)
        with self._ctx.store.reader() as tx:
            return tx.catalog.get_affiliate(affiliate_id)

    def member(self, tx: UnitOfWork, affiliate_id: str) -> Affiliate | None:
        """The affiliate's registration (cached like the campaigns)."""
        return self._registered(tx, "affiliate", affiliate_id, tx.catalog.get_affiliate)

    def take(self, tx: UnitOfWork, plan: CommissionPlan, merchant_id: str) -> Decimal:
        """The platform's share: the plan's, else the merchant's, else the alliance default."""
        if plan.platform_take is not None:
            return plan.platform_take
        merchant = self._registered(tx, "merchant", merchant_id, tx.catalog.get_merchant)
        if merchant is not None and merchant.platform_take is not None:
            return merchant.platform_take
        return self._ctx.settings.platform_take

    def _registered(
        self, tx: UnitOfWork, kind: str, key: str, load: Callable[[str], _T | None]
    ) -> _T | None:
        self._current(self._ctx.clock.timestamp(), tx)
        cached = self._registry.get((kind, key), _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        value = load(key)
        _remember(self._registry, (kind, key), value)
        return value

    # -- coupons -----------------------------------------------------------------------------
    def assign_coupon(
        self,
        code: str,
        *,
        affiliate_id: str,
        campaign_id: str,
        merchant_id: str | None = None,
        replace: bool = False,
    ) -> None:
        """Give a coupon code of a campaign's merchant to an affiliate.

        Codes are matched without regard to case or surrounding spaces. A code
        already given to someone else is refused unless ``replace`` is set.
        """
        check_identifier("affiliate_id", affiliate_id)
        campaign = self.campaign(campaign_id, merchant_id=merchant_id)
        normal = coupon_code(code)
        if (
            not normal
            or len(normal) > 64
            or any(ch.isspace() or not ch.isprintable() for ch in normal)
        ):
            raise InvalidInput(f"coupon code {code!r} must be 1-64 printable characters, no spaces")
        row = CouponRow(campaign.merchant_id, normal, affiliate_id, campaign_id)
        with self._ctx.store.transaction() as tx:
            found = tx.catalog.get_coupon(campaign.merchant_id, normal)
            if found is not None and found != row and not replace:
                raise InvalidInput(
                    f"coupon {normal} of merchant {campaign.merchant_id} is already "
                    f"assigned to affiliate {found.affiliate_id}; pass replace=True to reassign it"
                )
            tx.catalog.put_coupon(row)
        self._ctx.announce("catalog")


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    if len(cache) >= MAX_CACHED:
        cache.clear()
    cache[key] = value
