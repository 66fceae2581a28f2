"""PostgreSQL (psycopg 3 with its pool, the ``postgres`` extra).

``PostgresStore`` (``postgresql://user@host/db?schema=...``) keeps the whole alliance in the
host's database, in a PostgreSQL schema of its own (``affiliate_sdk`` unless named), for
several app servers at once. ``PostgresCounters`` keeps the velocity counters there:
``open_store(url, counters="postgresql://...")`` composes them with a store of another
backend. ``script`` and ``upgrade`` are the schema's migrations (``affiliate-sdk db``).
"""

from __future__ import annotations

from ._schema import DEFAULT_SCHEMA, SCHEMA_VERSION, script, upgrade, upgrade_url
from .counters import PostgresCounters
from .store import PostgresStore

__all__ = [
    "DEFAULT_SCHEMA",
    "SCHEMA_VERSION",
    "PostgresCounters",
    "PostgresStore",
    "script",
    "upgrade",
    "upgrade_url",
]
