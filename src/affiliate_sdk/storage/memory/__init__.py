"""``memory://``: every repository in dictionaries, for tests and simulations.

Each repository indexes its rows by the exact keys they are looked up by, so
a read costs the rows it touches. One re-entrant lock serialises the units of
work and is held for the whole of one; nested ``transaction()`` calls join
the outer one. Writes record undo steps, and an exception leaving the
outermost unit of work takes every one of them back (counters excepted: they
sit outside transactions and have a lock of their own).

>>> store = MemoryStore()
>>> with store.transaction() as tx:
...     tx.keys.put_sealed("k", "v")
'v'
>>> with store.reader() as tx:
...     tx.keys.get_sealed("k")
'v'
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Final

from affiliate_sdk.errors import StorageError
from affiliate_sdk.storage.contract import (
    MAX_CHAINS,
    CatalogRepo,
    ClickRepo,
    JournalRepo,
    KeyRepo,
    LedgerRepo,
    OrderRepo,
    OutboxRepo,
    PeriodRepo,
    RiskRepo,
    SanctionRepo,
    WebhookRepo,
)

from ._catalog import MemoryCatalog
from ._clicks import MemoryClicks
from ._counters import MemoryCounters
from ._journal import MemoryJournal
from ._keys import MemoryKeys
from ._ledger import MemoryLedger
from ._orders import MemoryOrders
from ._outbox import MemoryOutbox
from ._periods import MemoryPeriods
from ._risk import MemoryRisk
from ._sanctions import MemorySanctions
from ._undo import UndoLog
from ._webhooks import MemoryWebhooks

__all__ = ["MemoryStore", "MemoryUnitOfWork"]

#: The URL scheme of this backend.
SCHEME: Final = "memory"


class MemoryUnitOfWork:
    """The repositories of a memory store; every unit of work shares them."""

    __slots__ = (
        "catalog",
        "clicks",
        "journal",
        "keys",
        "ledger",
        "orders",
        "outbox",
        "periods",
        "risk",
        "sanctions",
        "webhooks",
    )

    def __init__(self, log: UndoLog) -> None:
        # typed as the protocols: a UnitOfWork's attributes are invariant
        self.catalog: CatalogRepo = MemoryCatalog(log)
        self.clicks: ClickRepo = MemoryClicks(log)
        self.orders: OrderRepo = MemoryOrders(log)
        self.ledger: LedgerRepo = MemoryLedger(log)
        self.journal: JournalRepo = MemoryJournal(log)
        self.periods: PeriodRepo = MemoryPeriods(log)
        self.risk: RiskRepo = MemoryRisk(log)
        self.sanctions: SanctionRepo = MemorySanctions(log)
        self.outbox: OutboxRepo = MemoryOutbox(log)
        self.webhooks: WebhookRepo = MemoryWebhooks(log)
        self.keys: KeyRepo = MemoryKeys(log)


class _Scope:
    """What ``transaction()`` enters: the store's lock, and the undo log of the outermost
    unit of work (one object for every call: the lock makes them take turns)."""

    __slots__ = ("_depth", "_lock", "_log", "_uow")

    def __init__(self, lock: threading.RLock, log: UndoLog, uow: MemoryUnitOfWork) -> None:
        self._lock = lock
        self._log = log
        self._uow = uow
        self._depth = 0  # units of work open in the thread holding the lock

    def __enter__(self) -> MemoryUnitOfWork:
        self._lock.acquire()
        if not self._depth:
            self._log.steps = []  # begin: inline, as every click enters here
        self._depth += 1
        return self._uow

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._depth -= 1
            if not self._depth:
                if exc_type is None:
                    self._log.steps = None  # commit
                else:
                    self._log.rollback()
        finally:
            self._lock.release()


class MemoryStore:
    """A ``Store`` whose state lives in this process's memory and ends with it."""

    scheme: str = SCHEME

    def __init__(self, *, chains: int = 1) -> None:
        if not 1 <= chains <= MAX_CHAINS:
            raise StorageError(f"a journal has 1 to {MAX_CHAINS} chains, not {chains}")
        self._chains = chains
        self._lock = threading.RLock()
        self._log = UndoLog()
        self._uow = MemoryUnitOfWork(self._log)
        self._scope = _Scope(self._lock, self._log, self._uow)
        self._counters = MemoryCounters()

    @property
    def counters(self) -> MemoryCounters:
        """Velocity counts, outside transactions (``shared`` is False)."""
        return self._counters

    @property
    def chains(self) -> int:
        """How many chains the journal is split into (``memory://?chains=n``; one by default:
        with one writer at a time, more chains only spread the entries)."""
        return self._chains

    def transaction(self, *, chain: int | None = None) -> AbstractContextManager[MemoryUnitOfWork]:
        """A unit of work: holds the store's lock throughout (whatever its ``chain``); an
        exception rolls back every write it made. A nested call joins the unit of work
        already open."""
        return self._scope

    def reader(self) -> AbstractContextManager[MemoryUnitOfWork]:
        """A unit of work for reads: the same as ``transaction()`` here."""
        return self.transaction()

    def close(self) -> None:
        """Nothing to release: the state goes with the object."""
