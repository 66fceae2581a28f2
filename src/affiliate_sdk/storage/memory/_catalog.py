"""Campaigns and their plan versions, merchants, affiliates and coupons, in dictionaries."""

from __future__ import annotations

from bisect import bisect_left

from affiliate_sdk.errors import DuplicateEntry
from affiliate_sdk.models import Affiliate, Campaign, Merchant, PlanVersion
from affiliate_sdk.storage.rows import CouponRow

from ._undo import UndoLog, del_item, set_item

__all__ = ["MemoryCatalog"]


class MemoryCatalog:
    """``CatalogRepo`` over dictionaries keyed by merchant and id."""

    __slots__ = (
        "_affiliates",
        "_by_campaign_id",
        "_by_channel",
        "_by_merchant",
        "_campaigns",
        "_coupons",
        "_log",
        "_merchants",
        "_plans",
        "_revision",
    )

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._campaigns: dict[tuple[str, str], Campaign] = {}
        self._by_merchant: dict[str, dict[str, Campaign]] = {}
        self._by_campaign_id: dict[str, dict[str, Campaign]] = {}
        self._plans: dict[tuple[str, str], list[PlanVersion]] = {}
        self._merchants: dict[str, Merchant] = {}
        self._affiliates: dict[str, Affiliate] = {}
        self._by_channel: dict[str, dict[str, None]] = {}  # channel -> its affiliates' ids
        self._coupons: dict[tuple[str, str], CouponRow] = {}
        self._revision = 0  # counted up by every write (a rolled-back one too: harmless)

    def put_campaign(self, campaign: Campaign) -> None:
        """Insert or replace the campaign with this ``(merchant_id, campaign_id)``."""
        self._revision += 1
        merchant_id, campaign_id = campaign.merchant_id, campaign.campaign_id
        log = self._log
        set_item(log, self._campaigns, (merchant_id, campaign_id), campaign)
        set_item(log, self._by_merchant.setdefault(merchant_id, {}), campaign_id, campaign)
        set_item(log, self._by_campaign_id.setdefault(campaign_id, {}), merchant_id, campaign)

    def get_campaign(self, merchant_id: str, campaign_id: str) -> Campaign | None:
        """The campaign, if stored."""
        return self._campaigns.get((merchant_id, campaign_id))

    def campaigns(
        self, *, merchant_id: str | None = None, campaign_id: str | None = None
    ) -> list[Campaign]:
        """Campaigns matching the filters, by ``(merchant_id, campaign_id)``."""
        if merchant_id is not None and campaign_id is not None:
            found = self._campaigns.get((merchant_id, campaign_id))
            return [] if found is None else [found]
        if merchant_id is not None:
            of_merchant = self._by_merchant.get(merchant_id, {})
            return [of_merchant[k] for k in sorted(of_merchant)]
        if campaign_id is not None:
            with_id = self._by_campaign_id.get(campaign_id, {})
            return [with_id[k] for k in sorted(with_id)]
        return [self._campaigns[k] for k in sorted(self._campaigns)]

    def add_plan_version(self, merchant_id: str, version: PlanVersion) -> None:
        """Record a campaign's plan version (``DuplicateEntry`` if that number exists)."""
        self._revision += 1
        key = (merchant_id, version.campaign_id)
        versions = self._plans.get(key)
        if versions is None:
            versions = self._plans[key] = []
        numbers = [v.version for v in versions]
        at = bisect_left(numbers, version.version)
        if at < len(numbers) and numbers[at] == version.version:
            raise DuplicateEntry(
                "plan version", f"{merchant_id}/{version.campaign_id}/{version.version}"
            )
        versions.insert(at, version)
        if self._log.active:
            self._log.record(lambda: versions.pop(at))

    def plan_versions(self, merchant_id: str, campaign_id: str) -> list[PlanVersion]:
        """A campaign's plan versions, oldest (lowest number) first."""
        return list(self._plans.get((merchant_id, campaign_id), ()))

    def put_merchant(self, merchant: Merchant) -> None:
        """Insert or replace a merchant."""
        self._revision += 1
        set_item(self._log, self._merchants, merchant.merchant_id, merchant)

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        """The merchant, if stored."""
        return self._merchants.get(merchant_id)

    def put_affiliate(self, affiliate: Affiliate) -> None:
        """Insert or replace an affiliate (moving it to its channel's members)."""
        self._revision += 1
        log, affiliate_id, channel = self._log, affiliate.affiliate_id, affiliate.channel
        before = self._affiliates.get(affiliate_id)
        if before is not None and before.channel is not None and before.channel != channel:
            del_item(log, self._by_channel[before.channel], affiliate_id)
        if channel is not None:
            set_item(log, self._by_channel.setdefault(channel, {}), affiliate_id, None)
        set_item(log, self._affiliates, affiliate_id, affiliate)

    def get_affiliate(self, affiliate_id: str) -> Affiliate | None:
        """The affiliate, if stored."""
        return self._affiliates.get(affiliate_id)

    def channel_members(self, channel: str) -> list[str]:
        """The ids of the affiliates registered with this channel, in id order."""
        return sorted(self._by_channel.get(channel, ()))

    def put_coupon(self, coupon: CouponRow) -> None:
        """Insert or replace the coupon with this ``(merchant_id, code)``."""
        self._revision += 1
        set_item(self._log, self._coupons, (coupon.merchant_id, coupon.code), coupon)

    def get_coupon(self, merchant_id: str, code: str) -> CouponRow | None:
        """The coupon, if stored."""
        return self._coupons.get((merchant_id, code))

    def revision(self) -> int:
        """Changes with every write (see ``CatalogRepo.revision``)."""
        return self._revision
