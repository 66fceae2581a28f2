"""Building the services of an ``Alliance`` from a store, its keys and its settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from affiliate_sdk._kernel.secrets import DataKeys
from affiliate_sdk.antifraud.facts import ClickRule, OrderRule
from affiliate_sdk.antifraud.networks import NetworkKinds
from affiliate_sdk.antifraud.useragents import BotUserAgents
from affiliate_sdk.clock import Clock
from affiliate_sdk.commission.journal import ChainKey
from affiliate_sdk.fx import FxRates
from affiliate_sdk.settings import AllianceSettings
from affiliate_sdk.storage.contract import Store, UnitOfWork
from affiliate_sdk.tracking.clicks import IpPseudonymizer
from affiliate_sdk.tracking.keys import Keyring

from .adoption import adopt, needs_adoption
from .catalog import CatalogService
from .clicks import ClickService, LinkService
from .context import JOURNAL_KEY, PSEUDONYM_KEY, ServiceContext
from .enforcement import EnforcementService
from .fraud import FraudService
from .journal import JournalWriter
from .ledger import LedgerService
from .orders import OrderService
from .payouts import PayoutService
from .review import ReviewService
from .traffic import TrafficService
from .webhooks import WebhookService

__all__ = ["DATA_KEYS", "Services", "build_services"]

#: The sealed data keys an alliance keeps beside its data.
DATA_KEYS: Final = (JOURNAL_KEY, PSEUDONYM_KEY)
#: How the pseudonymisation key was derived before it was a sealed data key of its own.
_LEGACY_PSEUDONYM_CONTEXT: Final = b"affiliate_sdk/pseudonym-key/v1"


@attrs.frozen(kw_only=True)
class Services:
    """The services of one alliance."""

    ctx: ServiceContext
    catalog: CatalogService
    links: LinkService
    clicks: ClickService
    fraud: FraudService
    ledger: LedgerService
    review: ReviewService
    orders: OrderService
    payouts: PayoutService
    traffic: TrafficService
    enforcement: EnforcementService
    webhooks: WebhookService
    data_keys: Sequence[str] = DATA_KEYS


def _has_history(tx: UnitOfWork) -> bool:
    return bool(tx.journal.heads())


def _keys(
    tx: UnitOfWork, keyring: Keyring, settings: AllianceSettings
) -> tuple[ChainKey, IpPseudonymizer]:
    """The journal key and the pseudonymizer, from the sealed data keys (made on first use).

    A store that already holds data from before the pseudonymisation key was
    a sealed key of its own adopts the key its hashes were made with.
    """
    data = DataKeys(tx.keys, keyring, names=DATA_KEYS)
    chain = ChainKey(data.get_or_create(JOURNAL_KEY))
    key = settings.pseudonym_key
    if key is None:
        initial = None
        if tx.keys.get_sealed(PSEUDONYM_KEY) is None and _has_history(tx):
            initial = keyring[next(iter(keyring))].tag(_LEGACY_PSEUDONYM_CONTEXT)
        key = data.get_or_create(PSEUDONYM_KEY, initial=initial)
    return chain, IpPseudonymizer(key, previous=settings.previous_pseudonym_keys)


def build_services(
    store: Store,
    keys: Mapping[str, bytes] | Keyring,
    *,
    settings: AllianceSettings,
    clock: Clock,
    fx: FxRates | None = None,
    bots: BotUserAgents | None = None,
    networks: NetworkKinds | None = None,
    click_rules: Sequence[ClickRule] = (),
    order_rules: Sequence[OrderRule] = (),
    checkpoint_key: tuple[str, Ed25519PrivateKey] | None = None,
) -> Services:
    """Open the keys, adopt a ledger from an earlier schema, and compose the services."""
    keyring = keys if isinstance(keys, Keyring) else Keyring(keys)
    with store.transaction() as tx:
        chain, pseudonyms = _keys(tx, keyring, settings)
    ctx = ServiceContext(
        store=store,
        clock=clock,
        keyring=keyring,
        settings=settings,
        pseudonyms=pseudonyms,
        chain=chain,
    )
    writer = JournalWriter(
        chain,
        checkpoint_key=checkpoint_key,
        checkpoint_every=settings.checkpoint_every,
        chains=store.chains,
    )
    with store.transaction() as tx:
        if needs_adoption(tx):
            adopt(tx, writer, at=clock.now())
    catalog = CatalogService(ctx)
    fraud = FraudService(
        ctx,
        catalog,
        bots=bots,
        networks=networks,
        click_rules=click_rules,
        order_rules=order_rules,
    )
    ledger = LedgerService(ctx, writer)
    review = ReviewService(ctx, writer, ledger)
    fraud.review = review
    return Services(
        ctx=ctx,
        catalog=catalog,
        links=LinkService(ctx, catalog),
        clicks=ClickService(ctx, catalog, fraud),
        fraud=fraud,
        ledger=ledger,
        review=review,
        orders=OrderService(ctx, catalog, fraud, writer, review, fx=fx),
        payouts=PayoutService(ctx, writer, ledger),
        traffic=TrafficService(ctx, writer, catalog),
        enforcement=EnforcementService(ctx, fraud, review),
        webhooks=WebhookService(ctx),
    )


def reseal(services: Services) -> int:
    """Seal every secret kept beside the data with the keyring's newest key; how many."""
    ctx = services.ctx
    with ctx.store.transaction() as tx:
        data = DataKeys(tx.keys, ctx.keyring, names=services.data_keys)
        count = data.reseal()
    return count + services.webhooks.reseal_secrets()
