"""What every service is built with: the store, the clock, the keys and the settings."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

import attrs

from affiliate_sdk.clock import Clock
from affiliate_sdk.commission.journal import ChainKey, chain_of
from affiliate_sdk.settings import AllianceSettings
from affiliate_sdk.storage.composed import counters_part
from affiliate_sdk.storage.contract import ChangeSignals, Store
from affiliate_sdk.tracking.clicks import IpPseudonymizer
from affiliate_sdk.tracking.keys import Keyring

__all__ = ["JOURNAL_KEY", "PSEUDONYM_KEY", "ServiceContext"]

#: Names of the sealed data keys kept beside the data.
JOURNAL_KEY: Final = "journal-mac"
PSEUDONYM_KEY: Final = "pseudonyms"


@attrs.frozen(kw_only=True)
class ServiceContext:
    """The shared, read-only dependencies of the services (no mutable state here)."""

    store: Store
    clock: Clock
    keyring: Keyring
    settings: AllianceSettings
    pseudonyms: IpPseudonymizer
    chain: ChainKey
    log: logging.Logger = attrs.field(factory=lambda: logging.getLogger("affiliate_sdk"))
    #: Changes announced to every process, when the counters' backend carries them.
    changes: ChangeSignals | None = attrs.field(
        default=attrs.Factory(lambda ctx: counters_part(ctx.store, "changes"), takes_self=True)
    )

    def announce(self, topic: str) -> None:
        """Tell the other processes' caches that ``topic`` changed (when anyone listens)."""
        if self.changes is not None:
            self.changes.announce(topic)

    def heard(self, topic: str) -> int:
        """What this process heard of ``topic``'s changes (0 when nothing is announced)."""
        return 0 if self.changes is None else self.changes.heard(topic)

    def chain_for(self, merchant_ids: Iterable[str]) -> int:
        """The journal chain of an entry about these merchants: one merchant's own chain,
        chain 0 for an entry about several (or none)."""
        found = set(merchant_ids)
        return chain_of(found.pop(), self.store.chains) if len(found) == 1 else 0

    def now_ms(self) -> int:
        """The clock's now, in whole milliseconds (the precision everything is kept at)."""
        return int(self.clock.timestamp() * 1000)
