"""PostgreSQL (psycopg 3 with its pool, the ``postgres`` extra).

``PostgresCounters`` keeps the velocity counters in the host's database, in a PostgreSQL
schema of their own (``affiliate_sdk`` unless named): ``open_store(url,
counters="postgresql://...")`` composes them with a store of another backend.
"""

from __future__ import annotations

from .counters import DEFAULT_SCHEMA, PostgresCounters

__all__ = ["DEFAULT_SCHEMA", "PostgresCounters"]
