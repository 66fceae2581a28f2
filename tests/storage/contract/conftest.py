"""The backends the storage contract runs on: a registry of name -> factory.

A backend joins every contract test and the agreement state machine with one
entry here (``"name": lambda tmp_path: open_it(tmp_path / "store.db")``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pytest

from affiliate_sdk.storage.contract import Store
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.storage.sqlite import SQLiteStore

from ...servers import postgres_store

#: Name -> a factory opening a fresh, empty store (files, if any, under the directory given).
BACKENDS: Final[dict[str, Callable[[Path], Store]]] = {
    "memory": lambda tmp_path: MemoryStore(),
    "sqlite-background": lambda tmp_path: SQLiteStore(tmp_path / "store.db"),
    "sqlite-immediate": lambda tmp_path: SQLiteStore(
        tmp_path / "store.db", click_commit="immediate"
    ),
    "postgres": lambda tmp_path: postgres_store(),
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store of each registered backend."""
    opened = BACKENDS[request.param](tmp_path)
    yield opened
    opened.close()
