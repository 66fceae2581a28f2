"""Methods of ``Alliance`` that now live on its services, kept as typed aliases.

``alliance.approve_due(...)`` is ``alliance.review.approve_due(...)``: the alias
names its target (``Alliance.approve_due.target == "review.approve_due"``) and
keeps the target's signature for type checkers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["Moved", "moved"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class Moved(Generic[_P, _R]):
    """A facade method that delegates to ``service.name`` of the instance."""

    __slots__ = ("name", "service", "target")

    def __init__(self, service: str, function: Callable[Concatenate[Any, _P], _R]) -> None:
        self.service = service
        self.name = function.__name__
        self.target = f"{service}.{self.name}"

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Moved[_P, _R]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any]) -> Callable[_P, _R]: ...

    def __get__(self, instance: object | None, owner: type[Any]) -> Any:
        if instance is None:
            return self
        bound: Callable[_P, _R] = getattr(getattr(instance, self.service), self.name)
        return bound


def moved(service: str, function: Callable[Concatenate[Any, _P], _R]) -> Moved[_P, _R]:
    """An alias of ``function``, a method of the service at ``service``."""
    return Moved(service, function)
