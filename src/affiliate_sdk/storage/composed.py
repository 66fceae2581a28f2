"""A store whose velocity counters come from another backend (``open_store(url,
counters=...)``): everything else is the store's own."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from .contract import CounterRepo, Store, UnitOfWork

__all__ = ["ClosableCounters", "ComposedStore", "counters_part"]


class ClosableCounters(CounterRepo, Protocol):
    """A counter repository of a backend of its own, closed with the store."""

    def close(self) -> None: ...


class ComposedStore:
    """``store``'s units of work, with ``counters`` for its velocity counts."""

    def __init__(self, store: Store, counters: ClosableCounters) -> None:
        self._store = store
        self._counters = counters
        self.scheme = store.scheme

    @property
    def store(self) -> Store:
        """The store the units of work come from."""
        return self._store

    @property
    def counters(self) -> ClosableCounters:
        return self._counters

    @property
    def chains(self) -> int:
        """The store's journal chains."""
        return self._store.chains

    def transaction(self, *, chain: int | None = None) -> AbstractContextManager[UnitOfWork]:
        """A unit of work of the store (the counters stay outside it)."""
        return self._store.transaction(chain=chain)

    def reader(self) -> AbstractContextManager[UnitOfWork]:
        """A read-only unit of work of the store."""
        return self._store.reader()

    def close(self) -> None:
        """Close the store, then the counters' backend."""
        try:
            self._store.close()
        finally:
            self._counters.close()


def counters_part(store: Store, name: str) -> Any:
    """What the counters' backend of a composed store offers as ``name`` (``click_claims``,
    ``changes``, ``leases``), or None; a store's own counters are not opened to look."""
    return getattr(store.counters, name, None) if isinstance(store, ComposedStore) else None
