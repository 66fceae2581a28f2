"""A merchant-scoped handle: every call confined to one merchant's data.

Hosts that act on a merchant's behalf (a merchant dashboard, a shop's API
key) use ``alliance.merchant("m1")``: campaigns, links, orders, refunds, the
ledger, review and webhook subscriptions of other merchants can be neither
seen nor changed through it. Platform-wide concerns (payout runs, the shared
blacklist, platform subscriptions) stay on the ``Alliance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from affiliate_sdk._kernel.fields import check_identifier, check_texts
from affiliate_sdk.errors import InvalidInput, UnknownOrder
from affiliate_sdk.models import (
    Campaign,
    Commission,
    Invoice,
    Order,
    OrderOutcome,
    PlanVersion,
    RefundOutcome,
)
from affiliate_sdk.money import Money

from .webhooks import WebhookService

if TYPE_CHECKING:
    from .wiring import Services

__all__ = ["MerchantView"]


class MerchantView:
    """The alliance as one merchant sees it."""

    def __init__(self, services: Services, merchant_id: str) -> None:
        check_identifier("merchant_id", merchant_id)
        self.merchant_id = merchant_id
        self._s = services
        #: The merchant's webhook subscriptions (``scope`` ``m:<merchant_id>``).
        self.webhooks: WebhookService = services.webhooks.for_merchant(merchant_id)

    def _own(self, merchant_id: str, what: str) -> None:
        if merchant_id != self.merchant_id:
            raise InvalidInput(
                f"{what} belongs to merchant {merchant_id!r}, not {self.merchant_id!r}"
            )

    # -- catalog -----------------------------------------------------------------------------
    def add_campaign(
        self, campaign: Campaign, *, plan_effective_from: datetime | None = None
    ) -> Campaign:
        """Publish or replace one of this merchant's campaigns."""
        self._own(campaign.merchant_id, f"campaign {campaign.campaign_id}")
        return self._s.catalog.add_campaign(campaign, plan_effective_from=plan_effective_from)

    def campaign(self, campaign_id: str) -> Campaign:
        return self._s.catalog.campaign(campaign_id, merchant_id=self.merchant_id)

    def campaigns(self) -> list[Campaign]:
        return self._s.catalog.campaigns(merchant_id=self.merchant_id)

    def plan_versions(self, campaign_id: str) -> list[PlanVersion]:
        return self._s.catalog.plan_versions(campaign_id, merchant_id=self.merchant_id)

    def assign_coupon(
        self, code: str, *, affiliate_id: str, campaign_id: str, replace: bool = False
    ) -> None:
        self._s.catalog.assign_coupon(
            code,
            affiliate_id=affiliate_id,
            campaign_id=campaign_id,
            merchant_id=self.merchant_id,
            replace=replace,
        )

    def create_link(
        self,
        *,
        affiliate_id: str,
        campaign_id: str,
        landing_url: str,
        sub_ids: Mapping[str, str] | None = None,
        expires_in: timedelta | None = None,
    ) -> str:
        return self._s.links.create(
            affiliate_id=affiliate_id,
            campaign_id=campaign_id,
            landing_url=landing_url,
            sub_ids=sub_ids,
            expires_in=expires_in,
            merchant_id=self.merchant_id,
        )

    # -- orders ------------------------------------------------------------------------------
    def record_order(
        self,
        order: Order,
        *,
        visitor_id: str | None = None,
        click_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> OrderOutcome:
        if isinstance(order, Order):
            self._own(order.merchant_id, f"order {order.order_id}")
        return self._s.orders.record(
            order, visitor_id=visitor_id, click_id=click_id, ip=ip, user_agent=user_agent
        )

    def refund(
        self, order_id: str, amount: Money | None = None, *, refund_id: str | None = None
    ) -> RefundOutcome:
        return self._s.orders.refund(self.merchant_id, order_id, amount, refund_id=refund_id)

    # -- ledger and review -------------------------------------------------------------------
    def commissions(
        self, *, affiliate_id: str | None = None, order_id: str | None = None
    ) -> list[Commission]:
        return self._s.ledger.commissions(
            merchant_id=self.merchant_id, affiliate_id=affiliate_id, order_id=order_id
        )

    def invoices(self, *, start: datetime, end: datetime) -> list[Invoice]:
        return [
            invoice
            for invoice in self._s.ledger.invoices(start=start, end=end)
            if invoice.merchant_id == self.merchant_id
        ]

    def review_queue(self) -> list[Commission]:
        return self._s.review.review_queue(merchant_id=self.merchant_id)

    def approve(self, entry_ids: Iterable[str]) -> list[Commission]:
        return self._s.review.approve(entry_ids, merchant_id=self.merchant_id)

    def freeze(self, entry_ids: Iterable[str], *, reason: str) -> list[Commission]:
        return self._s.review.freeze(entry_ids, reason=reason, merchant_id=self.merchant_id)

    def release(self, entry_ids: Iterable[str]) -> list[Commission]:
        return self._s.review.release(entry_ids, merchant_id=self.merchant_id)

    def reject(self, entry_ids: Iterable[str], *, reason: str) -> list[Commission]:
        return self._s.review.reject(entry_ids, reason=reason, merchant_id=self.merchant_id)

    def order(self, order_id: str) -> OrderOutcome:
        """The outcome recorded for one of this merchant's orders."""
        check_texts(order_id=order_id)
        with self._s.ctx.store.reader() as tx:
            row = tx.orders.get(self.merchant_id, order_id)
        if row is None:
            raise UnknownOrder(self.merchant_id, order_id)
        return OrderOutcome.model_validate_json(row.outcome_json)
