"""Where the alliance keeps its state: the storage contract and its backends.

``open_store(url)`` picks a backend by URL scheme:

* ``memory://`` — dictionaries in this process, for tests and simulations;
* ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` — the
  embedded default, durable, no server. Add ``?click_commit=immediate`` to
  commit each click before ``track_click`` returns instead of in the
  background (see ``affiliate_sdk.storage.sqlite``).

The contract (``storage.contract``): a ``Store`` yields units of work whose
repositories (one per aggregate) read and write typed rows
(``storage.rows``); ``affiliate_sdk.testing.contract`` tests a backend of
one's own against it.
"""

from __future__ import annotations

from typing import Literal, cast
from urllib.parse import parse_qs

from affiliate_sdk.errors import UnsupportedStore

from .contract import Store, UnitOfWork
from .memory import MemoryStore
from .rows import ClickRow
from .sqlite import SQLiteStore

__all__ = [
    "ClickRecord",
    "ClickRow",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "UnitOfWork",
    "open_store",
]

#: The stored click under its earlier name.
ClickRecord = ClickRow


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
        mode = cast(Literal["background", "immediate"], commit[0])
        return SQLiteStore(path[len(prefix) :], click_commit=mode)
    raise UnsupportedStore(url)
