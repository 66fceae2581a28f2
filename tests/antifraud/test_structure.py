"""The pure packages import neither the storage nor the services.

``tracking``, ``attribution``, ``commission`` and ``antifraud`` decide; the
services load and apply. Every import statement of every module under them
is read from its source (absolute and relative imports, the ones under
``TYPE_CHECKING`` too) and resolved to the module it names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import affiliate_sdk

PACKAGE = Path(affiliate_sdk.__file__).parent
PURE_PACKAGES = ("tracking", "attribution", "commission", "antifraud")
FORBIDDEN = ("affiliate_sdk.storage", "affiliate_sdk._services")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, *, is_package: bool) -> Iterator[str]:
    """Every module an import statement in ``source`` (of ``module``) may bind.

    ``from a import b`` yields both ``a`` and ``a.b``: ``b`` may be a module.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)


def _forbidden(name: str) -> bool:
    return any(name == root or name.startswith(f"{root}.") for root in FORBIDDEN)


def _violations() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for package in PURE_PACKAGES:
        for path in sorted((PACKAGE / package).rglob("*.py")):
            module = _module_name(path)
            names = imported(
                path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
            )
            bad = {name for name in names if _forbidden(name)}
            if bad:
                found[module] = bad
    return found


def test_the_pure_packages_import_neither_storage_nor_services() -> None:
    found = _violations()
    assert {module: sorted(found[module]) for module in found} == {}


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("import affiliate_sdk.storage", "affiliate_sdk.antifraud.x", False, True),
        ("import affiliate_sdk.storage.rows as rows", "affiliate_sdk.antifraud.x", False, True),
        ("from affiliate_sdk.storage import Store", "affiliate_sdk.antifraud.x", False, True),
        ("from affiliate_sdk import storage", "affiliate_sdk.antifraud.x", False, True),
        ("from affiliate_sdk import _services", "affiliate_sdk.commission.x", False, True),
        ("from ..storage import Store", "affiliate_sdk.antifraud.x", False, True),
        ("from ..storage.rows import ValueStats", "affiliate_sdk.antifraud.x", False, True),
        ("from .. import storage", "affiliate_sdk.antifraud.x", False, True),
        ("from ...storage import Store", "affiliate_sdk.attribution.batch.x", False, True),
        ("from ...storage import Store", "affiliate_sdk.attribution.batch", True, True),
        ("from ..storage import Store", "affiliate_sdk.attribution.batch", True, False),
        ("from ._services import x", "affiliate_sdk", True, True),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from affiliate_sdk._services.orders import OrderService\n",
            "affiliate_sdk.antifraud.x",
            False,
            True,
        ),
        (
            "def f():\n    from ..storage import open_store\n",
            "affiliate_sdk.antifraud.x",
            False,
            True,
        ),
        ("from .storage import x", "affiliate_sdk.antifraud.x", False, False),  # its own module
        ("from ..storage_notes import x", "affiliate_sdk.antifraud.x", False, False),
        (
            "from affiliate_sdk.errors import InvalidInput",
            "affiliate_sdk.antifraud.x",
            False,
            False,
        ),
        ("from .. import errors, models", "affiliate_sdk.antifraud.x", False, False),
    ],
)
def test_the_check_sees_every_way_of_importing(
    source: str, module: str, is_package: bool, expected: bool
) -> None:
    assert any(_forbidden(n) for n in imported(source, module, is_package=is_package)) is expected


def test_the_check_reads_every_pure_package() -> None:
    for package in PURE_PACKAGES:
        assert (PACKAGE / package / "__init__.py").is_file()
    modules = {_module_name(path) for path in (PACKAGE / "antifraud").rglob("*.py")}
    assert {"affiliate_sdk.antifraud", "affiliate_sdk.antifraud.velocity"} <= modules
