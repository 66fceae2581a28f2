"""Where the alliance keeps its state: the ``Store`` protocol and its backends.

``open_store(url)`` picks a backend by URL scheme:

* ``memory://`` — dictionaries in this process, for tests and simulations;
* ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` — the
  embedded default, durable, no server.
"""

from __future__ import annotations

from affiliate_sdk.errors import UnsupportedStore

from .base import Store
from .memory import MemoryStore
from .records import ClickRecord, OrderRecord, RefundRecord
from .sqlite import SQLiteStore

__all__ = [
    "ClickRecord",
    "MemoryStore",
    "OrderRecord",
    "RefundRecord",
    "SQLiteStore",
    "Store",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open the store a URL names (see the module docstring)."""
    if url == "memory://":
        return MemoryStore()
    prefix = "sqlite:///"
    if url.startswith(prefix) and len(url) > len(prefix):
        return SQLiteStore(url[len(prefix) :])
    raise UnsupportedStore(url)
