"""Where the alliance keeps its state: the storage contract and its backends.

``open_store(url)`` picks a backend by URL scheme:

* ``memory://`` — dictionaries in this process, for tests and simulations
  (``?chains=n`` splits its journal into ``n`` chains, as a PostgreSQL store's is);
* ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` — the
  embedded default, durable, no server. Add ``?click_commit=immediate`` to
  commit each click before ``track_click`` returns instead of in the
  background (see ``affiliate_sdk.storage.sqlite``).

* ``postgresql://user@host:5432/db`` — PostgreSQL, for several app servers (the
  ``postgres`` extra): ``?schema=name`` names the PostgreSQL schema of its tables
  (``affiliate_sdk`` by default), ``?pool_size=n`` its connections per process,
  ``?chains=n`` how many chains a new schema's journal is split into (16 by default); other
  parameters go to libpq as they are (``sslmode=require``, ...).

``open_store(url, counters="redis://host:6379/0")`` keeps the velocity counters
on a Redis server instead (the ``redis`` extra; ``?prefix=...`` names the keys'
prefix, ``affiliate-sdk:`` by default), composed with the store of ``url``
(``ComposedStore``).

The contract (``storage.contract``): a ``Store`` yields units of work whose
repositories (one per aggregate) read and write typed rows
(``storage.rows``); ``affiliate_sdk.testing.contract`` tests a backend of
one's own against it.
"""

from __future__ import annotations

from typing import Literal, cast
from urllib.parse import parse_qs, unquote_plus, urlencode

from affiliate_sdk.errors import UnsupportedStore

from .composed import ClosableCounters, ComposedStore
from .contract import Store, UnitOfWork
from .memory import MemoryStore
from .rows import ClickRow
from .sqlite import SQLiteStore

__all__ = [
    "ClickRecord",
    "ClickRow",
    "ComposedStore",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "UnitOfWork",
    "open_counters",
    "open_store",
    "postgres_options",
]

_COUNTERS = (
    "'redis://host:6379/0' (with '?prefix=...' if the keys need one) or "
    "'postgresql://...' (with '?schema=...')"
)

#: The stored click under its earlier name.
ClickRecord = ClickRow


def open_store(url: str, *, counters: str | None = None) -> Store:
    """Open the store a URL names, with the velocity counters of ``counters`` if given (see
    the module docstring)."""
    if counters is None:
        return _open(url)
    shared = open_counters(counters)
    try:
        return ComposedStore(_open(url), shared)
    except BaseException:
        shared.close()
        raise


def postgres_options(url: str, names: tuple[str, ...], expected: str) -> tuple[str, dict[str, str]]:
    """The libpq URL without this SDK's options, and those options (each given once, not
    empty); every other parameter is passed on as it was written."""
    from ._urls import redacted

    base, _, query = url.partition("?")
    ours: dict[str, str] = {}
    rest: list[str] = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        if unquote_plus(name) not in names:
            rest.append(part)
            continue
        if unquote_plus(name) in ours or not value:
            raise UnsupportedStore(redacted(url), expected)
        ours[unquote_plus(name)] = unquote_plus(value)
    return (f"{base}?{'&'.join(rest)}" if rest else base), ours


def open_counters(url: str) -> ClosableCounters:
    """The counter repository a URL names (``redis://``, ``rediss://`` or
    ``postgresql://``)."""
    from ._urls import redacted

    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import DEFAULT_SCHEMA, PostgresCounters

        conninfo, ours = postgres_options(url, ("schema",), _COUNTERS)
        return PostgresCounters(conninfo, schema=ours.get("schema", DEFAULT_SCHEMA))
    if not url.startswith(("redis://", "rediss://")):
        raise UnsupportedStore(redacted(url), _COUNTERS)
    from .redis.counters import RedisCounters

    base, _, query = url.partition("?")
    options = parse_qs(query, keep_blank_values=True)
    prefix = options.pop("prefix", ["affiliate-sdk:"])
    if len(prefix) != 1 or not prefix[0]:
        raise UnsupportedStore(redacted(url), _COUNTERS)
    rest = urlencode(options, doseq=True)
    return RedisCounters(f"{base}?{rest}" if rest else base, prefix=prefix[0])


def _open(url: str) -> Store:
    if url == "memory://":
        return MemoryStore()
    if url.startswith("memory://?"):
        options = parse_qs(url[len("memory://?") :], keep_blank_values=True)
        chains = options.pop("chains", [""])
        if options or len(chains) != 1 or not chains[0].isdigit():
            raise UnsupportedStore(url, "'memory://' or 'memory://?chains=n'")
        return MemoryStore(chains=int(chains[0]))
    prefix = "sqlite:///"
    path, _, query = url.partition("?")
    if path.startswith(prefix) and len(path) > len(prefix):
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
        commit = options.pop("click_commit", ["background"])
        if options or len(commit) != 1 or commit[0] not in ("background", "immediate"):
            raise UnsupportedStore(url)
        mode = cast(Literal["background", "immediate"], commit[0])
        return SQLiteStore(path[len(prefix) :], click_commit=mode)
    if url.startswith(("postgresql://", "postgres://")):
        return _open_postgres(url)
    raise UnsupportedStore(url)


def _open_postgres(url: str) -> Store:
    from ._urls import redacted
    from .postgres import DEFAULT_SCHEMA, PostgresStore

    expected = (
        "'postgresql://user@host/db' with '?schema=name', '?pool_size=n' and '?chains=n' if needed"
    )
    conninfo, ours = postgres_options(url, ("schema", "pool_size", "chains"), expected)
    size, chains = ours.get("pool_size", "16"), ours.get("chains")
    if not size.isdigit() or (chains is not None and not chains.isdigit()):
        raise UnsupportedStore(redacted(url), expected)
    return PostgresStore(
        conninfo,
        schema=ours.get("schema", DEFAULT_SCHEMA),
        pool_size=int(size),
        chains=None if chains is None else int(chains),
    )
