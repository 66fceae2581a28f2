"""The undo log a memory unit of work rolls back from.

Every repository write that a rollback must take back records a closure here
while a unit of work is open; a rollback runs them newest first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = ["UndoLog", "del_item", "set_item"]


class UndoLog:
    """The undo steps of the open unit of work.

    ``steps`` is None between units of work; a hot path may append to it
    directly (``if log.steps is not None: log.steps.append(step)``).
    """

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[Callable[[], object]] | None = None

    @property
    def active(self) -> bool:
        """Whether a unit of work is open."""
        return self.steps is not None

    def begin(self) -> None:
        """Open a unit of work: start recording."""
        self.steps = []

    def record(self, step: Callable[[], object]) -> None:
        """Remember how to take back a write just made."""
        if self.steps is not None:
            self.steps.append(step)

    def commit(self) -> None:
        """Keep every write: forget the steps."""
        self.steps = None

    def rollback(self) -> None:
        """Take back every write of the unit of work, newest first."""
        steps, self.steps = self.steps, None
        for step in reversed(steps or ()):
            step()


_MISSING: Final = object()
_K = TypeVar("_K")
_V = TypeVar("_V")


def set_item(log: UndoLog, table: dict[_K, _V], key: _K, value: _V) -> None:
    """``table[key] = value``, undone by putting back what was there (or nothing)."""
    previous = table.get(key, _MISSING)
    table[key] = value
    if log.active:
        log.record(lambda: _restore(table, key, previous))


def del_item(log: UndoLog, table: dict[_K, _V], key: _K) -> None:
    """``del table[key]`` if present, undone by putting it back."""
    previous = table.pop(key, _MISSING)
    if previous is not _MISSING and log.active:
        log.record(lambda: _restore(table, key, previous))


def _restore(table: dict[Any, Any], key: object, previous: object) -> None:
    if previous is _MISSING:
        table.pop(key, None)
    else:
        table[key] = previous
