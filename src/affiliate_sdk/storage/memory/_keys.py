"""Sealed secrets by name."""

from __future__ import annotations

from ._undo import UndoLog, set_item

__all__ = ["MemoryKeys"]


class MemoryKeys:
    """``KeyRepo`` over a dictionary."""

    __slots__ = ("_log", "_sealed")

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._sealed: dict[str, str] = {}

    def get_sealed(self, name: str) -> str | None:
        """The sealed value kept under ``name``, if any."""
        return self._sealed.get(name)

    def put_sealed(self, name: str, sealed: str, *, replace: bool = False) -> str:
        """Keep ``sealed`` under ``name``; without ``replace`` a value already there wins.
        Returns the value now kept."""
        found = self._sealed.get(name)
        if found is not None and not replace:
            return found
        set_item(self._log, self._sealed, name, sealed)
        return sealed
