"""``CatalogRepo`` on SQLite: campaigns, plan versions, merchants, affiliates, coupons."""

from __future__ import annotations

from affiliate_sdk.models import Affiliate, Campaign, Merchant, PlanVersion
from affiliate_sdk.storage.rows import CouponRow

from ._connection import Db

__all__ = ["SqliteCatalog"]


class SqliteCatalog:
    """The catalog's tables, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def put_campaign(self, campaign: Campaign) -> None:
        """Insert or replace the campaign with this ``(merchant_id, campaign_id)``."""
        self._db.run(
            "INSERT INTO campaigns (merchant_id, campaign_id, data) VALUES (?, ?, ?) "
            "ON CONFLICT (merchant_id, campaign_id) DO UPDATE SET data = excluded.data",
            (campaign.merchant_id, campaign.campaign_id, campaign.model_dump_json()),
        )

    def get_campaign(self, merchant_id: str, campaign_id: str) -> Campaign | None:
        """The campaign, if it exists."""
        found = self._db.row(
            "SELECT data FROM campaigns WHERE merchant_id = ? AND campaign_id = ?",
            (merchant_id, campaign_id),
        )
        return None if found is None else Campaign.model_validate_json(str(found[0]))

    def campaigns(
        self, *, merchant_id: str | None = None, campaign_id: str | None = None
    ) -> list[Campaign]:
        """Campaigns matching the filters, by ``(merchant_id, campaign_id)``."""
        clauses: list[str] = []
        params: list[object] = []
        if merchant_id is not None:
            clauses.append("merchant_id = ?")
            params.append(merchant_id)
        if campaign_id is not None:
            clauses.append("campaign_id = ?")
            params.append(campaign_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.rows(
            f"SELECT data FROM campaigns{where} ORDER BY merchant_id, campaign_id", params
        )
        return [Campaign.model_validate_json(str(row[0])) for row in rows]

    def add_plan_version(self, merchant_id: str, version: PlanVersion) -> None:
        """Record a campaign's next plan version (``DuplicateEntry`` if that number exists)."""
        self._db.run(
            "INSERT INTO plan_versions (merchant_id, campaign_id, version, data) "
            "VALUES (?, ?, ?, ?)",
            (merchant_id, version.campaign_id, version.version, version.model_dump_json()),
            what="plan version",
            key=f"{merchant_id}/{version.campaign_id}/{version.version}",
        )

    def plan_versions(self, merchant_id: str, campaign_id: str) -> list[PlanVersion]:
        """A campaign's plan versions, oldest first."""
        rows = self._db.rows(
            "SELECT data FROM plan_versions WHERE merchant_id = ? AND campaign_id = ? "
            "ORDER BY version",
            (merchant_id, campaign_id),
        )
        return [PlanVersion.model_validate_json(str(row[0])) for row in rows]

    def put_merchant(self, merchant: Merchant) -> None:
        """Insert or replace a merchant."""
        self._db.run(
            "INSERT INTO merchants (merchant_id, data) VALUES (?, ?) "
            "ON CONFLICT (merchant_id) DO UPDATE SET data = excluded.data",
            (merchant.merchant_id, merchant.model_dump_json()),
        )

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        """The merchant, if registered."""
        found = self._db.row("SELECT data FROM merchants WHERE merchant_id = ?", (merchant_id,))
        return None if found is None else Merchant.model_validate_json(str(found[0]))

    def put_affiliate(self, affiliate: Affiliate) -> None:
        """Insert or replace an affiliate."""
        self._db.run(
            "INSERT INTO affiliates (affiliate_id, data, channel) VALUES (?, ?, ?) "
            "ON CONFLICT (affiliate_id) DO UPDATE SET data = excluded.data, "
            "channel = excluded.channel",
            (affiliate.affiliate_id, affiliate.model_dump_json(), affiliate.channel),
        )

    def get_affiliate(self, affiliate_id: str) -> Affiliate | None:
        """The affiliate, if registered."""
        found = self._db.row("SELECT data FROM affiliates WHERE affiliate_id = ?", (affiliate_id,))
        return None if found is None else Affiliate.model_validate_json(str(found[0]))

    def channel_members(self, channel: str) -> list[str]:
        """The ids of the affiliates registered with this channel, in id order (read from
        the affiliates' rows, never from anyone's history)."""
        rows = self._db.rows(
            "SELECT affiliate_id FROM affiliates WHERE channel = ? ORDER BY affiliate_id",
            (channel,),
        )
        return [str(affiliate_id) for (affiliate_id,) in rows]

    def put_coupon(self, coupon: CouponRow) -> None:
        """Insert or replace the coupon with this ``(merchant_id, code)``."""
        self._db.run(
            "INSERT INTO coupons (merchant_id, code, affiliate_id, campaign_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (merchant_id, code) DO UPDATE SET "
            "affiliate_id = excluded.affiliate_id, campaign_id = excluded.campaign_id",
            coupon,
        )

    def get_coupon(self, merchant_id: str, code: str) -> CouponRow | None:
        """The coupon, if given out."""
        found = self._db.row(
            "SELECT merchant_id, code, affiliate_id, campaign_id FROM coupons "
            "WHERE merchant_id = ? AND code = ?",
            (merchant_id, code),
        )
        return None if found is None else CouponRow(*map(str, found))

    def revision(self) -> int:
        """The catalog's revision: counted up by a trigger at every change of its tables."""
        found = self._db.row("SELECT n FROM revisions WHERE name = 'catalog'")
        return 0 if found is None else int(str(found[0]))
