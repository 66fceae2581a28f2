"""Where the alliance keeps its state: the ``Store`` protocol and its backends.

``open_store(url)`` picks a backend by URL scheme:

* ``memory://`` — dictionaries in this process, for tests and simulations;
* ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` — the
  embedded default, durable, no server. Add ``?click_commit=immediate`` to
  commit each click before ``track_click`` returns instead of in the
  background (see ``affiliate_sdk.storage.legacy_sqlite``).
"""

from __future__ import annotations

from typing import cast
from urllib.parse import parse_qs

from affiliate_sdk.errors import UnsupportedStore

from .base import Store
from .legacy_memory import MemoryStore
from .legacy_sqlite import ClickCommit, SQLiteStore
from .records import ClickRecord, OrderRecord, RefundRecord

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
    path, _, query = url.partition("?")
    if path.startswith(prefix) and len(path) > len(prefix):
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
        commit = options.pop("click_commit", ["background"])
        if options or len(commit) != 1 or commit[0] not in ("background", "immediate"):
            raise UnsupportedStore(url)
        return SQLiteStore(path[len(prefix) :], click_commit=cast(ClickCommit, commit[0]))
    raise UnsupportedStore(url)
