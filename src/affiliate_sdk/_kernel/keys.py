"""Composite keys: parts joined by ``/`` with each part escaped so the join is unambiguous.

Event ids of journal entries and keys of store rows are built from several
merchant-chosen parts. ``path_key`` escapes ``%`` as ``%25`` and ``/`` as
``%2F`` in each part before joining, so no two part lists give the same key and
``key.split("/")`` yields exactly the escaped parts; ``unescape`` undoes it for
one part.

>>> path_key("order", "m1", "a/b")
'order/m1/a%2Fb'
>>> [unescape(part) for part in "order/m1/a%2Fb".split("/")]
['order', 'm1', 'a/b']
"""

from __future__ import annotations

from typing import Final

__all__ = ["SEPARATOR", "path_key", "unescape"]

#: What joins the parts of a key.
SEPARATOR: Final = "/"


def path_key(*parts: str) -> str:
    """``parts`` joined by ``/``, each with ``%`` -> ``%25`` and ``/`` -> ``%2F`` first."""
    return SEPARATOR.join(part.replace("%", "%25").replace("/", "%2F") for part in parts)


def unescape(part: str) -> str:
    """Undo ``path_key``'s escaping of one part (``%2F`` -> ``/``, then ``%25`` -> ``%``)."""
    return part.replace("%2F", "/").replace("%25", "%")
