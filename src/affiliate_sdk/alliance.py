"""The ``Alliance``: the one object a host holds.

It opens the store and composes the services (``alliance.catalog``,
``.links``, ``.clicks``, ``.orders``, ``.ledger``, ``.review``, ``.payments``,
``.traffic``, ``.fraud``, ``.enforcement``, ``.webhooks``); the fixed public
contract delegates to them, and every other method is an alias of a service's
(``_compat``). ``alliance.merchant(merchant_id)`` confines calls to one merchant.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ._compat import moved
from ._kernel.fields import check_text
from ._services.catalog import CatalogService
from ._services.clicks import ClickService, LinkService
from ._services.enforcement import EnforcementService
from ._services.fraud import FraudService
from ._services.ledger import LedgerService
from ._services.merchant import MerchantView
from ._services.orders import OrderService
from ._services.payouts import PayoutService
from ._services.review import ReviewService
from ._services.traffic import TrafficService
from ._services.webhooks import WebhookService
from ._services.wiring import build_services, reseal
from .antifraud.facts import ClickRule, OrderRule
from .antifraud.networks import NetworkKinds
from .antifraud.useragents import BotUserAgents
from .clock import Clock, SystemClock
from .fx import FxRates
from .models import Campaign, Commission, Order, OrderOutcome, RefundOutcome
from .money import Money
from .settings import AllianceSettings
from .storage import open_store
from .storage.contract import Store
from .tracking.clicks import Click
from .tracking.keys import Keyring
from .tracking.links import LinkClaims

if TYPE_CHECKING:
    from .aio import AsyncAlliance

__all__ = ["Alliance"]


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
        settings: AllianceSettings | None = None,
        clock: Clock | None = None,
        fx: FxRates | None = None,
        bots: BotUserAgents | None = None,
        networks: NetworkKinds | None = None,
        click_rules: Sequence[ClickRule] = (),
        order_rules: Sequence[OrderRule] = (),
        checkpoint_key: tuple[str, Ed25519PrivateKey] | None = None,
        **options: Any,
    ) -> None:
        if options.get("fraud", ...) is None:
            options.pop("fraud")
        self.settings = settings if settings is not None else AllianceSettings(**options)
        services = build_services(
            store,
            keys,
            settings=self.settings,
            clock=clock if clock is not None else SystemClock(),
            fx=fx,
            bots=bots,
            networks=networks,
            click_rules=click_rules,
            order_rules=order_rules,
            checkpoint_key=checkpoint_key,
        )
        self._services = services
        self.catalog: CatalogService = services.catalog
        self.links: LinkService = services.links
        self.clicks: ClickService = services.clicks
        self.orders: OrderService = services.orders
        self.ledger: LedgerService = services.ledger
        self.review: ReviewService = services.review
        self.payments: PayoutService = services.payouts
        self.traffic: TrafficService = services.traffic
        self.fraud: FraudService = services.fraud
        self.enforcement: EnforcementService = services.enforcement
        self.webhooks: WebhookService = services.webhooks
        self._aio: AsyncAlliance | None = None
        self._aio_lock = threading.Lock()
        this = weakref.ref(self)

        def after_fork_in_child() -> None:  # the parent's pool has no threads here
            alliance = this()
            if alliance is not None:
                alliance._aio, alliance._aio_lock = None, threading.Lock()

        os.register_at_fork(after_in_child=after_fork_in_child)

    @classmethod
    def open(
        cls,
        url: str = "memory://",
        *,
        keys: Mapping[str, bytes] | Keyring,
        counters: str | None = None,
        **options: Any,
    ) -> Alliance:
        """Open the store at ``url`` (``memory://`` or ``sqlite:///path.db``), with the
        velocity counters on ``counters`` if given (``redis://host:6379/0``).

        ``options`` are the keyword arguments of ``Alliance`` itself, the
        fields of ``AllianceSettings`` among them.
        """
        shared = None if counters is None else check_text("counters", counters)
        store = open_store(check_text("url", url), counters=shared)
        try:
            return cls(store, keys, **options)
        except BaseException:
            store.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self._services.ctx.store

    @property
    def clock(self) -> Clock:
        return self._services.ctx.clock

    @property
    def keyring(self) -> Keyring:
        return self._services.ctx.keyring

    def merchant(self, merchant_id: str) -> MerchantView:
        """A handle whose every call is confined to one merchant's data."""
        return MerchantView(self._services, merchant_id)

    def reseal_secrets(self) -> int:
        """Seal every secret kept beside the data (the journal and pseudonym keys, webhook
        secrets) with the keyring's newest key; how many. Call it after adding a key and
        before removing the old one."""
        return reseal(self._services)

    @property
    def aio(self) -> AsyncAlliance:
        """This alliance for async hosts: the same calls, awaited, each on a worker thread of
        the alliance's pool, never on the event loop (``affiliate_sdk.aio``)."""
        face = self._aio
        if face is None:
            from .aio import AsyncAlliance, pool

            with self._aio_lock:
                if self._aio is None:
                    self._aio = AsyncAlliance(self, pool())
                face = self._aio
        return face

    def close(self) -> None:
        try:
            self.fraud.flush(self._services.ctx.now_ms())
        finally:
            try:
                self.store.close()
            finally:
                if self._aio is not None:
                    self._aio.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the fixed public contract -----------------------------------------------------------
    def add_campaign(
        self, campaign: Campaign, *, plan_effective_from: datetime | None = None
    ) -> Campaign:
        return self.catalog.add_campaign(campaign, plan_effective_from=plan_effective_from)

    def create_link(
        self,
        *,
        affiliate_id: str,
        campaign_id: str,
        landing_url: str,
        sub_ids: Mapping[str, str] | None = None,
        expires_in: timedelta | None = None,
        merchant_id: str | None = None,
    ) -> str:
        return self.links.create(
            affiliate_id=affiliate_id,
            campaign_id=campaign_id,
            landing_url=landing_url,
            sub_ids=sub_ids,
            expires_in=expires_in,
            merchant_id=merchant_id,
        )

    def verify_link(self, url: str, *, redirect_base: str | None = None) -> LinkClaims:
        return self.links.verify(url, redirect_base=redirect_base)

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
        return self.clicks.track(
            url,
            ip=ip,
            user_agent=user_agent,
            referrer=referrer,
            visitor_id=visitor_id,
            country=country,
            device_id=device_id,
        )

    def record_order(
        self,
        order: Order,
        *,
        visitor_id: str | None = None,
        click_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> OrderOutcome:
        return self.orders.record(
            order, visitor_id=visitor_id, click_id=click_id, ip=ip, user_agent=user_agent
        )

    def refund(
        self,
        merchant_id: str,
        order_id: str,
        amount: Money | None = None,
        *,
        refund_id: str | None = None,
    ) -> RefundOutcome:
        return self.orders.refund(merchant_id, order_id, amount, refund_id=refund_id)

    def commissions(
        self,
        *,
        merchant_id: str | None = None,
        affiliate_id: str | None = None,
        order_id: str | None = None,
    ) -> list[Commission]:
        return self.ledger.commissions(
            merchant_id=merchant_id, affiliate_id=affiliate_id, order_id=order_id
        )

    # -- moved to the services (aliases) -----------------------------------------------------
    add_merchant = moved("catalog", CatalogService.add_merchant)
    add_affiliate = moved("catalog", CatalogService.add_affiliate)
    affiliate = moved("catalog", CatalogService.affiliate)
    plan_versions = moved("catalog", CatalogService.plan_versions)
    campaign = moved("catalog", CatalogService.campaign)
    campaigns = moved("catalog", CatalogService.campaigns)
    assign_coupon = moved("catalog", CatalogService.assign_coupon)
    track_impression = moved("clicks", ClickService.track_impression)
    statements = moved("ledger", LedgerService.statements)
    invoices = moved("ledger", LedgerService.invoices)
    reconcile = moved("ledger", LedgerService.reconcile)
    checkpoint = moved("ledger", LedgerService.checkpoint)
    signed_statements = moved("ledger", LedgerService.signed_statements)
    verify_ledger = moved("ledger", LedgerService.verify_ledger)
    approve_due = moved("review", ReviewService.approve_due)
    approve = moved("review", ReviewService.approve)
    freeze = moved("review", ReviewService.freeze)
    release = moved("review", ReviewService.release)
    reject = moved("review", ReviewService.reject)
    review_queue = moved("review", ReviewService.review_queue)
    pay_approved = moved("payments", PayoutService.pay_approved)
    payouts = moved("payments", PayoutService.payouts)
    settle_clicks = moved("traffic", TrafficService.settle_clicks)
    record_impressions = moved("traffic", TrafficService.count_impressions)
    close_period = moved("traffic", TrafficService.close_period)
    blacklist = moved("fraud", FraudService.blacklist)
    blacklisted = moved("fraud", FraudService.blacklisted)
    complain = moved("fraud", FraudService.complain)
    grade = moved("fraud", FraudService.grade)
    channel_grades = moved("fraud", FraudService.channel_grades)
    identity_hashes = moved("fraud", FraudService.identity_hashes)
    enforce = moved("enforcement", EnforcementService.enforce)
    enforcements = moved("enforcement", EnforcementService.enforcements)
    subscribe = moved("webhooks", WebhookService.subscribe)
    subscription = moved("webhooks", WebhookService.subscription)
    subscriptions = moved("webhooks", WebhookService.subscriptions)
    enable = moved("webhooks", WebhookService.enable)
    retry_now = moved("webhooks", WebhookService.retry_now)
    delivery_log = moved("webhooks", WebhookService.delivery_log)
    dead_letters = moved("webhooks", WebhookService.dead_letters)
    replay = moved("webhooks", WebhookService.replay)
    prune_outbox = moved("webhooks", WebhookService.prune_outbox)
    dispatcher = moved("webhooks", WebhookService.dispatcher)
    async_dispatcher = moved("webhooks", WebhookService.async_dispatcher)
