"""Every type in a public signature of ``Alliance`` and its services is importable from the
top-level package, and every alias of the facade names a real service method."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Any, get_type_hints

import affiliate_sdk
from affiliate_sdk import Alliance
from affiliate_sdk._compat import Moved
from affiliate_sdk._services.merchant import MerchantView
from affiliate_sdk._services.wiring import Services

_PRIVATE = "affiliate_sdk._services"
SERVICES = {
    name: hint
    for name, hint in get_type_hints(Services).items()
    if name not in ("ctx", "data_keys")
}


def _public_methods(owner: type[Any]) -> Iterator[tuple[str, Any]]:
    """Public methods, less the services' hooks for each other (they take the caller's
    unit of work, ``tx``, or answer with the services' own private values)."""
    for name, member in inspect.getmembers(owner):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        if isinstance(inspect.getattr_static(owner, name), Moved):
            continue  # checked through its target
        if "tx" in inspect.signature(member).parameters:
            continue
        hints = get_type_hints(member)
        named = [kind for hint in hints.values() for kind in _sdk_types(hint)]
        if any(kind.__module__.startswith(_PRIVATE) for kind in named):
            continue
        yield name, member


def _sdk_types(hint: Any) -> Iterator[type[Any]]:
    """The SDK's own classes named in a type hint (inside unions, generics and so on)."""
    if isinstance(hint, type) and hint.__module__.startswith("affiliate_sdk"):
        yield hint
    for argument in typing.get_args(hint):
        yield from _sdk_types(argument)


def _signature_types(function: Any) -> set[type[Any]]:
    hints = get_type_hints(function, include_extras=False)
    found: set[type[Any]] = set()
    for hint in hints.values():
        found |= set(_sdk_types(hint))
    return found


def test_every_type_in_a_public_signature_is_exported() -> None:
    owners: list[type[Any]] = [Alliance, MerchantView, *SERVICES.values()]
    exported = {getattr(affiliate_sdk, name) for name in affiliate_sdk.__all__}
    missing = {
        f"{owner.__name__}.{name}: {kind.__module__}.{kind.__qualname__}"
        for owner in owners
        for name, function in _public_methods(owner)
        for kind in _signature_types(function)
        if kind not in exported and kind not in owners
    }
    assert sorted(missing) == []


def test_every_alias_names_a_service_method() -> None:
    aliases = {name: value for name, value in vars(Alliance).items() if isinstance(value, Moved)}
    assert len(aliases) >= 40
    for name, alias in aliases.items():
        service = SERVICES[alias.service if alias.service != "payments" else "payouts"]
        assert callable(getattr(service, alias.name)), name
        assert alias.target == f"{alias.service}.{alias.name}"
