"""The alliance for async hosts (FastAPI, aiohttp): ``alliance.aio``.

Every call runs the synchronous alliance on a worker thread of a pool of its own, so no
store I/O, lock wait or fraud check ever runs on the event loop: an ``async def`` endpoint
awaiting ``alliance.aio.track_click(...)`` leaves the loop free while another process holds
SQLite's write lock. The pool is the alliance's (``AIO_WORKERS`` threads, made on first use
and shut down with the alliance); each thread keeps its own store connection.
``alliance.aio.run(fn, *args)`` runs any other call of the alliance or its services the
same way. The context variables of the caller are carried to the worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, TypeVar

if TYPE_CHECKING:
    from .alliance import Alliance

__all__ = ["AIO_WORKERS", "AsyncAlliance"]

#: Worker threads of an alliance's pool unless asked otherwise.
AIO_WORKERS: Final = 8

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _offloaded(
    method: Callable[Concatenate[Alliance, _P], _T],
) -> Callable[Concatenate[AsyncAlliance, _P], Coroutine[Any, Any, _T]]:
    """``method`` of the alliance, as a coroutine run on the pool."""

    async def call(self: AsyncAlliance, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self.run(method, self.alliance, *args, **kwargs)

    call.__name__ = method.__name__
    call.__qualname__ = f"AsyncAlliance.{method.__name__}"
    call.__doc__ = f"``Alliance.{method.__name__}``, awaited (on a worker thread)."
    return call


class AsyncAlliance:
    """The calls of ``alliance``, awaited: each runs on a worker thread of ``pool``."""

    def __init__(self, alliance: Alliance, pool: ThreadPoolExecutor) -> None:
        self.alliance = alliance
        self._pool = pool

    async def run(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``fn(*args, **kwargs)`` on a worker thread; its result, or what it raised."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    async def aclose(self) -> None:
        """Close the alliance on a worker thread (its pool shuts down with it)."""
        await self.run(self.alliance.close)

    def shutdown(self) -> None:
        """Let the pool's threads end once their calls are done (the alliance's ``close``)."""
        self._pool.shutdown(wait=False)

    async def __aenter__(self) -> AsyncAlliance:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    from .alliance import Alliance as _Alliance

    add_campaign = _offloaded(_Alliance.add_campaign)
    create_link = _offloaded(_Alliance.create_link)
    verify_link = _offloaded(_Alliance.verify_link)
    track_click = _offloaded(_Alliance.track_click)
    record_order = _offloaded(_Alliance.record_order)
    refund = _offloaded(_Alliance.refund)
    commissions = _offloaded(_Alliance.commissions)
    del _Alliance


def pool(workers: int = AIO_WORKERS) -> ThreadPoolExecutor:
    """A pool of worker threads for an alliance's async calls."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="affiliate-sdk-aio")
