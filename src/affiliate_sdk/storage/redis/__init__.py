"""Redis: what must be shared between processes at once (the ``redis`` extra).

``RedisCounters`` is a ``CounterRepo``; ``open_store(url, counters="redis://...")`` composes
it with a store of another backend (``ComposedStore``).
"""

from __future__ import annotations

from .counters import PRUNE_STEP, RedisCounters

__all__ = ["PRUNE_STEP", "RedisCounters"]
