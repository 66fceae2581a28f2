"""Connection pools: opened with the store's settings, lazily, and anew in a forked child."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from affiliate_sdk.errors import StorageError
from affiliate_sdk.storage._urls import redacted, scrubbed

__all__ = ["INHERITED", "LazyPool", "open_pool"]

#: Pools a forked child inherited: never used, never closed (closing them would end the
#: parent's sessions on the server).
INHERITED: Final[list[Any]] = []


def open_pool(
    conninfo: str,
    *,
    max_size: int,
    autocommit: bool,
    doing: str,
    configure: Callable[[Any], None] | None = None,
    name: str | None = None,
) -> Any:
    """A psycopg pool of up to ``max_size`` connections, open (``StorageError`` if the server
    cannot be reached within 10 s; ``doing`` says what for)."""
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": autocommit},
        configure=configure,
        name=name,
    )
    try:
        pool.open(wait=True, timeout=10.0)
    except Exception as exc:
        pool.close()
        raise StorageError(
            f"cannot {doing} {redacted(conninfo)}: {scrubbed(str(exc), conninfo)}"
        ) from exc
    return pool


class LazyPool:
    """A pool opened at first use; ``forget`` (in a forked child) keeps the parent's unused
    and opens the child's own at its first use, where an error reaches the caller."""

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._opener = opener
        self._pool: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The pool, opened if it is not."""
        pool = self._pool
        if pool is None:
            with self._lock:
                pool = self._pool
                if pool is None:
                    pool = self._pool = self._opener()
        return pool

    def forget(self) -> None:
        """In a forked child: the parent's pool is kept, unused; the next ``get`` opens one."""
        INHERITED.append(self._pool)
        self._pool = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the pool, if open."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
